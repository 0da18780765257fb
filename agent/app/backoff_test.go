package app_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

// The scheduler keys of the back-off and the listing's bound are read and checked.
func TestSchedulerBackoffKeys(t *testing.T) {
	t.Setenv("GARO_AGENT_SERVER_URL", "http://127.0.0.1:1")
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "memory") // required since provider.type has no default
	load := func(yaml string) (app.Config, error) {
		path := filepath.Join(t.TempDir(), "a.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return app.Load(path, nil)
	}
	cfg, err := load("scheduler:\n  list_timeout: 5s\n  crash_backoff_base: 1s\n  crash_backoff_max: 1m\n")
	if err != nil || cfg.Scheduler.ListTimeout != 5*time.Second || cfg.Scheduler.CrashBackoffBase != time.Second ||
		cfg.Scheduler.CrashBackoffMax != time.Minute {
		t.Fatalf("config %+v, %v", cfg.Scheduler, err)
	}
	if d := app.Defaults().Scheduler; d.ListTimeout != 30*time.Second || d.CrashBackoffBase != 5*time.Second || d.CrashBackoffMax != 5*time.Minute {
		t.Errorf("defaults %+v", d)
	}
	_, err = load("scheduler:\n  list_timeout: 10ms\n  crash_backoff_base: 1m\n  crash_backoff_max: 30s\n")
	for _, want := range []string{"scheduler.list_timeout: must be between 100ms and 10m, got 10ms",
		"scheduler.crash_backoff_max: must be at least scheduler.crash_backoff_base (1m0s)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// A policy whose runners exit 1 before taking a job is held back: the heartbeat reports
// its job backing_off with the reason and the next try, /metrics counts the seconds
// until then, and the log says so once per failure counted, not on every tick.
func TestCrashLoopingPolicyShowsItsBackoff(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	prov := memory.New(func(context.Context, memory.Runner) error { return memory.ExitError{Code: 1} })
	t.Cleanup(prov.Close)
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Scheduler.CrashBackoffBase, cfg.Scheduler.CrashBackoffMax = 30*time.Second, time.Minute // the first hold: 15-30 s
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	a := start(t, cfg, prov)
	queuedAt := time.Now()
	if _, err := env.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "small"}); err != nil {
		t.Fatal(err)
	}
	var held protocol.JobStatus
	testkit.Eventually(t, patience, "a heartbeat with the job backing off", func() bool {
		hbs, _, _, _ := fs.snapshot()
		if len(hbs) == 0 {
			return false
		}
		for _, j := range hbs[len(hbs)-1].Jobs {
			if j.State == protocol.JobBackingOff {
				held = j
				return true
			}
		}
		return false
	})
	if !strings.Contains(held.Reason, "exited with code 1 before taking a job") || held.RetryAt == nil ||
		held.RetryAt.Before(queuedAt.Add(15*time.Second)) || held.RetryAt.After(time.Now().Add(30*time.Second)) {
		t.Errorf("job backing off: %+v (retry at %v)", held, held.RetryAt)
	}
	_, body := get(t, "http://"+a.status.String()+"/metrics")
	m := regexp.MustCompile(`garo_agent_policy_backoff_seconds\{policy="small",repo="acme/api"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no back-off gauge in the metrics:\n%s", body)
	}
	if v, err := strconv.ParseFloat(m[1], 64); err != nil || v <= 0 || v > 30 {
		t.Errorf("garo_agent_policy_backoff_seconds = %s, want the seconds until the next try (0, 30]", m[1])
	}
	// Many ticks (100 ms) later, still the one failure: one line, one runner.
	hbs, _, _, _ := fs.snapshot()
	testkit.Eventually(t, patience, "ten more heartbeats", func() bool { more, _, _, _ := fs.snapshot(); return len(more) >= len(hbs)+10 })
	if n := strings.Count(a.logs.String(), "policy backing off"); n != 1 {
		t.Errorf("%d back-off lines in the log, want 1:\n%s", n, a.logs.String())
	}
	if _, _, _, creds := fs.snapshot(); creds != 1 || prov.Created() != 1 {
		t.Errorf("%d credentials and %d runners during the back-off, want 1", creds, prov.Created())
	}
}
