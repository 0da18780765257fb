package githubapp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
	// The miss is cached; after the TTL a group added since is found.
	arm := e.sim.AddRunnerGroup("acme", "arm", "all")
	if _, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "arm", false); !errors.Is(err, ErrGroupDenied) {
		t.Fatalf("arm within the TTL: err %v, want the cached miss", err)
	}
	e.clock.Advance(groupTTL + time.Second)
	if g, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "arm", false); err != nil || g.ID != arm.ID {
		t.Fatalf("arm after the TTL = %+v, %v; want id %d", g, err, arm.ID)
	}
	// Forgetting drops the entry at once.
	e.c.ForgetRunnerGroup("acme", "arm")
	if _, ok := e.c.groups.get(groupKey("acme", "arm"), e.clock.Now()); ok {
		t.Fatal("ForgetRunnerGroup left the entry")
	}
}
