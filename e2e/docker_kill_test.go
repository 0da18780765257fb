package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/state"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// raceEnabled says whether this test binary was built with -race (race_test.go); the
// agent binary is built the same way, so that it shares the build cache and the race
// detector watches the agent process too.
var raceEnabled bool

// buildAgent builds agent/cmd/garo-agent into dir.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "garo-agent")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	start := time.Now()
	// "go" is the toolchain running this test: go test puts its GOROOT/bin first on PATH.
	if out, err := exec.CommandContext(t.Context(), "go", append(args, "../agent/cmd/garo-agent")...).CombinedOutput(); err != nil {
		t.Fatalf("go build garo-agent: %v\n%s", err, out)
	}
	t.Logf("garo-agent built in %s (race detector %v)", time.Since(start).Round(time.Millisecond), raceEnabled)
	return bin
}

// agentProcess is garo-agent running as a process of its own.
type agentProcess struct {
	cmd    *exec.Cmd
	log    string        // its log file
	exited chan struct{} // closed when it has exited
	err    error         // its exit status, once exited is closed
}

// startAgentProcess runs `garo-agent run --config config` with its log in logFile, the
// registration token (if any) in its environment, and no other GARO_AGENT_* variable of
// this process. It is killed, if still running, when the test ends; its log is shown when
// the test failed.
func startAgentProcess(t *testing.T, bin, config, logFile, token string) *agentProcess {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", config)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GARO_AGENT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if token != "" {
		cmd.Env = append(cmd.Env, "GARO_AGENT_REGISTRATION_TOKEN="+token)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start garo-agent: %v", errors.Join(err, out.Close()))
	}
	p := &agentProcess{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		// The log file's close error joins the exit status: a log cut short is worth seeing
		// with it.
		p.err = errors.Join(cmd.Wait(), out.Close())
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("log of garo-agent process %d (%s):\n%s", cmd.Process.Pid, filepath.Base(logFile), tail(b, 60))
		}
	})
	return p
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// signal sends sig and waits for the process to exit.
func (p *agentProcess) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to garo-agent: %v", sig, err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("garo-agent did not exit within 60s of %v", sig)
		return nil
	}
}

// statusAddr waits for the agent to log where its status endpoint (status.listen
// 127.0.0.1:0) listens.
func (p *agentProcess) statusAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testkit.Eventually(t, 30*time.Second, "the agent's status endpoint", func() bool {
		b, _ := os.ReadFile(p.log)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, `msg="status endpoint listening"`) {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "addr="); ok {
					addr = v
				}
			}
		}
		return addr != ""
	})
	return addr
}

// agentGauges scrapes the agent's /metrics: its runners of policy by state
// (garo_agent_runners) and the jobs waiting for capacity (garo_agent_queue_length).
func agentGauges(ctx context.Context, addr, policy string) (runners map[string]int, queue int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	runners = map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.Contains(rest, `policy="`+policy+`"`) {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "garo_agent_runners":
			for _, l := range strings.Split(labels, ",") {
				if st, ok := strings.CutPrefix(l, `state="`); ok {
					runners[strings.TrimSuffix(st, `"`)] = int(n)
				}
			}
		case "garo_agent_queue_length":
			queue = int(n)
		}
	}
	return runners, queue, nil
}

// jobDeliveries returns, per job, the first deliveries of workflow_job with action
// (redeliveries repeat one), oldest first.
func jobDeliveries(e *env, action string) map[int64][]githubsim.Delivery {
	out := map[int64][]githubsim.Delivery{}
	for _, d := range e.sim.Deliveries() {
		if d.Event != "workflow_job" || d.Action != action || d.Redelivery {
			continue
		}
		var p struct {
			WorkflowJob struct {
				ID int64 `json:"id"`
			} `json:"workflow_job"`
		}
		if json.Unmarshal(d.Payload, &p) == nil {
			out[p.WorkflowJob.ID] = append(out[p.WorkflowJob.ID], d)
		}
	}
	return out
}

