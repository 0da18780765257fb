package agents_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestHeartbeatReplacesInventory: a heartbeat replaces the agent's runners and job states
// (a repeat changes nothing), keeps job states only for open jobs of repositories it
// owns, and a runner reported by another agent moves to it.
func TestHeartbeatReplacesInventory(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		x := register(t, svc, "default", "x")
		g := register(t, svc, "gpu", "g")
		addPolicy(t, st, "acme/web", "linux", "default")
		addPolicy(t, st, "acme/ml", "cuda", "gpu")
		log := jobs.NewService(st, testkit.Discard(), nil)
		for _, j := range []struct {
			id     int64
			repo   string
			labels []string
		}{{1, "web", []string{"self-hosted", "linux"}}, {2, "web", []string{"self-hosted", "linux"}}, {3, "ml", []string{"self-hosted", "linux"}}, {4, "web", []string{"self-hosted", "linux"}}} {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: j.id, RunID: j.id, Owner: "acme", Repo: j.repo, Labels: j.labels, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := log.Apply(ctx, jobs.Event{Action: "completed", JobID: 4, RunID: 4, Owner: "acme", Repo: "web", Source: jobs.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		x.config(t) // takes acme/web

		hb := protocol.HeartbeatRequest{
			State: protocol.AgentActive, Version: "1.0",
			Runners: []protocol.RunnerStatus{
				{Name: "garo-linux-a", Repository: "acme/web", Policy: "linux", State: protocol.RunnerBusy, JobID: 1, RunnerID: 11, CreatedAt: clk.Now()},
				{Name: "garo-linux-b", Repository: "acme/web", Policy: "linux", State: protocol.RunnerIdle, CreatedAt: clk.Now()},
			},
			Jobs: []protocol.JobStatus{
				{JobID: 2, State: protocol.JobWaitingForCapacity, Position: 1},
				{JobID: 3, State: protocol.JobWaitingForCapacity, Position: 2},  // acme/ml: not x's
				{JobID: 4, State: protocol.JobRunnerRequested},                  // completed
				{JobID: 99, State: protocol.JobWaitingForCapacity, Position: 3}, // unknown
			},
		}
		for range 2 {
			x.heartbeat(t, hb)
			marks := jobMarks(t, st, 1, 2, 3, 4)
			if marks[2] != "waiting_for_capacity@1 by "+x.id || marks[1] != "" || marks[3] != "" || marks[4] != "" {
				t.Fatalf("job marks = %v", marks)
			}
		}
		view, err := svc.Get(ctx, operator, x.id)
		if err != nil {
			t.Fatal(err)
		}
		if view.Runners["busy"] != 1 || view.Runners["idle"] != 1 || len(view.Runners) != 2 || view.Jobs["waiting_for_capacity"] != 3 || view.Version != "1.0" {
			t.Fatalf("agent view = %+v", view)
		}
		job, _ := st.GetJob(ctx, 2, false)
		if api := jobs.ToAPI(job); api.AgentState != portalapi.JobWaitingForCapacity || api.QueuePosition != 1 || api.AgentID != x.id {
			t.Fatalf("portal job = %+v", api)
		}

		// The next heartbeat no longer reports job 2 and one runner: both go.
		hb.Jobs, hb.Runners = []protocol.JobStatus{{JobID: 1, State: protocol.JobRunnerRequested}}, hb.Runners[:1]
		x.heartbeat(t, hb)
		if marks := jobMarks(t, st, 1, 2); marks[1] != "runner_requested@0 by "+x.id || marks[2] != "" {
			t.Fatalf("job marks after the second heartbeat = %v", marks)
		}
		if _, err := st.GetRunner(ctx, "garo-linux-b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a runner no longer reported is still there: %v", err)
		}

		// An agent of another group cannot take garo-linux-a over (it could then have it
		// removed): its report of a repository it does not serve is dropped.
		g.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{{Name: "garo-linux-a", Repository: "acme/web", Policy: "linux", State: protocol.RunnerIdle}}})
		r, err := st.GetRunner(ctx, "garo-linux-a")
		if err != nil || r.AgentID != x.id || r.State != "busy" {
			t.Fatalf("runner after another group's claim = %+v, %v", r, err)
		}
		if ans := svc.RemoveRunner(ctx, g.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "garo-linux-a"}); !errors.Is(ans, agents.ErrNotOwner) {
			t.Fatalf("another group's agent removing garo-linux-a = %v, want ErrNotOwner", ans)
		}

		// A bad state refuses the heartbeat, naming the field.
		var verr *portalapi.ValidationError
		if _, err := svc.Heartbeat(ctx, x.auth(t), protocol.HeartbeatRequest{State: "sleeping"}); !errors.As(err, &verr) || verr.Fields[0].Field != "state" {
			t.Errorf("heartbeat with a bad state: %v", err)
		}
		// A bad entry is dropped and named; the rest of the heartbeat is taken.
		good := protocol.RunnerStatus{Name: "garo-linux-c", Repository: "acme/web", Policy: "linux", State: protocol.RunnerIdle, CreatedAt: clk.Now()}
		resp, err := svc.Heartbeat(ctx, x.auth(t), protocol.HeartbeatRequest{
			Runners: []protocol.RunnerStatus{
				good,
				{Name: "r", Repository: "acme/web", Policy: "linux", State: "lost"},
				good, // a duplicate name
				{Name: "s", Repository: "web", Policy: "linux", State: "idle"},
			},
			Jobs: []protocol.JobStatus{
				{JobID: 1, State: "queued"},
				{JobID: 0, State: protocol.JobRunnerRequested},
				{JobID: 2, State: protocol.JobWaitingForCapacity, Position: 1},
			},
		})
		if err != nil {
			t.Fatalf("heartbeat with bad entries: %v", err)
		}
		want := []string{`runners[1] ("r"): unknown runner state "lost"`, `runners[2] ("garo-linux-c"): duplicate runner name`, `runners[3] ("s"): repository`,
			`jobs[0] (1): state must be`, `jobs[1] (0): job_id must be`}
		if len(resp.Ignored) != len(want) {
			t.Fatalf("ignored = %q, want %d entries", resp.Ignored, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(resp.Ignored[i], w) {
				t.Errorf("ignored[%d] = %q, want it to start with %q", i, resp.Ignored[i], w)
			}
		}
		if r, err := st.GetRunner(ctx, "garo-linux-c"); err != nil || r.AgentID != x.id {
			t.Errorf("the good runner of a heartbeat with bad entries: %+v, %v", r, err)
		}
		if marks := jobMarks(t, st, 2); marks[2] != "waiting_for_capacity@1 by "+x.id {
			t.Errorf("the good job of a heartbeat with bad entries: %v", marks)
		}
	})
}

