package garoctl_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// recorder is a memory provider whose runners play real runners on the simulator and
// whose names it keeps: which agent created which runner.
type recorder struct {
	*memory.Provider
	mu    sync.Mutex
	names []string
}

func newRecorder(t *testing.T, c *cli) *recorder {
	r := &recorder{}
	r.Provider = memory.New(func(ctx context.Context, mr memory.Runner) error {
		r.mu.Lock()
		r.names = append(r.names, mr.Name)
		r.mu.Unlock()
		return c.h.Sim.RunRunner(ctx, mr.JITConfig(), 200*time.Millisecond)
	})
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) created() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// TestDrainHandsOver: two agents of one group; garoctl agent drain makes the one serving
// acme/web remove its warm runner and hand the repository to the other, which serves the
// next job; the drained one creates nothing more. garoctl agent undrain lets it take work
// again: the next new repository goes to it.
func TestDrainHandsOver(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	c.now = time.Now
	c.ok("apply", "-f", c.write("web.yaml", `kind: Policy
repository: acme/web
name: linux
labels: [self-hosted, linux]
min_idle: 1
max_runners: 2
provider: docker
runner:
  image: runner:1
`))
	s := &stack.Stack{Hub: c.h}
	startAgent := func(name string, prov *recorder) string {
		t.Helper()
		secret := strings.TrimSpace(c.ok("registration-token", "create", "--group", "default"))
		cfg := s.AgentConfig(secret, name)
		cfg.Provider.Type = agentapp.ProviderMemory
		ag, err := s.StartAgent(t.Context(), cfg, agentapp.Options{Provider: prov})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ag.Stop() })
		return ag.ID
	}
	agent := func(id string) portalapi.Agent {
		t.Helper()
		var a portalapi.Agent
		if err := json.Unmarshal([]byte(c.ok("agent", "get", id, "-o", "json")), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	runnersOf := func(id string) int {
		t.Helper()
		var l portalapi.RunnerList
		if err := json.Unmarshal([]byte(c.ok("runner", "list", "--agent", id, "-o", "json")), &l); err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	const patience = 60 * time.Second

	one, two := newRecorder(t, c), newRecorder(t, c)
	first := startAgent("rack-1", one)
	testkit.Eventually(t, patience, "rack-1 serving acme/web with a warm runner", func() bool {
		a := agent(first)
		return slices.Equal(a.Repositories, []string{"acme/web"}) && a.Runners["idle"] == 1
	})
	second := startAgent("rack-2", two)
	testkit.Eventually(t, patience, "rack-2 active", func() bool { return agent(second).Status == portalapi.AgentStatusActive })
	if a := agent(second); len(a.Repositories) != 0 || a.Draining {
		t.Fatalf("rack-2 before the drain = %+v", a)
	}

	if out := c.ok("agent", "drain", first); out != "agent "+first+" draining: it creates no runners; busy ones finish and its repositories move to other agents of group default\n" {
		t.Errorf("drain said %q", out)
	}
	if a := agent(first); !a.Draining || a.DrainRequestedAt == nil || !strings.HasPrefix(a.DrainRequestedBy, "token:") {
		t.Fatalf("rack-1 after drain = %+v", a)
	}
	if out := c.ok("agent", "list"); !strings.Contains(out, "active (draining)") {
		t.Errorf("agent list does not show the drain:\n%s", out)
	}
	testkit.Eventually(t, patience, "acme/web handed to rack-2, rack-1's idle runner gone", func() bool {
		return slices.Equal(agent(second).Repositories, []string{"acme/web"}) && len(agent(first).Repositories) == 0 && runnersOf(first) == 0
	})
	if a := agent(first); a.State != "draining" {
		t.Errorf("rack-1 reports state %q while drained, want draining", a.State)
	}
	createdByOne := len(one.created())

	job, err := c.h.Sim.QueueJob(t.Context(), "acme/web", []string{"self-hosted", "linux"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, "the job served", func() bool {
		j, _ := c.h.Sim.Job(job.ID)
		return j.Conclusion == "success"
	})
	j, _ := c.h.Sim.Job(job.ID)
	if !slices.Contains(two.created(), j.RunnerName) {
		t.Errorf("the job ran on %q, not on a runner of rack-2 (%v)", j.RunnerName, two.created())
	}
	if n := len(one.created()); n != createdByOne {
		t.Errorf("rack-1 created %d runners while drained", n-createdByOne)
	}
	if out := c.ok("agent", "drain", first, "-o", "json"); !strings.Contains(out, `"draining": true`) {
		t.Errorf("drain again -o json:\n%s", out)
	}

	if out := c.ok("agent", "undrain", first); out != "agent "+first+" undrained: it takes work again from its next heartbeat\n" {
		t.Errorf("undrain said %q", out)
	}
	testkit.Eventually(t, patience, "rack-1 no longer draining", func() bool {
		a := agent(first)
		return !a.Draining && a.State == "active" && a.DrainRequestedAt == nil
	})
	// A new repository goes to the agent with the fewest: the undrained rack-1.
	c.ok("apply", "-f", c.write("api.yaml", `kind: Policy
repository: acme/api
name: linux
labels: [self-hosted, linux]
max_runners: 1
provider: docker
runner:
  image: runner:1
`))
	testkit.Eventually(t, patience, "rack-1 serving acme/api", func() bool {
		return slices.Equal(agent(first).Repositories, []string{"acme/api"})
	})
	if a := agent(second); !slices.Equal(a.Repositories, []string{"acme/web"}) {
		t.Errorf("rack-2 after the undrain serves %v, want acme/web (nothing moves back)", a.Repositories)
	}

	var events struct {
		Items []portalapi.AuditEvent `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.ok("audit", "--resource-id", first, "-o", "json")), &events); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events.Items {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, " ") != "agent.undrain agent.drain agent.register" {
		t.Errorf("audit of rack-1 = %v", actions)
	}
	c.fails(garoctl.ExitServer, []string{"404", `agent "no-such-agent" not found`}, "agent", "drain", "no-such-agent")
	c.fails(garoctl.ExitServer, []string{"404"}, "agent", "undrain", "no-such-agent")
	c.fails(garoctl.ExitUsage, []string{"accepts 1 arg"}, "agent", "drain")
	c.ok("agent", "revoke", second)
	c.fails(garoctl.ExitServer, []string{"409", "revoked"}, "agent", "drain", second)
}
