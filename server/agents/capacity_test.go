package agents_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/shared/protocol"
)

// An agent's capacity, from its heartbeats, weighs in hand-over: an agent that may run
// three times as many runners takes three times as many repositories. A capacity that
// does not read is refused, naming the field.
func TestHandOverWeighsCapacity(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		small := register(t, svc, "default", "small")
		big := register(t, svc, "default", "big")
		small.heartbeat(t, protocol.HeartbeatRequest{Capacity: &protocol.Capacity{MaxRunners: 5}})
		big.heartbeat(t, protocol.HeartbeatRequest{Capacity: &protocol.Capacity{MaxRunners: 15, CPU: "32", Memory: "64Gi"}})
		row, err := st.GetAgent(t.Context(), big.id)
		if err != nil || row.CapacityMaxRunners == nil || *row.CapacityMaxRunners != 15 || row.CapacityCPUMilli == nil ||
			*row.CapacityCPUMilli != 32000 || row.CapacityMemoryBytes == nil || *row.CapacityMemoryBytes != 64<<30 {
			t.Fatalf("stored capacity = %+v, %v", row, err)
		}
		for i := 1; i <= 8; i++ {
			repo := fmt.Sprintf("acme/r%d", i)
			addPolicy(t, st, repo, "linux", "default")
			svc.PolicyChanged(t.Context(), repo, "default") // as the portal API does after a write
		}
		ns, nb := len(small.config(t).Repositories), len(big.config(t).Repositories)
		if ns != 2 || nb != 6 {
			t.Errorf("small (5 runners) took %d repositories, big (15) %d; want 2 and 6", ns, nb)
		}
		if _, err := svc.Heartbeat(t.Context(), small.auth(t), protocol.HeartbeatRequest{Capacity: &protocol.Capacity{CPU: "lots"}}); err == nil {
			t.Error("a capacity cpu of \"lots\" was taken")
		} else if want := "capacity.cpu"; !strings.Contains(err.Error(), want) {
			t.Errorf("bad capacity: %v, want it to name %s", err, want)
		}
	})
}
