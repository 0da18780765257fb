package agents_test

import (
	"slices"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestHeartbeatInventoryAcrossReplicas: a replica diffs an agent's heartbeat against the
// rows its own last heartbeat left only while nothing else wrote them. After a heartbeat
// on another replica removed a runner, the first replica's next heartbeat that reports it
// again records it again (a copy taken at the older revision would say it is there
// already and write nothing).
func TestHeartbeatInventoryAcrossReplicas(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		r1, r2 := newService(st, clk, nil, nil), newService(st, clk, nil, nil)
		addPolicy(t, st, "acme/web", "linux", "default")
		x := register(t, r1, "default", "x")
		if got := x.repos(t); got != "acme/web" {
			t.Fatalf("repos = %q", got)
		}
		since := clk.Now()
		runner := func(name string, st protocol.RunnerState) protocol.RunnerStatus {
			return protocol.RunnerStatus{Name: name, Repository: "acme/web", Policy: "linux", State: st, CreatedAt: since}
		}
		names := func() []string {
			t.Helper()
			rows, err := st.RunnersOf(ctx, x.id)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for n, r := range rows {
				out = append(out, n+"="+r.State)
			}
			slices.Sort(out)
			return out
		}
		steps := []struct {
			on      *agent
			runners []protocol.RunnerStatus
			want    []string
		}{
			{x, []protocol.RunnerStatus{runner("a", protocol.RunnerIdle), runner("b", protocol.RunnerIdle)}, []string{"a=idle", "b=idle"}},
			{x, []protocol.RunnerStatus{runner("a", protocol.RunnerIdle), runner("b", protocol.RunnerIdle)}, []string{"a=idle", "b=idle"}},
			{x.on(r2), []protocol.RunnerStatus{runner("a", protocol.RunnerBusy)}, []string{"a=busy"}},
			{x, []protocol.RunnerStatus{runner("a", protocol.RunnerIdle), runner("b", protocol.RunnerIdle)}, []string{"a=idle", "b=idle"}},
			{x.on(r2), []protocol.RunnerStatus{runner("a", protocol.RunnerIdle), runner("b", protocol.RunnerIdle)}, []string{"a=idle", "b=idle"}},
			{x, nil, nil},
		}
		for i, s := range steps {
			s.on.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: s.runners})
			if got := names(); !slices.Equal(got, s.want) {
				t.Errorf("after heartbeat %d: rows %v, want %v", i+1, got, s.want)
			}
		}
	})
}
