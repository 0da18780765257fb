package agents_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// BenchmarkHeartbeat is one heartbeat of an agent that serves 500 repositories with 10
// runners each (6 busy with a job of the log, 4 idle), after its first one: its whole
// inventory reported and replaced, the minted list and the runner_online steps updated in
// one transaction. cpu-ms/op is the test process's CPU time per heartbeat (PostgreSQL's
// own is not in it).
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
		// The agent's first report on this server writes every row; it is not timed.
		req := protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: runners}
		if _, err := svc.Heartbeat(ctx, a, req); err != nil {
			b.Fatal(err)
		}
		if j, err := st.GetJob(ctx, 1, false); err != nil || j.RunnerOnlineAt == nil {
			b.Fatalf("job 1 after the first heartbeat: %+v, %v", j, err)
		}
		// steady: the same inventory again, what most heartbeats are. churn: 50 idle
		// runners (1 %) are gone and 50 new ones come, every heartbeat.
		b.Run("steady", func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			cpu := testkit.StartCPU()
			for range b.N {
				if _, err := svc.Heartbeat(ctx, a, req); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
			b.ReportMetric(float64(len(runners)), "runners")
		})
		b.Run("churn", func(b *testing.B) {
			reqs := make([]protocol.HeartbeatRequest, b.N)
			for i := range reqs {
				rs := slices.Clone(runners)
				for k := range 50 {
					r := &rs[(k*perRepo+6+k%4)%len(rs)] // an idle one (index 6-9 of its repository)
					r.Name = fmt.Sprintf("garo-linux-churn-%d-%d", i, k)
				}
				reqs[i] = protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: rs}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := testkit.StartCPU()
			for i := range b.N {
				if _, err := svc.Heartbeat(ctx, a, reqs[i]); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
			b.ReportMetric(float64(len(runners)), "runners")
		})
	})
}

// BenchmarkJobsPoll is one answer of a jobs poll of an agent that owns 10 repositories
// (500 agents of 5,000 policies each own as many) with open jobs queued in them, as the
// agent's poll asks after a job of its repositories changed: cpu-ms/op and allocations
// per answer.
func BenchmarkJobsPoll(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		ctx := b.Context()
		st := testdb.Open(b, be)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		x := register(b, svc, "default", "x")
		log := jobs.NewService(st, testkit.Discard(), nil)
		const repos = 10
		for i := range repos {
			addPolicy(b, st, fmt.Sprintf("acme/repo-%d", i), "linux", "default")
		}
		a, err := svc.Authenticate(ctx, "Bearer "+x.credential)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := svc.WaitConfig(ctx, a, "", 0); err != nil { // takes the repositories
			b.Fatal(err)
		}
		jobID := int64(1)
		queue := func(n int) {
			for range n {
				ev := jobs.Event{Action: "queued", JobID: jobID, RunID: jobID, Owner: "acme", Repo: fmt.Sprintf("repo-%d", jobID%repos),
					Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}
				if _, _, err := log.Apply(ctx, ev); err != nil {
					b.Fatal(err)
				}
				jobID++
			}
		}
		open := 0
		for _, n := range []int{10, 100, 1000} {
			queue(n - open)
			open = n
			b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
				b.ReportAllocs()
				cpu := testkit.StartCPU()
				for b.Loop() {
					snap, _, err := svc.WaitJobs(ctx, a, "", 0)
					if err != nil || len(snap.Jobs) != n {
						b.Fatalf("snapshot of %d jobs, want %d: %v", len(snap.Jobs), n, err)
					}
				}
				cpu.Report(b)
			})
		}
	})
}

// BenchmarkCredentials is one runner credentials request of an agent that owns the
// repository, for a queued job, as the server handles it before and after GitHub's
// answer (here the test's minter): the ownership check, admission, the minted record and
// the job's runner_requested step. cpu-ms/op is the test process's CPU per request.
func BenchmarkCredentials(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		ctx := b.Context()
		st := testdb.Open(b, be)
		clk := newClock()
		svc := newService(st, clk, nil, &minter{})
		x := register(b, svc, "default", "x")
		log := jobs.NewService(st, testkit.Discard(), nil)
		const repos = 10
		for i := range repos {
			addPolicy(b, st, fmt.Sprintf("acme/repo-%d", i), "linux", "default")
		}
		a, err := svc.Authenticate(ctx, "Bearer "+x.credential)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := svc.WaitConfig(ctx, a, "", 0); err != nil { // takes the repositories
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu := testkit.StartCPU()
		i := int64(0)
		for b.Loop() {
			i++
			b.StopTimer()
			repo := fmt.Sprintf("repo-%d", i%repos)
			ev := jobs.Event{Action: "queued", JobID: i, RunID: i, Owner: "acme", Repo: repo, Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}
			if _, _, err := log.Apply(ctx, ev); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := svc.Credentials(ctx, a, protocol.CredentialsRequest{Repository: "acme/" + repo, Policy: "linux",
				RunnerName: fmt.Sprintf("garo-linux-%d", i), JobID: i}); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
}
