package agents

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
)

// endedRetention is how long the server keeps the record of a runner it minted after no
// agent holds it any more: an agent that comes back within it can still prove, and remove,
// the runners it finds by their labels.
const endedRetention = 7 * 24 * time.Hour

// sweepBatch bounds the runners one sweep looks at (each may cost a GitHub request).
const sweepBatch = 50

// SweepUnreported removes from GitHub the runners whose credentials were minted longer
// than Config.Unreported ago and that no agent has reported since: the agent died
// between asking for them and starting them, so nothing else will ever remove them. A
// runner GitHub reports busy is left (it runs a job after all: its agent will report
// it); one GitHub no longer knows is forgotten. It returns how many it removed or
// forgot, and stops at the first other error (a rate limit, say) to try again later.
func (s *Service) SweepUnreported(ctx context.Context) (int, error) {
	if s.cfg.Unreported <= 0 {
		return 0, nil
	}
	if n, err := s.st.ForgetEndedMinted(ctx, s.now().Add(-endedRetention)); err != nil {
		return 0, err
	} else if n > 0 {
		s.log.Debug("records of ended runners forgotten", "count", n)
	}
	due, err := s.st.UnreportedMinted(ctx, s.now().Add(-s.cfg.Unreported), sweepBatch)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, m := range due {
		outcome, err := s.removeUnreported(ctx, m)
		s.swept.WithLabelValues(outcome).Inc()
		switch {
		case outcome == "busy":
			continue
		case err != nil:
			return done, err
		}
		if err := s.st.ForgetMinted(ctx, []string{m.Name}); err != nil {
			return done, err
		}
		done++
		s.log.Info("unreported runner swept", "repo", m.RepoKey, "policy", m.Policy, "runner", m.Name,
			"runner_id", m.RunnerID, "agent_id", m.AgentID, "minted_at", m.MintedAt, "outcome", outcome)
	}
	return done, nil
}

// removeUnreported removes one runner and says what happened: removed, gone (GitHub
// does not know it), busy or failed.
func (s *Service) removeUnreported(ctx context.Context, m store.MintedRunner) (string, error) {
	owner, repo, err := policy.ParseRepository(m.RepoKey)
	if err != nil {
		return "failed", fmt.Errorf("minted runner %s: repository: %w", m.Name, err)
	}
	// Looked up first: a runner GitHub no longer knows (an ephemeral one that ran its
	// job and went, which no webhook struck off) is "gone", not an orphan removed; and
	// one that GitHub calls busy is left without a refused DELETE.
	at, err := s.runnersFor(ctx, &m)
	if err != nil {
		return "failed", err
	}
	var found *githubapp.Runner
	if m.RunnerID == 0 { // registered with a registration token: GitHub knows it by name only
		found, err = at.findByName(ctx, owner, repo, m.Name)
	} else {
		found, err = at.get(ctx, owner, repo, m.RunnerID)
		if errors.Is(err, githubapp.ErrNotFound) {
			found, err = nil, nil
		}
	}
	switch {
	case err != nil:
		return "failed", fmt.Errorf("find runner %s of %s: %w", m.Name, m.RepoKey, err)
	case found == nil:
		return "gone", nil
	case found.Busy:
		return "busy", nil
	}
	err = at.remove(ctx, owner, repo, found.ID)
	switch {
	case err == nil:
		return "removed", nil
	case errors.Is(err, runners.ErrRunnerBusy):
		return "busy", nil
	default:
		return "failed", fmt.Errorf("remove unreported runner %s of %s: %w", m.Name, m.RepoKey, err)
	}
}

// RunSweep sweeps unreported runners every interval until ctx ends; with several
// replicas one of them runs each sweep (an advisory lock).
func (s *Service) RunSweep(ctx context.Context, interval time.Duration, tick func(time.Duration) <-chan time.Time) {
	if s.cfg.Unreported <= 0 {
		return
	}
	if tick == nil {
		tick = time.After
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick(interval):
		}
		_, err := s.st.WithLeaderLock(ctx, store.LockUnreported, func(ctx context.Context) error {
			_, err := s.SweepUnreported(ctx)
			return err
		})
		switch {
		case errors.Is(err, githubapp.ErrNotConfigured):
			// Runners minted while GitHub was configured cannot be removed now.
			s.log.Info("sweep of unreported runners is off: no GitHub credentials")
			return
		case err != nil && ctx.Err() == nil:
			s.log.Warn("sweep of unreported runners failed", "err", err)
		}
	}
}
