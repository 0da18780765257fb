package catchup_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/catchup"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/webhook"
)

const secondSecret = "catchup-second-app-secret-0123"

// With two Apps each App's failed deliveries are redelivered through that App: its own
// deliveries listing, its own redelivery call, its own progress row.
func TestRedeliveryPerApp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st, sim, gh, g := newAppsRig(t, b)
		// An earlier version's single-App progress: each App starts from its last good time.
		lastGood := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
		if err := st.SaveProgress(ctx, store.CatchupProgress{Name: store.ProgressRedeliver, LastGoodAt: &lastGood}); err != nil {
			t.Fatal(err)
		}
		g.fail.Store(2) // both Apps' deliveries of the job fail
		job, err := sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "linux"})
		if ds := sim.Deliveries(); err != nil || len(ds) != 2 || ds[0].StatusCode != 500 || ds[1].StatusCode != 500 || ds[0].AppID == ds[1].AppID {
			t.Fatalf("queue: %v, %d deliveries", err, len(ds))
		}
		l := catchup.New(catchup.Config{RedeliverLookback: time.Minute, RedeliverMax: 10, ReconcileMaxRepos: 10, ReconcileMaxJobs: 10},
			gh, st, jobs.NewService(st, testkit.Discard(), nil), testkit.Discard(), nil)
		rep, err := l.RedeliverOnce(ctx)
		if err != nil || rep.Redelivered != 2 || rep.PerApp[1].Redelivered != 1 || rep.PerApp[22].Redelivered != 1 || !rep.WalkDone {
			t.Fatalf("redeliver = %+v, %v", rep, err)
		}
		if _, err := sim.WaitDeliveries(waitCtx(t), 4); err != nil {
			t.Fatal(err)
		}
		// Each App listed and redelivered its own.
		asked := map[int64]int{}
		for _, r := range sim.Requests() {
			if strings.HasSuffix(r.Path, "/attempts") && r.Status == 202 {
				asked[r.App]++
			}
		}
		if asked[1] != 1 || asked[22] != 1 {
			t.Errorf("redeliveries asked per App = %v", asked)
		}
		for _, d := range sim.Deliveries()[2:] {
			if !d.Redelivery || d.StatusCode != 200 {
				t.Errorf("redelivery of app %d: redelivery %v, status %d", d.AppID, d.Redelivery, d.StatusCode)
			}
		}
		if got, err := st.GetJob(ctx, job.ID, false); err != nil || got.GitHubStatus != "queued" {
			t.Fatalf("job after redelivery = %+v, %v", got, err)
		}
		for _, app := range []int64{1, 22} {
			p, err := st.GetProgress(ctx, store.ProgressRedeliverApp(app))
			if err != nil || p.LastGoodAt == nil || p.LastGoodAt.Before(lastGood) {
				t.Errorf("progress of app %d = %+v, %v", app, p, err)
			}
		}
		// The next cycle asks for nothing more, for either App.
		if rep, err := l.RedeliverOnce(ctx); err != nil || rep.Redelivered != 0 {
			t.Fatalf("second cycle = %+v, %v", rep, err)
		}
	})
}

// newAppsRig is a job log with its webhook receiver (both Apps' secrets), a simulator with
// Apps 1 and 22 on acme/web and a client configured with both.
func newAppsRig(t *testing.T, b testdb.Backend) (*store.Store, *githubsim.Sim, *githubapp.Client, *gate) {
	t.Helper()
	st := testdb.Open(t, b)
	g := &gate{next: webhook.NewHandler(webhook.Config{
		Secrets: [][]byte{[]byte(secret), []byte(secondSecret)}, SecretApps: []int64{1, 22},
	}, jobs.NewService(st, testkit.Discard(), nil), st, testkit.Discard(), nil)}
	hook := httptest.NewServer(g)
	t.Cleanup(hook.Close)
	gitHub := simtest.New(t, githubsim.Options{
		WebhookURL: hook.URL, WebhookSecret: secret, PathPrefix: "/api/v3",
		Apps: []githubsim.AppOptions{{ID: 22, WebhookSecret: secondSecret}},
	}, "acme/web")
	sim := gitHub.Sim
	gh, err := githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", Apps: []githubapp.App{
		{ID: 1, PrivateKey: sim.AppPrivateKeyPEM(1)}, {ID: 22, PrivateKey: sim.AppPrivateKeyPEM(22)},
	}}, testkit.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, sim, gh, g
}

// Reconciliation of a repository goes through the installation with budget: one App's
// installation below reconcile_min_remaining does not hold the repository back while the
// other App's has calls left; with both low it stands back.
func TestReconcileOverApps(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st, sim, gh, _ := newAppsRig(t, b)
		err := st.CreatePolicy(ctx, &store.Policy{
			ID: "p1", Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: "linux",
			Labels: []string{"linux"}, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true,
			Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		job, err := sim.QueueJobQuietly("acme/web", []string{"self-hosted", "linux"}) // its webhook lost
		if err != nil {
			t.Fatal(err)
		}
		repo := sim.Repositories()[0]
		reset := time.Now().Add(time.Hour)
		sim.SetInstallationRateLimit(repo.InstallationIDs[1], 100, reset)
		// The client learns App 1's low budget from a call (the first App goes first).
		if _, err := gh.ListRunners(ctx, "acme", "web"); err != nil {
			t.Fatal(err)
		}
		l := catchup.New(catchup.Config{ReconcileMaxRepos: 10, ReconcileMaxJobs: 10, ReconcileMinRemaining: 500},
			gh, st, jobs.NewService(st, testkit.Discard(), nil), testkit.Discard(), nil)
		before := len(sim.Requests())
		rep, err := l.ReconcileOnce(ctx)
		if err != nil || rep.Added != 1 || rep.Skipped != "" {
			t.Fatalf("reconcile = %+v, %v", rep, err)
		}
		for _, r := range sim.Requests()[before:] {
			if r.Installation != 0 && r.App != 22 {
				t.Errorf("reconcile called %s through app %d, whose budget is low", r.Path, r.App)
			}
		}
		if got, err := st.GetJob(ctx, job.ID, false); err != nil || got.Source != "reconcile" {
			t.Fatalf("job = %+v, %v", got, err)
		}
		// Both Apps low: the repository waits.
		sim.SetInstallationRateLimit(repo.InstallationIDs[22], 100, reset)
		if _, err := gh.ListRunners(ctx, "acme", "web"); err != nil {
			t.Fatal(err)
		}
		if rep, err := l.ReconcileOnce(ctx); err != nil || rep.Skipped == "" {
			t.Fatalf("reconcile with both budgets low = %+v, %v", rep, err)
		}
	})
}
