package catchup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/catchup"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const secret = "catchup-webhook-secret-0123"

// gate answers 500 to the next fail deliveries, then passes them to the webhook handler:
// a server that was down, or failed, when GitHub delivered.
type gate struct {
	next http.Handler
	fail atomic.Int32
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.fail.Add(-1) >= 0 {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	g.next.ServeHTTP(w, r)
}

// rig is a garo-server's job log with its webhook receiver, the GitHub simulator that
// delivers to it, and a GitHub client on the simulator.
type rig struct {
	st   *store.Store
	jobs *jobs.Service
	gate *gate
	sim  *githubsim.Sim
	gh   *githubapp.Client
}

func newRig(t *testing.T, b testdb.Backend) *rig {
	t.Helper()
	return newRigWith(t, b, nil)
}

// newRigWith is newRig with the simulator's options changed by mutate (its clock).
func newRigWith(t *testing.T, b testdb.Backend, mutate func(*githubsim.Options)) *rig {
	t.Helper()
	st := testdb.Open(t, b)
	r := &rig{st: st, jobs: jobs.NewService(st, testkit.Discard(), nil)}
	r.gate = &gate{next: webhook.NewHandler(webhook.Config{Secrets: [][]byte{[]byte(secret)}}, r.jobs, st, testkit.Discard(), nil)}
	hook := httptest.NewServer(r.gate)
	t.Cleanup(hook.Close)
	// The sim acts as GitHub Enterprise Server, as the client expects of a non-api.* host.
	opts := githubsim.Options{WebhookURL: hook.URL, WebhookSecret: secret, PathPrefix: "/api/v3"}
	if mutate != nil {
		mutate(&opts)
	}
	gitHub := simtest.New(t, opts, "acme/web")
	r.sim = gitHub.Sim
	var err error
	r.gh, err = githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: r.sim.AppID(), PrivateKey: r.sim.PrivateKeyPEM()}, testkit.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreatePolicy(t.Context(), &store.Policy{
		ID: "p1", Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: "linux",
		Labels: []string{"linux"}, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true,
		Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) loops(st *store.Store, now func() time.Time) *catchup.Loops {
	l := catchup.New(catchup.Config{
		RedeliverLookback: time.Hour, RedeliverMax: 10, ReconcileMaxRepos: 10, ReconcileMaxJobs: 50,
		ReconcileMinRemaining: 500, QueuedGrace: time.Minute,
	}, r.gh, st, jobs.NewService(st, testkit.Discard(), nil), testkit.Discard(), nil)
	if now != nil {
		catchup.SetClock(l, now)
	}
	return l
}

// TestRedeliversWhatTheServerFailed: GitHub's delivery is answered 500; the catch-up loop
// asks for a redelivery, which lands, with the same GUID.
func TestRedeliversWhatTheServerFailed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.gate.fail.Store(1)
		job, err := r.sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.st.GetJob(ctx, job.ID, false); err == nil {
			t.Fatal("the failed delivery reached the log")
		}
		l := r.loops(r.st, nil)
		rep, err := l.RedeliverOnce(ctx)
		if err != nil || rep.Failed != 1 || rep.Redelivered != 1 {
			t.Fatalf("redeliver = %+v, %v", rep, err)
		}
		deliveries, err := r.sim.WaitDeliveries(waitCtx(t), 2)
		if err != nil {
			t.Fatal(err)
		}
		if deliveries[0].GUID != deliveries[1].GUID {
			t.Fatalf("redelivery GUID %s differs from %s", deliveries[1].GUID, deliveries[0].GUID)
		}
		got, err := r.st.GetJob(ctx, job.ID, false)
		if err != nil || got.State != portalapi.JobQueued {
			t.Fatalf("job after redelivery = %+v, %v", got, err)
		}
		// The next cycle sees the successful attempt and asks for nothing.
		rep, err = l.RedeliverOnce(ctx)
		if err != nil || rep.Redelivered != 0 {
			t.Fatalf("second cycle = %+v, %v", rep, err)
		}
	})
}

