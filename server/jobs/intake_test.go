package jobs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// intakeEnv is a job service on a fresh store with a policy for acme/web, whose leader
// waits, when held, until release is closed.
type intakeEnv struct {
	st      *store.Store
	svc     *Service
	logs    *testkit.Buffer
	release chan struct{}
}

func newIntakeEnv(t *testing.T, b testdb.Backend) *intakeEnv {
	t.Helper()
	st := testdb.Open(t, b)
	if err := st.CreatePolicy(t.Context(), &store.Policy{
		ID: "policy-linux", Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: "linux",
		Labels: []string{"linux"}, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true, Provider: "docker",
		RunnerSpec: store.JSONText(`{"image":"x"}`),
	}); err != nil {
		t.Fatal(err)
	}
	log, logs := testkit.TextLogs()
	return &intakeEnv{st: st, svc: NewService(st, log, nil), logs: logs, release: make(chan struct{})}
}

// fellBack reports whether a batch failed and was applied one delivery at a time.
func (e *intakeEnv) fellBack() bool {
	return strings.Contains(e.logs.String(), "applying them one by one")
}

// noFallBack fails the test when a batch fell back: what it checks must hold in the
// batch's own transaction, not only one delivery at a time.
func (e *intakeEnv) noFallBack(t *testing.T) {
	t.Helper()
	if e.fellBack() {
		t.Fatalf("a batch fell back to one by one:\n%s", e.logs.String())
	}
}

// hold makes the next leader wait for release before it takes its batch.
func (e *intakeEnv) hold() {
	var once sync.Once
	e.svc.intake.hold = func() { once.Do(func() { <-e.release }) }
}

// queued is how many deliveries wait in the queue, its leader included.
func (e *intakeEnv) queued() int {
	e.svc.intake.mu.Lock()
	defer e.svc.intake.mu.Unlock()
	return len(e.svc.intake.queue)
}

// batches returns how many batches were applied and how many deliveries they held.
func (e *intakeEnv) batches(t *testing.T) (count uint64, deliveries float64) {
	t.Helper()
	var m dto.Metric
	if err := e.svc.batches.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

type result struct {
	outcome string
	job     *store.WorkflowJob
	err     error
}

type sent struct {
	d  Delivery
	ev Event
}

func queuedEvent(guid string, id int64, labels ...string) sent {
	if labels == nil {
		labels = []string{"self-hosted", "linux"}
	}
	return sent{Delivery{GUID: guid, Event: "workflow_job", Action: "queued"},
		Event{Action: "queued", JobID: id, RunID: id * 10, Owner: "acme", Repo: "web", Labels: labels, Source: SourceWebhook}}
}

func progressEvent(guid string, id int64, action string) sent {
	s := queuedEvent(guid, id)
	s.d.Action, s.ev.Action, s.ev.RunnerName, s.ev.RunnerID = action, action, "garo-r1", 42
	if action == "completed" {
		s.ev.Conclusion = "success"
	}
	return s
}

// batch sends the deliveries of in, in order, holding the first (the leader) until all
// are queued so that they make one batch, and returns their results.
func (e *intakeEnv) batch(t *testing.T, in ...sent) []result {
	t.Helper()
	e.hold()
	out := make([]result, len(in))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, j, err := e.svc.HandleDelivery(t.Context(), in[i].d, in[i].ev)
			out[i] = result{o, j, err}
		}()
	}
	for i := range in { // one after the other: the queue's order is the batch's
		start(i)
		testkit.Eventually(t, 5*time.Second, "delivery queued", func() bool { return e.queued() == i+1 })
	}
	close(e.release)
	wg.Wait()
	e.release = make(chan struct{})
	e.svc.intake.hold = nil
	return out
}

func (e *intakeEnv) job(t *testing.T, id int64) *store.WorkflowJob {
	t.Helper()
	j, err := e.st.GetJob(t.Context(), id, false)
	if err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return j
}

