package githubapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
)

// TestSimResolveRunnerGroup: a group is found by name (case-insensitively) and cached; a
// group of selected repositories serves only those; an unknown group and a repository
// outside the group are ErrGroupDenied with a reason naming group and repository; the
// cache expires, so a group added later is found.
func TestSimResolveRunnerGroup(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	e.sim.AddRepository("acme/web")
	gpu := e.sim.AddRunnerGroup("acme", "gpu", "selected", "acme/api")

	g, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "GPU", false)
	if err != nil || g.ID != gpu.ID || g.Visibility != "selected" {
		t.Fatalf("ResolveRunnerGroup(gpu) for acme/api = %+v, %v; want id %d, selected", g, err, gpu.ID)
	}
	def, err := e.c.ResolveRunnerGroup(ctx, "acme", "web", "Default", true)
	if err != nil || def.ID != 1 {
		t.Fatalf("ResolveRunnerGroup(Default) for public acme/web = %+v, %v; want id 1", def, err)
	}

	_, err = e.c.ResolveRunnerGroup(ctx, "acme", "web", "gpu", false)
	if !errors.Is(err, ErrGroupDenied) || !strings.Contains(err.Error(), `runner group "gpu" does not allow repository acme/web`) {
		t.Fatalf("gpu for acme/web: err %v, want ErrGroupDenied naming the group and repository", err)
	}

	_, err = e.c.ResolveRunnerGroup(ctx, "acme", "api", "arm", false)
	if !errors.Is(err, ErrGroupDenied) || !strings.Contains(err.Error(), `no runner group "arm"`) {
		t.Fatalf("unknown group: err %v, want ErrGroupDenied", err)
	}
	// The miss is cached for groupMissTTL, the groups found for groupTTL: a group added
	// since is found once the miss lapses, and the groups found are not asked again.
	arm := e.sim.AddRunnerGroup("acme", "arm", "all")
	if _, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "arm", false); !errors.Is(err, ErrGroupDenied) {
		t.Fatalf("arm within the miss TTL: err %v, want the cached miss", err)
	}
	listings := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if r.Route == "/orgs/{org}/actions/runner-groups" {
				n++
			}
		}
		return n
	}
	before := listings()
	if _, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "gpu", false); err != nil {
		t.Fatal(err)
	}
	if got := listings() - before; got != 0 {
		t.Fatalf("gpu from the cache: %d listings, want none", got)
	}
	e.clock.Advance(groupMissTTL + time.Second)
	if g, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "arm", false); err != nil || g.ID != arm.ID {
		t.Fatalf("arm after the miss TTL = %+v, %v; want id %d", g, err, arm.ID)
	}
	// Forgetting drops the entry at once.
	e.c.ForgetRunnerGroup("acme", "arm")
	if _, ok := e.c.groups.get(groupKey("acme", "arm"), e.clock.Now()); ok {
		t.Fatal("ForgetRunnerGroup left the entry")
	}
}

// TestGroupCacheBounded: the cache never holds more than maxGroupEntries; expired entries
// go first.
func TestGroupCacheBounded(t *testing.T) {
	t.Parallel()
	var gc groupCache
	now := time.Unix(1_700_000_000, 0)
	for i := range maxGroupEntries {
		gc.put(groupKey("org", fmt.Sprint("old-", i)), groupEntry{found: true, expires: now.Add(time.Minute)}, now)
	}
	if gc.len() != maxGroupEntries {
		t.Fatalf("len %d, want %d", gc.len(), maxGroupEntries)
	}
	later := now.Add(2 * time.Minute) // every entry so far has expired
	gc.put(groupKey("org", "new"), groupEntry{found: true, expires: later.Add(time.Minute)}, later)
	if gc.len() != 1 {
		t.Fatalf("len %d after an insert past the bound with everything expired, want 1", gc.len())
	}
	for i := range 2 * maxGroupEntries {
		gc.put(groupKey("org", fmt.Sprint("live-", i)), groupEntry{found: true, expires: later.Add(time.Hour)}, later)
	}
	if gc.len() != maxGroupEntries {
		t.Fatalf("len %d with live entries only, want the bound %d", gc.len(), maxGroupEntries)
	}
	if _, ok := gc.get(groupKey("org", fmt.Sprint("live-", 2*maxGroupEntries-1)), later); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

// TestSimRepoRunnersRefused: with repository-level runners disabled for the organisation,
// a repository-level JIT config and registration token are a RefusalError
// (ErrRepoRunnersRefused) whose reason says what to change; the organisation route still
// mints in a group that admits the repository.
func TestSimRepoRunnersRefused(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	e.sim.SetRepositoryRunners("acme", "none")

	_, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: "r1", Labels: []string{"self-hosted"}})
	var refusal *RefusalError
	if !errors.Is(err, ErrRepoRunnersRefused) || !errors.As(err, &refusal) ||
		!strings.Contains(refusal.Reason, "repository-level runner on acme/api (403)") || !strings.Contains(refusal.Reason, `registration_level "organization"`) {
		t.Fatalf("repository JIT with repository runners disabled: %v, want a refusal saying what to change", err)
	}
	if strings.Contains(refusal.Reason, "http") {
		t.Errorf("the reason %q carries GitHub's URL; that is for the log", refusal.Reason)
	}
	if _, err := e.c.RegistrationToken(ctx, "acme", "api"); !errors.Is(err, ErrRepoRunnersRefused) {
		t.Fatalf("registration token: %v, want ErrRepoRunnersRefused", err)
	}

	gpu := e.sim.AddRunnerGroup("acme", "gpu", "selected", "acme/api")
	g, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "gpu", false)
	if err != nil {
		t.Fatal(err)
	}
	jit, err := e.c.GenerateOrgJITConfig(ctx, "acme", "api", "gpu", JITRequest{Name: "o1", Labels: []string{"self-hosted"}, RunnerGroupID: g.ID})
	if err != nil || jit.RunnerID == 0 {
		t.Fatalf("organisation JIT: %+v, %v", jit, err)
	}
	if rs := e.sim.OrgRunners("acme"); len(rs) != 1 || rs[0].GroupID != gpu.ID {
		t.Fatalf("organisation runners %+v, want o1 in group %d", rs, gpu.ID)
	}
}

// TestSimResolveRunnerGroupBurst: a burst of resolutions with a cold cache lists the
// organisation's groups far fewer times than it resolves (concurrent callers share one
// listing), and every caller gets the group.
func TestSimResolveRunnerGroupBurst(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	gpu := e.sim.AddRunnerGroup("acme", "gpu", "selected", "acme/api")
	// Slow listings, so that the burst overlaps one.
	e.sim.AddFault(githubsim.Fault{PathPrefix: "/orgs/acme/actions/runner-groups", Delay: 200 * time.Millisecond})
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			g, err := e.c.ResolveRunnerGroup(context.Background(), "acme", "api", "gpu", false)
			if err == nil && g.ID != gpu.ID {
				err = fmt.Errorf("group %+v, want id %d", g, gpu.ID)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	listings := 0
	for _, r := range e.sim.Requests() {
		if r.Route == "/orgs/{org}/actions/runner-groups" {
			listings++
		}
	}
	// One listing by name and one for visible_to_repository, give or take a caller that
	// arrived after a listing ended.
	if listings > 6 {
		t.Fatalf("%d listings for %d resolutions, want a few", listings, n)
	}
	t.Logf("%d listings for %d concurrent resolutions", listings, n)
}
