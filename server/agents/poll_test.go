package agents_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
	repos   []string // of a config that changed
	changed bool
	err     error
	took    time.Duration
}

// pollOnce runs one poll of kind held for up to wait.
func pollOnce(ctx context.Context, svc *agents.Service, row *store.Agent, kind, have string, wait time.Duration) pollResult {
	start := time.Now()
	var r pollResult
	if kind == agents.PollConfig {
		var c *protocol.Config
		c, r.changed, r.err = svc.WaitConfig(ctx, row, have, wait)
		if c != nil {
			r.version, r.repos = c.Version, c.Repositories
		}
	} else {
		var s *protocol.JobsSnapshot
		s, r.changed, r.err = svc.WaitJobs(ctx, row, have, wait)
		if s != nil {
			r.version = s.Version
		}
	}
	r.took = time.Since(start)
	return r
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
			go func() { out <- pollOnce(ctx, svc, a.auth(t), kind, have, time.Minute) }()
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

// TestPolicyWriteWakesOnlyItsOwner: a policy write asks for one settle of its group, not a
// look of every held poll of it: only the owner's polls look again (its jobs poll too: a
// policy may add or drop jobs) and only its config poll answers. A policy of a new
// repository gets it an owner through that settle, whose config poll then answers with it.
func TestPolicyWriteWakesOnlyItsOwner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), notify.NewLocal(), nil)
		const n = 3
		var as []*agent
		for i := range n {
			as = append(as, register(t, svc, "default", fmt.Sprintf("a%d", i)))
			addPolicy(t, st, fmt.Sprintf("acme/r%d", i), "linux", "default")
			svc.PolicyChanged(ctx, fmt.Sprintf("acme/r%d", i), "default")
		}
		type answer struct {
			agent int
			kind  string
			pollResult
		}
		answers := make(chan answer, 2*n+1)
		start := func(i int, kind, have string) {
			row := as[i].auth(t)
			go func() { answers <- answer{i, kind, pollOnce(ctx, svc, row, kind, have, time.Minute)} }()
		}
		owner := -1
		versions := make([]string, n)
		for i, a := range as {
			cfg := a.config(t)
			versions[i] = cfg.Version
			if slices.Contains(cfg.Repositories, "acme/r0") {
				owner = i
			}
			snap, _, err := svc.WaitJobs(ctx, a.auth(t), "", 0)
			if err != nil {
				t.Fatal(err)
			}
			start(i, agents.PollConfig, cfg.Version)
			start(i, agents.PollJobs, snap.Version)
		}
		if owner < 0 {
			t.Fatal("no agent owns acme/r0")
		}
		held(t, svc, agents.PollConfig, n)
		held(t, svc, agents.PollJobs, n)
		looks0, settles0 := svc.PollLooks()

		p, err := st.GetPolicy(ctx, "acme/r0", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		p.MaxRunners = 9
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		svc.PolicyChanged(ctx, "acme/r0", "default")
		if r := <-answers; r.agent != owner || r.kind != agents.PollConfig || r.err != nil || !r.changed {
			t.Fatalf("first answer after the write = %+v, want agent %d's config", r, owner)
		}
		// The group is settled once; the owner's config and jobs polls look once each.
		deadline := time.Now().Add(10 * time.Second)
		for {
			looks, settles := svc.PollLooks()
			if looks-looks0 == 2 && settles-settles0 == 1 {
				break
			}
			if time.Now().After(deadline) || looks-looks0 > 2 || settles-settles0 > 1 {
				t.Fatalf("after the write: %d looks (want 2), %d settles (want 1)", looks-looks0, settles-settles0)
			}
			time.Sleep(time.Millisecond)
		}
		select {
		case r := <-answers:
			t.Fatalf("another poll answered: %+v", r)
		default:
		}

		// A new repository: the shared settle gives it to one agent, whose config answers.
		start(owner, agents.PollConfig, as[owner].config(t).Version) // two looks: this one and the poll's first
		held(t, svc, agents.PollConfig, n)
		addPolicy(t, st, "acme/new", "linux", "default")
		svc.PolicyChanged(ctx, "acme/new", "default")
		r := <-answers
		if r.kind != agents.PollConfig || r.err != nil || !r.changed || !slices.Contains(r.repos, "acme/new") {
			t.Fatalf("answer after a new repository's policy = %+v", r)
		}
		// 2 of the first write, 2 to restart the poll, and the new owner's config and jobs
		// polls on its agent topic.
		if looks, _ := svc.PollLooks(); looks-looks0 > 2+2+2 {
			t.Fatalf("%d looks after the two writes, want at most 6", looks-looks0)
		}
	})
}

// TestIdleRepollReadsNothing: a poll held to its end without a wake-up leaves its version
// in the memo, so the agent's next poll at once reads neither its config nor its jobs;
// a change announced between the two polls is read all the same.
func TestIdleRepollReadsNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, notify.NewLocal(), nil)
		a := register(t, svc, "default", "a")
		addPolicy(t, st, "acme/web", "linux", "default")
		svc.PolicyChanged(ctx, "acme/web", "default")
		cfg := a.config(t)
		snap, _, err := svc.WaitJobs(ctx, a.auth(t), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Second) // the memos of those answers ran out
		row := a.auth(t)
		looks0, _ := svc.PollLooks()
		for _, kind := range []string{agents.PollConfig, agents.PollJobs} {
			have := cfg.Version
			if kind == agents.PollJobs {
				have = snap.Version
			}
			// Held to its end (200 ms of real time, two seconds of the clock's), then asked
			// again at once, twice.
			for range 3 {
				got := make(chan pollResult, 1)
				go func() { got <- pollOnce(ctx, svc, row, kind, have, 200*time.Millisecond) }()
				held(t, svc, kind, 1)
				clk.Advance(2 * time.Second)
				if r := <-got; r.err != nil || r.changed {
					t.Fatalf("%s poll = %+v, want unchanged", kind, r)
				}
			}
		}
		if looks, _ := svc.PollLooks(); looks-looks0 != 2 {
			t.Fatalf("%d reads for three polls of each kind held to their end, want 2 (the first of each)", looks-looks0)
		}
		p, err := st.GetPolicy(ctx, "acme/web", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		p.MaxRunners = 9
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		svc.PolicyChanged(ctx, "acme/web", "default") // while no poll is held
		if r := pollOnce(ctx, svc, row, agents.PollConfig, cfg.Version, 10*time.Millisecond); r.err != nil || !r.changed {
			t.Fatalf("config poll after a change between polls = %+v, want changed", r)
		}
	})
}
