package store_test

import (
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestAgentDrainRows: a drain request is kept with its time and actor; asking again
// changes nothing (the first request stays); undrain clears it, once; a revoked agent is
// not drained.
func TestAgentDrainRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		for _, id := range []string{"a", "r"} {
			if err := st.CreateAgent(ctx, newAgent(id, "default")); err != nil {
				t.Fatal(err)
			}
		}
		if a, err := st.GetAgent(ctx, "a"); err != nil || a.DrainRequestedAt != nil || a.Draining() {
			t.Fatalf("new agent: %+v %v", a, err)
		}
		at := t0.Add(time.Minute)
		if ok, err := st.DrainAgent(ctx, "a", at, "token:ops"); !ok || err != nil {
			t.Fatalf("drain = %v, %v", ok, err)
		}
		if ok, err := st.DrainAgent(ctx, "a", at.Add(time.Hour), "token:other"); ok || err != nil {
			t.Fatalf("second drain = %v, %v; want false", ok, err)
		}
		a, err := st.GetAgent(ctx, "a")
		if err != nil || a.DrainRequestedAt == nil || !a.DrainRequestedAt.Equal(at) || a.DrainRequestedBy != "token:ops" || !a.Draining() {
			t.Fatalf("drained agent: %+v %v", a, err)
		}
		// A heartbeat's report leaves the request alone.
		if _, err := st.ReportAgent(ctx, "a", store.AgentReport{State: store.AgentActive, At: at}); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetAgent(ctx, "a"); a.DrainRequestedAt == nil {
			t.Fatal("a heartbeat cleared the drain request")
		}
		if ok, err := st.UndrainAgent(ctx, "a"); !ok || err != nil {
			t.Fatalf("undrain = %v, %v", ok, err)
		}
		if ok, err := st.UndrainAgent(ctx, "a"); ok || err != nil {
			t.Fatalf("second undrain = %v, %v; want false", ok, err)
		}
		if a, _ := st.GetAgent(ctx, "a"); a.DrainRequestedAt != nil || a.DrainRequestedBy != "" || a.Draining() {
			t.Fatalf("undrained agent: %+v", a)
		}
		if ok, err := st.RevokeAgent(ctx, "r", t0); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := st.DrainAgent(ctx, "r", at, "token:ops"); ok || err != nil {
			t.Fatalf("drain of a revoked agent = %v, %v; want false", ok, err)
		}
		if ok, err := st.DrainAgent(ctx, "nobody", at, "token:ops"); ok || err != nil {
			t.Fatalf("drain of an unknown agent = %v, %v; want false", ok, err)
		}
	})
}

// TestOwnershipSettledWithDrainingOwner: a group whose owner drains is unsettled exactly
// while a candidate exists and the owner holds no working runner of the repository; a
// hand-over moves the row whatever its lease, and only from the named owner.
func TestOwnershipSettledWithDrainingOwner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		at, since := t0.Add(time.Second), t0.Add(-time.Minute)
		settled := func() bool {
			t.Helper()
			ok, err := st.OwnershipSettled(ctx, "default", at, since)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := st.CreatePolicy(ctx, newPolicy("acme", "web", "linux", "default")); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAgent(ctx, newAgent("a", "default")); err != nil {
			t.Fatal(err)
		}
		own := store.Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "docker", AgentID: "a", LeaseExpiresAt: t0.Add(time.Hour), AssignedAt: t0}
		if ok, err := st.ClaimRepo(ctx, own, "", t0); !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if _, err := st.DrainAgent(ctx, "a", t0, "token:ops"); err != nil {
			t.Fatal(err)
		}
		if !settled() {
			t.Error("unsettled although the draining owner has nobody to hand over to")
		}
		if err := st.CreateAgent(ctx, newAgent("b", "default")); err != nil {
			t.Fatal(err)
		}
		if settled() {
			t.Error("settled although the draining owner runs nothing and agent b could take over")
		}
		report := func(state string) {
			t.Helper()
			if err := st.Tx(ctx, func(tx *store.Store) error {
				var rs []store.Runner
				if state != "" {
					rs = []store.Runner{{Name: "r1", RepoKey: "acme/web", Policy: "linux", State: state, CreatedAt: t0, UpdatedAt: t0}}
				}
				_, err := tx.ReplaceRunners(ctx, "a", rs)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, state := range store.WorkingRunnerStates {
			report(state)
			if !settled() {
				t.Errorf("unsettled while the draining owner has a %s runner of the repository: it must keep it", state)
			}
			working, err := st.WorkingRepos(ctx, "a")
			if err != nil || len(working) != 1 || !working["acme/web"] {
				t.Fatalf("working repositories with a %s runner = %v, %v", state, working, err)
			}
		}
		report("finished")
		if settled() {
			t.Error("settled although the draining owner's runner finished")
		}
		if working, _ := st.WorkingRepos(ctx, "a"); len(working) != 0 {
			t.Errorf("working repositories of a finished runner = %v", working)
		}
		// The other agent drains too: nobody to hand over to.
		if _, err := st.DrainAgent(ctx, "b", t0, "token:ops"); err != nil {
			t.Fatal(err)
		}
		if !settled() {
			t.Error("unsettled although every agent of the group drains")
		}
		if _, err := st.UndrainAgent(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		// The agent reporting draining itself counts as draining too.
		if _, err := st.UndrainAgent(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if !settled() {
			t.Error("unsettled with an undrained owner")
		}
		if _, err := st.ReportAgent(ctx, "a", store.AgentReport{State: store.AgentDraining, At: t0}); err != nil {
			t.Fatal(err)
		}
		if settled() {
			t.Error("settled although the owner reports draining and b could take over")
		}

		to := own
		to.AgentID = "b"
		if ok, err := st.HandOverRepo(ctx, to, "b"); ok || err != nil {
			t.Fatalf("hand-over from an agent that is not the owner = %v, %v", ok, err)
		}
		if ok, err := st.HandOverRepo(ctx, to, "a"); !ok || err != nil {
			t.Fatalf("hand-over = %v, %v", ok, err)
		}
		if o, err := st.Owner(ctx, "acme/web", "default", "docker"); err != nil || o.AgentID != "b" {
			t.Fatalf("owner after the hand-over = %+v, %v", o, err)
		}
		if !settled() {
			t.Error("unsettled after the hand-over")
		}
	})
}
