package app_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/agent/state"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

const regToken = "garo_reg_SECRET_token_0123456789"

func smallPolicy(maxRunners int) protocol.Policy {
	return protocol.Policy{
		ID: "p1", Repository: "acme/api", Name: "small", Labels: []string{"self-hosted", "small"},
		MaxRunners: maxRunners, Ephemeral: true, IdleGrace: protocol.Duration(time.Minute),
		BootstrapTimeout: protocol.Duration(time.Minute),
	}
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	status net.Addr
	logs   *testkit.Buffer
}

func start(t *testing.T, cfg app.Config, prov provider.Provider) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	log, logs := testkit.TextLogs()
	r := &running{cancel: cancel, done: make(chan error, 1), logs: logs}
	ready := make(chan struct{})
	go func() {
		r.done <- app.Run(ctx, cfg, log, app.Options{Provider: prov, Ready: func(_ string, addr net.Addr) {
			r.status = addr
			close(ready)
		}})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("agent stopped before it was ready: %v\n%s", err, r.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("agent not ready")
	}
	t.Cleanup(func() {
		cancel()
		// A test that stopped the agent put Run's error back for this; only the revoked
		// credential's test expects one.
		if err := <-r.done; err != nil && !errors.Is(err, app.ErrRevoked) {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
		return nil
	}
}

func baseConfig(t *testing.T, url string) app.Config {
	cfg := app.Defaults()
	cfg.Server.URL = url
	cfg.RegistrationToken = regToken
	cfg.Name = "test-agent"
	cfg.Provider.Type = app.ProviderMemory
	cfg.StateFile = filepath.Join(t.TempDir(), "state", "agent.json")
	cfg.Status.Listen = "127.0.0.1:0"
	cfg.Scheduler.Interval = 100 * time.Millisecond
	cfg.Shutdown.Timeout = 5 * time.Second
	return cfg
}

// patience bounds the waits of these tests for what the agent does on its own (it runs
// on real time: heartbeats every 50 ms, scheduler ticks every 100 ms).
const patience = 20 * time.Second

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesJobsThenShutsDownAndRestartsFromTheStateFile(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return env.Sim.RunRunner(ctx, r.JITConfig(), 200*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	cfg := baseConfig(t, fs.srv.URL)
	a := start(t, cfg, prov)

	var ids []int64
	for range 6 {
		j, err := env.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "small"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	maxSeen := 0
	testkit.Eventually(t, patience, "every job", func() bool {
		maxSeen = max(maxSeen, prov.Live(nil))
		for _, id := range ids {
			if j, _ := env.Sim.Job(id); j.Status != "completed" || j.Conclusion != "success" {
				return false
			}
		}
		return true
	})
	if maxSeen > 2 || prov.Peak("acme/api", "small") > 2 {
		t.Errorf("%d runners at once (peak %d), max 2", maxSeen, prov.Peak("acme/api", "small"))
	}
	testkit.Eventually(t, patience, "the queue reported empty", func() bool {
		hbs, _, _, _ := fs.snapshot()
		last := hbs[len(hbs)-1]
		return len(last.Jobs) == 0 && len(last.Runners) == 0
	})
	// The first heartbeat, which names this run's provider, comes before the first config
	// poll: the server answers that poll with the policies of this provider.
	fs.mu.Lock()
	beats := fs.beatsBeforeConfig
	fs.mu.Unlock()
	if beats < 1 {
		t.Errorf("the first config poll came after %d heartbeats, want at least 1", beats)
	}
	hbs, registers, _, creds := fs.snapshot()
	sawWaiting := false
	for i, hb := range hbs {
		if hb.Provider != "memory" {
			t.Errorf("heartbeat %d reports provider %q, want memory", i, hb.Provider)
		}
		for _, j := range hb.Jobs {
			sawWaiting = sawWaiting || (j.State == protocol.JobWaitingForCapacity && j.Position >= 1)
		}
	}
	if !sawWaiting {
		t.Error("no heartbeat reported a job waiting for capacity")
	}
	if registers != 1 || creds != 6 {
		t.Errorf("%d registrations and %d runner credentials, want 1 and 6", registers, creds)
	}

	code, body := get(t, "http://"+a.status.String()+"/healthz")
	if code != 200 || !strings.Contains(body, `"agent_id":"agent-1"`) || !strings.Contains(body, `"provider":"ok"`) {
		t.Errorf("healthz %d %s", code, body)
	}
	code, body = get(t, "http://"+a.status.String()+"/metrics")
	for _, want := range []string{
		`garo_agent_runners{policy="small",repo="acme/api",state="busy"}`,
		`garo_agent_queue_length{policy="small",repo="acme/api"} 0`,
		`garo_agent_provisioning_seconds_count{policy="small",repo="acme/api"} 6`,
		"garo_agent_provider_up 1",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}

	if err := a.stop(t); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, _, unregisters, _ := fs.snapshot(); unregisters != 1 {
		t.Errorf("%d unregisters, want 1", unregisters)
	}
	info, err := os.Stat(cfg.StateFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", info, err)
	}
	for _, secret := range []string{regToken, "garo_agent_1_credential"} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}

	// Restart without the registration token: the state file is the identity.
	cfg.RegistrationToken = ""
	b := start(t, cfg, prov)
	j, err := env.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, "a job after the restart", func() bool { got, _ := env.Sim.Job(j.ID); return got.Conclusion == "success" })
	if _, registers, _, _ := fs.snapshot(); registers != 1 {
		t.Errorf("registered %d times", registers)
	}
	_ = b.stop(t)
}

func TestPolicyChangeTakesEffect(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	pol := smallPolicy(3)
	fs := newFakeServer(t, env, regToken, pol)
	prov := memory.New(memory.Hang) // runners that never take a job: idle
	t.Cleanup(prov.Close)
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	start(t, cfg, prov)
	fs.setConfig(func(c *protocol.Config) { c.Policies[0].MinIdle = 2 })
	testkit.Eventually(t, patience, "two idle runners", func() bool { return prov.Live(nil) == 2 })
	fs.setConfig(func(c *protocol.Config) { c.Policies[0].MinIdle, c.Policies[0].MaxRunners = 2, 1 })
	testkit.Eventually(t, patience, "max lowered to one", func() bool { return prov.Live(nil) == 1 })
}

func TestRevokedCredentialStopsTheAgent(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	prov := memory.New(memory.Hang)
	t.Cleanup(prov.Close)
	cfg := baseConfig(t, fs.srv.URL)
	a := start(t, cfg, prov)
	testkit.Eventually(t, patience, "a heartbeat", func() bool { hbs, _, _, _ := fs.snapshot(); return len(hbs) > 0 })
	fs.revoke()
	select {
	case err := <-a.done:
		a.done <- err
		if !errors.Is(err, app.ErrRevoked) {
			t.Fatalf("err = %v, want ErrRevoked", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent kept running with a revoked credential")
	}
	if !strings.Contains(a.logs.String(), "CREDENTIAL REVOKED") {
		t.Errorf("the log does not say so loudly:\n%s", a.logs.String())
	}
	if _, _, unregisters, _ := fs.snapshot(); unregisters != 0 {
		t.Error("a revoked agent tried to unregister")
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	log := testkit.Discard()

	cfg := baseConfig(t, fs.srv.URL)
	cfg.RegistrationToken = ""
	err := app.Run(t.Context(), cfg, log, app.Options{Provider: memory.New(nil)})
	if err == nil || !strings.Contains(err.Error(), "GARO_AGENT_REGISTRATION_TOKEN") {
		t.Errorf("no state and no token: %v", err)
	}

	cfg.RegistrationToken = "wrong"
	err = app.Run(t.Context(), cfg, log, app.Options{Provider: memory.New(nil)})
	if err == nil || !strings.Contains(err.Error(), "registration token rejected") {
		t.Errorf("bad token: %v", err)
	}
	if _, serr := os.Stat(cfg.StateFile); !errors.Is(serr, os.ErrNotExist) {
		t.Error("a failed registration left a state file")
	}

	// A state file of another server is refused rather than sent elsewhere.
	if err := state.Save(cfg.StateFile, state.Identity{AgentID: "a9", Credential: "c9", ServerURL: "https://other.example.com"}); err != nil {
		t.Fatal(err)
	}
	err = app.Run(t.Context(), cfg, log, app.Options{Provider: memory.New(nil)})
	if err == nil || !strings.Contains(err.Error(), "belongs to the server") {
		t.Errorf("state of another server: %v", err)
	}
}
