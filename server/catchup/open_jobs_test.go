package catchup_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/catchup"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
)

var linux = []string{"self-hosted", "linux"}

// dropAction makes the gate answer 500 to workflow_job deliveries with this action (a
// delivery GitHub made and the server never processed).
type dropAction struct {
	next   http.Handler
	action string
}

func (d dropAction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p struct{ Action string }
	if json.Unmarshal(body, &p) == nil && p.Action == d.action {
		http.Error(w, "lost", http.StatusInternalServerError)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	d.next.ServeHTTP(w, r)
}

// addRepo adds repository full (owner/name) at the simulator with an enabled linux policy.
func (r *rig) addRepo(t *testing.T, full string) {
	t.Helper()
	r.sim.AddRepository(full)
	owner, name, _ := strings.Cut(full, "/")
	err := r.st.CreatePolicy(t.Context(), &store.Policy{
		ID: "p-" + strings.ReplaceAll(full, "/", "-"), Owner: owner, Repo: name, OwnerKey: owner, RepoKey: full, Name: "linux",
		Labels: []string{"linux"}, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true,
		Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runOne plays one ephemeral runner on acme/web that takes a job and finishes it.
func (r *rig) runOne(t *testing.T, name string) {
	t.Helper()
	jit, err := r.gh.GenerateJITConfig(t.Context(), "acme", "web", githubapp.JITRequest{Name: name, Labels: linux})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sim.RunRunner(t.Context(), jit.EncodedJITConfig, 0); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) loopsWith(st *store.Store, now func() time.Time, cfg catchup.Config) *catchup.Loops {
	l := catchup.New(cfg, r.gh, st, jobs.NewService(st, testkit.Discard(), nil), testkit.Discard(), nil)
	if now != nil {
		catchup.SetClock(l, now)
	}
	return l
}

// TestReconcileServesANeedsChain (issue 10's done-when): a three-job workflow with
// needs: whose queued webhooks for jobs 2 and 3 are lost. The two are queued inside a run
// that is in_progress, so only a listing of in_progress runs finds them; reconciliation
// adds them, and runners serve them to the end.
func TestReconcileServesANeedsChain(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		first, err := r.sim.QueueRun(ctx, "acme/web", []githubsim.RunJob{
			{Name: "build", Labels: linux},
			{Name: "test", Labels: linux, Needs: []string{"build"}, Quiet: true},
			{Name: "deploy", Labels: linux, Needs: []string{"build"}, Quiet: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		r.runOne(t, "r1")
		if got, err := r.st.GetJob(ctx, first[0].ID, false); err != nil || got.State != portalapi.JobCompleted {
			t.Fatalf("build in the log = %+v, %v", got, err)
		}
		var later []int64
		for _, j := range r.sim.Jobs("acme/web") {
			if j.ID != first[0].ID {
				later = append(later, j.ID)
				if _, err := r.st.GetJob(ctx, j.ID, false); err == nil {
					t.Fatalf("job %s reached the log without its webhook", j.Name)
				}
			}
		}
		if len(later) != 2 {
			t.Fatalf("sim jobs after build: %d, want test and deploy", len(later))
		}
		rep, err := r.loops(r.st, nil).ReconcileOnce(ctx)
		if err != nil || rep.Added != 2 {
			t.Fatalf("reconcile = %+v, %v; want test and deploy added", rep, err)
		}
		for _, id := range later {
			got, err := r.st.GetJob(ctx, id, false)
			if err != nil || got.State != portalapi.JobQueued || got.PolicyName != "linux" || got.Source != jobs.SourceReconcile {
				t.Fatalf("added job = %+v, %v", got, err)
			}
		}
		r.runOne(t, "r2")
		r.runOne(t, "r3")
		for _, id := range later {
			if got, _ := r.st.GetJob(ctx, id, false); got.State != portalapi.JobCompleted || got.Conclusion != "success" {
				t.Fatalf("job %d after its runner = %s/%s", id, got.State, got.Conclusion)
			}
		}
	})
}

// TestReconcileRepairsALostCompletion: a job's completed delivery is lost, so the log
// holds it in_progress. Before InProgressCheck nothing is asked; after it, the job is
// looked up and completed, at most ReconcileMaxJobs lookups per cycle, the least recently
// checked first.
func TestReconcileRepairsALostCompletion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.gate.next = dropAction{next: r.gate.next, action: "completed"}
		var ids []int64
		for i := range 2 {
			j, err := r.sim.QueueJob(ctx, "acme/web", linux)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
			r.runOne(t, "r"+string(rune('a'+i)))
		}
		for _, id := range ids {
			if got, _ := r.st.GetJob(ctx, id, false); got.State != portalapi.JobInProgress {
				t.Fatalf("job %d = %s, want in_progress (completed delivery lost)", id, got.State)
			}
		}
		cfg := catchup.Config{ReconcileMaxRepos: 10, ReconcileMaxJobs: 1, ReconcileMinRemaining: 500, InProgressCheck: 10 * time.Minute}
		soon := func() time.Time { return time.Now().Add(5 * time.Minute) }
		if rep, err := r.loopsWith(r.st, soon, cfg).ReconcileOnce(ctx); err != nil || rep.Lookups != 0 || rep.Advanced != 0 {
			t.Fatalf("reconcile before the bound = %+v, %v; want no lookup", rep, err)
		}
		later := func() time.Time { return time.Now().Add(11 * time.Minute) }
		l := r.loopsWith(testdb.Open(t, b), later, cfg) // a restarted server
		var done []int64
		for cycle := 1; cycle <= 2; cycle++ {
			rep, err := l.ReconcileOnce(ctx)
			if err != nil || rep.Lookups != 1 || rep.Advanced != 1 {
				t.Fatalf("cycle %d = %+v, %v; want one lookup that completes a job", cycle, rep, err)
			}
			for _, id := range ids {
				if got, _ := r.st.GetJob(ctx, id, false); got.State == portalapi.JobCompleted && !slices.Contains(done, id) {
					if got.Conclusion != "success" {
						t.Errorf("job %d conclusion %q", id, got.Conclusion)
					}
					done = append(done, id)
				}
			}
			if len(done) != cycle {
				t.Fatalf("after cycle %d completed %v", cycle, done)
			}
		}
	})
}

// reposAsked lists the repositories whose workflow runs were listed in reqs, in order.
func reposAsked(reqs []githubsim.RequestRecord) []string {
	var out []string
	for _, q := range reqs {
		if q.Route != "/repos/{owner}/{repo}/actions/runs" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(q.Path, "/api/v3/repos/"), "/")
		repo := parts[0] + "/" + parts[1]
		if len(out) == 0 || out[len(out)-1] != repo {
			out = append(out, repo)
		}
	}
	return out
}

// TestReconcileFairness: with room for two repositories a cycle, the round-robin goes on
// where the last cycle stopped, also after a restart, and a repository with open jobs in
// the log is visited every cycle, first.
func TestReconcileFairness(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		for _, full := range []string{"beta/b", "gamma/c", "delta/d", "zeta/z"} {
			r.addRepo(t, full)
		}
		cfg := catchup.Config{ReconcileMaxRepos: 2, ReconcileMaxJobs: 10, ReconcileMinRemaining: 500}
		cycle := func(st *store.Store) []string {
			t.Helper()
			before := len(r.sim.Requests())
			if _, err := r.loopsWith(st, nil, cfg).ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return reposAsked(r.sim.Requests()[before:])
		}
		if got := cycle(r.st); !slices.Equal(got, []string{"acme/web", "beta/b"}) {
			t.Fatalf("cycle 1 = %v", got)
		}
		if got := cycle(testdb.Open(t, b)); !slices.Equal(got, []string{"delta/d", "gamma/c"}) {
			t.Fatalf("cycle 2 after a restart = %v, want the next two", got)
		}
		// zeta/z gets a job: it is active and goes first; the idle round goes on.
		if _, err := r.sim.QueueJob(ctx, "zeta/z", linux); err != nil {
			t.Fatal(err)
		}
		if got := cycle(r.st); !slices.Equal(got, []string{"zeta/z", "acme/web"}) {
			t.Fatalf("cycle 3 = %v, want the active zeta/z, then acme/web", got)
		}
		if got := cycle(r.st); !slices.Equal(got, []string{"zeta/z", "beta/b"}) {
			t.Fatalf("cycle 4 = %v, want zeta/z again, then beta/b", got)
		}
	})
}

