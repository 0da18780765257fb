// Package stubrunner is a stand-in for the GitHub Actions runner (actions/runner) that
// talks to the GitHub simulator (package githubsim) instead of GitHub. It honours the
// parts of the real runner's contract that Garo relies on:
//
//   - the JIT config comes from ACTIONS_RUNNER_INPUT_JITCONFIG in the environment, never
//     from argv, and is never printed;
//   - it comes online, takes one job, runs it, reports it and exits;
//   - it exits with the real runner's codes (ExitDone, ExitTerminated, ExitRetryable,
//     ExitSessionConflict, ExitOutdated);
//   - on SIGTERM (the caller's context ending) it disconnects and exits ExitTerminated.
//
// It speaks the simulator's /_sim/ runner routes (see githubsim's package documentation):
// connect with the JIT config → session token; acquire (long-poll) → job; complete;
// disconnect. The encoded JIT config is decoded here as the real runner reads it (base64
// of {".runner", ".credentials", ".credentials_rsaparams"}, each base64 of a JSON file;
// the runner id, name, simulator URL and ephemeral flag come from ".runner"), so the stub
// depends on the wire contract, not on the simulator's Go internals.
//
// Environment:
//
//	ACTIONS_RUNNER_INPUT_JITCONFIG  the encoded JIT config (required)
//	GARO_STUB_ACQUIRE_WAIT          how long to wait for a job (Go duration, default 60s;
//	                                0 waits until a job comes or the process is stopped)
//	GARO_STUB_WORK                  how long the job "runs" (Go duration, default 1s)
//	GARO_STUB_FAIL=1                complete the job with failure and exit 1
//	GARO_STUB_HANG=1                connect, then hang until stopped; exit 1
//	GARO_STUB_EXIT_EARLY=N          exit with code N before reading the config or connecting
package stubrunner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Exit codes of the real runner (actions/runner's run.sh / Runner.Listener).
const (
	ExitDone            = 0 // the job ran (or the runner stopped cleanly)
	ExitTerminated      = 1 // terminated or failed: bad config, job failure, SIGTERM
	ExitRetryable       = 2 // retryable: the service could not be reached, no job came in time
	ExitSessionConflict = 5 // a session for this runner already exists (409 on connect)
	ExitOutdated        = 7 // the runner version is outdated (426 from the service)
)

// EnvJITConfig is the variable the real runner image reads its JIT config from.
const EnvJITConfig = "ACTIONS_RUNNER_INPUT_JITCONFIG"

// Defaults of the GARO_STUB_* durations.
const (
	DefaultAcquireWait = 60 * time.Second
	DefaultWork        = time.Second
)

// maxPoll is the simulator's cap on one acquire long-poll.
const maxPoll = 60 * time.Second

// callTimeout bounds every call but acquire (which gets its wait on top).
const callTimeout = 30 * time.Second

// config is what the stub reads from its environment.
type config struct {
	jit         jitConfig
	encoded     string // the JIT config as given; a credential, never printed
	acquireWait time.Duration
	work        time.Duration
	fail        bool
	hang        bool
}

// jitConfig holds what the stub needs from the encoded JIT config. The secret stays
// inside the encoded form, which is what connect takes.
type jitConfig struct {
	RunnerID   int64
	RunnerName string
	SimURL     string
	Ephemeral  bool
}

// decodeJIT reads an encoded JIT config the way the real runner does (actions/runner,
// Runner.Listener ExecuteCommand): base64 of a JSON object of strings, file name →
// base64 of that file; the runner's settings are in ".runner" (agentId, agentName,
// serverUrl, ephemeral).
func decodeJIT(encoded string) (jitConfig, error) {
	var cfg jitConfig
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return cfg, errors.New("not base64")
	}
	var files map[string]string
	if err := json.Unmarshal(raw, &files); err != nil {
		return cfg, errors.New("not a JSON object of strings")
	}
	for _, name := range []string{".runner", ".credentials", ".credentials_rsaparams"} {
		if _, ok := files[name]; !ok {
			return cfg, fmt.Errorf("%s is missing", name)
		}
	}
	b, err := base64.StdEncoding.DecodeString(files[".runner"])
	if err != nil {
		return cfg, errors.New(".runner is not base64")
	}
	var settings struct {
		AgentID   int64  `json:"agentId"`
		AgentName string `json:"agentName"`
		ServerURL string `json:"serverUrl"`
		Ephemeral bool   `json:"ephemeral"`
	}
	if err := json.Unmarshal(b, &settings); err != nil {
		return cfg, errors.New(".runner is not a JSON document")
	}
	if settings.AgentID == 0 {
		return cfg, errors.New(".runner has no agentId")
	}
	u, err := url.Parse(settings.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, errors.New(".runner serverUrl is missing or not an http(s) URL")
	}
	return jitConfig{RunnerID: settings.AgentID, RunnerName: settings.AgentName,
		SimURL: strings.TrimRight(settings.ServerURL, "/"), Ephemeral: settings.Ephemeral}, nil
}

