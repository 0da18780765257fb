package agents

import (
	"context"
	"errors"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/store"
)

// noteRefusal keeps the portal's view of GitHub's lasting refusals of p's runners up to
// date after a mint that failed with err: a refusal (githubapp.RefusalError: the runner
// group may not serve the repository, or repository-level runners are refused there) is
// recorded with its reason (a runner minted clears it, with the rest of the mint's
// record: Credentials). Other failures leave the record as it is: they say nothing about
// whether GitHub would take the runner. Best effort: the mint's own answer does not
// depend on it.
func (s *Service) noteRefusal(ctx context.Context, p *store.Policy, err error) {
	ctx = context.WithoutCancel(ctx)
	var refusal *githubapp.RefusalError
	if errors.As(err, &refusal) {
		s.log.Warn("github refuses the policy's runners", "repo", p.RepoKey, "policy", p.Name, "reason", refusal.Reason)
		if rerr := s.st.RecordRefusal(ctx, p, refusal.Reason); rerr != nil {
			s.log.Warn("record the refusal of a policy failed", "repo", p.RepoKey, "policy", p.Name, "err", rerr)
		}
	}
}

// refusedServing is the serving state of a policy GitHub refuses runners for.
func refusedServing(r store.PolicyRefusal) portalapi.PolicyServing {
	return portalapi.PolicyServing{State: portalapi.PolicyRefusedByGitHub, Reason: r.Reason}
}
