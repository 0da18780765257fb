package githubapp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-github/v60/github"
)

// The organisation-level runner routes. They are called with the installation of a
// repository of the organisation (owner/repo): an organisation's installation serves its
// repositories and the organisation alike. The App needs the organisation permission
// "Self-hosted runners: read and write" (docs/github.md).

// GenerateOrgJITConfig registers a just-in-time runner in organisation owner, in runner
// group req.RunnerGroupID (required: resolve it with ResolveRunnerGroup), and returns its
// config (POST /orgs/{org}/actions/runners/generate-jitconfig). Not retried, as
// GenerateJITConfig. A 404 or 422 forgets the cached group groupName, whose id may be stale.
func (c *Client) GenerateOrgJITConfig(ctx context.Context, owner, repo, groupName string, req JITRequest) (*JITConfig, error) {
	where := fmt.Sprintf("organisation %s (for %s/%s)", owner, owner, repo)
	switch {
	case req.Name == "":
		return nil, fmt.Errorf("generate jit config in %s: runner name is required", where)
	case len(req.Labels) == 0:
		return nil, fmt.Errorf("generate jit config in %s, runner %s: at least one label is required", where, req.Name)
	case req.RunnerGroupID == 0:
		return nil, fmt.Errorf("generate jit config in %s, runner %s: runner group id is required", where, req.Name)
	}
	if req.WorkFolder == "" {
		req.WorkFolder = "_work"
	}
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("generate jit config in %s, runner %s: %w", where, req.Name, err)
	}
	res, _, err := gh.Actions.GenerateOrgJITConfig(ctx, owner, &github.GenerateJITConfigRequest{
		Name: req.Name, RunnerGroupID: req.RunnerGroupID, WorkFolder: github.String(req.WorkFolder), Labels: req.Labels,
	})
	if err != nil {
		switch statusOf(err) {
		case http.StatusConflict:
			err = fmt.Errorf("%w: %w", ErrRunnerExists, err)
		case http.StatusNotFound, http.StatusUnprocessableEntity:
			c.ForgetRunnerGroup(owner, groupName)
		}
		return nil, fmt.Errorf("generate jit config in %s, runner %s: %w", where, req.Name, c.done(owner, repo, id, err))
	}
	if res.GetEncodedJITConfig() == "" || res.GetRunner().GetID() == 0 {
		return nil, fmt.Errorf("generate jit config in %s, runner %s: answer without a config or runner id", where, req.Name)
	}
	out := &JITConfig{RunnerID: res.GetRunner().GetID(), Name: res.GetRunner().GetName(), EncodedJITConfig: res.GetEncodedJITConfig()}
	if out.Name == "" {
		out.Name = req.Name
	}
	c.log.Info("github jit runner registered", "org", owner, "repo", owner+"/"+repo, "runner", out.Name, "runner_id", out.RunnerID, "runner_group_id", req.RunnerGroupID)
	return out, nil
}

// OrgRegistrationToken creates a runner registration token for organisation owner
// (POST /orgs/{org}/actions/runners/registration-token), for non-ephemeral runners;
// config.sh then names the runner group (--runnergroup).
func (c *Client) OrgRegistrationToken(ctx context.Context, owner, repo string) (*RegistrationToken, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("create registration token for organisation %s: %w", owner, err)
	}
	tok, _, err := gh.Actions.CreateOrganizationRegistrationToken(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("create registration token for organisation %s: %w", owner, c.done(owner, repo, id, err))
	}
	if tok.GetToken() == "" {
		return nil, fmt.Errorf("create registration token for organisation %s: answer without a token", owner)
	}
	c.log.Info("github runner registration token created", "org", owner, "expires_at", tok.GetExpiresAt().Time)
	return &RegistrationToken{Token: tok.GetToken(), ExpiresAt: tok.GetExpiresAt().Time}, nil
}

// RemoveOrgRunner deletes a runner from organisation owner
// (DELETE /orgs/{org}/actions/runners/{runner_id}); 404 counts as removed, 422 (busy)
// wraps ErrRunnerBusy, as RemoveRunner.
func (c *Client) RemoveOrgRunner(ctx context.Context, owner, repo string, runnerID int64) error {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return fmt.Errorf("remove runner %d from organisation %s: %w", runnerID, owner, err)
	}
	_, err = gh.Actions.RemoveOrganizationRunner(ctx, owner, runnerID)
	code := statusOf(err)
	switch {
	case err == nil:
		c.log.Info("github runner removed", "org", owner, "runner_id", runnerID)
		return nil
	case code == http.StatusNotFound:
		c.log.Debug("github runner already gone", "org", owner, "runner_id", runnerID)
		return nil
	case code == http.StatusUnprocessableEntity:
		return fmt.Errorf("remove runner %d from organisation %s: %w: %w", runnerID, owner, ErrRunnerBusy, c.done(owner, repo, id, err))
	}
	return fmt.Errorf("remove runner %d from organisation %s: %w", runnerID, owner, c.done(owner, repo, id, err))
}

// FindOrgRunner returns the runner of organisation owner called name, nil when it has
// none: one request, GitHub filtering by name (GET /orgs/{org}/actions/runners?name=,
// "List self-hosted runners for an organization"), as FindRunner.
func (c *Client) FindOrgRunner(ctx context.Context, owner, repo, name string) (*Runner, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("find runner %s of organisation %s: %w", name, owner, err)
	}
	r, err := findNamed(ctx, gh, fmt.Sprintf("orgs/%s/actions/runners", owner), name)
	if err != nil {
		return nil, fmt.Errorf("find runner %s of organisation %s: %w", name, owner, c.done(owner, repo, id, err))
	}
	return r, nil
}

// GetOrgRunner returns one runner of organisation owner
// (GET /orgs/{org}/actions/runners/{runner_id}); ErrNotFound when GitHub does not know it.
func (c *Client) GetOrgRunner(ctx context.Context, owner, repo string, runnerID int64) (*Runner, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("get runner %d of organisation %s: %w", runnerID, owner, err)
	}
	r, _, err := gh.Actions.GetOrganizationRunner(ctx, owner, runnerID)
	if err != nil {
		return nil, fmt.Errorf("get runner %d of organisation %s: %w", runnerID, owner, c.done(owner, repo, id, err))
	}
	out := runnerFrom(r)
	return &out, nil
}