// exitError is a failure with the exit code it maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

func readConfig(getenv func(string) string) (config, error) {
	var c config
	c.encoded = getenv(EnvJITConfig)
	if strings.TrimSpace(c.encoded) == "" {
		return c, fmt.Errorf("%s is not set: the runner needs its JIT config in the environment", EnvJITConfig)
	}
	jit, err := decodeJIT(c.encoded)
	if err != nil {
		return c, fmt.Errorf("%s is not a valid JIT config: %w", EnvJITConfig, err)
	}
	c.jit = jit
	if c.acquireWait, err = duration(getenv, "GARO_STUB_ACQUIRE_WAIT", DefaultAcquireWait); err != nil {
		return c, err
	}
	if c.work, err = duration(getenv, "GARO_STUB_WORK", DefaultWork); err != nil {
		return c, err
	}
	if c.fail, err = flag(getenv, "GARO_STUB_FAIL"); err != nil {
		return c, err
	}
	if c.hang, err = flag(getenv, "GARO_STUB_HANG"); err != nil {
		return c, err
	}
	return c, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 30s", name, v)
	}
	return d, nil
}

func flag(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
	}
	return b, nil
}

// Run plays one runner: it reads its configuration through getenv (os.Getenv in the
// binary), writes a runner-like log to out and returns the process exit code. When ctx
// ends (SIGTERM), a connected runner disconnects — a job it was running fails — and Run
// returns ExitTerminated.
func Run(ctx context.Context, getenv func(string) string, out io.Writer) int {
	if v := strings.TrimSpace(getenv("GARO_STUB_EXIT_EARLY")); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil || code < 0 || code > 255 {
			fmt.Fprintf(out, "GARO_STUB_EXIT_EARLY=%q: want an exit code 0-255\n", v)
			return ExitTerminated
		}
		fmt.Fprintf(out, "GARO_STUB_EXIT_EARLY: exiting with code %d before connecting\n", code)
		return code
	}
	cfg, err := readConfig(getenv)
	if err != nil {
		fmt.Fprintf(out, "Error: %v\n", err)
		return ExitTerminated
	}
	r := &runner{cfg: cfg, out: out, http: &http.Client{}}
	if err := r.run(ctx); err != nil {
		var ee *exitError
		code := ExitTerminated
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintf(out, "Error: %v (exit code %d)\n", err, code)
		return code
	}
	return ExitDone
}

// runner is one run of the stub against the simulator.
type runner struct {
	cfg     config
	out     io.Writer
	http    *http.Client
	session string
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, time.Now().UTC().Format("2006-01-02 15:04:05Z")+": "+format+"\n", args...)
}

// simJob is the part of a /_sim/ job answer the stub reads.
type simJob struct {
	ID    int64  `json:"id"`
	RunID int64  `json:"run_id"`
	Name  string `json:"name"`

	lockedUntil time.Time // from acquire's locked_until: renew before then
}

