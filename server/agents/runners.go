package agents

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
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
	// The server's record of a runner is the proof its agent removes it with: a name on
	// record for another agent is not minted again, which would take that record over.
	fresh := false
	m, err := s.st.GetMinted(ctx, req.RunnerName)
	if err == nil && m.AgentID != a.ID {
		s.credentials.WithLabelValues("refused").Inc()
		return nil, fmt.Errorf("runner name %s is taken by another runner: %w", req.RunnerName, store.ErrAlreadyExists)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	} else if err != nil {
		fresh, m = true, nil
	}
	if err := s.admit(ctx, a, p, key, req.RunnerName, req.JobID, fresh); err != nil {
		return nil, err
	}
	if !fresh { // the reservation of a fresh name counts its first mint
		if err := s.countMint(ctx, req.RunnerName); err != nil {
			return nil, err
		}
	}
	c, err := s.runners.Credentials(ctx, p, req.RunnerName)
	if errors.Is(err, githubapp.ErrRunnerExists) && m != nil && m.RepoKey == key {
		// A name on record for this agent here: the agent asks again for a runner whose
		// first answer it never got.
		c, err = s.mintAgain(ctx, a, p, m, err)
	}
	if err != nil {
		s.noteRefusal(ctx, p, err)
		s.credentials.WithLabelValues("failed").Inc()
		// Give the runner's room back: nothing was born. A name on record before this
		// call keeps its record, and so does one whose answer may have been lost (GitHub
		// unreachable, 5xx, the request cut off): GitHub may have registered it, and the
		// record lets the agent remove it by name and the sweep of unreported runners
		// find it (the chaos suite's outage left one such registration for good).
		if fresh && !mayHaveRegistered(err) {
			if ferr := s.st.ForgetMinted(context.WithoutCancel(ctx), []string{req.RunnerName}); ferr != nil {
				s.log.Warn("forget the reservation of a runner not minted failed", "runner", req.RunnerName, "repo", key, "err", ferr)
			}
		}
		return nil, fmt.Errorf("credentials for runner %s of %s/%s: %w", req.RunnerName, key, p.Name, err)
	}
	s.credentials.WithLabelValues("minted").Inc()
	attrs := []any{"agent_id", a.ID, "repo", key, "policy", p.Name, "runner", c.RunnerName, "kind", c.Kind, "runner_id", c.RunnerID}
	if req.JobID > 0 {
		attrs = append(attrs, "job_id", req.JobID)
	}
	// What the mint leaves is written in one transaction (one commit, one fsync of
	// PostgreSQL instead of three: issue 15), also when the request was cut off: the
	// runner is registered at GitHub already.
	wctx := context.WithoutCancel(ctx)
	err = s.st.Tx(wctx, func(tx *store.Store) error {
		// A runner minted clears the policy's refusal (noteRefusal).
		if err := tx.ClearRefusal(wctx, p.ID); err != nil {
			return err
		}
		if err := tx.RecordMinted(wctx, store.MintedRunner{
			Name: c.RunnerName, RepoKey: key, Policy: p.Name, AgentID: a.ID, RunnerID: c.RunnerID, MintedAt: s.now(),
			RegistrationLevel: p.RegistrationLevel,
		}); err != nil {
			return err
		}
		if req.JobID > 0 {
			if _, err := tx.MarkRunnerRequested(wctx, req.JobID, key, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The runner is registered at GitHub already: failing now would leave it without
		// an agent too. Without its record (with its GitHub id) the server sweeps it not,
		// nor lets the agent remove it; GitHub drops it once it is offline long enough. The
		// job's runner_requested step is a latency record, not worth failing it for.
		s.log.Warn("record minted runner failed", "runner", c.RunnerName, "repo", key, "job_id", req.JobID, "err", err)
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

// mintAgain mints runner m once more after GitHub answered conflict (409, "Already exists":
// a runner of that name is registered where p registers its runners) to an agent that
// asks again for a name the server minted, or began to mint, for it in that repository.
// That is the registration of an earlier request whose answer never reached the agent:
// its call timed out or met a 5xx (GitHub's answer lost, or the server's), and the
// agent's client asks again with the same name. Nobody holds that registration's JIT
// config (it was never answered, and the server keeps no copy), so nothing can ever run
// it: it is removed and the runner minted again, once, so that a request costs at most
// two mints, one lookup by name and one removal. A registration GitHub calls busy or
// online runs with its config after all, and one with another GitHub id than the record
// holds is not the one the server minted: those keep conflict. The earlier request is
// over by then: the server's context of a request ends when its agent gives up on it.
func (s *Service) mintAgain(ctx context.Context, a *store.Agent, p *store.Policy, m *store.MintedRunner, conflict error) (*runners.Credentials, error) {
	at := s.level(p.AtOrganization())
	found, err := at.findByName(ctx, p.Owner, p.Repo, m.Name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("find runner %s of %s after a conflict: %w", m.Name, m.RepoKey, err)
	case found != nil && found.Busy:
		return nil, fmt.Errorf("runner %s of %s is busy at GitHub: %w", m.Name, m.RepoKey, conflict)
	case found != nil && found.Status == "online":
		return nil, fmt.Errorf("runner %s of %s is online at GitHub: %w", m.Name, m.RepoKey, conflict)
	case found != nil && m.RunnerID != 0 && found.ID != m.RunnerID:
		return nil, fmt.Errorf("runner %s of %s has GitHub id %d, not the %d minted: %w", m.Name, m.RepoKey, found.ID, m.RunnerID, conflict)
	case found != nil:
		if err := ctx.Err(); err != nil {
			// This agent gave up on this request too: a newer one may have minted the name.
			return nil, err
		}
		if err := at.remove(ctx, p.Owner, p.Repo, found.ID); errors.Is(err, runners.ErrRunnerBusy) {
			return nil, fmt.Errorf("runner %s of %s took a job: %w", m.Name, m.RepoKey, conflict)
		} else if err != nil {
			return nil, fmt.Errorf("remove the unanswered registration of runner %s of %s: %w", m.Name, m.RepoKey, err)
		}
		s.log.Info("unanswered registration of a runner removed: minting it again", "agent_id", a.ID, "repo", m.RepoKey,
			"policy", p.Name, "runner", m.Name, "runner_id", found.ID)
	}
	if err := s.countMint(ctx, m.Name); err != nil {
		return nil, err
	}
	return s.runners.Credentials(ctx, p, m.Name)
}

// maxMintsPerName bounds the requests to GitHub for the credentials of one runner name
// that GitHub did not answer with credentials (lost answers, 5xx, conflicts), whatever its
// agent asks: a name asked for again after a lost answer costs up to two (mintAgain). The
// agent bounds its own attempts whose answer it lost after the server minted
// (agent/client credentialAttempts).
const maxMintsPerName = 8

// countMint counts one more request to GitHub for runner name's credentials, and refuses
// it (store.ErrAlreadyExists: the agent takes another name) past maxMintsPerName.
func (s *Service) countMint(ctx context.Context, name string) error {
	ok, err := s.st.NoteMintAttempt(ctx, name, maxMintsPerName)
	switch {
	case err != nil:
		return err
	case !ok:
		s.credentials.WithLabelValues("refused").Inc()
		return fmt.Errorf("runner %s is not minted again: %d unanswered mints of that name already, or its record went: ask with another name: %w",
			name, maxMintsPerName, store.ErrAlreadyExists)
	}
	return nil
}

// RemoveRunner removes a runner from GitHub for an agent that may remove it: the server
// minted it for this agent in the repository named (its record in minted_runners, kept
// until the runner is removed), or minted it for another agent of the same group and this
// agent holds it now in its inventory (it adopted it as the repository's owner). The
// repository's ownership alone is not enough, and what an agent reported is not trusted
// for the GitHub id: the server removes the id it minted, or, for a runner registered
// with a registration token, the runner of that name in that repository. Anything else
// is ErrNotOwner, before GitHub is asked; a runner the server has no record of (never
// minted, or removed already) is gone already (nil) for the repository's owner and
// ErrNotOwner for any other agent, also without asking. A busy runner gives protocol.ErrRunnerBusy; a
// runner GitHub no longer knows is removed already (nil).
func (s *Service) RemoveRunner(ctx context.Context, a *store.Agent, req protocol.RemoveRunnerRequest) error {
	owner, repo, err := parseRunnerRequest(req.Repository, req.RunnerName, "", "", nil)
	if err != nil {
		return err
	}
	if req.RunnerID < 0 {
		return portalapi.Invalid("runner_id", "must be GitHub's id of the runner, or 0 to find it by name")
	}
	key := store.RepoKey(owner, repo)
	m, err := s.mayRemove(ctx, a, key, req)
	if errors.Is(err, errNoRecord) {
		// Gone already for the repository's owner; a refusal for anybody else, as before.
		if err := s.checkOwner(ctx, a, key); err != nil {
			return err
		}
		s.log.Debug("runner removal: no record of the runner, nothing to remove", "agent_id", a.ID, "repo", key, "runner", req.RunnerName)
		return nil
	}
	if err != nil {
		if errors.Is(err, ErrNotOwner) {
			s.log.Warn("runner removal refused", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", req.RunnerID, "err", err)
		}
		return err
	}
	if gone, err := s.unregisteredByGitHub(ctx, m); err != nil {
		return err
	} else if gone {
		s.log.Debug("runner removal: GitHub unregistered the runner after its job", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", m.RunnerID)
		return s.forgetRemoved(ctx, req.RunnerName)
	}
	at, err := s.runnersFor(ctx, m)
	if err != nil {
		return err
	}
	// A runner registered with a registration token has no id the server knows: find it
	// by name (not found means it never registered, or is gone: nothing to remove).
	id := m.RunnerID
	if id == 0 {
		found, err := at.findByName(ctx, owner, repo, req.RunnerName)
		if err != nil {
			return fmt.Errorf("find runner %s of %s: %w", req.RunnerName, key, err)
		}
		if found == nil {
			return s.forgetRemoved(ctx, req.RunnerName)
		}
		id = found.ID
	}
	if err := at.remove(ctx, owner, repo, id); err != nil {
		if errors.Is(err, runners.ErrRunnerBusy) {
			s.log.Info("runner busy: not removed", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", id)
			return fmt.Errorf("remove runner %s of %s: %w", req.RunnerName, key, protocol.ErrRunnerBusy)
		}
		return fmt.Errorf("remove runner %s of %s: %w", req.RunnerName, key, err)
	}
	s.log.Info("runner removed from GitHub", "agent_id", a.ID, "repo", key, "runner", req.RunnerName, "runner_id", id)
	return s.forgetRemoved(ctx, req.RunnerName)
}

// unregisteredByGitHub reports whether GitHub has unregistered runner m itself, so that
// removing it would only be answered 404: a JIT runner (one with a GitHub id: the server
// mints JIT configs for ephemeral policies only) whose job the job log holds completed
// with success. An ephemeral runner "is automatically unregistered" after its job (GitHub
// changelog 2021-09-20, "GitHub Actions: Ephemeral self-hosted runners & new webhooks for
// auto-scaling"; actions/runner#660: "the service will remove the runner registration
// after the job finish"). A runner lost in the middle of its job (its container removed,
// its host gone) has its job failed by GitHub ("lost communication with the server",
// actions/runner#1546) and stays registered, offline, until GitHub drops offline
// ephemeral runners after a day ("Removing self-hosted runners", GitHub Docs): any other
// conclusion is removed as before, and a 404 there is success too.
func (s *Service) unregisteredByGitHub(ctx context.Context, m *store.MintedRunner) (bool, error) {
	if m.RunnerID == 0 {
		return false, nil
	}
	return s.st.RanJobToSuccess(ctx, m.RepoKey, m.Name)
}

// errNoRecord: the server has no record of the runner a removal names.
var errNoRecord = errors.New("no record of the runner")

// forgetRemoved drops the record of a runner removed from GitHub (best effort: a record
// left behind only lets its agent ask again).
func (s *Service) forgetRemoved(ctx context.Context, name string) error {
	if err := s.st.ForgetMinted(ctx, []string{name}); err != nil {
		s.log.Warn("forget removed runner failed", "runner", name, "err", err)
	}
	return nil
}

// mayRemove returns the server's record of the runner req names if agent a may remove
// it (see RemoveRunner), ErrNotOwner otherwise.
func (s *Service) mayRemove(ctx context.Context, a *store.Agent, key string, req protocol.RemoveRunnerRequest) (*store.MintedRunner, error) {
	refuse := func(why string) error {
		return fmt.Errorf("agent %s may not remove runner %s of %s: %s: %w", a.ID, req.RunnerName, key, why, ErrNotOwner)
	}
	m, err := s.st.GetMinted(ctx, req.RunnerName)
	if errors.Is(err, store.ErrNotFound) {
		// Nothing the server may remove: it never minted the runner, or removed it
		// already (a removal asked for again, answered as the first). GitHub is not asked.
		return nil, errNoRecord
	}
	if err != nil {
		return nil, err
	}
	if m.RepoKey != key {
		return nil, refuse("it was minted for another repository")
	}
	if req.RunnerID != 0 && m.RunnerID != 0 && req.RunnerID != m.RunnerID {
		return nil, refuse("it was minted with another GitHub runner id")
	}
	if m.AgentID == a.ID {
		return m, nil
	}
	// Adopted: minted for an agent of the same group, and held by a now.
	r, err := s.st.GetRunner(ctx, req.RunnerName)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (r.AgentID != a.ID || r.RepoKey != key)) {
		return nil, refuse("it was minted for another agent")
	}
	if err != nil {
		return nil, err
	}
	minter, err := s.st.GetAgent(ctx, m.AgentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && minter.AgentGroup != a.AgentGroup) {
		return nil, refuse("it was minted for an agent of another group")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
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

// mayHaveRegistered reports whether a failed mint may still have registered the runner
// at GitHub: its answer was not GitHub's refusal.
func mayHaveRegistered(err error) bool {
	return errors.Is(err, githubapp.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
