package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/garo-dev/garo/internal/load"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// Options shape a bench run.
type Options struct {
	Quick bool // the CI variant: the same figures at a small scale, in about a minute
	// Duration overrides the sending window of the jobs scenario (the target says 5m;
	// the default is 60s, 5s quick).
	Duration time.Duration
	Dir      string    // scratch space; required
	Out      io.Writer // progress and the scenario summaries
	// Repo is the checkout's root, where go test runs the micro-benchmarks; "" skips them.
	Repo string
	// StubRunner and StubDockerfile are the demo's runner binary and Dockerfile; either
	// empty skips the Docker figures.
	StubRunner, StubDockerfile string
	// HubCommand runs each scenario's hub in a child process (load.Options.HubCommand);
	// empty runs it in this process, and the server's figures include the load generator's.
	HubCommand []string
}

// scale is the size of each scenario.
type scale struct {
	agents, repos, policies int
	rate                    float64
	window                  time.Duration
	changes                 int
	intakeWindow            time.Duration
	idleAgents              int
	idleWindow              time.Duration
	policyChanges           int
	policyWindow            time.Duration
	benchtime               string
}

func (o Options) scale() scale {
	if o.Quick {
		s := scale{agents: 20, repos: 100, policies: 200, rate: 20, window: 5 * time.Second, changes: 3,
			intakeWindow: 3 * time.Second, idleAgents: 50, idleWindow: 5 * time.Second,
			policyChanges: 3, policyWindow: 3 * time.Second, benchtime: "3x"}
		if o.Duration > 0 {
			s.window = o.Duration
		}
		return s
	}
	s := scale{agents: 500, repos: 1000, policies: 5000, rate: 200, window: 60 * time.Second, changes: 20,
		intakeWindow: 20 * time.Second, idleAgents: 1000, idleWindow: 60 * time.Second,
		policyChanges: 30, policyWindow: 30 * time.Second, benchtime: "20x"}
	if o.Duration > 0 {
		s.window = o.Duration
	}
	return s
}

// Run runs every scenario and returns the table.
func Run(ctx context.Context, o Options) (*Table, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	sc := o.scale()
	mode := "full"
	if o.Quick {
		mode = "quick"
	}
	t := &Table{Title: fmt.Sprintf("garo bench (%s), %s, GOMAXPROCS %d", mode, time.Now().UTC().Format(time.RFC3339), maxProcs())}
	pg, err := testdb.StartCluster(ctx, true)
	if err != nil {
		return nil, err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = pg.Stop(stop)
	}()
	// A scenario that cannot run leaves a row that says why; the others still run, and
	// Run returns every error at the end.
	var errs []error
	for _, sc1 := range []struct {
		name string
		run  func(context.Context, Options, scale, *testdb.Cluster, *Table) error
	}{{"jobs", jobsScenario}, {"intake", intakeScenario}, {"idle agents", idleScenario}, {"policy changes", policyScenario}} {
		if err := sc1.run(ctx, o, sc, pg, t); err != nil {
			t.Missing(sc1.name+" scenario", "", "", err.Error())
			errs = append(errs, err)
		}
	}
	microBenchmarks(ctx, o, sc, t)
	agentMemory(ctx, o, t)
	dockerFigures(ctx, o, t)
	return t, errors.Join(errs...)
}