func (r *runner) run(ctx context.Context) error {
	if err := r.connect(ctx); err != nil {
		return err
	}
	r.logf("√ Connected to GitHub (simulator) as %s (runner %d)", r.cfg.jit.RunnerName, r.cfg.jit.RunnerID)

	if r.cfg.hang {
		r.logf("GARO_STUB_HANG: hanging until stopped")
		<-ctx.Done()
		return r.stopped(ctx, "while hanging")
	}

	r.logf("Listening for Jobs")
	job, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	r.logf("Running job: %s (job %d)", job.Name, job.ID)

	t := time.NewTimer(r.cfg.work)
	defer t.Stop()
	renew := time.NewTicker(renewEvery(job.lockedUntil, time.Now()))
	defer renew.Stop()
	for working := true; working; {
		select {
		case <-t.C:
			working = false
		case <-renew.C:
			r.renew(ctx, job.ID)
		case <-ctx.Done():
			return r.stopped(ctx, fmt.Sprintf("while running job %d", job.ID))
		}
	}

	conclusion := "success"
	if r.cfg.fail {
		conclusion = "failure"
	}
	if err := r.complete(ctx, conclusion); err != nil {
		return err
	}
	result := "Succeeded"
	if r.cfg.fail {
		result = "Failed"
	}
	r.logf("Job %s completed with result: %s", job.Name, result)

	// The simulator removes an ephemeral runner when its job completes: there is no session
	// left to close. A runner registered with ephemeral=false closes its session.
	if !r.cfg.jit.Ephemeral {
		if err := r.disconnect(ctx); err != nil {
			r.logf("disconnect: %v", err)
		}
	}
	if r.cfg.fail {
		return exitf(ExitTerminated, "GARO_STUB_FAIL: job %d reported as failed", job.ID)
	}
	return nil
}

// stopped disconnects after ctx ended and returns the terminated error.
func (r *runner) stopped(ctx context.Context, when string) error {
	r.logf("Received SIGTERM %s: disconnecting", when)
	if err := r.disconnect(context.WithoutCancel(ctx)); err != nil {
		r.logf("disconnect: %v", err)
	}
	return exitf(ExitTerminated, "terminated %s", when)
}