func (e *intakeEnv) delivered(t *testing.T, guid string) (string, bool) {
	t.Helper()
	d, err := e.st.GetDelivery(t.Context(), guid)
	if errors.Is(err, store.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.Outcome, true
}

// TestBatchCommitsConcurrentDeliveries: deliveries queued while a transaction is written
// go together in the next one, each job matched and each delivery recorded.
func TestBatchCommitsConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		const n = 40
		in := make([]sent, n)
		for i := range in {
			in[i] = queuedEvent("g-"+strconv.Itoa(i), int64(1000+i))
		}
		for i, r := range e.batch(t, in...) {
			if r.err != nil || r.outcome != OutcomeProcessed || r.job == nil || r.job.ID != int64(1000+i) || r.job.State != portalapi.JobQueued {
				t.Fatalf("delivery %d: %+v", i, r)
			}
			j := e.job(t, int64(1000+i))
			if j.PolicyName != "linux" || j.State != portalapi.JobQueued || j.RunID != int64(1000+i)*10 || j.MatchedAt == nil {
				t.Fatalf("job %d: %+v", j.ID, j)
			}
			if o, ok := e.delivered(t, "g-"+strconv.Itoa(i)); !ok || o != OutcomeProcessed {
				t.Fatalf("delivery g-%d: recorded %v, outcome %q", i, ok, o)
			}
		}
		if count, sum := e.batches(t); count != 1 || sum != n {
			t.Fatalf("%d batches of %v deliveries, want 1 of %d", count, sum, n)
		}
		e.noFallBack(t)
	})
}

// TestBatchDeduplicates: a GUID twice in one batch is applied once, in the batch's own
// transaction; a GUID recorded before changes nothing in a later batch, which falls back
// to one delivery at a time to tell it.
func TestBatchDeduplicates(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		if o, _, err := e.svc.HandleDelivery(t.Context(), queuedEvent("early", 1).d, queuedEvent("early", 1).ev); err != nil || o != OutcomeProcessed {
			t.Fatalf("first delivery: %s %v", o, err)
		}
		got := e.batch(t, queuedEvent("a", 2), queuedEvent("a", 2), queuedEvent("b", 3))
		for i, r := range got {
			if w := []string{OutcomeProcessed, OutcomeDuplicate, OutcomeProcessed}[i]; r.err != nil || r.outcome != w {
				t.Fatalf("delivery %d: %+v, want %s", i, r, w)
			}
		}
		e.noFallBack(t)
		// A redelivery of "early" says the job completed: as a duplicate it must not move it.
		redelivered := progressEvent("early", 1, "completed")
		got = e.batch(t, redelivered, queuedEvent("a", 2), queuedEvent("c", 4), queuedEvent("c", 4))
		for i, r := range got {
			if w := []string{OutcomeDuplicate, OutcomeDuplicate, OutcomeProcessed, OutcomeDuplicate}[i]; r.err != nil || r.outcome != w {
				t.Fatalf("second batch, delivery %d: %+v, want %s", i, r, w)
			}
		}
		if j := e.job(t, 1); j.GitHubStatus != "queued" {
			t.Fatalf("a duplicate moved job 1 to %s", j.GitHubStatus)
		}
		jobs, _, err := e.st.ListJobs(t.Context(), store.JobFilter{Limit: 10})
		if err != nil || len(jobs) != 4 {
			t.Fatalf("%d jobs (%v), want 4", len(jobs), err)
		}
		if o, ok := e.delivered(t, "c"); !ok || o != OutcomeProcessed {
			t.Fatalf("delivery c: recorded %v %q", ok, o)
		}
	})
}

// TestBatchAppliesInOrder: events of one job in one batch apply in the order they came,
// a new job's and an existing job's alike, and a late event does not move a job back.
func TestBatchAppliesInOrder(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		if _, _, err := e.svc.HandleDelivery(t.Context(), queuedEvent("old", 7).d, queuedEvent("old", 7).ev); err != nil {
			t.Fatal(err)
		}
		got := e.batch(t,
			queuedEvent("n1", 8), progressEvent("n2", 8, "in_progress"),
			progressEvent("o1", 7, "in_progress"), progressEvent("o2", 7, "completed"), queuedEvent("o3", 7))
		want := []string{OutcomeProcessed, OutcomeProcessed, OutcomeProcessed, OutcomeProcessed, OutcomeStale}
		for i, r := range got {
			if r.err != nil || r.outcome != want[i] {
				t.Fatalf("delivery %d: %+v, want %s", i, r, want[i])
			}
		}
		if got[0].job.State != portalapi.JobQueued || got[1].job.State != portalapi.JobInProgress {
			t.Fatalf("answers of job 8: %s then %s", got[0].job.State, got[1].job.State)
		}
		if j := e.job(t, 8); j.State != portalapi.JobInProgress || j.PolicyName != "linux" || j.RunnerName != "garo-r1" || j.InProgressAt == nil {
			t.Fatalf("job 8: %+v", j)
		}
		if j := e.job(t, 7); j.State != portalapi.JobCompleted || j.Conclusion != "success" || j.CompletedAt == nil {
			t.Fatalf("job 7: %+v", j)
		}
		e.noFallBack(t)
	})
}

