package agents_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// held waits until svc holds n polls of kind. It polls a counter: the tests need to know
// that a poll is waiting before they make the change that must wake it, or the change
// would be seen by the poll's first look instead.
func held(t *testing.T, svc *agents.Service, kind string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for svc.Waiting(kind) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s polls held, want %d", svc.Waiting(kind), kind, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type pollResult struct {
	version string
	changed bool
	err     error
	took    time.Duration
}

// TestPollsWakeUp: a held config poll answers when a policy of its repositories changes
// (an unrelated change on the way wakes it to no effect), a held jobs poll when the job
// log of its repositories changes, and a revoked agent's held polls end with
// ErrUnauthenticated.
func TestPollsWakeUp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		n := notify.NewLocal()
		svc := newService(st, newClock(), n, nil)
		a := register(t, svc, "default", "a")
		addPolicy(t, st, "acme/web", "linux", "default")
		cfg := a.config(t)
		snap, _, err := svc.WaitJobs(ctx, a.auth(t), "", 0)
		if err != nil || len(snap.Jobs) != 0 {
			t.Fatalf("jobs = %+v, %v", snap, err)
		}

		poll := func(kind, have string) <-chan pollResult {
			out := make(chan pollResult, 1)
			row := a.auth(t)
			go func() {
				start := time.Now()
				var r pollResult
				if kind == agents.PollConfig {
					var c *protocol.Config
					c, r.changed, r.err = svc.WaitConfig(ctx, row, have, time.Minute)
					if c != nil {
						r.version = c.Version
					}
				} else {
					var s *protocol.JobsSnapshot
					s, r.changed, r.err = svc.WaitJobs(ctx, row, have, time.Minute)
					if s != nil {
						r.version = s.Version
					}
				}
				r.took = time.Since(start)
				out <- r
			}()
			return out
		}

		// Config: an unrelated repository's change wakes nothing; this one's does.
		got := poll(agents.PollConfig, cfg.Version)
		held(t, svc, agents.PollConfig, 1)
		svc.PolicyChanged(ctx, "other/repo", "gpu")
		p, err := st.GetPolicy(ctx, "acme/web", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		p.MaxRunners = 9
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		svc.PolicyChanged(ctx, "acme/web", "default")
		r := <-got
		if r.err != nil || !r.changed || r.version == cfg.Version {
			t.Fatalf("config poll = %+v", r)
		}
		t.Logf("config poll answered %s after it was started", r.took)

		// Jobs: a job recorded through the notifying job log wakes the jobs poll.
		log := agents.NotifyingJobLog(jobs.NewService(st, testkit.Discard(), nil), n)
		got = poll(agents.PollJobs, snap.Version)
		held(t, svc, agents.PollJobs, 1)
		if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: 5, RunID: 5, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		r = <-got
		if r.err != nil || !r.changed {
			t.Fatalf("jobs poll = %+v", r)
		}
		snap, _, err = svc.WaitJobs(ctx, a.auth(t), "", 0)
		if err != nil || len(snap.Jobs) != 1 || snap.Jobs[0].ID != 5 || snap.Jobs[0].Policy != "linux" || snap.Jobs[0].Status != "queued" {
			t.Fatalf("jobs after the wake-up = %+v, %v", snap, err)
		}

		// Revocation ends held polls with ErrUnauthenticated (401).
		got = poll(agents.PollJobs, snap.Version)
		held(t, svc, agents.PollJobs, 1)
		cfg = a.config(t)
		gotCfg := poll(agents.PollConfig, cfg.Version)
		held(t, svc, agents.PollConfig, 1)
		if err := svc.Revoke(ctx, operator, admin, a.id); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []<-chan pollResult{got, gotCfg} {
			if r := <-ch; !errors.Is(r.err, agents.ErrUnauthenticated) {
				t.Fatalf("held poll of a revoked agent = %+v", r)
			}
		}
	})
}

