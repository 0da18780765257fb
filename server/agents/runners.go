package agents

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// runnerNameRe is what server/runners accepts as a runner name.
var runnerNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Credentials mints what a new runner of a policy needs, for an agent that owns the
// policy's repository now (ErrNotOwner otherwise, and for a policy of another group or
// of another provider than the one the agent serves). A
// missing or disabled policy gives store.ErrNotFound. With a job id, the job's
// runner_requested time is recorded. The credentials are secrets: neither they nor
// anything derived from them is logged or put into an error.
func (s *Service) Credentials(ctx context.Context, a *store.Agent, req protocol.CredentialsRequest) (*protocol.Credentials, error) {
	owner, repo, err := parseRunnerRequest(req.Repository, req.RunnerName, "policy", req.Policy, policy.ValidateName)
	if err != nil {
		return nil, err
	}
	key := store.RepoKey(owner, repo)
	if err := s.checkOwner(ctx, a, key); err != nil {
		s.credentials.WithLabelValues("refused").Inc()
		return nil, err
	}
	p, err := s.st.GetPolicy(ctx, key, req.Policy, false)
	if err != nil {
		return nil, err
	}
	switch {
	case p.AgentGroup != a.AgentGroup:
		s.credentials.WithLabelValues("refused").Inc()
		return nil, fmt.Errorf("policy %s of %s is served by agent group %s, not %s: %w", p.Name, key, p.AgentGroup, a.AgentGroup, ErrNotOwner)
	case p.Provider != a.Serves:
		s.credentials.WithLabelValues("refused").Inc()
		return nil, fmt.Errorf("policy %s of %s runs on provider %s, and agent %s runs %s: %w", p.Name, key, p.Provider, a.ID, a.Provider, ErrNotOwner)
	case !p.Enabled:
		return nil, fmt.Errorf("policy %s of %s is disabled: %w", p.Name, key, store.ErrNotFound)
	}
	c, err := s.runners.Credentials(ctx, p, req.RunnerName)
	if err != nil {
		s.credentials.WithLabelValues("failed").Inc()
		return nil, fmt.Errorf("credentials for runner %s of %s/%s: %w", req.RunnerName, key, p.Name, err)
	}
	s.credentials.WithLabelValues("minted").Inc()
	if err := s.st.RecordMinted(ctx, store.MintedRunner{
		Name: c.RunnerName, RepoKey: key, Policy: p.Name, AgentID: a.ID, RunnerID: c.RunnerID, MintedAt: s.now(),
	}); err != nil {
		// Only the sweep of never-started runners depends on it: not worth failing for.
		s.log.Warn("record minted runner failed", "runner", c.RunnerName, "repo", key, "err", err)
	}
	attrs := []any{"agent_id", a.ID, "repo", key, "policy", p.Name, "runner", c.RunnerName, "kind", c.Kind, "runner_id", c.RunnerID}
	if req.JobID > 0 {
		attrs = append(attrs, "job_id", req.JobID)
		if _, err := s.st.MarkRunnerRequested(ctx, req.JobID, key, s.now()); err != nil {
			// The runner is minted; the latency record is not worth failing it for.
			s.log.Warn("record runner request on the job failed", "job_id", req.JobID, "repo", key, "err", err)
		}
	}
	s.log.Info("runner credentials minted", attrs...)
	out := &protocol.Credentials{
		Kind: c.Kind, RunnerName: c.RunnerName, RunnerID: c.RunnerID, Labels: c.Labels, Ephemeral: c.Ephemeral,
		JITConfig: c.JITConfig, RegistrationToken: c.RegistrationToken, ExpiresAt: c.ExpiresAt,
	}
	if c.Kind == runners.KindRegistrationToken {
		out.RepositoryURL = s.cfg.GitHubURL + p.Repository()
	}
	return out, nil
}

// RemoveRunner removes a runner from GitHub for an agent that owns its repository now, or
// that itself reported that runner (name and GitHub id) in its inventory, so that an agent
// that lost a repository can still clean up what it created. A busy runner gives
// protocol.ErrRunnerBusy; a runner GitHub no longer knows is removed already (nil).
func (s *Service) RemoveRunner(ctx context.Context, a *store.Agent, req protocol.RemoveRunnerRequest) error {
	owner, repo, err := parseRunnerRequest(req.Repository, req.RunnerName, "", "", nil)
	if err != nil {
		return err
	}
	if req.RunnerID < 0 {
		return portalapi.Invalid("runner_id", "must be GitHub's id of the runner, or 0 to find it by name")
	}
	key := store.RepoKey(owner, repo)
	if err := s.checkOwner(ctx, a, key); err != nil {
		r, rerr := s.st.GetRunner(ctx, req.RunnerName)
		if rerr != nil || r.AgentID != a.ID || r.RepoKey != key || (req.RunnerID != 0 && r.RunnerID != req.RunnerID) {
			return err
		}
	}
	// A runner registered with a registration token has no id the agent knows: find it by
	// name (not found means it never registered, or is gone: nothing to remove).
	id := req.RunnerID
	if id == 0 {
		found, err := s.runners.FindByName(ctx, owner, repo, req.RunnerName)
		if err != nil {
			return fmt.Errorf("find runner %s of %s: %w", req.RunnerName, key, err)
		}
		if found == nil {
			return nil
		}
		id = found.ID
	}
	if err := s.runners.Remove(ctx, owner, repo, id); err != nil {
		if errors.Is(err, runners.ErrRunnerBusy) {
			s.log.Info("runner busy: not removed", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", req.RunnerID)
			return fmt.Errorf("remove runner %s of %s: %w", req.RunnerName, key, protocol.ErrRunnerBusy)
		}
		return fmt.Errorf("remove runner %s of %s: %w", req.RunnerName, key, err)
	}
	s.log.Info("runner removed from GitHub", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", id)
	if err := s.st.ForgetMinted(ctx, []string{req.RunnerName}); err != nil {
		s.log.Warn("forget removed runner failed", "runner", req.RunnerName, "err", err)
	}
	return nil
}

// checkOwner returns ErrNotOwner unless agent a owns repository key in its group for the
// provider it serves.
func (s *Service) checkOwner(ctx context.Context, a *store.Agent, key string) error {
	o, err := s.st.Owner(ctx, key, a.AgentGroup, a.Serves)
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.AgentID != a.ID) {
		return fmt.Errorf("agent %s does not serve %s: %w", a.ID, key, ErrNotOwner)
	}
	return err
}

// parseRunnerRequest checks the repository, the runner name and, when validate is set,
// one more named field.
func parseRunnerRequest(repository, runnerName, field, value string, validate func(string) error) (string, string, error) {
	var errs []portalapi.FieldError
	owner, repo, err := policy.ParseRepository(repository)
	if err != nil {
		errs = append(errs, portalapi.FieldError{Field: "repository", Message: err.Error()})
	}
	if !runnerNameRe.MatchString(runnerName) {
		errs = append(errs, portalapi.FieldError{Field: "runner_name", Message: fmt.Sprintf("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", runnerName)})
	}
	if validate != nil {
		if err := validate(value); err != nil {
			errs = append(errs, portalapi.FieldError{Field: field, Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return "", "", &portalapi.ValidationError{Fields: errs}
	}
	return owner, repo, nil
}
