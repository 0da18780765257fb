package garoctl_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	agentclient "github.com/garo-dev/garo/agent/client"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
	"github.com/garo-dev/garo/shared/protocol"
)

const runnerPolicies = twoPolicies + `---
kind: Policy
repository: acme/api
name: gpu
labels: [gpu]
max_runners: 2
provider: docker
runner:
  image: runner:1
`

// protocolAgent registers an agent named name with the server through the agent
// protocol's own client (agent/client, what garo-agent uses) and returns it with its id:
// a test then reports exactly the runners it wants in heartbeats.
func protocolAgent(t *testing.T, c *cli, name string) (*agentclient.Client, string) {
	t.Helper()
	secret := strings.TrimSpace(c.ok("registration-token", "create", "--group", "default"))
	ac, err := agentclient.New(agentclient.Options{BaseURL: c.h.ServerURL})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := ac.Register(t.Context(), protocol.RegisterRequest{Token: secret, Name: name, Version: "1.2.3", Provider: protocol.ProviderDocker})
	if err != nil {
		t.Fatal(err)
	}
	ac.SetCredential(reg.AgentID, reg.Credential)
	return ac, reg.AgentID
}

// TestRunnerList: runner list shows the runners an agent reported, globally or for one
// repository, filtered by state, policy and agent; golden table output (and -o wide).
func TestRunnerList(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	if out := c.ok("runner", "list"); out != "REPOSITORY   POLICY   NAME   STATE   JOB   AGENT   AGE\n" {
		t.Errorf("runner list without runners:\n%q", out)
	}
	c.ok("apply", "-f", c.write("p.yaml", runnerPolicies))
	ac, id := protocolAgent(t, c, "rack-1")
	at := func(ago time.Duration) time.Time { return fixedNow.Add(-ago) }
	hb := protocol.HeartbeatRequest{State: protocol.AgentActive, Provider: protocol.ProviderDocker, Jobs: []protocol.JobStatus{}, Runners: []protocol.RunnerStatus{
		{Name: "garo-web-small-1", Repository: "acme/web", Policy: "linux-small", State: protocol.RunnerBusy, JobID: 4242, RunnerID: 17, ProviderID: "c0ffee01", CreatedAt: at(12 * time.Minute)},
		{Name: "garo-web-small-2", Repository: "acme/web", Policy: "linux-small", State: protocol.RunnerIdle, RunnerID: 18, ProviderID: "c0ffee02", CreatedAt: at(3 * time.Minute)},
		{Name: "garo-web-large-1", Repository: "acme/web", Policy: "linux-large", State: protocol.RunnerBooting, ProviderID: "c0ffee03", CreatedAt: at(20 * time.Second)},
		{Name: "garo-api-gpu-1", Repository: "acme/api", Policy: "gpu", State: protocol.RunnerFailed, Reason: "image pull failed", ProviderID: "c0ffee04", CreatedAt: at(2 * time.Hour)},
	}}
	// The first heartbeat gives the agent its repositories; runners are recorded only for
	// repositories it owns, so the second one records them all.
	for range 2 {
		if _, err := ac.Heartbeat(t.Context(), hb); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "runner-list.txt", c.ok("runner", "list"))
	golden(t, "runner-list-wide.txt", c.ok("runner", "list", "acme/web", "-o", "wide"))

	for _, q := range []struct {
		args []string
		want []string
	}{
		{[]string{"acme/api"}, []string{"garo-api-gpu-1"}},
		{[]string{"--state", "busy"}, []string{"garo-web-small-1"}},
		{[]string{"acme/web", "--policy", "linux-small"}, []string{"garo-web-small-1", "garo-web-small-2"}},
		{[]string{"--agent", id, "--state", "failed"}, []string{"garo-api-gpu-1"}},
		{[]string{"--agent-group", "default", "--state", "booting"}, []string{"garo-web-large-1"}},
		{[]string{"--agent", "someone-else"}, nil},
	} {
		var l portalapi.RunnerList
		out := c.ok(append([]string{"runner", "list", "-o", "json"}, q.args...)...)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("runner list %v -o json: %v\n%s", q.args, err, out)
		}
		var names []string
		for _, r := range l.Items {
			names = append(names, r.Name)
		}
		if strings.Join(names, " ") != strings.Join(q.want, " ") {
			t.Errorf("runner list %v = %v, want %v", q.args, names, q.want)
		}
	}
	c.fails(garoctl.ExitServer, []string{"400", "state"}, "runner", "list", "--state", "sleeping")
	c.fails(garoctl.ExitUsage, []string{"accepts at most 1 arg"}, "runner", "list", "acme/web", "acme/api")
}
