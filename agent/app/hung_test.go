package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/internal/testkit/simtest"
)

// An engine that hangs does not silence the agent: heartbeats keep coming with the
// runners the agent knew, /healthz answers within 100 ms (with the provider
// unavailable once the listing timed out, and the age of what it reports), and so does
// /metrics with garo_agent_provider_up 0.
// answerBound fails a status request that blocks on the hung engine (it would block for as
// long as the engine hangs) instead of hanging the test; it is not a speed target, so it is
// far above any answer time on a loaded machine.
const answerBound = 5 * time.Second

func TestHungEngineKeepsTheAgentHeartbeating(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	pol := smallPolicy(2)
	pol.MinIdle = 1
	fs := newFakeServer(t, env, regToken, pol)
	mem := memory.New(memory.Hang)
	t.Cleanup(mem.Close)
	prov := agenttest.Hang(mem)
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Scheduler.ListTimeout = 300 * time.Millisecond
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	a := start(t, cfg, prov)
	testkit.Eventually(t, patience, "the min_idle runner reported", func() bool {
		hbs, _, _, _ := fs.snapshot()
		return len(hbs) > 0 && len(hbs[len(hbs)-1].Runners) == 1
	})

	prov.SetHung(true)
	testkit.Eventually(t, patience, "a listing that hangs", func() bool { return prov.HungListings() > 0 })
	hbs, _, _, _ := fs.snapshot()
	before := len(hbs)
	base := "http://" + a.status.String()
	testkit.Eventually(t, patience, "the provider reported unavailable", func() bool {
		start := time.Now()
		code, body := get(t, base+"/healthz")
		if took := time.Since(start); took > answerBound {
			t.Fatalf("/healthz took %s while the engine hangs", took)
		}
		var h map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &h) != nil {
			t.Fatalf("/healthz %d %s", code, body)
		}
		if _, ok := h["scheduler_snapshot_age_seconds"]; !ok {
			t.Fatalf("/healthz without the snapshot's age: %s", body)
		}
		return h["provider"] == "unavailable" && strings.Contains(h["provider_error"].(string), "list_timeout")
	})
	start := time.Now()
	code, body := get(t, base+"/metrics")
	if took := time.Since(start); took > answerBound || code != 200 || !strings.Contains(body, "garo_agent_provider_up 0") {
		t.Errorf("/metrics took %s: %d, provider_up 0 in it: %v", took, code, strings.Contains(body, "garo_agent_provider_up 0"))
	}
	// Heartbeats go on (the server sets them to every 50 ms), with the runner the agent
	// knew, while the listings keep hanging.
	testkit.Eventually(t, patience, "ten more heartbeats", func() bool { hbs, _, _, _ := fs.snapshot(); return len(hbs) >= before+10 })
	hbs, _, _, _ = fs.snapshot()
	if last := hbs[len(hbs)-1]; len(last.Runners) != 1 {
		t.Errorf("last heartbeat while the engine hangs: %+v", last)
	}
	if prov.HungListings() < 2 {
		t.Errorf("%d listings: the loop did not go on after the timed-out one", prov.HungListings())
	}
}