// TestBatchRefusesABadDeliveryAlone: an event that cannot describe a job fails alone,
// unrecorded; the others of its batch are committed.
func TestBatchRefusesABadDeliveryAlone(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		bad := queuedEvent("bad", 21)
		bad.ev.Labels = nil // a new job without labels would match every policy
		got := e.batch(t, queuedEvent("ok1", 20), bad, queuedEvent("ok2", 22))
		if !errors.Is(got[1].err, ErrInvalidEvent) {
			t.Fatalf("bad delivery: %+v, want ErrInvalidEvent", got[1])
		}
		for _, i := range []int{0, 2} {
			if got[i].err != nil || got[i].outcome != OutcomeProcessed {
				t.Fatalf("delivery %d: %+v", i, got[i])
			}
		}
		if _, ok := e.delivered(t, "bad"); ok {
			t.Fatal("the bad delivery was recorded")
		}
		if _, err := e.st.GetJob(t.Context(), 21, false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("job 21: %v, want not found", err)
		}
		e.job(t, 20)
		e.job(t, 22)
		e.noFallBack(t)
	})
}

// TestBatchFallsBackOneByOne: a batch whose transaction fails (here a job that exists by
// the time the batch inserts it) is applied again one delivery at a time, each in its own
// transaction: every delivery is committed, and the answers are those of one at a time.
func TestBatchFallsBackOneByOne(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		calls := 0
		e.svc.intake.beforeWrites = func(ctx context.Context, tx *store.Store) error {
			calls++
			// Job 31 appears after the batch read the jobs: its multi-row INSERT fails.
			return tx.CreateJob(ctx, &store.WorkflowJob{ID: 31, Owner: "acme", Repo: "web", RepoKey: "acme/web",
				Labels: store.StringList{"linux"}, GitHubStatus: "queued", State: portalapi.JobUnmatched, Source: SourceReconcile, ReceivedAt: tx.Now()})
		}
		got := e.batch(t, queuedEvent("f0", 30), queuedEvent("f1", 31), queuedEvent("f2", 32))
		if calls != 1 || !e.fellBack() {
			t.Fatalf("the batch's transaction ran %d times (fell back: %v), want once, falling back", calls, e.fellBack())
		}
		for i, r := range got {
			if r.err != nil || r.outcome != OutcomeProcessed {
				t.Fatalf("delivery %d: %+v", i, r)
			}
			if o, ok := e.delivered(t, fmt.Sprintf("f%d", i)); !ok || o != OutcomeProcessed {
				t.Fatalf("delivery f%d: recorded %v %q", i, ok, o)
			}
			if j := e.job(t, int64(30+i)); j.State != portalapi.JobQueued || j.Source != SourceWebhook {
				t.Fatalf("job %d: %+v", j.ID, j)
			}
		}
	})
}

// TestBatchRaceWithReplica: another server replica records a delivery of the batch while
// the batch is being written (PostgreSQL: several replicas share it). The batch fails on
// that GUID and falls back: the delivery is a duplicate, the others are committed.
func TestBatchRaceWithReplica(t *testing.T) {
	t.Parallel()
	b := testdb.Postgres(t)
	e := newIntakeEnv(t, b)
	replica := NewService(testdb.Open(t, b), testkit.Discard(), nil)
	e.svc.intake.beforeWrites = func(ctx context.Context, _ *store.Store) error {
		e.svc.intake.beforeWrites = nil
		s := queuedEvent("r1", 41)
		if o, _, err := replica.HandleDelivery(ctx, s.d, s.ev); err != nil || o != OutcomeProcessed {
			return fmt.Errorf("replica: %s %w", o, err)
		}
		return nil
	}
	got := e.batch(t, queuedEvent("r0", 40), queuedEvent("r1", 41), queuedEvent("r2", 42))
	want := []string{OutcomeProcessed, OutcomeDuplicate, OutcomeProcessed}
	for i, r := range got {
		if r.err != nil || r.outcome != want[i] {
			t.Fatalf("delivery %d: %+v, want %s", i, r, want[i])
		}
		e.job(t, int64(40+i))
	}
	if !e.fellBack() {
		t.Fatal("the batch did not fall back")
	}
}