func (r *runner) connect(ctx context.Context) error {
	status, body, err := r.call(ctx, callTimeout, "/_sim/runners/connect", map[string]string{
		"jit_config": r.cfg.encoded, "os": "linux",
	})
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
	case http.StatusConflict:
		return exitf(ExitSessionConflict, "connect: session conflict: %s", message(body))
	default:
		return statusError("connect", status, body)
	}
	var resp struct {
		SessionToken string `json:"session_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.SessionToken == "" {
		return exitf(ExitRetryable, "connect: answer without a session token")
	}
	r.session = resp.SessionToken
	return nil
}

// acquire long-polls for a job, at most cfg.acquireWait in all (0: until ctx ends).
func (r *runner) acquire(ctx context.Context) (simJob, error) {
	var deadline time.Time
	if r.cfg.acquireWait > 0 {
		deadline = time.Now().Add(r.cfg.acquireWait)
	}
	path := fmt.Sprintf("/_sim/runners/%d/acquire", r.cfg.jit.RunnerID)
	for {
		wait := maxPoll
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				if err := r.disconnect(ctx); err != nil {
					r.logf("disconnect: %v", err)
				}
				return simJob{}, exitf(ExitRetryable, "no job within %s (GARO_STUB_ACQUIRE_WAIT)", r.cfg.acquireWait)
			}
			wait = min(wait, left)
		}
		status, body, err := r.call(ctx, wait+callTimeout, path+"?wait="+url.QueryEscape(wait.String()), struct{}{})
		if ctx.Err() != nil {
			return simJob{}, r.stopped(ctx, "while listening for jobs")
		}
		if err != nil {
			if dErr := r.disconnect(ctx); dErr != nil {
				r.logf("disconnect: %v", dErr)
			}
			return simJob{}, err
		}
		switch status {
		case http.StatusNoContent:
			continue
		case http.StatusOK:
			var resp struct {
				Job         simJob    `json:"job"`
				LockedUntil time.Time `json:"locked_until"`
			}
			if err := json.Unmarshal(body, &resp); err != nil || resp.Job.ID == 0 {
				return simJob{}, exitf(ExitRetryable, "acquire: answer without a job")
			}
			resp.Job.lockedUntil = resp.LockedUntil
			return resp.Job, nil
		default:
			return simJob{}, statusError("acquire", status, body)
		}
	}
}

// renewEvery is how often the job lock is renewed: as GitHub's runner, every minute with a
// ten-minute lock, so a tenth of the lock the simulator granted (at least 100 ms); a
// simulator that granted none (zero lockedUntil) gets the runner's minute.
func renewEvery(lockedUntil, now time.Time) time.Duration {
	if lockedUntil.IsZero() {
		return time.Minute
	}
	return min(max(lockedUntil.Sub(now)/10, 100*time.Millisecond), time.Minute)
}

// renew renews the lock on the job; a failure is logged only, as the real runner keeps
// working and retries at the next tick.
func (r *runner) renew(ctx context.Context, jobID int64) {
	path := fmt.Sprintf("/_sim/runners/%d/renew", r.cfg.jit.RunnerID)
	status, body, err := r.call(ctx, callTimeout, path, struct{}{})
	if err == nil && status != http.StatusOK {
		err = statusError("renew", status, body)
	}
	if err != nil && ctx.Err() == nil {
		r.logf("renew job request %d: %v", jobID, err)
	}
}

func (r *runner) complete(ctx context.Context, conclusion string) error {
	path := fmt.Sprintf("/_sim/runners/%d/complete", r.cfg.jit.RunnerID)
	status, body, err := r.call(ctx, callTimeout, path, map[string]string{"conclusion": conclusion})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return statusError("complete", status, body)
	}
	return nil
}

// disconnect closes the session; a runner that never connected has nothing to close.
func (r *runner) disconnect(ctx context.Context) error {
	if r.session == "" {
		return nil
	}
	path := fmt.Sprintf("/_sim/runners/%d/disconnect", r.cfg.jit.RunnerID)
	status, body, err := r.call(ctx, callTimeout, path, struct{}{})
	if err != nil {
		return err
	}
	if status != http.StatusNoContent {
		return statusError("disconnect", status, body)
	}
	r.session = ""
	r.logf("Runner disconnected")
	return nil
}

// call POSTs body as JSON to the simulator. A transport failure is ExitRetryable.
func (r *runner) call(ctx context.Context, timeout time.Duration, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, exitf(ExitTerminated, "encode %s: %v", path, err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, r.cfg.jit.SimURL+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, exitf(ExitTerminated, "request %s: %v", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "garo-stub-runner")
	if r.session != "" {
		req.Header.Set("Authorization", "Bearer "+r.session)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped (SIGTERM) in the middle of a call: the runner was told to end.
			return 0, nil, exitf(ExitTerminated, "stopped during %s: %v", path, err)
		}
		// The URL carries no secret (the JIT config travels in the body).
		return 0, nil, exitf(ExitRetryable, "cannot reach the simulator at %s: %v", r.cfg.jit.SimURL, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, exitf(ExitRetryable, "read %s: %v", path, err)
	}
	return resp.StatusCode, out, nil
}

// statusError maps an unexpected answer to an exit code: 401/403/404 (runner deleted, bad
// config) terminate, 426 means outdated, 429 and 5xx are retryable.
func statusError(op string, status int, body []byte) error {
	code := ExitTerminated
	switch {
	case status == http.StatusUpgradeRequired:
		code = ExitOutdated
	case status == http.StatusTooManyRequests, status >= 500:
		code = ExitRetryable
	}
	return exitf(code, "%s: %d %s", op, status, message(body))
}

// message is the "message" of a /_sim/ error body, or a trimmed body.
func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