// jobMarks describes the agent's view of jobs ids: "state@position by agent", "" for none.
func jobMarks(t *testing.T, st *store.Store, ids ...int64) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, id := range ids {
		j, err := st.GetJob(t.Context(), id, false)
		if err != nil {
			t.Fatal(err)
		}
		if j.AgentState != "" {
			out[id] = j.AgentState + "@" + strconv.Itoa(j.QueuePosition) + " by " + j.AgentID
		}
	}
	return out
}

// TestHeartbeatBackingOff: a job the agent reports backing_off keeps its reason and the
// time of the next try, and the portal shows them; a later state clears them, and a
// reason reported with another state is not kept.
func TestHeartbeatBackingOff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		log := jobs.NewService(st, testkit.Discard(), nil)
		for _, id := range []int64{1, 2} {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: "web",
				Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		x.config(t)
		retry := clk.Now().Add(40 * time.Second).UTC().Truncate(time.Millisecond)
		reason := "backing off: 3 runners in a row of the policy failed before taking a job (the last, garo-linux-x: exited with code 1 before taking a job)"
		long := strings.Repeat("é", 600) // 1200 bytes: cut to at most 1000, still UTF-8
		x.heartbeat(t, protocol.HeartbeatRequest{Jobs: []protocol.JobStatus{
			{JobID: 1, State: protocol.JobBackingOff, Reason: reason, RetryAt: &retry},
			{JobID: 2, State: protocol.JobRunnerRequested, Reason: long, RetryAt: &retry},
		}})
		api := func(id int64) portalapi.Job {
			j, err := st.GetJob(ctx, id, false)
			if err != nil {
				t.Fatal(err)
			}
			return jobs.ToAPI(j)
		}
		if j := api(1); j.AgentState != portalapi.JobBackingOff || j.AgentReason != reason || j.AgentRetryAt == nil ||
			!j.AgentRetryAt.Equal(retry) || j.AgentID != x.id {
			t.Fatalf("portal job 1 = %+v (retry at %v), want backing_off until %s", j, j.AgentRetryAt, retry)
		}
		if j := api(2); j.AgentState != portalapi.JobRunnerRequested || j.AgentReason != "" || j.AgentRetryAt != nil {
			t.Fatalf("portal job 2 = %+v: a reason without backing_off", j)
		}
		x.heartbeat(t, protocol.HeartbeatRequest{Jobs: []protocol.JobStatus{
			{JobID: 1, State: protocol.JobRunnerRequested},
			{JobID: 2, State: protocol.JobBackingOff, Reason: long},
		}})
		if j := api(1); j.AgentState != portalapi.JobRunnerRequested || j.AgentReason != "" || j.AgentRetryAt != nil {
			t.Fatalf("portal job 1 after the back-off = %+v", j)
		}
		if j := api(2); j.AgentState != portalapi.JobBackingOff || len(j.AgentReason) > 1000 || !utf8.ValidString(j.AgentReason) ||
			!strings.HasPrefix(long, j.AgentReason) || j.AgentRetryAt != nil {
			t.Fatalf("portal job 2 backing off one runner at a time = %d bytes of reason, retry at %v", len(j.AgentReason), j.AgentRetryAt)
		}
		// No longer reported: the marks go, reason and time included.
		x.heartbeat(t, protocol.HeartbeatRequest{})
		if j := api(2); j.AgentState != "" || j.AgentReason != "" || j.AgentRetryAt != nil {
			t.Fatalf("portal job 2 no longer reported = %+v", j)
		}
	})
}
