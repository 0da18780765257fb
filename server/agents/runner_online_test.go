package agents_test

import (
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestRunnerOnlineStep: the runner_online step of a job is when the agent first saw the
// runner that took it running: stamped by the in_progress event from the agent's last
// heartbeat, or by a heartbeat that reports the runner busy with the job. A time in the
// server's future is not taken.
func TestRunnerOnlineStep(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		log := jobs.NewService(st, testkit.Discard(), nil)
		apply := func(action string, id int64, runner string) {
			t.Helper()
			ev := jobs.Event{Action: action, JobID: id, RunID: id, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux"}, RunnerName: runner, Source: jobs.SourceWebhook}
			if _, _, err := log.Apply(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		online := func(id int64) *time.Time {
			t.Helper()
			j, err := st.GetJob(ctx, id, false)
			if err != nil {
				t.Fatal(err)
			}
			return j.RunnerOnlineAt
		}
		for id := int64(1); id <= 3; id++ {
			apply("queued", id, "")
		}
		x.config(t) // takes acme/web

		t1, t2 := clk.Now().Add(-3*time.Second), clk.Now().Add(-2*time.Second)
		future := clk.Now().Add(2 * time.Hour)
		status := func(name string, st protocol.RunnerState, job int64, since *time.Time) protocol.RunnerStatus {
			return protocol.RunnerStatus{Name: name, Repository: "acme/web", Policy: "linux", State: st, JobID: job, CreatedAt: clk.Now().Add(-time.Minute), RunningSince: since}
		}
		x.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: []protocol.RunnerStatus{
			status("r1", protocol.RunnerIdle, 0, &t1),
			status("r3", protocol.RunnerIdle, 0, &future),
		}})
		if got := online(1); got != nil {
			t.Fatalf("job 1 runner_online before any runner took it: %v", got)
		}
		// In progress on r1: its running_since from the heartbeat.
		apply("in_progress", 1, "r1")
		if got := online(1); got == nil || !got.Equal(t1) {
			t.Errorf("job 1 runner_online = %v, want %v", got, t1)
		}
		// A heartbeat reports r2 busy with job 2 before its in_progress event.
		x.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: []protocol.RunnerStatus{
			status("r2", protocol.RunnerBusy, 2, &t2),
			status("r3", protocol.RunnerIdle, 0, &future),
		}})
		if got := online(2); got == nil || !got.Equal(t2) {
			t.Errorf("job 2 runner_online = %v, want %v", got, t2)
		}
		apply("in_progress", 2, "r2")
		if got := online(2); got == nil || !got.Equal(t2) {
			t.Errorf("job 2 runner_online after in_progress = %v, want it kept at %v", got, t2)
		}
		// r3 reported a time in the future: not taken.
		apply("in_progress", 3, "r3")
		if got := online(3); got != nil {
			t.Errorf("job 3 runner_online = %v from a time in the future", got)
		}
		if r, err := st.GetRunner(ctx, "r3"); err != nil || r.RunningSince != nil {
			t.Errorf("runner r3 = %+v, %v; want no running_since", r, err)
		}
	})
}
