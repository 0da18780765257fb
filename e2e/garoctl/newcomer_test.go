package garoctl_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

const newcomerWeb = `kind: Policy
repository: acme/web
name: linux-small
agent_group: linux-pool
labels: [self-hosted, linux]
max_runners: 2
min_idle: 1
provider: docker
runner:
  image: garo-stub-runner:dev
`

const newcomerAPI = `kind: Policy
repository: acme/api
name: linux-small
agent_group: linux-pool
labels: [self-hosted, linux]
max_runners: 1
provider: docker
runner:
  image: garo-stub-runner:dev
`

// watchUntil runs garoctl with --watch until done says so (checked between polls, every
// 200ms whatever --interval says), or fails the test after a minute.
func (c *cli) watchUntil(done func() bool, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithCancel(c.t.Context())
	defer cancel()
	deadline := time.Now().Add(time.Minute)
	after := c.after
	defer func() { c.after = after }()
	c.after = func(time.Duration) <-chan time.Time {
		if done() {
			cancel()
		} else if time.Now().After(deadline) {
			c.t.Errorf("garoctl %s: still watching after a minute", strings.Join(args, " "))
			cancel()
		}
		return time.After(200 * time.Millisecond)
	}
	r := c.runCtx(ctx, "", append(args, "--watch")...)
	if r.code != 0 {
		c.t.Fatalf("garoctl %s --watch: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.stderr)
	}
	return r.out
}

// TestNewcomerWalkthrough is README's "The same with garoctl", step by step through
// garoctl's code path, with the simulator as GitHub and an agent on the memory provider
// whose runners play real runners on it: login, a group and its registration token, the
// agent online, a directory applied, jobs and runners watched, a change diffed and
// applied, the agent drained and revoked.
func TestNewcomerWalkthrough(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	c.now = time.Now
	server, token := c.env["GARO_SERVER"], c.env["GARO_TOKEN"]
	delete(c.env, "GARO_SERVER")
	delete(c.env, "GARO_TOKEN")

	// Log in, create the group and a registration token.
	if out := c.ok("login", "--name", "local", "--server", server, "--token-file", c.write("admin.token", token+"\n")); !strings.Contains(out, `context "local" saved`) {
		t.Errorf("login said %q", out)
	}
	if out := c.ok("group", "create", "linux-pool"); out != "agent group linux-pool created\n" {
		t.Errorf("group create said %q", out)
	}
	r := c.run("", "registration-token", "create", "--group", "linux-pool")
	secret := strings.TrimSpace(r.out)
	if r.code != 0 || !strings.HasPrefix(secret, "garor_") || strings.Contains(secret, "\n") || !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("registration-token create: exit %d, stdout %q (want the secret alone), stderr %q", r.code, r.out, r.stderr)
	}

	// The agent registers with it and comes online.
	rec := newRecorder(t, c)
	s := &stack.Stack{Hub: c.h}
	cfg := s.AgentConfig(secret, "rack-1")
	cfg.Provider.Type = agentapp.ProviderMemory
	ag, err := s.StartAgent(t.Context(), cfg, agentapp.Options{Provider: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ag.Stop() })
	agent := func() portalapi.Agent {
		t.Helper()
		var a portalapi.Agent
		if err := json.Unmarshal([]byte(c.ok("agent", "get", ag.ID, "-o", "json")), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	polls := 0
	out := c.watchUntil(func() bool { polls++; return polls > 2 }, "agent", "list")
	if ls := strings.Split(strings.TrimSpace(out), "\n"); len(ls) != 2 || !strings.HasPrefix(ls[0], "ID ") ||
		!slices.Equal(strings.Fields(ls[1])[:5], []string{ag.ID, "rack-1", "linux-pool", "active", "memory"}) {
		t.Errorf("agent list --watch over 3 polls of an unchanged agent: want the header and one row, got\n%s", out)
	}

	// Apply a directory of policies (read recursively).
	dir := filepath.Join(c.dir, "policies")
	c.write("policies/web.yaml", newcomerWeb)
	c.write("policies/team/api.yaml", newcomerAPI)
	if out := c.ok("apply", "-f", dir); !sameLines(out, "policy acme/api/linux-small created\npolicy acme/web/linux-small created\n") {
		t.Errorf("apply -f DIR said\n%s", out)
	}
	testkit.Eventually(t, time.Minute, "rack-1 serving both repositories", func() bool {
		return slices.Equal(agent().Repositories, []string{"acme/api", "acme/web"})
	})

	// Three jobs for a policy of at most two runners: watch them run, each row printed
	// again only when it changed (not because its age did).
	var jobs []int64
	for range 3 {
		j, err := c.h.Sim.QueueJob(t.Context(), "acme/web", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j.ID)
	}
	completed := func() bool {
		for _, id := range jobs {
			if j, _ := c.h.Sim.Job(id); j.Conclusion != "success" {
				return false
			}
		}
		return true
	}
	settled := 0
	out = c.watchUntil(func() bool {
		if completed() {
			settled++
		}
		return settled > 8 // some polls after the end, ages ticking
	}, "job", "list", "acme/web", "--interval", "1s")
	ls := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(ls[0], "REPOSITORY ") {
		t.Fatalf("job list --watch starts with %q", ls[0])
	}
	last := map[string]string{}
	for _, l := range ls[1:] {
		f := strings.Fields(l)
		row := strings.Join(f[:len(f)-1], " ") // all but AGE
		if last[f[1]] == row {
			t.Errorf("job list --watch printed job %s again unchanged:\n%s", f[1], out)
		}
		last[f[1]] = row
	}
	if len(last) != 3 {
		t.Errorf("job list --watch showed %d jobs, want 3:\n%s", len(last), out)
	}
	for id, row := range last {
		if f := strings.Fields(row); f[3] != "completed" {
			t.Errorf("job %s last shown as %q, want completed", id, row)
		}
	}
	var runners portalapi.RunnerList
	testkit.Eventually(t, time.Minute, "the warm runner of acme/web listed idle", func() bool {
		if err := json.Unmarshal([]byte(c.ok("runner", "list", "acme/web", "-o", "json")), &runners); err != nil {
			t.Fatal(err)
		}
		return len(runners.Items) == 1 && runners.Items[0].State == "idle"
	})
	if out := c.ok("runner", "list", "acme/web"); !strings.Contains(out, runners.Items[0].Name) || !strings.Contains(out, "rack-1") {
		t.Errorf("runner list acme/web:\n%s", out)
	}

	// Change a policy: diff shows it (exit 1), apply replaces only that one.
	web := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(web, []byte(strings.Replace(newcomerWeb, "max_runners: 2", "max_runners: 3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "diff", "-f", dir)
	if r.code != 1 || !strings.Contains(r.out, "--- server/acme/web/linux-small\n+++ apply/acme/web/linux-small\n") ||
		!strings.Contains(r.out, "\n-max_runners: 2\n+max_runners: 3\n") || strings.Contains(r.out, "acme/api") {
		t.Errorf("diff -f DIR: exit %d (want 1)\n%s%s", r.code, r.out, r.stderr)
	}
	if out := c.ok("apply", "-f", dir); !sameLines(out, "policy acme/api/linux-small unchanged\npolicy acme/web/linux-small configured\n") {
		t.Errorf("apply of the change said\n%s", out)
	}
	c.ok("diff", "-f", dir) // exit 0: nothing left to change
	var p portalapi.Policy
	if err := json.Unmarshal([]byte(c.ok("policy", "get", "acme/web", "linux-small", "-o", "json")), &p); err != nil || p.MaxRunners != 3 {
		t.Errorf("policy after apply: max_runners %d (%v), want 3", p.MaxRunners, err)
	}

	// Drain: listed as draining, counted by top, its runners gone.
	if out := c.ok("agent", "drain", ag.ID); !strings.HasPrefix(out, "agent "+ag.ID+" draining:") {
		t.Errorf("drain said %q", out)
	}
	if out := c.ok("agent", "list", "--status", "draining"); !strings.Contains(out, ag.ID) || !strings.Contains(out, "active (draining)") {
		t.Errorf("agent list --status draining:\n%s", out)
	}
	if out := c.ok("top", "--once"); !strings.HasPrefix(out, "AGENTS    active 1   stale 0   offline 0   revoked 0   (1 draining)\n") {
		t.Errorf("top --once while draining:\n%s", out)
	}
	testkit.Eventually(t, time.Minute, "rack-1 drained: state draining, no runner left", func() bool {
		var l portalapi.RunnerList
		if err := json.Unmarshal([]byte(c.ok("runner", "list", "--agent", ag.ID, "-o", "json")), &l); err != nil {
			t.Fatal(err)
		}
		return len(l.Items) == 0 && agent().State == "draining"
	})

	// Revoke: listed as revoked, no longer draining, and the agent stops.
	if out := c.ok("agent", "revoke", ag.ID); out != "agent "+ag.ID+" revoked\n" {
		t.Errorf("revoke said %q", out)
	}
	if out := c.ok("agent", "list", "--status", "revoked"); !strings.Contains(out, ag.ID) {
		t.Errorf("agent list --status revoked:\n%s", out)
	}
	if out := c.ok("agent", "list", "--status", "draining"); strings.Contains(out, ag.ID) {
		t.Errorf("a revoked agent listed as draining:\n%s", out)
	}
	c.fails(garoctl.ExitServer, []string{"409", "revoked"}, "agent", "drain", ag.ID)
	if err := ag.Stop(); !errors.Is(err, agentapp.ErrRevoked) {
		t.Errorf("the agent ended with %v, want ErrRevoked", err)
	}
}