// TestReconcileStaysWithinItsCallBudget: many open runs on one repository cost at most
// ReconcileMaxCalls requests a cycle; later cycles see the rest.
func TestReconcileStaysWithinItsCallBudget(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		for range 12 {
			if _, err := r.sim.QueueJobQuietly("acme/web", linux); err != nil {
				t.Fatal(err)
			}
		}
		cfg := catchup.Config{ReconcileMaxRepos: 10, ReconcileMaxCalls: 7, ReconcileMaxJobs: 10, ReconcileMinRemaining: 500}
		added := 0
		l := r.loopsWith(r.st, nil, cfg)
		for cycle := 1; added < 12; cycle++ {
			if cycle > 4 {
				t.Fatalf("12 jobs not added in 3 cycles (%d added)", added)
			}
			before := len(r.sim.Requests())
			rep, err := l.ReconcileOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			actions := 0
			for _, q := range r.sim.Requests()[before:] {
				if strings.Contains(q.Path, "/actions/") {
					actions++
				}
			}
			if actions > 7 || rep.Calls != actions {
				t.Fatalf("cycle %d sent %d requests (counted %d), budget 7", cycle, actions, rep.Calls)
			}
			added += rep.Added
		}
	})
}

// TestLostCompletionIsLookedUpBehindABacklog: a repository with more open runs than a
// cycle's budget covers still gets its in_progress jobs past the bound looked up in that
// cycle: the listing leaves them a share (the chaos suite's full run: lost completions
// repaired only once the backlog of queued runs was gone, minutes later).
func TestLostCompletionIsLookedUpBehindABacklog(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		r := newRig(t, b)
		ctx := t.Context()
		r.gate.next = dropAction{next: r.gate.next, action: "completed"}
		lost, err := r.sim.QueueJob(ctx, "acme/web", linux)
		if err != nil {
			t.Fatal(err)
		}
		r.runOne(t, "ra")
		for range 12 { // the backlog: more queued runs than the budget lists
			if _, err := r.sim.QueueJob(ctx, "acme/web", linux); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := r.st.GetJob(ctx, lost.ID, false); got.State != portalapi.JobInProgress {
			t.Fatalf("job %d = %s, want in_progress (completed delivery lost)", lost.ID, got.State)
		}
		cfg := catchup.Config{ReconcileMaxRepos: 10, ReconcileMaxCalls: 6, ReconcileMaxJobs: 5, ReconcileMinRemaining: 500,
			InProgressCheck: 10 * time.Minute, QueuedGrace: time.Hour}
		later := func() time.Time { return time.Now().Add(11 * time.Minute) }
		rep, err := r.loopsWith(r.st, later, cfg).ReconcileOnce(ctx)
		if err != nil || rep.Calls > 6 {
			t.Fatalf("cycle = %+v, %v; budget 6", rep, err)
		}
		if got, _ := r.st.GetJob(ctx, lost.ID, false); got.State != portalapi.JobCompleted || rep.Lookups != 1 {
			t.Fatalf("job %d = %s after one cycle (%+v); want completed by a look-up", lost.ID, got.State, rep)
		}
	})
}