// runLoad runs one load scenario in a directory of its own and prints its summary.
func runLoad(ctx context.Context, o Options, name string, lo load.Options, pg *testdb.Cluster) (*load.Result, error) {
	lo.Dir, lo.HubCommand = filepath.Join(o.Dir, name), o.HubCommand
	if err := os.MkdirAll(lo.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if lo.Driver == "postgres" {
		db, err := pg.NewDatabase(ctx)
		if err != nil {
			return nil, err
		}
		lo.DSN, lo.DBPID = db.DSN, pg.PID()
	}
	fmt.Fprintf(o.Out, "--- %s\n", name)
	lo.Progress = o.Out
	res, err := load.Run(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	res.Print(o.Out)
	return res, nil
}

func jobsScenario(ctx context.Context, o Options, sc scale, pg *testdb.Cluster, t *Table) error {
	lo := load.Defaults()
	lo.Driver, lo.Agents, lo.Repos, lo.Policies, lo.Rate, lo.Duration = "postgres", sc.agents, sc.repos, sc.policies, sc.rate, sc.window
	lo.Work, lo.Heartbeat, lo.PolicyChanges, lo.Drain = 2*time.Second, 15*time.Second, sc.changes, 30*time.Second
	res, err := runLoad(ctx, o, "jobs", lo, pg)
	if err != nil {
		return err
	}
	at := fmt.Sprintf("%.0f jobs/s for %s, %d agents, %d policies, PostgreSQL fsync on; simulator's rate limit lifted (GitHub allows one installation 5,000–15,000 calls/h)",
		sc.rate, sc.window, sc.agents, sc.policies)
	t.Add(Figure{Name: "webhook → credentials minted, p50", Unit: "ms", Measured: load.P(res.ToMinted, .5), Target: "≤ 20",
		Anchor: "GARM 7,300–38,000 to its provider's create call (measured, issue 15); ARC 20,000–30,000 listener → worker pod (reported, actions/actions-runner-controller#3534)", Note: at})
	t.Add(Figure{Name: "webhook → credentials minted, p99", Unit: "ms", Measured: load.P(res.ToMinted, .99), Target: "≤ 100", Note: at})
	t.Add(Figure{Name: "webhook → offered to the owning agent, p50", Unit: "ms", Measured: load.P(res.ToOffered, .5), Note: at})
	t.Add(Figure{Name: "webhook → offered to the owning agent, p99", Unit: "ms", Measured: load.P(res.ToOffered, .99), Note: at})
	sent := fmt.Sprintf("%d jobs sent, %.0f/s of the %.0f/s asked (a server that falls behind is sent fewer); %s",
		res.Jobs, float64(res.Jobs)/sc.window.Seconds(), sc.rate, failures(res))
	t.Add(Figure{Name: "jobs minted / sent", Unit: "%", Measured: pct(res.Minted, res.Jobs), Target: "100", Note: sent})
	t.Add(Figure{Name: "GitHub calls per job", Unit: "calls", Measured: res.CallsPerJob(),
		Note: fmt.Sprintf("%d calls of the server to GitHub's API for %d jobs minted (garo_github_requests_total): jobs per hour per installation ≈ its budget / this", res.GitHubCalls, res.Minted)})
	t.Add(Figure{Name: "delivery answer under that load, p99", Unit: "ms", Measured: load.P(res.Answer, .99), Note: fmt.Sprintf("%d deliveries incl. hosted jobs", res.Deliveries)})
	t.Add(Figure{Name: "heartbeat round trip under that load, p99", Unit: "ms", Measured: load.P(res.Heartbeats, .99), Note: "runners of in-flight jobs"})
	t.Add(Figure{Name: fmt.Sprintf("policy change → agent, p99 (%d changes)", len(res.PolicyChange)), Unit: "ms", Measured: load.P(res.PolicyChange, .99), Target: "≤ 100",
		Note: fmt.Sprintf("%d agents holding config polls, during the jobs load", sc.agents)})
	t.Add(Figure{Name: "server CPU during that load", Unit: "cores", Measured: res.CPU, Note: serverNote(res, fmt.Sprintf("the load generator %.2f cores more", res.LoadCPU))})
	t.Add(Figure{Name: "server RSS max during that load", Unit: "MB", Measured: mb(res.RSSMax), Note: serverNote(res, "")})
	return nil
}

func intakeScenario(ctx context.Context, o Options, sc scale, pg *testdb.Cluster, t *Table) error {
	for _, driver := range []string{"postgres", "sqlite"} {
		lo := load.Defaults()
		lo.Driver, lo.Agents, lo.Repos, lo.Policies, lo.Senders, lo.Duration = driver, 2, 100, 100, 16, sc.intakeWindow
		res, err := runLoad(ctx, o, "intake-"+driver, lo, pg)
		if err != nil {
			return err
		}
		t.Add(Figure{Name: "webhook intake (" + driver + ")", Unit: "deliveries/s", Measured: res.DeliveryRate(), Target: "≥ 2,000",
			Note: "16 closed-loop senders, each of a new matched job's queued, in_progress and completed in turn, each committed before its answer"})
		t.Add(Figure{Name: "webhook intake answer, p99 (" + driver + ")", Unit: "ms", Measured: load.P(res.Answer, .99), Target: "< 50"})
		if res.Deliveries > 0 {
			// CPU time per delivery: what bounds the intake of a machine with n cores at
			// n / (process + PostgreSQL) deliveries per second, whatever else runs on it.
			per := res.Elapsed.Seconds() * 1000 / float64(res.Deliveries)
			note := serverNote(res, fmt.Sprintf("the 16 senders %.2f ms more", res.LoadCPU*per))
			if driver == "postgres" {
				note += fmt.Sprintf("; PostgreSQL's backends %.2f ms more", res.DBCPU*per)
			}
			t.Add(Figure{Name: "webhook intake CPU per delivery (" + driver + ")", Unit: "ms", Measured: res.CPU * per, Note: note})
		}
	}
	return nil
}

func idleScenario(ctx context.Context, o Options, sc scale, pg *testdb.Cluster, t *Table) error {
	lo := load.Defaults()
	lo.Driver, lo.Agents, lo.Repos, lo.Policies, lo.Rate, lo.Duration, lo.Heartbeat = "postgres", sc.idleAgents, 2*sc.idleAgents, 2*sc.idleAgents, 0, sc.idleWindow, 15*time.Second
	res, err := runLoad(ctx, o, "idle", lo, pg)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("%d idle agents long-polling, heartbeat 15s, for %s", sc.idleAgents, sc.idleWindow)
	if res.Unowned > 0 {
		note += fmt.Sprintf("; %d of %d repositories had no owner after %s", res.Unowned, res.Repos, "2m")
	}
	t.Add(Figure{Name: "idle agents: server RSS max", Unit: "MB", Measured: mb(res.RSSMax), Target: "≤ 300 (1,000 agents)",
		Note: serverNote(res, note)})
	t.Add(Figure{Name: "idle agents: server CPU", Unit: "% of a core", Measured: 100 * res.CPU, Target: "< 10 (1,000 agents)",
		Note: serverNote(res, fmt.Sprintf("%s; the agents' clients %.1f %% of a core more", note, 100*res.LoadCPU))})
	return nil
}

// policyScenario times policy changes, one at a time, until the owning agent's held config
// poll returns, with the jobs scenario's agents and policies holding their polls and no jobs.
func policyScenario(ctx context.Context, o Options, sc scale, pg *testdb.Cluster, t *Table) error {
	lo := load.Defaults()
	lo.Driver, lo.Agents, lo.Repos, lo.Policies, lo.Rate, lo.Heartbeat = "postgres", sc.agents, sc.repos, sc.policies, 0, 15*time.Second
	lo.PolicyChanges, lo.Duration = sc.policyChanges, sc.policyWindow
	res, err := runLoad(ctx, o, "policy", lo, pg)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("%d agents holding config polls, %d policies, no jobs; %d changes one at a time, PostgreSQL fsync on",
		sc.agents, sc.policies, len(res.PolicyChange))
	if n := res.Failures["policy change"]; n > 0 {
		note += fmt.Sprintf("; %d changes failed or not seen", n)
	}
	t.Add(Figure{Name: "policy change → agent, idle, p50", Unit: "ms", Measured: load.P(res.PolicyChange, .5), Note: note})
	t.Add(Figure{Name: "policy change → agent, idle, p99", Unit: "ms", Measured: load.P(res.PolicyChange, .99), Target: "≤ 100", Note: note})
	t.Add(Figure{Name: "policy change → agent, idle, max", Unit: "ms", Measured: load.P(res.PolicyChange, 1), Note: note})
	return nil
}

// serverNote says what the hub's figures cover, then more.
func serverNote(res *load.Result, more string) string {
	s := "server + simulator in a process of their own"
	if res.InProcess() {
		s = "server + simulator + load generator in one process"
	}
	if more != "" {
		s += "; " + more
	}
	return s
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func failures(r *load.Result) string {
	if len(r.Failures) == 0 {
		return "no failed calls"
	}
	return fmt.Sprintf("failed calls: %v", r.Failures)
}