// garo-agent, a process of its own, is killed with SIGKILL while its runners run jobs at
// max_runners with more jobs queued, and started again on the same state file. Its
// containers keep running through the kill; the new process adopts them (busy, not
// duplicated, the queue still waiting); every job completes exactly once, with success;
// each runner name has one container, one per job; and nothing is left behind at the
// engine or at GitHub.
func agentKilled(t *testing.T, cli *dockerclient.Client, ref string) {
	dir := t.TempDir()
	bin := buildAgent(t, dir)
	// Runners that did their jobs' work are held in their "complete" call: busy, their
	// jobs in_progress at GitHub, through the kill and the restart.
	tap := newSimTap(completing)
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t), simHandler: tap.wrap})
	t.Cleanup(tap.release)
	const policy, maxRunners, jobs = "killed", 3, 6
	dockerPolicy(t, e, policy, ref, 0, maxRunners, 3*time.Second)

	stateFile := filepath.Join(dir, "state.json")
	config := filepath.Join(dir, "garo-agent.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`# garo-agent for the SIGKILL scenario
server:
  url: %s
name: e2e-killed-agent
state_file: %s
provider:
  type: docker
  docker:
    pull_policy: never
    stop_timeout: 5s
scheduler:
  interval: 250ms
  parallel: 10
status:
  listen: 127.0.0.1:0
log:
  level: info
`, e.server, stateFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	var sel filters.Args
	t.Cleanup(func() { // after the processes are killed (cleanups run last first)
		if sel.Len() > 0 {
			removeContainers(cli, sel)
		}
	})
	first := startAgentProcess(t, bin, config, filepath.Join(dir, "agent-1.log"), e.registrationToken(t))
	var id state.Identity
	testkit.Eventually(t, 30*time.Second, "the agent's state file", func() bool {
		var err error
		id, err = state.Load(stateFile)
		return err == nil
	})
	sel = agentContainers(id.AgentID)
	smp := sampleContainers(cli, sel)
	stopSampler := sync.OnceFunc(smp.finish)
	t.Cleanup(stopSampler)

	var ids []int64
	for range jobs {
		j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%d runners done with their jobs' work", maxRunners), func() bool { return tap.holding() == maxRunners })
	running := func() []string {
		list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			if c.State == "running" {
				out = append(out, c.ID)
			}
		}
		return out
	}
	busy := running()
	if len(busy) != maxRunners {
		t.Fatalf("%d running containers at max_runners %d", len(busy), maxRunners)
	}

	killed := time.Now()
	if err := first.signal(t, syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("garo-agent after SIGKILL: %v", err)
	}
	// The runners do not depend on the agent: their containers run on.
	stillRunning := func(when string) {
		for _, cid := range busy {
			info, err := cli.ContainerInspect(t.Context(), cid)
			if err != nil || info.State == nil || !info.State.Running {
				t.Fatalf("container %.12s %s: %v, %+v", cid, when, err, info.State)
			}
		}
	}
	stillRunning("after the kill")

	second := startAgentProcess(t, bin, config, filepath.Join(dir, "agent-2.log"), "") // the state file is its identity
	restarted := time.Now()
	addr := second.statusAddr(t)
	// The same agent adopts its busy runners from their labels, and the other jobs wait
	// for capacity: no runner for a job that has one, none beyond max_runners.
	testkit.Eventually(t, 30*time.Second, "the restarted agent holding its busy runners and the queue", func() bool {
		runners, queue, err := agentGauges(t.Context(), addr, policy)
		return err == nil && runners["busy"] == maxRunners && queue == jobs-maxRunners
	})
	adopted := time.Since(restarted)
	stillRunning("after the restart")
	if again, _ := state.Load(stateFile); again.AgentID != id.AgentID {
		t.Fatalf("the restarted agent is %s, not %s", again.AgentID, id.AgentID)
	}
	if now := running(); len(now) != maxRunners {
		t.Errorf("%d running containers after the restart; want the %d adopted ones", len(now), maxRunners)
	}

	tap.release()
	completed := func() int { return e.completed(ids) }
	testkit.Eventually(t, 120*time.Second, fmt.Sprintf("all %d jobs completed", jobs), func() bool { return completed() == jobs })
	nothingLeft(t, cli, e, sel, 60*time.Second)
	stopSampler()
	t.Logf("killed with %d jobs in progress and %d queued; restarted %s later, adopted its runners %s after the restart; all done %s after the kill",
		maxRunners, jobs-maxRunners, restarted.Sub(killed).Round(time.Millisecond), adopted.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	// Every job exactly once, with success, on a runner of its own.
	deliveries := jobDeliveries(e, "completed")
	ranOn := map[string]int64{}
	for _, id := range ids {
		j, _ := e.sim.Job(id)
		if j.Conclusion != "success" || len(deliveries[id]) != 1 {
			t.Errorf("job %d: %s/%s on %q, %d completed webhooks; want success, once", id, j.Status, j.Conclusion, j.RunnerName, len(deliveries[id]))
		}
		if other, dup := ranOn[j.RunnerName]; dup {
			t.Errorf("jobs %d and %d both ran on %q", other, id, j.RunnerName)
		}
		ranOn[j.RunnerName] = id
	}
	// One container per runner name, and one runner per job: none made twice. (The
	// restart made none for a job that had one: checked above, before the release.) A
	// spare that ran no job can appear after the release when a runner finishes its job
	// before the agent's jobs snapshot shows it (the snapshot lags the webhooks): the
	// agent makes one for the job it still sees queued and reaps it after idle_grace.
	// It ran nothing twice; it is logged, and nothingLeft saw it gone.
	perRunner := smp.containersByRunner()
	spares := 0
	for name, n := range perRunner {
		if n != 1 {
			t.Errorf("runner %s had %d containers", name, n)
		}
		if _, ran := ranOn[name]; !ran {
			spares++
			t.Logf("runner %s ran no job (a spare from a lagging jobs snapshot, reaped)", name)
		}
	}
	if len(perRunner)-spares != jobs {
		t.Errorf("%d containers ran the %d jobs (%d spares besides)", len(perRunner)-spares, jobs, spares)
	}
	smp.mu.Lock()
	maxLive := smp.maxLive
	smp.mu.Unlock()
	if maxLive > maxRunners {
		t.Errorf("%d containers created or running at once; max_runners is %d", maxLive, maxRunners)
	}
	// The restarted agent stops cleanly on SIGTERM (exit status 0: under -race, also no
	// race reported in the process).
	if err := second.signal(t, syscall.SIGTERM); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Errorf("garo-agent exited with %v after SIGTERM", exit)
		} else {
			t.Errorf("garo-agent after SIGTERM: %v", err)
		}
	}
}
