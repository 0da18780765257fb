package agents_test

import (
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestDrainWithoutAndWithCandidates: a drained agent alone in its group keeps its
// repositories (nobody could serve them) and its policies show no_agent "… are draining";
// agents that join take them all, spread by fewest; an agent that reports draining itself
// (it is stopping) hands over the same way, and undrained, without a drain request, takes
// repositories again.
func TestDrainWithoutAndWithCandidates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), nil, nil)
		for _, r := range []string{"acme/r1", "acme/r2", "acme/r3", "acme/r4"} {
			addPolicy(t, st, r, "linux", "default")
		}
		x := register(t, svc, "default", "x")
		x.heartbeat(t, protocol.HeartbeatRequest{})
		if got := x.repos(t); got != "acme/r1 acme/r2 acme/r3 acme/r4" {
			t.Fatalf("x serves %q", got)
		}
		if _, err := svc.Drain(ctx, operator, admin, x.id); err != nil {
			t.Fatal(err)
		}
		resp, err := svc.Heartbeat(ctx, x.auth(t), protocol.HeartbeatRequest{State: protocol.AgentDraining})
		if err != nil || !resp.Drain {
			t.Fatalf("heartbeat of the drained agent = %+v, %v", resp, err)
		}
		if got := x.repos(t); got != "acme/r1 acme/r2 acme/r3 acme/r4" {
			t.Fatalf("drained x alone serves %q, want all it had", got)
		}
		items := []portalapi.Policy{{Repository: "acme/r1", Name: "linux", AgentGroup: "default", Provider: "docker", Enabled: true}}
		if err := svc.ExplainPolicies(ctx, items); err != nil {
			t.Fatal(err)
		}
		if s := items[0].Serving; s.State != portalapi.PolicyNoAgent || !strings.Contains(s.Reason, "are draining") {
			t.Errorf("serving of a policy whose only agent drains = %+v", s)
		}

		y := register(t, svc, "default", "y")
		z := register(t, svc, "default", "z")
		y.heartbeat(t, protocol.HeartbeatRequest{})
		z.heartbeat(t, protocol.HeartbeatRequest{})
		ry, rz := y.repos(t), z.repos(t)
		if got := x.repos(t); got != "" || len(strings.Fields(ry)) != 2 || len(strings.Fields(rz)) != 2 {
			t.Fatalf("after y and z joined: x %q, y %q, z %q; want x empty, two each", got, ry, rz)
		}

		// z stops: it reports draining itself, and hands over to y, the only candidate.
		if _, err := svc.Undrain(ctx, operator, admin, x.id); err != nil {
			t.Fatal(err)
		}
		x.heartbeat(t, protocol.HeartbeatRequest{})
		z.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentDraining})
		rx, ry := x.repos(t), y.repos(t)
		if got := z.repos(t); got != "" || len(strings.Fields(rx))+len(strings.Fields(ry)) != 4 || len(strings.Fields(rx)) != 2 {
			t.Fatalf("after z reported draining: x %q, y %q, z %q; want z's two with x (fewest)", rx, ry, got)
		}
		if view, err := svc.Get(ctx, operator, z.id); err != nil || !view.Draining || view.DrainRequestedAt != nil {
			t.Fatalf("z reporting draining = %+v, %v; want draining without a request", view, err)
		}
	})
}
