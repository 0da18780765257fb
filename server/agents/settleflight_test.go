package agents

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestSettleLooksShareOneCheck: the looks that find a group's settle memo run out at
// the same moment share one ownership check, and a look after a change this server saw
// (the memo ended) checks again instead of taking the answer of a check before it.
func TestSettleLooksShareOneCheck(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := testkit.NewClock(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
		svc := New(st, Config{Now: clk.Now}, nil, nil, testkit.Discard(), nil)
		for i := range 50 {
			p := &store.Policy{ID: "p-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Owner: "acme", Repo: "r", OwnerKey: "acme",
				RepoKey: "acme/r" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Name: "linux", Labels: store.StringList{"linux"},
				MaxRunners: 1, AgentGroup: "default", Enabled: true, Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`)}
			if err := st.CreatePolicy(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		checks := func() float64 { return testutil.ToFloat64(svc.polls.checksC) }
		if err := svc.settle(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		if n := checks(); n != 1 {
			t.Fatalf("first settle: %v checks, want 1", n)
		}
		clk.Advance(settleMemo) // the memo runs out
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for range 40 {
			wg.Go(func() { errs <- svc.settle(ctx, "default") })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Looks that start after a flight ended find the memo fresh: every one of the 40
		// joined a flight or found the memo. Without sharing, up to 40 checks.
		if n := checks(); n != 2 {
			t.Errorf("40 concurrent looks after the memo ran out: %v checks in all, want 2", n)
		}
		svc.forgetSettled("default") // a change this server saw
		if err := svc.settle(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		if n := checks(); n != 3 {
			t.Errorf("a look after the memo was ended: %v checks in all, want 3", n)
		}
		// A change of every group moves the generation of a group without a memo too (its
		// check may be in flight, which a look after the change must not join).
		svc.forgetSettled("default")
		before, fresh := svc.settleState("default", clk.Now())
		if fresh {
			t.Fatal("memo fresh after it ran out")
		}
		svc.forgetSettled("")
		svc.forgetSettledUnwatched("")
		if after, _ := svc.settleState("default", clk.Now()); after != before+2 {
			t.Errorf("generation %d after two changes of every group, want %d", after, before+2)
		}
	})
}
