package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
)

// garo-agent killed (no drain, no unregister) while it keeps an idle runner, and started
// again on its state file: the same agent adopts the runner from its labels and, once the
// policy wants no idle runner, removes it, at GitHub too. The server lets it, on its record
// of minting that runner for that agent (issue 11, finding 2: removal proves ownership).
func TestRestartedAgentAdoptsAndRemovesItsRunner(t *testing.T) {
	e := newEnv(t)
	e.policy(t, "small", 1, 2)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 100*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	first := startAgent(t, e, cfg, prov, app.Options{})
	testkit.Eventually(t, 30*time.Second, "an idle runner, registered at GitHub", func() bool {
		return prov.Live(nil) == 1 && len(e.sim.Runners(repo)) == 1
	})
	if err := first.Stop(); err != nil {
		t.Fatalf("killed agent: %v", err)
	}
	if _, err := e.portal.PatchPolicy(t.Context(), repo, "small", map[string]any{"min_idle": 0, "idle_grace": "0s"}, ""); err != nil {
		t.Fatal(err)
	}

	cfg.RegistrationToken = "" // the state file is the identity now
	second := startAgent(t, e, cfg, prov, app.Options{})
	testkit.Eventually(t, 30*time.Second, "the adopted runner removed, at GitHub and its instance", func() bool {
		return len(e.sim.Runners(repo)) == 0 && prov.Live(nil) == 0
	})
	if created := prov.Created(); created != 1 {
		t.Errorf("%d runners created; want the one adopted", created)
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
}