// TestReconcileRepairsTheLog: a job GitHub never announced is added; a job whose
// in_progress and completed deliveries failed is moved on — also by a fresh server (a
// restart between the webhook and the reconciliation).
func TestReconcileRepairsTheLog(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		quiet, err := r.sim.QueueJobQuietly("acme/web", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.loops(r.st, nil).ReconcileOnce(ctx)
		if err != nil || rep.Added != 1 {
			t.Fatalf("reconcile = %+v, %v", rep, err)
		}
		got, err := r.st.GetJob(ctx, quiet.ID, false)
		if err != nil || got.Source != jobs.SourceReconcile || got.State != portalapi.JobQueued || got.PolicyName != "linux" {
			t.Fatalf("added job = %+v, %v", got, err)
		}

		// A runner takes the job while the server fails every delivery.
		r.gate.fail.Store(100)
		jit, err := r.gh.GenerateJITConfig(ctx, "acme", "web", githubapp.JITRequest{Name: "r1", Labels: []string{"self-hosted", "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.sim.RunRunner(ctx, jit.EncodedJITConfig, 0); err != nil {
			t.Fatal(err)
		}
		if j, _ := r.sim.Job(quiet.ID); j.Status != "completed" {
			t.Fatalf("sim job = %+v", j)
		}

		// "Restart": a new store handle and new loops on the same database.
		st2 := testdb.Open(t, b)
		later := func() time.Time { return time.Now().Add(2 * time.Minute) }
		rep, err = r.loops(st2, later).ReconcileOnce(ctx)
		if err != nil || rep.Advanced != 1 {
			t.Fatalf("reconcile after restart = %+v, %v", rep, err)
		}
		got, _ = st2.GetJob(ctx, quiet.ID, false)
		if got.State != portalapi.JobCompleted || got.Conclusion != "success" {
			t.Fatalf("job after reconciliation = %s/%s", got.State, got.Conclusion)
		}
	})
}

// TestReconcileStandsBackOnLowBudget: with GitHub's budget under the floor, a cycle sends
// no request at all.
func TestReconcileStandsBackOnLowBudget(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.sim.SetRateLimit(100, time.Now().Add(time.Hour))
		l := r.loops(r.st, nil)
		// The first cycle learns the budget from GitHub's headers.
		if _, err := l.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		before := len(r.sim.Requests())
		rep, err := l.ReconcileOnce(ctx)
		if err != nil || rep.Skipped == "" {
			t.Fatalf("low-budget cycle = %+v, %v", rep, err)
		}
		if after := len(r.sim.Requests()); after != before {
			t.Fatalf("a low-budget cycle sent %d requests", after-before)
		}
		if got := r.gh.RateLimitFor("acme", "web"); got.Remaining >= 500 || got.Limit == 0 {
			t.Fatalf("rate state = %+v", got)
		}
	})
}

// TestReconcileBudgetPerInstallation: GitHub counts each installation apart, so one
// organisation's spent budget holds back only its own repositories.
func TestReconcileBudgetPerInstallation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		other := r.sim.AddRepository("globex/api")
		err := r.st.CreatePolicy(ctx, &store.Policy{
			ID: "p2", Owner: "globex", Repo: "api", OwnerKey: "globex", RepoKey: "globex/api", Name: "linux",
			Labels: []string{"linux"}, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true,
			Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		acme := r.sim.Repositories()[0]
		if acme.FullName != "acme/web" || acme.InstallationID == other.InstallationID {
			t.Fatalf("repositories %+v, %+v: want two installations", acme, other)
		}
		r.sim.SetInstallationRateLimit(acme.InstallationID, 100, time.Now().Add(time.Hour))
		l := r.loops(r.st, nil)
		// The first cycle learns each installation's budget from GitHub's headers.
		if _, err := l.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := r.gh.RateLimitFor("acme", "web"); got.Remaining >= 500 || got.Limit == 0 {
			t.Fatalf("acme's budget = %+v", got)
		}
		if got := r.gh.RateLimitFor("globex", "api"); got.Remaining < 4000 {
			t.Fatalf("globex's budget = %+v", got)
		}
		if _, err := r.sim.QueueJobQuietly("globex/api", []string{"linux"}); err != nil {
			t.Fatal(err)
		}
		before := len(r.sim.Requests())
		rep, err := l.ReconcileOnce(ctx)
		if err != nil || rep.LowBudget != 1 || rep.Added != 1 || rep.Skipped != "" {
			t.Fatalf("cycle = %+v, %v; want acme/web left for later and globex/api's missed job added", rep, err)
		}
		for _, req := range r.sim.Requests()[before:] {
			if strings.Contains(req.Path, "/acme/") {
				t.Errorf("a request for acme with its budget under the floor: %s %s", req.Method, req.Path)
			}
		}
	})
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPruneKeepsRecentDeliveries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		if _, err := r.sim.QueueJob(ctx, "acme/web", []string{"linux"}); err != nil {
			t.Fatal(err)
		}
		if n, err := r.loops(r.st, nil).PruneOnce(ctx); err != nil || n != 0 {
			t.Fatalf("prune now = %d, %v; want 0", n, err)
		}
		inEightDays := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
		if n, err := r.loops(r.st, inEightDays).PruneOnce(ctx); err != nil || n != 1 {
			t.Fatalf("prune in eight days = %d, %v; want 1", n, err)
		}
	})
}

