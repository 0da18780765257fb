package githubapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/go-github/v60/github"
)

// ErrRunnerExists means that GitHub already has a runner of that name in the repository (409 on
// generate-jitconfig), e.g. after an earlier attempt whose answer was lost. Remove the old
// runner or pick another name.
var ErrRunnerExists = errors.New("github: runner name already exists")

// JITRequest asks for a just-in-time runner config.
type JITRequest struct {
	Name          string   // runner name, unique in the repository; required
	Labels        []string // at least one
	RunnerGroupID int64    // 0 means 1, the default group
	WorkFolder    string   // "" means "_work"
}

// JITConfig is a just-in-time runner config: the runner is registered and may run one job.
// EncodedJITConfig is a secret (it holds the runner's credentials): it travels to the
// runner through the environment or a Kubernetes Secret, never argv, and is never logged.
// String, GoString and LogValue redact it.
type JITConfig struct {
	RunnerID         int64
	Name             string
	EncodedJITConfig string
}

func (j JITConfig) String() string {
	return fmt.Sprintf("JITConfig{RunnerID:%d Name:%q EncodedJITConfig:%s}", j.RunnerID, j.Name, redacted(j.EncodedJITConfig))
}

// GoString keeps %#v from printing the config.
func (j JITConfig) GoString() string { return "githubapp." + j.String() }

// LogValue keeps slog from printing the config.
func (j JITConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("runner_id", j.RunnerID), slog.String("runner", j.Name))
}

// RegistrationToken registers a (non-ephemeral or non-JIT) runner with config.sh. Token is
// a secret; String, GoString and LogValue redact it.
type RegistrationToken struct {
	Token     string
	ExpiresAt time.Time
}

func (t RegistrationToken) String() string {
	return fmt.Sprintf("RegistrationToken{Token:%s ExpiresAt:%s}", redacted(t.Token), t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the token.
func (t RegistrationToken) GoString() string { return "githubapp." + t.String() }

// LogValue keeps slog from printing the token.
func (t RegistrationToken) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expires_at", t.ExpiresAt))
}

func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[redacted]"
}

// Runner is a self-hosted runner as GitHub sees it. Status is "online" or "offline".
type Runner struct {
	ID     int64
	Name   string
	OS     string
	Status string
	Busy   bool
	Labels []string
}

