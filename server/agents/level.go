package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/store"
)

// levelRunners are the GitHub runner routes of one registration level.
type levelRunners struct {
	remove     func(ctx context.Context, owner, repo string, runnerID int64) error
	findByName func(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error)
	get        func(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error)
}

// runnersFor returns the routes of the level where the policy of the minted runner m
// registers its runners: the organisation's for an organisation-level policy, the
// repository's otherwise, and when the policy is gone (its level is then unknown; the
// repository's routes answer "gone" for an organisation runner, which reconciliation of
// unreported runners leaves to GitHub's own clean-up of offline runners).
func (s *Service) runnersFor(ctx context.Context, m *store.MintedRunner) (levelRunners, error) {
	repoLevel := levelRunners{remove: s.runners.Remove, findByName: s.runners.FindByName, get: s.runners.Get}
	if m == nil || m.Policy == "" {
		return repoLevel, nil
	}
	p, err := s.st.GetPolicy(ctx, m.RepoKey, m.Policy, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return repoLevel, nil
	case err != nil:
		return levelRunners{}, fmt.Errorf("registration level of runner %s: %w", m.Name, err)
	case p.AtOrganization():
		return levelRunners{remove: s.runners.RemoveOrg, findByName: s.runners.FindByNameOrg, get: s.runners.GetOrg}, nil
	}
	return repoLevel, nil
}