// TestReconcileRematchesAfterANewPolicy: a job nobody served waits unmatched; once a
// policy offers its labels, the next cycle matches it.
func TestReconcileRematchesAfterANewPolicy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		job, err := r.sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "gpu"})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := r.st.GetJob(ctx, job.ID, false); got.State != portalapi.JobUnmatched {
			t.Fatalf("gpu job before the policy = %s", got.State)
		}
		err = r.st.CreatePolicy(ctx, &store.Policy{
			ID: "p-gpu", Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: "gpu",
			Labels: []string{"gpu"}, MaxRunners: 1, Ephemeral: true, AgentGroup: "default", Enabled: true,
			Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.loops(r.st, nil).ReconcileOnce(ctx)
		if err != nil || rep.Rematched != 1 {
			t.Fatalf("reconcile = %+v, %v", rep, err)
		}
		if got, _ := r.st.GetJob(ctx, job.ID, false); got.State != portalapi.JobQueued || got.PolicyName != "gpu" || got.UnmatchedReason != "" {
			t.Fatalf("gpu job after the policy = %+v", got)
		}
	})
}

// TestFirstCycleRunsAtOnce (issue 14 finding 5): a starting server catches up at once,
// without waiting an interval: the delivery that failed while it was down is redelivered
// and a job whose webhook was lost is added, with no timer having fired.
func TestFirstCycleRunsAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.gate.fail.Store(1)
		failed, err := r.sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		quiet, err := r.sim.QueueJobQuietly("acme/web", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		l := catchup.New(catchup.Config{
			RedeliverInterval: time.Hour, RedeliverLookback: time.Hour, RedeliverMax: 10,
			ReconcileInterval: time.Hour, ReconcileMaxRepos: 10, ReconcileMaxJobs: 10, ReconcileMinRemaining: 500,
		}, r.gh, r.st, jobs.NewService(r.st, testkit.Discard(), nil), testkit.Discard(), nil)
		catchup.SetTick(l, func(time.Duration) <-chan time.Time { return nil }) // no timer ever fires
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); l.Run(runCtx) }()
		defer func() { stop(); <-done }()
		testkit.Eventually(t, 20*time.Second, "the missed jobs in the log", func() bool {
			a, errA := r.st.GetJob(ctx, failed.ID, false)
			b, errB := r.st.GetJob(ctx, quiet.ID, false)
			return errA == nil && errB == nil && a.State == portalapi.JobQueued && b.State == portalapi.JobQueued
		})
	})
}

// TestPruneJobsInBatches: completed jobs older than the retention go, PruneBatch at a
// time; recent ones and open ones stay.
func TestPruneJobsInBatches(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		old := time.Now().Add(-40 * 24 * time.Hour)
		add := func(id int64, state string, at time.Time) {
			t.Helper()
			j := &store.WorkflowJob{ID: id, RunID: 1, Owner: "acme", Repo: "web", RepoKey: "acme/web", Labels: []string{"linux"},
				GitHubStatus: state, State: state, Source: jobs.SourceWebhook, ReceivedAt: at}
			if state == portalapi.JobCompleted {
				j.CompletedAt = &at
			}
			if err := r.st.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 1200 {
			add(int64(i+1), portalapi.JobCompleted, old)
		}
		add(5001, portalapi.JobCompleted, time.Now())
		add(5002, portalapi.JobQueued, old)
		l := catchup.New(catchup.Config{JobRetention: 30 * 24 * time.Hour, PruneBatch: 500}, r.gh, r.st,
			jobs.NewService(r.st, testkit.Discard(), nil), testkit.Discard(), nil)
		n, err := l.PruneJobsOnce(ctx)
		if err != nil || n != 1200 {
			t.Fatalf("pruned %d, %v; want 1200", n, err)
		}
		for _, id := range []int64{5001, 5002} {
			if _, err := r.st.GetJob(ctx, id, false); err != nil {
				t.Errorf("job %d pruned: %v", id, err)
			}
		}
		if _, err := r.st.GetJob(ctx, 1, false); err == nil {
			t.Error("an old completed job stayed")
		}
	})
}
