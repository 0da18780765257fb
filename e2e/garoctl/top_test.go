package garoctl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// TestTopOnce: top --once counts the queue of each policy (queued, unmatched, the oldest
// job and its age) and the agents; golden table output.
func TestTopOnce(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	if out := c.ok("top", "--once"); out != "AGENTS    active 0   stale 0   offline 0   revoked 0\n"+
		"RUNNERS   creating 0   booting 0   idle 0   busy 0   finished 0   failed 0\n\nNo job is waiting.\n" {
		t.Errorf("top --once on an empty server:\n%s", out)
	}
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	for _, q := range []struct {
		repo   string
		labels []string
	}{
		{"acme/web", []string{"self-hosted", "linux", "small"}},
		{"acme/web", []string{"self-hosted", "linux", "small"}},
		{"acme/api", []string{"self-hosted", "gpu"}},
	} {
		if _, err := c.h.Sim.QueueJob(t.Context(), q.repo, q.labels); err != nil {
			t.Fatal(err)
		}
	}
	// The clock of the view is five minutes after the newest job: every age is 5m.
	var newest time.Time
	for j, err := range c.h.Portal.AllJobs(t.Context(), "", client.JobQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if j.ReceivedAt.After(newest) {
			newest = j.ReceivedAt
		}
	}
	c.now = func() time.Time { return newest.Add(5*time.Minute + time.Second) }
	out := c.ok("top", "--once")
	golden(t, "top-once.txt", stableIDs(t, c, out))

	var v struct {
		Agents map[string]int `json:"agents"`
		Queues []struct {
			Repository string `json:"repository"`
			Policy     string `json:"policy"`
			Queued     int    `json:"queued"`
			Unmatched  int    `json:"unmatched"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(c.ok("top", "--once", "-o", "json")), &v); err != nil || len(v.Queues) != 2 {
		t.Fatalf("top --once -o json: %+v %v", v, err)
	}
	for _, q := range v.Queues {
		if (q.Repository == "acme/web" && (q.Policy != "linux-small" || q.Queued != 2)) || (q.Repository == "acme/api" && q.Unmatched != 1) {
			t.Errorf("queue %+v", q)
		}
	}
	c.fails(garoctl.ExitUsage, []string{"--interval must be between"}, "top", "--interval", "10ms")
}

// stableIDs replaces the simulator's job ids in out by J1, J2, ... (oldest first), padded
// to the id's width, so that the golden file does not depend on them.
func stableIDs(t *testing.T, c *cli, out string) string {
	t.Helper()
	l, err := c.h.Portal.ListJobs(t.Context(), "", client.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range slices.Backward(l.Items) {
		id := strconv.FormatInt(j.ID, 10)
		name := fmt.Sprintf("J%d", len(l.Items)-i)
		out = strings.ReplaceAll(out, " "+id+" ", " "+name+strings.Repeat(" ", max(0, len(id)-len(name)))+" ")
	}
	return out
}

// TestWatch: policy list --watch without a terminal prints the table, then only the rows
// that are new or changed at each poll, and ends with the context (exit 0).
func TestWatch(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	polls := 0
	var intervals []time.Duration
	c.after = func(d time.Duration) <-chan time.Time {
		intervals = append(intervals, d)
		polls++
		switch polls {
		case 1: // between the first and second poll someone adds a policy
			if _, err := c.h.Portal.CreatePolicy(ctx, "acme/web", portalapi.PolicyRequest{Name: "arm", Labels: []string{"arm64"},
				MaxRunners: 1, Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:1"}}); err != nil {
				t.Error(err)
			}
		case 2: // nothing changes
		case 3: // and then linux-small is disabled
			if _, err := c.h.Portal.PatchPolicy(ctx, "acme/web", "linux-small", map[string]any{"enabled": false}, ""); err != nil {
				t.Error(err)
			}
		default:
			cancel()
		}
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	r := c.runCtx(ctx, "", "policy", "list", "--repository", "acme/web", "--watch", "--interval", "3s")
	if r.code != 0 {
		t.Fatalf("watch: exit %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	want := []string{"REPOSITORY NAME", "acme/web linux-large", "acme/web linux-small", "acme/web arm", "acme/web linux-small"}
	if len(lines) != len(want) {
		t.Fatalf("watch printed %d lines, want %d:\n%s", len(lines), len(want), r.out)
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i])[:2], " "); got != w {
			t.Errorf("line %d starts with %q, want %q\n%s", i, got, w, r.out)
		}
	}
	if f := strings.Fields(lines[4]); f[6] != "false" || f[7] != "disabled" {
		t.Errorf("the changed row does not show enabled=false: %q", lines[4])
	}
	for _, d := range intervals {
		if d != 3*time.Second {
			t.Errorf("polled after %s, want --interval 3s", d)
		}
	}
	c.fails(garoctl.ExitUsage, []string{"--interval must be between"}, "agent", "list", "--watch", "--interval", "1h")
}

// TestTopAgents: a live agent counts as active and its runners (from its heartbeats) by
// state; once revoked, it counts as revoked and its runners no longer count.
func TestTopAgents(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.now = time.Now
	c.ok("apply", "-f", c.write("idle.yaml", `kind: Policy
repository: acme/web
name: warm
labels: [linux]
min_idle: 1
max_runners: 2
provider: docker
runner:
  image: runner:1
`))
	secret := strings.TrimSpace(c.ok("registration-token", "create", "--group", "default"))
	s := &stack.Stack{Hub: c.h}
	cfg := s.AgentConfig(secret, "rack-1")
	cfg.Provider.Type = agentapp.ProviderMemory
	ag, err := s.StartAgent(t.Context(), cfg, agentapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ag.Stop() })

	deadline := time.Now().Add(30 * time.Second)
	out := ""
	for {
		out = c.ok("top", "--once")
		if strings.Contains(out, "AGENTS    active 1 ") && !strings.Contains(out, "RUNNERS   creating 0   booting 0   idle 0   busy 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top never showed the agent and its warm runner:\n%s", out)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got := c.complete("agent", "revoke", ""); len(got) != 1 || got[0] != ag.ID {
		t.Errorf("agent completion = %q, want %s", got, ag.ID)
	}
	c.ok("agent", "revoke", ag.ID)
	out = c.ok("top", "--once")
	if !strings.Contains(out, "active 0   stale 0   offline 0   revoked 1\n") ||
		!strings.Contains(out, "RUNNERS   creating 0   booting 0   idle 0   busy 0   finished 0   failed 0\n") {
		t.Errorf("top after revoke:\n%s", out)
	}
}
