package stubrunner_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/stubrunner"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
)

const (
	repo = "acme/api"
	pat  = simtest.PAT
)

type env struct {
	*simtest.Env
	sim *githubsim.Sim
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := simtest.New(t, githubsim.Options{}, repo)
	return &env{Env: e, sim: e.Sim, srv: e.Srv}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// post sends a JSON body to the sim and decodes the answer into out (when not nil).
func (e *env) post(t *testing.T, path, auth string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %d %s: %v", path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// jitRunner creates an ephemeral JIT runner through GitHub's REST route, as Garo does.
func (e *env) jitRunner(t *testing.T, name string) (int64, string) {
	t.Helper()
	id, cfg, err := e.JIT(ctxT(t), repo, name, []string{"self-hosted", "garo"})
	if err != nil || cfg == "" {
		t.Fatalf("generate-jitconfig: %v", err)
	}
	return id, cfg
}

func (e *env) queueJob(t *testing.T) int64 {
	t.Helper()
	job, err := e.sim.QueueJob(ctxT(t), repo, []string{"self-hosted", "garo"})
	if err != nil {
		t.Fatal(err)
	}
	return job.ID
}

func (e *env) runner(id int64) (githubsim.Runner, bool) {
	for _, r := range e.sim.Runners(repo) {
		if r.ID == id {
			return r, true
		}
	}
	return githubsim.Runner{}, false
}

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func run(ctx context.Context, vars map[string]string) (int, *testkit.Buffer) {
	out := &testkit.Buffer{}
	return stubrunner.Run(ctx, getenv(vars), out), out
}

func TestRunsOneJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobID := e.queueJob(t)
	id, cfg := e.jitRunner(t, "stub-1")

	code, out := run(ctxT(t), map[string]string{
		stubrunner.EnvJITConfig: cfg, "GARO_STUB_WORK": "10ms",
	})
	if code != stubrunner.ExitDone {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	job, _ := e.sim.Job(jobID)
	if job.Status != "completed" || job.Conclusion != "success" || job.RunnerID != id {
		t.Errorf("job = %s/%s on runner %d, want completed/success on %d", job.Status, job.Conclusion, job.RunnerID, id)
	}
	if r, ok := e.runner(id); ok {
		t.Errorf("ephemeral runner still registered: %+v", r)
	}
	if strings.Contains(out.String(), cfg) {
		t.Error("output contains the JIT config")
	}
	if !strings.Contains(out.String(), "completed with result: Succeeded") {
		t.Errorf("output lacks the job result:\n%s", out)
	}
}

func TestRegisteredRunnerDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobID := e.queueJob(t)
	var tok struct {
		Token string `json:"token"`
	}
	if s := e.post(t, "/repos/"+repo+"/actions/runners/registration-token", "token "+pat, struct{}{}, &tok); s != http.StatusCreated {
		t.Fatalf("registration-token: %d", s)
	}
	var reg struct {
		Runner struct {
			ID int64 `json:"id"`
		} `json:"runner"`
		JITConfig string `json:"jit_config"`
	}
	if s := e.post(t, "/_sim/runners/register", "", map[string]any{
		"token": tok.Token, "name": "persistent", "labels": []string{"garo"},
	}, &reg); s != http.StatusCreated {
		t.Fatalf("register: %d", s)
	}

	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: reg.JITConfig, "GARO_STUB_WORK": "0s"})
	if code != stubrunner.ExitDone {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	if job, _ := e.sim.Job(jobID); job.Conclusion != "success" {
		t.Errorf("job conclusion %q, want success", job.Conclusion)
	}
	r, ok := e.runner(reg.Runner.ID)
	if !ok || r.Status != "offline" {
		t.Errorf("runner = %+v (registered %v), want registered and offline", r, ok)
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	// jit lays a .runner file out as the real runner reads it: base64 of a JSON object of
	// strings, each base64 of one file.
	jit := func(runner string) string {
		b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		outer, _ := json.Marshal(map[string]string{".runner": b64(runner), ".credentials": b64(`{}`), ".credentials_rsaparams": b64(`{}`)})
		return base64.StdEncoding.EncodeToString(outer)
	}
	garbage := jit(`{"agentId":0}`)
	noURL := jit(`{"agentId":3,"serverUrl":""}`)
	oldShape := base64.StdEncoding.EncodeToString([]byte(`{"runner_id":3,"sim_url":"http://127.0.0.1:1"}`))
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"missing", map[string]string{}, "ACTIONS_RUNNER_INPUT_JITCONFIG is not set"},
		{"blank", map[string]string{stubrunner.EnvJITConfig: "  "}, "ACTIONS_RUNNER_INPUT_JITCONFIG is not set"},
		{"not base64", map[string]string{stubrunner.EnvJITConfig: "%%%"}, "not base64"},
		{"no runner id", map[string]string{stubrunner.EnvJITConfig: garbage}, "no agentId"},
		{"no server url", map[string]string{stubrunner.EnvJITConfig: noURL}, "serverUrl"},
		{"numbers inside", map[string]string{stubrunner.EnvJITConfig: oldShape}, "not a JSON object of strings"},
		{"bad wait", map[string]string{
			stubrunner.EnvJITConfig:  jit(`{"agentId":3,"serverUrl":"http://127.0.0.1:1"}`),
			"GARO_STUB_ACQUIRE_WAIT": "soon",
		}, "GARO_STUB_ACQUIRE_WAIT"},
		{"bad exit early", map[string]string{"GARO_STUB_EXIT_EARLY": "x"}, "GARO_STUB_EXIT_EARLY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := run(ctxT(t), tc.vars)
			if code != stubrunner.ExitTerminated {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q lacks %q", out, tc.want)
			}
		})
	}
}

func TestSessionConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, cfg := e.jitRunner(t, "stub-twice")
	if s := e.post(t, "/_sim/runners/connect", "", map[string]string{"jit_config": cfg}, nil); s != http.StatusOK {
		t.Fatalf("first connect: %d", s)
	}
	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg})
	if code != stubrunner.ExitSessionConflict {
		t.Fatalf("exit code %d, want 5; output:\n%s", code, out)
	}
	if r, ok := e.runner(id); !ok || r.Status != "online" {
		t.Errorf("first session disturbed: %+v", r)
	}
}

func TestFail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobID := e.queueJob(t)
	id, cfg := e.jitRunner(t, "stub-fail")
	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg, "GARO_STUB_FAIL": "1", "GARO_STUB_WORK": "0s"})
	if code != stubrunner.ExitTerminated {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	job, _ := e.sim.Job(jobID)
	if job.Status != "completed" || job.Conclusion != "failure" || job.RunnerID != id {
		t.Errorf("job = %s/%s on runner %d, want completed/failure on %d", job.Status, job.Conclusion, job.RunnerID, id)
	}
	if _, ok := e.runner(id); ok {
		t.Error("ephemeral runner still registered after its job")
	}
}

func TestExitEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, cfg := e.jitRunner(t, "stub-early")
	for _, code := range []int{0, 2, 7, 42} {
		got, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg, "GARO_STUB_EXIT_EARLY": itoa(code)})
		if got != code {
			t.Errorf("GARO_STUB_EXIT_EARLY=%d: exit code %d; output:\n%s", code, got, out)
		}
	}
	if r, ok := e.runner(id); !ok || r.Status != "offline" {
		t.Errorf("runner = %+v, want registered and never connected", r)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSimUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cfg := e.jitRunner(t, "stub-unreachable")
	e.srv.Close() // the config's sim_url now refuses connections
	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg})
	if code != stubrunner.ExitRetryable {
		t.Fatalf("exit code %d, want 2; output:\n%s", code, out)
	}
	if !strings.Contains(out.String(), "cannot reach the simulator") {
		t.Errorf("output lacks the reason:\n%s", out)
	}
}

func TestNoJobInTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, cfg := e.jitRunner(t, "stub-idle")
	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg, "GARO_STUB_ACQUIRE_WAIT": "150ms"})
	if code != stubrunner.ExitRetryable {
		t.Fatalf("exit code %d, want 2; output:\n%s", code, out)
	}
	if r, ok := e.runner(id); !ok || r.Status != "offline" {
		t.Errorf("runner = %+v, want registered and offline", r)
	}
}

// TestStopped ends the context (what SIGTERM does in the binary) in each phase.
func TestStopped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		withJob bool
		ready   func(githubsim.Runner) bool
		// logged: the line the stub prints once it is in the phase. The simulator shows
		// the runner online as soon as it takes the connect call, before the stub has
		// read the answer; a stop in that moment is a stop while connecting.
		logged string
	}{
		{"hang", map[string]string{"GARO_STUB_HANG": "1"}, true,
			func(r githubsim.Runner) bool { return r.Status == "online" }, "GARO_STUB_HANG: hanging"},
		{"listening", map[string]string{"GARO_STUB_ACQUIRE_WAIT": "0"}, false,
			func(r githubsim.Runner) bool { return r.Status == "online" }, "Listening for Jobs"},
		{"working", map[string]string{"GARO_STUB_WORK": "1h"}, true,
			func(r githubsim.Runner) bool { return r.JobID != 0 }, "Running job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var jobID int64
			if tc.withJob {
				jobID = e.queueJob(t)
			}
			id, cfg := e.jitRunner(t, "stub-"+tc.name)
			tc.vars[stubrunner.EnvJITConfig] = cfg
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			done := make(chan int, 1)
			out := &testkit.Buffer{}
			go func() { done <- stubrunner.Run(ctx, getenv(tc.vars), out) }()

			testkit.Eventually(t, 30*time.Second, "the runner to be ready", func() bool {
				r, ok := e.runner(id)
				return ok && tc.ready(r) && strings.Contains(out.String(), tc.logged)
			})
			cancel()
			if code := <-done; code != stubrunner.ExitTerminated {
				t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
			}
			r, ok := e.runner(id)
			if !ok || r.Status != "offline" {
				t.Errorf("runner = %+v (registered %v), want offline", r, ok)
			}
			if tc.name == "working" {
				if job, _ := e.sim.Job(jobID); job.Conclusion != "failure" {
					t.Errorf("job conclusion %q, want failure (runner lost)", job.Conclusion)
				}
			}
			if tc.name == "hang" {
				if job, _ := e.sim.Job(jobID); job.Status != "queued" {
					t.Errorf("hanging runner took job: status %q", job.Status)
				}
			}
		})
	}
}

// A job longer than the simulator's job lock succeeds: the stub renews the lock as the
// real runner does, every tenth of it.
func TestRenewsTheJobLock(t *testing.T) {
	t.Parallel()
	se := simtest.New(t, githubsim.Options{RunnerLostAfter: 300 * time.Millisecond, LeaseCheckEvery: 10 * time.Millisecond}, repo)
	e := &env{Env: se, sim: se.Sim, srv: se.Srv}
	jobID := e.queueJob(t)
	_, cfg := e.jitRunner(t, "stub-long")
	code, out := run(ctxT(t), map[string]string{stubrunner.EnvJITConfig: cfg, "GARO_STUB_WORK": "1s"})
	if code != stubrunner.ExitDone {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	if job, _ := e.sim.Job(jobID); job.Conclusion != "success" {
		t.Fatalf("job of 1 s with a 300 ms lock: %s/%s, want completed/success", job.Status, job.Conclusion)
	}
}
