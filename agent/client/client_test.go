package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
)

const (
	cred      = "garo_agent_credential_SECRET_0123456789"
	regToken  = "garo_reg_token_SECRET_abcdef"
	jitSecret = "eyJKSVQtU0VDUkVUIjoxfQ=="
)

// fake is a scripted server: each request to a path takes the next handler of its script;
// the last one repeats.
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	scripts map[string][]http.HandlerFunc
	reqs    []*http.Request
	bodies  []string
}

func newFake(t *testing.T) (*fake, *httptest.Server) {
	f := &fake{t: t, scripts: map[string][]http.HandlerFunc{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.bodies = append(f.bodies, string(b))
		script := f.scripts[r.URL.Path]
		var h http.HandlerFunc
		switch len(script) {
		case 0:
			h = func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, r) }
		case 1:
			h = script[0]
		default:
			h = script[0]
			f.scripts[r.URL.Path] = script[1:]
		}
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fake) on(path string, hs ...http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[protocol.PathPrefix+path] = hs
}

func (f *fake) requests() ([]*http.Request, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...), append([]string(nil), f.bodies...)
}

func reply(status int, body any, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func apiErr(status int, code string, headers ...string) http.HandlerFunc {
	return reply(status, map[string]any{"error": map[string]string{"code": code, "message": "msg " + code}}, headers...)
}

// sleeper records the waits instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	// cancel, when set, is called after limit waits.
	limit  int
	cancel context.CancelFunc
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	n := len(s.waits)
	s.mu.Unlock()
	if s.cancel != nil && n >= s.limit {
		s.cancel()
	}
	return ctx.Err()
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func newClient(t *testing.T, srv *httptest.Server, s *sleeper, log *bytes.Buffer) *client.Client {
	t.Helper()
	opts := client.Options{
		BaseURL: srv.URL, Sleep: s.sleep,
		Backoff: backoff.Policy{Rand: func() float64 { return 0.5 }},
	}
	if log != nil {
		opts.Log = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("agent-1", cred)
	return c
}

func TestRegisterSendsTheTokenWithoutAuthorization(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/register", reply(201, protocol.RegisterResponse{AgentID: "a1", Credential: "c1", Group: "g",
		Intervals: protocol.Intervals{Heartbeat: protocol.Duration(15 * time.Second)}}))
	c, err := client.New(client.Options{BaseURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Register(t.Context(), protocol.RegisterRequest{Token: regToken, Name: "host", Provider: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	if out.AgentID != "a1" || out.Credential != "c1" || out.Intervals.Heartbeat.D() != 15*time.Second {
		t.Fatalf("register = %+v", out)
	}
	reqs, bodies := f.requests()
	if reqs[0].Header.Get("Authorization") != "" || reqs[0].URL.Path != "/agent/v1/register" {
		t.Fatalf("register request %s with Authorization %q", reqs[0].URL.Path, reqs[0].Header.Get("Authorization"))
	}
	var sent protocol.RegisterRequest
	if err := json.Unmarshal([]byte(bodies[0]), &sent); err != nil || sent.Token != regToken || sent.Version == "" {
		t.Fatalf("register body %s", bodies[0])
	}
}

func TestBadServerURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://x", "localhost:8080", "http://"} {
		if _, err := client.New(client.Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// Every failure that retrying cannot fix comes back at once, after one request, as a
// *protocol.Error that Is the protocol's sentinel of its answer and no other.
func TestTerminalErrors(t *testing.T) {
	t.Parallel()
	sentinels := []error{protocol.ErrUnauthorized, protocol.ErrNotOwner, protocol.ErrRunnerBusy, protocol.ErrNotFound}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		call    func(context.Context, *client.Client) error
		want    error // the sentinel, or nil for none
		status  int
	}{
		{"401 on heartbeat", apiErr(401, "unauthorized"), heartbeat, protocol.ErrUnauthorized, 401},
		{"401 without a body", reply(401, nil), heartbeat, protocol.ErrUnauthorized, 401},
		{"401 on register", apiErr(401, "unauthorized"), func(ctx context.Context, c *client.Client) error {
			_, err := c.Register(ctx, protocol.RegisterRequest{Token: regToken})
			return err
		}, protocol.ErrUnauthorized, 401},
		{"403 not_owner on credentials", apiErr(403, protocol.CodeNotOwner), credentials, protocol.ErrNotOwner, 403},
		{"409 runner_busy on remove", apiErr(409, protocol.CodeRunnerBusy), remove, protocol.ErrRunnerBusy, 409},
		{"422 runner_busy on remove", apiErr(422, protocol.CodeRunnerBusy), remove, protocol.ErrRunnerBusy, 422},
		{"404 not_found on credentials", apiErr(404, protocol.CodeNotFound), credentials, protocol.ErrNotFound, 404},
		{"404 unknown route", reply(404, nil), heartbeat, protocol.ErrNotFound, 404},
		{"400 invalid", apiErr(400, protocol.CodeInvalidRequest), credentials, nil, 400},
		{"403 other code", apiErr(403, "forbidden"), credentials, nil, 403},
		{"409 conflict on credentials", apiErr(409, protocol.CodeConflict), credentials, nil, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t)
			for _, p := range []string{"/register", "/heartbeat", "/runners/credentials", "/runners/remove"} {
				f.on(p, tc.handler)
			}
			s := &sleeper{}
			err := tc.call(t.Context(), newClient(t, srv, s, nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, sentinel := range sentinels {
				if got := errors.Is(err, sentinel); got != (sentinel == tc.want) {
					t.Errorf("errors.Is(%v, %q) = %v", err, sentinel, got)
				}
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != tc.status || !strings.HasPrefix(pe.Path, protocol.PathPrefix+"/") {
				t.Fatalf("err = %v, want a *protocol.Error %d naming the call", err, tc.status)
			}
			if reqs, _ := f.requests(); len(reqs) != 1 || len(s.got()) != 0 {
				t.Fatalf("%d requests and waits %v, want one request and no retry", len(reqs), s.got())
			}
		})
	}
}

func heartbeat(ctx context.Context, c *client.Client) error {
	_, err := c.Heartbeat(ctx, protocol.HeartbeatRequest{State: protocol.AgentActive})
	return err
}

func credentials(ctx context.Context, c *client.Client) error {
	_, err := c.Credentials(ctx, protocol.CredentialsRequest{Repository: "acme/api", Policy: "p", RunnerName: "r"})
	return err
}

func remove(ctx context.Context, c *client.Client) error {
	return c.RemoveRunner(ctx, protocol.RemoveRunnerRequest{Repository: "acme/api", RunnerID: 7, RunnerName: "r"})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	date := time.Now().Add(42 * time.Second).UTC().Format(http.TimeFormat)
	f.on("/heartbeat",
		apiErr(429, "rate_limited", "Retry-After", "7"),
		apiErr(503, "unavailable", "Retry-After", date),
		apiErr(503, "unavailable", "Retry-After", "0"),
		reply(200, protocol.HeartbeatResponse{Drain: true}))
	s := &sleeper{}
	c := newClient(t, srv, s, nil)
	out, err := c.Heartbeat(t.Context(), protocol.HeartbeatRequest{})
	if err != nil || !out.Drain {
		t.Fatalf("heartbeat = %+v, %v", out, err)
	}
	w := s.got()
	if len(w) != 3 {
		t.Fatalf("waits %v, want 3", w)
	}
	if w[0] != 7*time.Second {
		t.Errorf("first wait %s, want Retry-After 7s", w[0])
	}
	if w[1] < 40*time.Second || w[1] > 43*time.Second {
		t.Errorf("second wait %s, want about 42s from the HTTP date", w[1])
	}
	// Retry-After: 0 still waits the backoff delay (rand 0.5 of 4 s): no hot loop.
	if w[2] != 2*time.Second {
		t.Errorf("third wait %s, want the backoff's 2s", w[2])
	}
}

func TestBackoffGrowsToTheCapAndNeverSpins(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	var hits atomic.Int32
	f.on("/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		apiErr(500, "internal")(w, r)
	})
	ctx, cancel := context.WithCancel(t.Context())
	s := &sleeper{limit: 10, cancel: cancel}
	c := newClient(t, srv, s, nil)
	err := heartbeat(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled once the caller gives up", err)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	got := s.got()
	if len(got) != len(want) {
		t.Fatalf("waits %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("wait %d = %s, want %s (half the ceiling, capped at 60s)", i, got[i], want[i])
		}
	}
	if hits.Load() != 10 {
		t.Errorf("%d requests, want 10: one per wait", hits.Load())
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	t.Parallel()
	_, srv := newFake(t)
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	s := &sleeper{limit: 3, cancel: cancel}
	c, err := client.New(client.Options{BaseURL: url, Sleep: s.sleep, Backoff: backoff.Policy{Rand: func() float64 { return 0 }}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("a", cred)
	if err := heartbeat(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range s.got() {
		if w < 100*time.Millisecond {
			t.Errorf("wait %s: a zero jitter draw must not make a hot loop", w)
		}
	}
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/config",
		reply(200, protocol.Config{Version: "v2", Repositories: []string{"acme/api"}}, "ETag", `"v2"`),
		reply(304, nil))
	c := newClient(t, srv, &sleeper{}, nil)
	cfg, changed, err := c.Config(t.Context(), "v1", 30*time.Second)
	if err != nil || !changed || cfg.Version != "v2" {
		t.Fatalf("config = %+v, %v, %v", cfg, changed, err)
	}
	_, changed, err = c.Config(t.Context(), "v2", 30*time.Second)
	if err != nil || changed {
		t.Fatalf("unchanged config: changed %v, %v", changed, err)
	}
	reqs, _ := f.requests()
	if got := reqs[0].Header.Get("If-None-Match"); got != `"v1"` {
		t.Errorf("If-None-Match %q", got)
	}
	if got := reqs[0].URL.Query().Get("wait"); got != "30s" {
		t.Errorf("wait=%q", got)
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+cred {
		t.Errorf("Authorization %q", got)
	}
	f.on("/jobs", reply(200, protocol.JobsSnapshot{Version: "j1", Jobs: []protocol.Job{{ID: 5, Status: "queued"}}}))
	jobs, changed, err := c.Jobs(t.Context(), "", 0)
	if err != nil || !changed || len(jobs.Jobs) != 1 {
		t.Fatalf("jobs = %+v, %v, %v", jobs, changed, err)
	}
	reqs, _ = f.requests()
	// A 0 wait is sent as wait=0s: without it the server would hold the poll for its
	// whole long-poll time, past the client's timeout.
	if last := reqs[len(reqs)-1]; last.Header.Get("If-None-Match") != "" || last.URL.Query().Get("wait") != "0s" {
		t.Errorf("first jobs poll sent If-None-Match %q and query %q, want no If-None-Match and wait=0s", last.Header.Get("If-None-Match"), last.URL.RawQuery)
	}
}

// A held poll that outlasts wait plus the margin is cut and retried.
func TestLongPollTimeout(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/jobs",
		func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		reply(200, protocol.JobsSnapshot{Version: "j2"}))
	s := &sleeper{}
	c, err := client.New(client.Options{BaseURL: srv.URL, Sleep: s.sleep, PollMargin: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("a", cred)
	start := time.Now()
	jobs, _, err := c.Jobs(t.Context(), "j1", 50*time.Millisecond)
	if err != nil || jobs.Version != "j2" {
		t.Fatalf("jobs = %+v, %v", jobs, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s: the first attempt was not cut at wait+margin", d)
	}
	if len(s.got()) != 1 {
		t.Fatalf("waits %v, want one retry", s.got())
	}
}

// Secrets never appear in errors or log lines, even when the server echoes them back.
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	echo := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte("oops"))
	}
	f.on("/runners/credentials", echo, echo, reply(201, protocol.Credentials{Kind: "jit", JITConfig: jitSecret, RunnerName: "r"}))
	f.on("/register", apiErr(502, "bad_gateway"), apiErr(400, "invalid_token"))
	var logs bytes.Buffer
	c := newClient(t, srv, &sleeper{}, &logs)
	got, err := c.Credentials(t.Context(), protocol.CredentialsRequest{Repository: "acme/api", Policy: "p", RunnerName: "r"})
	if err != nil || got.JITConfig != jitSecret {
		t.Fatalf("credentials = %v", err)
	}
	_, err = c.Register(t.Context(), protocol.RegisterRequest{Token: regToken})
	if err == nil {
		t.Fatal("register with a bad token succeeded")
	}
	for _, secret := range []string{cred, regToken, jitSecret} {
		if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("secret %q leaked:\nerr: %v\nlogs: %s", secret, err, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("retries were not logged: %s", logs.String())
	}
}

func TestNoCredentialIsUnauthorized(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/heartbeat", reply(200, protocol.HeartbeatResponse{}))
	c, err := client.New(client.Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := heartbeat(t.Context(), c); !errors.Is(err, protocol.ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 0 {
		t.Fatal("a call without a credential reached the server")
	}
}

func TestUnregister(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/unregister", reply(204, nil))
	if err := newClient(t, srv, &sleeper{}, nil).Unregister(t.Context()); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := f.requests(); reqs[0].Method != http.MethodPost {
		t.Fatalf("unregister used %s", reqs[0].Method)
	}
}

// TestUnreachableServerIsRetriedWithinSeconds: while no server answers (connection
// refused, or 502/503/504 from the proxy in front of stopped replicas) the delay between
// attempts stays under the reconnect cap, with full jitter and the floor, so the agent
// is back within 5 s of the server's return; a 500 (the server answers) still backs off
// to the full cap (issue 14, finding 5).
func TestUnreachableServerIsRetriedWithinSeconds(t *testing.T) {
	t.Parallel()
	for _, status := range []int{0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t)
			f.on("/heartbeat", func(w http.ResponseWriter, r *http.Request) { apiErr(status, "unavailable")(w, r) })
			url := srv.URL
			if status == 0 {
				srv.Close() // connection refused
			}
			ctx, cancel := context.WithCancel(t.Context())
			s := &sleeper{limit: 12, cancel: cancel}
			almostOne := func() float64 { return 0.999 }
			c, err := client.New(client.Options{BaseURL: url, Sleep: s.sleep, Backoff: backoff.Policy{Rand: almostOne}})
			if err != nil {
				t.Fatal(err)
			}
			c.SetCredential("a", cred)
			if err := heartbeat(ctx, c); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			got := s.got()
			if len(got) != 12 {
				t.Fatalf("waits %v", got)
			}
			for i, w := range got {
				if w > client.DefaultReconnectCap || w < 100*time.Millisecond {
					t.Errorf("wait %d = %s, want within [100ms, %s]", i, w, client.DefaultReconnectCap)
				}
			}
			if last := got[len(got)-1]; last < client.DefaultReconnectCap*9/10 {
				t.Errorf("last wait %s: the backoff should have grown to the reconnect cap", last)
			}
		})
	}
}

// TestReconnectWakesWaitingCalls: a call waiting to retry a server that did not answer
// (502 from the proxy in front of stopped replicas) goes again at once when another call
// of the client gets an answer: after an outage the agent's long-polls do not wait out
// their reconnect delay once a heartbeat got through (issue 14, finding 5).
func TestReconnectWakesWaitingCalls(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.on("/heartbeat", apiErr(http.StatusBadGateway, "bad_gateway"), reply(200, protocol.HeartbeatResponse{}))
	waiting := make(chan struct{}, 1)
	// A wait that ends only by its context: the test's deadline, or a wake-up.
	forever := func(ctx context.Context, _ time.Duration) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	c, err := client.New(client.Options{BaseURL: srv.URL, Sleep: forever})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("a", cred)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- heartbeat(ctx, c) }()
	<-waiting // the first call got the 502 and waits to retry
	if err := heartbeat(ctx, c); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the waiting call was not woken by the other's answer: %v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (502, the other call, the woken retry)", len(reqs))
	}
}

// TestCredentialAttemptsAreBounded: a credentials call whose attempts the server may
// have carried out (a 500 here; a timeout or a connection cut after sending too) gives up
// after four of them, with the server's error: each may cost the server a GitHub mint. A
// 503 (GitHub unavailable, a server without its database) is asked again like any call,
// until the caller's context ends.
func TestCredentialAttemptsAreBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   int32 // requests; 0: until the context ends
	}{{500, 4}, {503, 0}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t)
			var hits atomic.Int32
			f.on("/runners/credentials", func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				apiErr(tc.status, "unavailable")(w, r)
			})
			ctx, cancel := context.WithCancel(t.Context())
			s := &sleeper{limit: 10, cancel: cancel}
			c := newClient(t, srv, s, nil)
			_, err := c.Credentials(ctx, protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1"})
			var pe *protocol.Error
			switch {
			case tc.want == 0 && !errors.Is(err, context.Canceled):
				t.Fatalf("err = %v, want context.Canceled once the caller gives up", err)
			case tc.want == 0 && hits.Load() != 10:
				t.Errorf("%d requests, want 10: one per wait until the caller gave up", hits.Load())
			case tc.want > 0 && (!errors.As(err, &pe) || pe.Status != tc.status):
				t.Fatalf("err = %v, want the server's %d", err, tc.status)
			case tc.want > 0 && hits.Load() != tc.want:
				t.Errorf("%d requests, want %d", hits.Load(), tc.want)
			}
		})
	}
}

// TestTimedOutCredentialAttemptsAreBounded: an attempt that timed out after it was sent
// counts against the bound too (the server may have minted the runner meanwhile).
func TestTimedOutCredentialAttemptsAreBounded(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	var hits atomic.Int32
	f.on("/runners/credentials", func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-r.Context().Done() // never answers: the attempt's own deadline ends it
	})
	s := &sleeper{}
	c, err := client.New(client.Options{BaseURL: srv.URL, Sleep: s.sleep, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("agent-1", cred)
	_, err = c.Credentials(t.Context(), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the attempts' deadline", err)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}