// TestStopPolls: a server shutting down answers its held polls at once.
func TestStopPolls(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), nil, nil)
		a := register(t, svc, "default", "a")
		cfg := a.config(t)
		done := make(chan error, 1)
		row := a.auth(t)
		go func() {
			_, changed, err := svc.WaitConfig(t.Context(), row, cfg.Version, time.Minute)
			if err == nil && changed {
				err = errors.New("changed")
			}
			done <- err
		}()
		held(t, svc, agents.PollConfig, 1)
		svc.StopPolls()
		if err := <-done; err != nil {
			t.Fatalf("held poll after StopPolls = %v, want unchanged", err)
		}
		if _, changed, err := svc.WaitConfig(t.Context(), row, cfg.Version, time.Minute); err != nil || changed {
			t.Fatalf("poll after StopPolls = %v, %v", changed, err)
		}
	})
}

// TestConfigCarriesSchedule: a policy's schedule windows reach the agent as they are.
func TestConfigCarriesSchedule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), notify.NewLocal(), nil)
		a := register(t, svc, "default", "a")
		p := addPolicy(t, st, "acme/web", "linux", "default")
		p.Schedule = store.JSONText(`[{"days":["sat","sun"],"start":"00:00","end":"24:00","time_zone":"Europe/Berlin","min_idle":0}]`)
		if err := st.UpdatePolicy(t.Context(), p, p.Version); err != nil {
			t.Fatal(err)
		}
		cfg := a.config(t)
		if len(cfg.Policies) != 1 || len(cfg.Policies[0].Schedule) != 1 {
			t.Fatalf("config policies = %+v", cfg.Policies)
		}
		w := cfg.Policies[0].Schedule[0]
		if w.TimeZone != "Europe/Berlin" || w.End != "24:00" || len(w.Days) != 2 {
			t.Fatalf("window = %+v", w)
		}
	})
}

// TestJobsSnapshotMemo: a jobs poll that has the snapshot this server computed last is
// answered from the memo (no read) while nothing was published; a change published on
// the job log ends it at once, and the answer then equals a full read by another server;
// an unpublished change (a lost wake-up) is seen once the memo runs out.
func TestJobsSnapshotMemo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		n := notify.NewLocal()
		clk := newClock()
		svc := newService(st, clk, n, nil)
		other := newService(st, clk, notify.NewLocal(), nil) // a replica that never heard of the memo
		a := register(t, svc, "default", "a")
		addPolicy(t, st, "acme/web", "linux", "default")
		addPolicy(t, st, "acme/api", "linux", "default")
		a.config(t)
		row := a.auth(t)
		look := func(svc *agents.Service, have string) (*protocol.JobsSnapshot, bool) {
			t.Helper()
			snap, changed, err := svc.WaitJobs(ctx, row, have, 0)
			if err != nil {
				t.Fatal(err)
			}
			return snap, changed
		}
		queue := func(log interface {
			Apply(context.Context, jobs.Event) (string, *store.WorkflowJob, error)
		}, id int64, repo string) {
			t.Helper()
			ev := jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: repo, Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}
			if _, _, err := log.Apply(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		plain := jobs.NewService(st, testkit.Discard(), nil)
		notifying := agents.NotifyingJobLog(plain, n)

		queue(notifying, 1, "web")
		v1, _ := look(svc, "")
		if len(v1.Jobs) != 1 {
			t.Fatalf("first snapshot = %+v", v1)
		}
		// Unpublished: the memo answers unchanged, until it runs out.
		queue(plain, 2, "api")
		if _, changed := look(svc, v1.Version); changed {
			t.Fatal("a poll within the memo read the jobs again")
		}
		if full, _ := look(other, ""); len(full.Jobs) != 2 {
			t.Fatalf("full read = %+v", full)
		}
		clk.Advance(time.Second)
		v2, changed := look(svc, v1.Version)
		if !changed || len(v2.Jobs) != 2 {
			t.Fatalf("after the memo = %v, %+v", changed, v2)
		}
		// Published: seen at once, and the same as a full read.
		for i, repo := range []string{"web", "api", "web"} {
			queue(notifying, int64(10+i), repo)
			next, changed := look(svc, v2.Version)
			full, _ := look(other, "")
			if !changed || next.Version != full.Version || !reflect.DeepEqual(next.Jobs, full.Jobs) || len(next.Jobs) != 3+i {
				t.Fatalf("after job %d: %v, %+v; full read %+v", 10+i, changed, next, full)
			}
			if _, changed := look(svc, next.Version); changed {
				t.Fatalf("after job %d: the snapshot changed without a change", 10+i)
			}
			v2 = next
		}
	})
}
