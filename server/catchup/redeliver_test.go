package catchup_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/catchup"
)

// TestRedeliveryAfterALongOutage (issue 10 item 5): the server is down while 2,000 jobs
// produce 7,000 deliveries; the 3,500 made during the outage fail, far more than the 500
// newest deliveries the old loop read, and older than redeliver_lookback (1s here: the
// clock is the real one, since the App's JWTs and tokens follow it). The walk goes back
// to the stored last good time in bounded cycles and every failed delivery is recovered:
// every job ends in the log as GitHub has it. The figure line says how long it took. It
// runs on PostgreSQL only (the store of several replicas; 14,000 webhook transactions
// under -race on both stores took most of the package's 10-minute budget on a loaded
// machine); the redelivery tests beside it run on both stores.
func TestRedeliveryAfterALongOutage(t *testing.T) {
	t.Parallel()
	b := testdb.Postgres(t)
	r := newRig(t, b)
	ctx := t.Context()
	// GitHub counts the installation (runner minting) and the App itself (deliveries,
	// redeliveries) apart; 3,500 redeliveries fit in the App's hour above the floor.
	r.sim.SetInstallationRateLimit(r.sim.Repositories()[0].InstallationID, 5000, time.Now().Add(time.Hour))
	cfg := catchup.Config{RedeliverLookback: time.Second, RedeliverMax: 200, RedeliverMaxPages: 20, ReconcileMinRemaining: 500}
	l := r.loopsWith(r.st, nil, cfg)
	if rep, err := l.RedeliverOnce(ctx); err != nil || !rep.WalkDone {
		t.Fatalf("cycle before the outage = %+v, %v", rep, err)
	}
	const total, outageFrom, outageTo = 2000, 500, 1500
	for i := range total {
		switch i {
		case outageFrom:
			r.gate.fail.Store(1 << 30)
		case outageTo:
			r.gate.fail.Store(0)
		}
		if i%2 == 0 { // an environment's job: waiting, queued, in_progress, completed
			j, err := r.sim.QueueJobForEnvironment(ctx, "acme/web", linux)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.sim.ApproveJob(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
		} else if _, err := r.sim.QueueJob(ctx, "acme/web", linux); err != nil { // queued, in_progress, completed
			t.Fatal(err)
		}
		r.runOne(t, "r")
	}
	failed := map[string]bool{}
	all := r.sim.Deliveries()
	for _, d := range all {
		if d.StatusCode != http.StatusOK && d.StatusCode != http.StatusAccepted {
			failed[d.GUID] = true
		}
	}
	if len(all) != 7000 || len(failed) != 3500 {
		t.Fatalf("%d deliveries, %d failed; want 7000 and 3500", len(all), len(failed))
	}
	// The server is back: catch-up cycles (SoonAfter apart in a server) until the walk
	// is done.
	start := time.Now()
	cycles, asked := 0, 0
	for done := false; !done; {
		cycles++
		if cycles > 60 {
			t.Fatalf("walk not done after 60 cycles (%d redelivered)", asked)
		}
		rep, err := l.RedeliverOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Pages > cfg.RedeliverMaxPages || rep.Redelivered > cfg.RedeliverMax {
			t.Fatalf("cycle %d read %d pages and redelivered %d: over its bounds", cycles, rep.Pages, rep.Redelivered)
		}
		asked += rep.Redelivered
		done = rep.WalkDone
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := r.sim.WaitDeliveries(wctx, 7000+len(failed)); err != nil {
		t.Fatalf("redeliveries did not all land: %v", err)
	}
	wall := time.Since(start)
	if asked != len(failed) {
		t.Errorf("asked for %d redeliveries, want exactly %d (one per failed delivery)", asked, len(failed))
	}
	for guid := range failed {
		if _, err := r.st.GetDelivery(ctx, guid); err != nil {
			t.Fatalf("failed delivery %s not recovered: %v", guid, err)
		}
	}
	for _, j := range r.sim.Jobs("acme/web") {
		got, err := r.st.GetJob(ctx, j.ID, false)
		if err != nil || got.State != portalapi.JobCompleted || got.Conclusion != "success" {
			t.Fatalf("job %d in the log = %+v, %v; want completed/success", j.ID, got, err)
		}
	}
	t.Logf("figure: long-outage redelivery %s: %d of %d deliveries failed during the outage, all recovered in %d cycles (%s in a server at %s between cycles, plus the cycles' own time: %s wall here)",
		b.Name, len(failed), len(all), cycles, time.Duration(cycles-1)*catchup.SoonAfter, catchup.SoonAfter, wall.Round(time.Millisecond))
}

// holdGate holds deliveries until release is closed: a redelivery on its way.
type holdGate struct {
	next    http.Handler
	release chan struct{}
}

func (h holdGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-h.release
	h.next.ServeHTTP(w, r)
}

// TestRedeliveryOnceAcrossReplicas: two replicas (two store handles on one database)
// run redelivery cycles while the first one's redelivery is on its way: GitHub is asked
// once, and a restarted replica does not ask again either.
func TestRedeliveryOnceAcrossReplicas(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.gate.fail.Store(1)
		job, err := r.sim.QueueJob(ctx, "acme/web", linux)
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		var once sync.Once
		defer once.Do(func() { close(release) })
		r.gate.next = holdGate{next: r.gate.next, release: release}
		a := r.loops(r.st, nil)
		if rep, err := a.RedeliverOnce(ctx); err != nil || rep.Redelivered != 1 {
			t.Fatalf("replica A = %+v, %v", rep, err)
		}
		replicaB := r.loops(testdb.Open(t, b), nil)
		if rep, err := replicaB.RedeliverOnce(ctx); err != nil || rep.Redelivered != 0 {
			t.Fatalf("replica B = %+v, %v; want no second ask", rep, err)
		}
		restarted := r.loops(testdb.Open(t, b), nil)
		if rep, err := restarted.RedeliverOnce(ctx); err != nil || rep.Redelivered != 0 {
			t.Fatalf("restarted replica = %+v, %v; want no second ask", rep, err)
		}
		asks := 0
		for _, q := range r.sim.Requests() {
			if strings.HasSuffix(q.Path, "/attempts") {
				asks++
			}
		}
		if asks != 1 {
			t.Fatalf("GitHub was asked %d times to redeliver, want 1", asks)
		}
		once.Do(func() { close(release) })
		if _, err := r.sim.WaitDeliveries(waitCtx(t), 2); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "the redelivered job in the log", func() bool {
			got, err := r.st.GetJob(ctx, job.ID, false)
			return err == nil && got.State == portalapi.JobQueued
		})
	})
}