func runnerFrom(r *github.Runner) Runner {
	out := Runner{ID: r.GetID(), Name: r.GetName(), OS: r.GetOS(), Status: r.GetStatus(), Busy: r.GetBusy()}
	for _, l := range r.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// GenerateJITConfig registers a just-in-time runner in owner/repo and returns its config
// (POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig). The call is not retried
// on 5xx or network errors: GitHub may have registered the runner; a retry by the caller
// with the same name then meets ErrRunnerExists (server/agents removes such a
// registration of a name it minted and mints again).
func (c *Client) GenerateJITConfig(ctx context.Context, owner, repo string, req JITRequest) (*JITConfig, error) {
	if req.Name == "" {
		return nil, fmt.Errorf("generate jit config for %s/%s: runner name is required", owner, repo)
	}
	if len(req.Labels) == 0 {
		return nil, fmt.Errorf("generate jit config for %s/%s, runner %s: at least one label is required", owner, repo, req.Name)
	}
	if req.RunnerGroupID == 0 {
		req.RunnerGroupID = 1
	}
	if req.WorkFolder == "" {
		req.WorkFolder = "_work"
	}
	var res *github.JITRunnerConfig
	for attempt := 1; ; attempt++ {
		gh, id, err := c.forRepo(ctx, owner, repo)
		if err != nil {
			return nil, fmt.Errorf("generate jit config for %s/%s, runner %s: %w", owner, repo, req.Name, err)
		}
		res, _, err = gh.Actions.GenerateRepoJITConfig(ctx, owner, repo, &github.GenerateJITConfigRequest{
			Name:          req.Name,
			RunnerGroupID: req.RunnerGroupID,
			WorkFolder:    github.String(req.WorkFolder),
			Labels:        req.Labels,
		})
		if err == nil {
			break
		}
		if statusOf(err) == http.StatusConflict {
			err = fmt.Errorf("%w: %w", ErrRunnerExists, err)
		}
		if err = c.done(owner, repo, id, err); c.elsewhere(owner, repo, id, err, attempt) {
			continue
		}
		return nil, fmt.Errorf("generate jit config for %s/%s, runner %s: %w", owner, repo, req.Name, repoRunnersRefused(owner, repo, err))
	}
	if res.GetEncodedJITConfig() == "" || res.GetRunner().GetID() == 0 {
		return nil, fmt.Errorf("generate jit config for %s/%s, runner %s: answer without a config or runner id", owner, repo, req.Name)
	}
	out := &JITConfig{RunnerID: res.GetRunner().GetID(), Name: res.GetRunner().GetName(), EncodedJITConfig: res.GetEncodedJITConfig()}
	if out.Name == "" {
		out.Name = req.Name
	}
	c.log.Info("github jit runner registered", "repo", owner+"/"+repo, "runner", out.Name, "runner_id", out.RunnerID)
	return out, nil
}

// RegistrationToken creates a runner registration token for owner/repo (valid one hour),
// for non-ephemeral runners and for GitHub Enterprise Server versions without JIT.
func (c *Client) RegistrationToken(ctx context.Context, owner, repo string) (*RegistrationToken, error) {
	var tok *github.RegistrationToken
	for attempt := 1; ; attempt++ {
		gh, id, err := c.forRepo(ctx, owner, repo)
		if err != nil {
			return nil, fmt.Errorf("create registration token for %s/%s: %w", owner, repo, err)
		}
		if tok, _, err = gh.Actions.CreateRegistrationToken(ctx, owner, repo); err == nil {
			break
		}
		if err = c.done(owner, repo, id, err); c.elsewhere(owner, repo, id, err, attempt) {
			continue
		}
		return nil, fmt.Errorf("create registration token for %s/%s: %w", owner, repo, repoRunnersRefused(owner, repo, err))
	}
	if tok.GetToken() == "" {
		return nil, fmt.Errorf("create registration token for %s/%s: answer without a token", owner, repo)
	}
	c.log.Info("github runner registration token created", "repo", owner+"/"+repo, "expires_at", tok.GetExpiresAt().Time)
	return &RegistrationToken{Token: tok.GetToken(), ExpiresAt: tok.GetExpiresAt().Time}, nil
}

// RemoveRunner deletes a runner from owner/repo. A runner GitHub no longer knows (404)
// counts as removed, so the call is idempotent (GitHub also answers 404 when the App lost
// access to the repository; the 404 forgets the cached installation, so the next call
// reports ErrNotInstalled). A runner that is running a job (422) is not removed: the
// error wraps ErrRunnerBusy and the request is not repeated.
func (c *Client) RemoveRunner(ctx context.Context, owner, repo string, runnerID int64) error {
	var code int
	var err error
	for attempt := 1; ; attempt++ {
		gh, id, ferr := c.forRepo(ctx, owner, repo)
		if ferr != nil {
			return fmt.Errorf("remove runner %d from %s/%s: %w", runnerID, owner, repo, ferr)
		}
		_, err = gh.Actions.RemoveRunner(ctx, owner, repo, runnerID)
		code = statusOf(err)
		if err = c.done(owner, repo, id, err); !c.elsewhere(owner, repo, id, err, attempt) {
			break
		}
	}
	switch {
	case err == nil:
		c.log.Info("github runner removed", "repo", owner+"/"+repo, "runner_id", runnerID)
		return nil
	case code == http.StatusNotFound:
		c.log.Debug("github runner already gone", "repo", owner+"/"+repo, "runner_id", runnerID)
		return nil
	case code == http.StatusUnprocessableEntity:
		c.log.Info("github runner busy; not removed", "repo", owner+"/"+repo, "runner_id", runnerID)
		return fmt.Errorf("remove runner %d from %s/%s: %w: %w", runnerID, owner, repo, ErrRunnerBusy, err)
	}
	return fmt.Errorf("remove runner %d from %s/%s: %w", runnerID, owner, repo, err)
}

// ListRunners returns every self-hosted runner of owner/repo, following all pages.
func (c *Client) ListRunners(ctx context.Context, owner, repo string) ([]Runner, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("list runners of %s/%s: %w", owner, repo, err)
	}
	var out []Runner
	opts := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := gh.Actions.ListRunners(ctx, owner, repo, opts)
		if err != nil {
			return nil, fmt.Errorf("list runners of %s/%s (page %d): %w", owner, repo, max(opts.Page, 1), c.done(owner, repo, id, err))
		}
		for _, r := range page.Runners {
			out = append(out, runnerFrom(r))
		}
		if resp.NextPage == 0 || resp.NextPage == opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// FindRunner returns the runner of owner/repo called name, nil when GitHub has none: one
// request, GitHub filtering by name (GET /repos/{owner}/{repo}/actions/runners?name=,
// "List self-hosted runners for a repository", whose query parameter name is "The name
// of a self-hosted runner"), where listing every page would cost a request per hundred
// runners.
func (c *Client) FindRunner(ctx context.Context, owner, repo, name string) (*Runner, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("find runner %s of %s/%s: %w", name, owner, repo, err)
	}
	r, err := findNamed(ctx, gh, fmt.Sprintf("repos/%s/%s/actions/runners", owner, repo), name)
	if err != nil {
		return nil, fmt.Errorf("find runner %s of %s/%s: %w", name, owner, repo, c.done(owner, repo, id, err))
	}
	return r, nil
}

// maxNamedPages bounds findNamed: GitHub's name filter leaves one runner, or none.
const maxNamedPages = 10

// findNamed lists the runners of a runners route (path, relative to the API's root)
// called name, following pages up to maxNamedPages, and returns the one of exactly that
// name, nil when there is none.
func findNamed(ctx context.Context, gh *github.Client, path, name string) (*Runner, error) {
	q := url.Values{"name": {name}, "per_page": {"100"}}
	for page := 1; page <= maxNamedPages; page++ {
		q.Set("page", strconv.Itoa(page))
		req, err := gh.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var list github.Runners
		resp, err := gh.Do(ctx, req, &list)
		if err != nil {
			return nil, err
		}
		for _, r := range list.Runners {
			if r.GetName() == name {
				out := runnerFrom(r)
				return &out, nil
			}
		}
		if resp.NextPage == 0 || resp.NextPage <= page {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("runners named %s: more than %d pages", name, maxNamedPages)
}

// GetRunner returns one runner of owner/repo; ErrNotFound when GitHub does not know it.
func (c *Client) GetRunner(ctx context.Context, owner, repo string, runnerID int64) (*Runner, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("get runner %d of %s/%s: %w", runnerID, owner, repo, err)
	}
	r, _, err := gh.Actions.GetRunner(ctx, owner, repo, runnerID)
	if err != nil {
		return nil, fmt.Errorf("get runner %d of %s/%s: %w", runnerID, owner, repo, c.done(owner, repo, id, err))
	}
	out := runnerFrom(r)
	return &out, nil
}
