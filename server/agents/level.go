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

// level returns the routes of the organisation level (org) or of the repository level.
func (s *Service) level(org bool) levelRunners {
	if org {
		return levelRunners{remove: s.runners.RemoveOrg, findByName: s.runners.FindByNameOrg, get: s.runners.GetOrg}
	}
	return levelRunners{remove: s.runners.Remove, findByName: s.runners.FindByName, get: s.runners.Get}
}

// runnersFor returns the routes of the level where the minted runner m registered: the
// level recorded with it (migration 0020), so that a runner of a policy since deleted or
// moved to the other level is still removed where it is. Records older than that carry
// no level: the level of their policy decides, and the repository's when the policy is
// gone (the repository's routes then answer "gone" for an organisation runner, which
// reconciliation of unreported runners leaves to GitHub's own clean-up of offline
// runners).
func (s *Service) runnersFor(ctx context.Context, m *store.MintedRunner) (levelRunners, error) {
	repoLevel, orgLevel := s.level(false), s.level(true)
	switch {
	case m == nil:
		return repoLevel, nil
	case m.RegistrationLevel == store.LevelOrganization:
		return orgLevel, nil
	case m.RegistrationLevel != "" || m.Policy == "":
		return repoLevel, nil
	}
	p, err := s.st.GetPolicy(ctx, m.RepoKey, m.Policy, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return repoLevel, nil
	case err != nil:
		return levelRunners{}, fmt.Errorf("registration level of runner %s: %w", m.Name, err)
	case p.AtOrganization():
		return orgLevel, nil
	}
	return repoLevel, nil
}
