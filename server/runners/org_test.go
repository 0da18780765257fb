package runners_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
)

// orgGitHub answers the organisation routes; every other call is NotConfigured.
type orgGitHub struct {
	githubapp.NotConfigured
	groups  map[string]int64 // name -> id; a name missing is denied
	minted  []githubapp.JITRequest
	runners []githubapp.Runner
	removed []int64
}

func (g *orgGitHub) FindOrgRunner(_ context.Context, _, _, name string) (*githubapp.Runner, error) {
	for i := range g.runners {
		if g.runners[i].Name == name {
			return &g.runners[i], nil
		}
	}
	return nil, nil
}

func (g *orgGitHub) RemoveOrgRunner(_ context.Context, _, _ string, id int64) error {
	for _, r := range g.runners {
		if r.ID == id && r.Busy {
			return fmt.Errorf("busy: %w", githubapp.ErrRunnerBusy)
		}
	}
	g.removed = append(g.removed, id)
	return nil
}

func (g *orgGitHub) ResolveRunnerGroup(_ context.Context, owner, repo, name string, _ bool) (githubapp.RunnerGroup, error) {
	id, ok := g.groups[name]
	if !ok {
		return githubapp.RunnerGroup{}, fmt.Errorf("%w: runner group %q does not allow repository %s/%s", githubapp.ErrGroupDenied, name, owner, repo)
	}
	return githubapp.RunnerGroup{ID: id, Name: name, Visibility: "all"}, nil
}

func (g *orgGitHub) GenerateOrgJITConfig(_ context.Context, _, _, _ string, req githubapp.JITRequest) (*githubapp.JITConfig, error) {
	g.minted = append(g.minted, req)
	return &githubapp.JITConfig{RunnerID: 77, Name: req.Name, EncodedJITConfig: "secret"}, nil
}

func orgPolicy(group string) *store.Policy {
	p := policy(true)
	p.RegistrationLevel, p.RunnerGroup = store.LevelOrganization, group
	return p
}

// TestOrgCredentials: an organisation-level policy mints in its group's id through the
// organisation route; a group that may not serve the repository is ErrGroupDenied with the
// reason; registration tokens are refused at organisation level.
func TestOrgCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gh := &orgGitHub{groups: map[string]int64{"gpu": 5}}
	svc := runners.NewService(runners.Config{}, gh)

	c, err := svc.Credentials(ctx, orgPolicy("gpu"), "garo-linux-1")
	if err != nil || c.Kind != runners.KindJIT || c.RunnerID != 77 {
		t.Fatalf("Credentials = %v, %v; want a JIT config, runner 77", c, err)
	}
	if len(gh.minted) != 1 || gh.minted[0].RunnerGroupID != 5 {
		t.Fatalf("minted %+v, want one in group 5", gh.minted)
	}

	_, err = svc.Credentials(ctx, orgPolicy("arm"), "garo-linux-2")
	if !errors.Is(err, runners.ErrGroupDenied) || !strings.Contains(err.Error(), `runner group "arm" does not allow repository acme/web`) {
		t.Fatalf("denied group: err %v, want ErrGroupDenied with the reason", err)
	}

	p := orgPolicy("gpu")
	p.Ephemeral = false
	if _, err := svc.Credentials(ctx, p, "garo-linux-3"); err == nil || !strings.Contains(err.Error(), "organisation-level") {
		t.Fatalf("non-ephemeral organisation policy: err %v, want a refusal", err)
	}
	if len(gh.minted) != 1 {
		t.Fatalf("minted %d configs, want 1", len(gh.minted))
	}
}

// TestOrgRunnersLifecycle: organisation runners are found by name in the organisation's
// list, removed through the organisation route, and a busy one is ErrRunnerBusy.
func TestOrgRunnersLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gh := &orgGitHub{runners: []githubapp.Runner{{ID: 1, Name: "garo-a"}, {ID: 2, Name: "garo-b", Busy: true}}}
	svc := runners.NewService(runners.Config{}, gh)
	r, err := svc.FindByNameOrg(ctx, "acme", "web", "garo-a")
	if err != nil || r == nil || r.ID != 1 {
		t.Fatalf("FindByNameOrg(garo-a) = %+v, %v", r, err)
	}
	if r, err := svc.FindByNameOrg(ctx, "acme", "web", "garo-z"); err != nil || r != nil {
		t.Fatalf("FindByNameOrg(garo-z) = %+v, %v; want nil", r, err)
	}
	if err := svc.RemoveOrg(ctx, "acme", "web", 1); err != nil || len(gh.removed) != 1 {
		t.Fatalf("RemoveOrg(1): %v, removed %v", err, gh.removed)
	}
	if err := svc.RemoveOrg(ctx, "acme", "web", 2); !errors.Is(err, runners.ErrRunnerBusy) {
		t.Fatalf("RemoveOrg(busy): %v, want ErrRunnerBusy", err)
	}
}
