package agents_test

import (
	"fmt"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// BenchmarkHeartbeat is one heartbeat of an agent that serves 500 repositories with 10
// runners each (6 busy with a job of the log, 4 idle): the whole inventory replaced, the
// minted list and the runner_online steps updated in one transaction.
func BenchmarkHeartbeat(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		ctx := b.Context()
		st := testdb.Open(b, be)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		x := register(b, svc, "default", "x")
		log := jobs.NewService(st, testkit.Discard(), nil)
		const repos, perRepo = 500, 10
		var runners []protocol.RunnerStatus
		since := clk.Now()
		jobID := int64(1)
		for i := range repos {
			repo := fmt.Sprintf("acme/repo-%d", i)
			addPolicy(b, st, repo, "linux", "default")
			for r := range perRepo {
				rs := protocol.RunnerStatus{Name: fmt.Sprintf("garo-linux-%d-%d", i, r), Repository: repo, Policy: "linux",
					State: protocol.RunnerIdle, CreatedAt: since, RunningSince: &since}
				if r < 6 {
					ev := jobs.Event{Action: "in_progress", JobID: jobID, RunID: jobID, Owner: "acme", Repo: fmt.Sprintf("repo-%d", i),
						Labels: []string{"self-hosted", "linux"}, RunnerName: rs.Name, Source: jobs.SourceWebhook}
					if _, _, err := log.Apply(ctx, ev); err != nil {
						b.Fatal(err)
					}
					rs.State, rs.JobID = protocol.RunnerBusy, jobID
					jobID++
				}
				runners = append(runners, rs)
			}
		}
		a, err := svc.Authenticate(ctx, "Bearer "+x.credential)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := svc.WaitConfig(ctx, a, "", 0); err != nil { // takes the repositories
			b.Fatal(err)
		}
		req := protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: runners}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := svc.Heartbeat(ctx, a, req); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if j, err := st.GetJob(ctx, 1, false); err != nil || j.RunnerOnlineAt == nil {
			b.Fatalf("job 1 after the heartbeats: %+v, %v", j, err)
		}
		b.ReportMetric(float64(len(runners)), "runners")
	})
}