// TestBatchAnswersAfterCommit: no delivery of a batch is answered before the batch's
// transaction commits.
func TestBatchAnswersAfterCommit(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		var mu sync.Mutex
		answered := 0
		inTx := false
		e.svc.intake.beforeWrites = func(context.Context, *store.Store) error {
			mu.Lock()
			defer mu.Unlock()
			inTx = true
			if answered > 0 {
				return fmt.Errorf("%d deliveries answered before their batch was written", answered)
			}
			return nil
		}
		e.hold()
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := queuedEvent("c"+strconv.Itoa(i), int64(50+i))
				_, _, errs[i] = e.svc.HandleDelivery(t.Context(), s.d, s.ev)
				mu.Lock()
				answered++
				mu.Unlock()
				// Answered: the job must be there for anyone to read.
				if _, err := e.st.GetJob(context.WithoutCancel(t.Context()), s.ev.JobID, false); err != nil && errs[i] == nil {
					errs[i] = fmt.Errorf("answered before commit: %w", err)
				}
			}()
		}
		testkit.Eventually(t, 5*time.Second, "every delivery queued", func() bool { return e.queued() == n })
		close(e.release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("delivery %d: %v", i, err)
			}
		}
		if !inTx {
			t.Fatal("no batch was written")
		}
		e.noFallBack(t)
	})
}

// TestBatchLeftByACancelledDelivery: a delivery whose request ends while it waits for a
// batch leaves the queue unrecorded; the others are not held up by it.
func TestBatchLeftByACancelledDelivery(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		e.hold()
		done := make(chan result, 3)
		send := func(ctx context.Context, s sent) {
			go func() {
				o, j, err := e.svc.HandleDelivery(ctx, s.d, s.ev)
				done <- result{o, j, err}
			}()
		}
		send(t.Context(), queuedEvent("lead", 60))
		testkit.Eventually(t, 5*time.Second, "the leader queued", func() bool { return e.queued() == 1 })
		ctx, cancel := context.WithCancel(t.Context())
		send(ctx, queuedEvent("gone", 61))
		testkit.Eventually(t, 5*time.Second, "the second queued", func() bool { return e.queued() == 2 })
		cancel()
		if r := <-done; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled delivery: %+v, want context.Canceled", r)
		}
		if e.queued() != 1 {
			t.Fatalf("%d deliveries queued after one left, want 1", e.queued())
		}
		send(t.Context(), queuedEvent("next", 62))
		testkit.Eventually(t, 5*time.Second, "the third queued", func() bool { return e.queued() == 2 })
		close(e.release)
		for range 2 {
			if r := <-done; r.err != nil || r.outcome != OutcomeProcessed {
				t.Fatalf("delivery: %+v", r)
			}
		}
		if _, ok := e.delivered(t, "gone"); ok {
			t.Fatal("the cancelled delivery was recorded")
		}
		e.job(t, 60)
		e.job(t, 62)
	})
}

// TestShutdownDrainsBatches: an HTTP server that shuts down while a batch is held answers
// every delivery of it, committed, before Shutdown returns.
func TestShutdownDrainsBatches(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		e := newIntakeEnv(t, b)
		e.hold()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
			s := queuedEvent("s"+strconv.FormatInt(id, 10), id)
			if _, _, err := e.svc.HandleDelivery(r.Context(), s.d, s.ev); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}), ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		const n = 5
		status := make(chan int, n)
		for i := range n {
			go func() {
				resp, err := http.Post(fmt.Sprintf("http://%s/?id=%d", ln.Addr(), 70+i), "application/json", nil)
				if err != nil {
					status <- 0
					return
				}
				resp.Body.Close()
				status <- resp.StatusCode
			}()
		}
		testkit.Eventually(t, 5*time.Second, "every delivery queued", func() bool { return e.queued() == n })
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(context.WithoutCancel(t.Context())) }()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned (%v) while a batch was held", err)
		case s := <-status:
			t.Fatalf("a delivery was answered %d while its batch was held", s)
		default:
		}
		close(e.release)
		if err := <-shut; err != nil {
			t.Fatal(err)
		}
		for range n {
			if s := <-status; s != http.StatusOK {
				t.Fatalf("status %d", s)
			}
		}
		for i := range n {
			e.job(t, int64(70+i))
		}
	})
}
