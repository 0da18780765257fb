package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/garo-dev/garo/internal/testkit"
)

func TestRateLimit429WaitsRetryAfterThenSucceeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil { // warm the caches
		t.Fatal(err)
	}
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 429, Header: http.Header{"Retry-After": {"7"}}, Times: 1})
	before := h.fake.count("GET", "/actions/runners")
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatalf("ListRunners after one 429: %v", err)
	}
	if w := h.clock.Waits(); !slices.Equal(w, []time.Duration{7 * time.Second}) {
		t.Errorf("waits = %v, want [7s] from Retry-After", w)
	}
	if n := h.fake.count("GET", "/actions/runners") - before; n != 2 {
		t.Errorf("requests = %d, want 2 (the 429 and the retry)", n)
	}
	if v := testutil.ToFloat64(h.c.lim.m.rateLimited); v != 1 {
		t.Errorf("garo_github_rate_limited_total = %v, want 1", v)
	}
	if v := testutil.ToFloat64(h.c.lim.m.requests.WithLabelValues("4xx")); v != 1 {
		t.Errorf("garo_github_requests_total{4xx} = %v, want 1", v)
	}
}

func TestPOSTIsReplayedAfterRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "POST", Contains: "generate-jitconfig", Status: 403,
		Header: http.Header{"Retry-After": {"2"}}, Body: `{"message":"You have exceeded a secondary rate limit"}`, Times: 1})
	jit, err := h.c.GenerateJITConfig(context.Background(), "octo", "hello", JITRequest{Name: "r1", Labels: []string{"l"}})
	if err != nil {
		t.Fatalf("GenerateJITConfig: %v", err)
	}
	var bodies []string
	for _, r := range h.fake.Requests() {
		if strings.HasSuffix(r.Path, "generate-jitconfig") {
			bodies = append(bodies, r.Body)
		}
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] || !strings.Contains(bodies[1], `"name":"r1"`) {
		t.Errorf("JIT request bodies = %q, want the same body twice", bodies)
	}
	if jit.Name != "r1" {
		t.Errorf("jit = %v", jit)
	}
}

func TestSecondaryLimitWithoutRetryAfterWaitsAMinute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 403,
		Body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`, Times: 1})
	if _, err := h.c.ListRunners(context.Background(), "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	if w := h.clock.Waits(); !slices.Equal(w, []time.Duration{time.Minute}) {
		t.Errorf("waits = %v, want [1m]", w)
	}
}

func TestPlainForbiddenIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 403, Body: `{"message":"Resource not accessible by integration"}`, Times: 5})
	_, err := h.c.ListRunners(context.Background(), "octo", "hello")
	if err == nil || errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "Resource not accessible by integration") {
		t.Fatalf("err = %v, want GitHub's 403 message, not a rate limit", err)
	}
	if n := h.fake.count("GET", "/actions/runners"); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestRateLimitBeyondMaxWaitFailsWithoutFurtherRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	reset := h.clock.Now().Add(time.Hour).Truncate(time.Second)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 403, Times: 10, Header: http.Header{
		"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Used": {"5000"},
		"X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}, "X-Ratelimit-Resource": {"core"},
	}, Body: `{"message":"API rate limit exceeded for installation ID 7."}`})
	before := len(h.fake.Requests())

	_, err := h.c.ListRunners(ctx, "octo", "hello")
	var rle *RateLimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rle) {
		t.Fatalf("err = %v, want a RateLimitError", err)
	}
	if !rle.RetryAt.Equal(reset) || rle.Status != 403 || rle.Resource != "core" {
		t.Errorf("RateLimitError = %+v, want RetryAt %v status 403 core", rle, reset)
	}
	if n := len(h.fake.Requests()) - before; n != 1 {
		t.Errorf("requests = %d, want 1 (no retry beyond MaxRateLimitWait)", n)
	}
	if w := h.clock.Waits(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}

	// The budget is known to be spent: the next call is not sent at all.
	_, err = h.c.GetRunner(ctx, "octo", "hello", 1)
	if !errors.As(err, &rle) || rle.Status != 0 || !rle.RetryAt.Equal(reset) {
		t.Fatalf("second call: err = %v, want a RateLimitError without a request", err)
	}
	if n := len(h.fake.Requests()) - before; n != 1 {
		t.Errorf("requests after the proactive check = %d, want still 1", n)
	}
	if st := h.c.RateLimitFor("octo", "hello"); st.Remaining != 0 || st.Limit != 5000 || !st.Reset.Equal(reset) || st.Resource != "core" {
		t.Errorf("RateLimitFor() = %+v", st)
	}
	if v := testutil.ToFloat64(h.c.lim.m.rateLimited); v != 2 {
		t.Errorf("garo_github_rate_limited_total = %v, want 2", v)
	}
	if v := testutil.ToFloat64(h.c.lim.m.remaining.WithLabelValues(installationCredential(7), "core")); v != 0 {
		t.Errorf("garo_github_rate_limit_remaining{core} = %v, want 0", v)
	}
	// Another installation has its own budget and is not held back.
	h.fake.install("octo/other", 9)
	if _, err := h.c.ListRunners(ctx, "octo", "other"); !errors.As(err, &rle) || rle.Status != 403 {
		t.Errorf("other installation: err = %v, want it sent (and limited by the fake's fault)", err)
	}
}

func TestSpentBudgetWithinMaxWaitIsWaitedOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil { // warm the caches
		t.Fatal(err)
	}
	reset := h.clock.Now().Add(20 * time.Second)
	h.fake.setRateHeaders(5000, 0, reset)
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err) // a 200 that spent the last request
	}
	if w := h.clock.Waits(); len(w) != 0 {
		t.Fatalf("waits before the budget was known: %v", w)
	}
	h.fake.setRateHeaders(5000, 4999, reset.Add(time.Hour))
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatalf("call after the reset: %v", err)
	}
	if w := h.clock.Waits(); !slices.Equal(w, []time.Duration{20 * time.Second}) {
		t.Errorf("waits = %v, want [20s] up to the reset", w)
	}
	if st := h.c.RateLimitFor("octo", "hello"); st.Remaining != 4999 {
		t.Errorf("RateLimitFor().Remaining = %d, want 4999", st.Remaining)
	}
	if v := testutil.ToFloat64(h.c.lim.m.limit.WithLabelValues(installationCredential(7), "core")); v != 5000 {
		t.Errorf("garo_github_rate_limit_limit{core} = %v, want 5000", v)
	}
	if v := testutil.ToFloat64(h.c.lim.m.remaining.WithLabelValues(installationCredential(7), "core")); v != 4999 {
		t.Errorf("garo_github_rate_limit_remaining{core} = %v, want 4999", v)
	}
}

func TestRateLimitRetriesAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 429, Header: http.Header{"Retry-After": {"1"}}, Times: 100})
	_, err := h.c.ListRunners(context.Background(), "octo", "hello")
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Status != 429 {
		t.Fatalf("err = %v, want a RateLimitError after the retries", err)
	}
	if n := h.fake.count("GET", "/actions/runners"); n != 4 {
		t.Errorf("requests = %d, want 4 (1 + 3 retries)", n)
	}
}

func TestServerErrorsOnGETAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.addRunner("octo/hello", fakeRunner{ID: 3, Name: "r3"})
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners/3", Status: 502, Times: 2})
	r, err := h.c.GetRunner(context.Background(), "octo", "hello", 3)
	if err != nil || r.Name != "r3" {
		t.Fatalf("GetRunner after two 502s: %+v, %v", r, err)
	}
	if n := h.fake.count("GET", "/actions/runners/3"); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	w := h.clock.Waits()
	if len(w) != 2 || w[0] >= time.Second || w[1] >= 2*time.Second {
		t.Errorf("waits = %v, want two full-jitter backoffs below 1s and 2s", w)
	}
	if v := testutil.ToFloat64(h.c.lim.m.requests.WithLabelValues("5xx")); v != 2 {
		t.Errorf("garo_github_requests_total{5xx} = %v, want 2", v)
	}

	h.fake.fault(fakeFault{Method: "DELETE", Contains: "/actions/runners/3", Status: 503, Times: 3})
	err = h.c.RemoveRunner(context.Background(), "octo", "hello", 3)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RemoveRunner after three 503s: err = %v, want ErrUnavailable", err)
	}
	if n := h.fake.count("DELETE", "/actions/runners/3"); n != 3 {
		t.Errorf("DELETE requests = %d, want 3 (bounded)", n)
	}
}

func TestServerErrorOnPOSTIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "POST", Contains: "generate-jitconfig", Status: 500, Times: 1})
	_, err := h.c.GenerateJITConfig(context.Background(), "octo", "hello", JITRequest{Name: "r", Labels: []string{"l"}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := h.fake.count("POST", "generate-jitconfig"); n != 1 {
		t.Errorf("POST requests = %d, want exactly 1", n)
	}
	if w := h.clock.Waits(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}
}

// flaky fails its first n round trips with a connection error.
type flaky struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("dial tcp 127.0.0.1:1: %w", &netErr{})
	}
	return f.base.RoundTrip(req)
}

type netErr struct{}

func (*netErr) Error() string   { return "connection refused" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	fl := &flaky{}
	h := newHarness(t, func(c *Config) { fl.base = c.Transport; c.Transport = fl })
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	fl.n.Store(2)
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatalf("GET after two connection errors: %v", err)
	}
	if v := testutil.ToFloat64(h.c.lim.m.requests.WithLabelValues("error")); v != 2 {
		t.Errorf("garo_github_requests_total{error} = %v, want 2", v)
	}
	fl.n.Store(1)
	before := h.fake.count("POST", "generate-jitconfig")
	_, err := h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Name: "r", Labels: []string{"l"}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("POST after a connection error: err = %v, want ErrUnavailable without retry", err)
	}
	if n := h.fake.count("POST", "generate-jitconfig") - before; n != 0 {
		t.Errorf("POSTs that reached GitHub = %d, want 0", n)
	}
	fl.n.Store(3)
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("GET after three connection errors: err = %v, want ErrUnavailable", err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	blocked := make(chan time.Time) // never fires
	h := newHarness(t, func(c *Config) { c.After = func(time.Duration) <-chan time.Time { return blocked } })
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 429, Header: http.Header{"Retry-After": {"30"}}, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.c.ListRunners(ctx, "octo", "hello")
		done <- err
	}()
	// Cancel once the 429 has been answered, that is while the client waits.
	for h.fake.count("GET", "/actions/runners") == 0 {
		select {
		case err := <-done:
			t.Fatalf("ListRunners returned before waiting: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListRunners did not return after cancel")
	}
}

func TestWaitBeyondDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 429, Header: http.Header{"Retry-After": {"30"}}, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.c.ListRunners(ctx, "octo", "hello")
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited: the context ends before the wait would", err)
	}
	if w := h.clock.Waits(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}
}

func TestMetricsAreRegistered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.setRateHeaders(5000, 4321, h.clock.Now().Add(time.Hour))
	if _, err := h.c.ListRunners(context.Background(), "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(h.reg,
		"garo_github_rate_limit_remaining", "garo_github_rate_limit_limit", "garo_github_requests_total", "garo_github_rate_limited_total")
	if err != nil {
		t.Fatal(err)
	}
	// Budgets per credential: the App's (the installation lookup) and installation 7's.
	if n != 6 {
		t.Errorf("gathered %d series, want 6", n)
	}
	if v := testutil.ToFloat64(h.c.lim.m.requests.WithLabelValues("2xx")); v != 3 {
		t.Errorf("garo_github_requests_total{2xx} = %v, want 3 (lookup, token, list)", v)
	}
	if v := testutil.ToFloat64(h.c.lim.m.remaining.WithLabelValues(installationCredential(7), "core")); v != 4321 {
		t.Errorf("garo_github_rate_limit_remaining{core} = %v, want 4321", v)
	}
}

// TestSecretsNeverLeak drives successes and failures and checks that no token, PAT, JWT,
// JIT config or registration token appears in an error, a log line or a printed value.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.addRunner("octo/hello", fakeRunner{ID: 1, Name: "busy", Busy: true})
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	jit, err := h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Name: "r", Labels: []string{"l"}})
	collect(err)
	_, err = h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Name: "r", Labels: []string{"l"}})
	collect(err)
	tok, err := h.c.RegistrationToken(ctx, "octo", "hello")
	collect(err)
	collect(h.c.RemoveRunner(ctx, "octo", "hello", 1))
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 500, Times: 3})
	_, err = h.c.ListRunners(ctx, "octo", "hello")
	collect(err)
	h.fake.fault(fakeFault{Method: "GET", Contains: "/actions/runners", Status: 429, Header: http.Header{"Retry-After": {"3600"}}, Times: 1})
	_, err = h.c.ListRunners(ctx, "octo", "hello")
	collect(err)
	h.fake.mu.Lock()
	h.fake.tokens = map[string]int64{}
	h.fake.mu.Unlock()
	_, err = h.c.GetRunner(ctx, "octo", "hello", 1)
	collect(err)
	_, err = h.c.GenerateJITConfig(ctx, "octo", "nowhere", JITRequest{Name: "r", Labels: []string{"l"}})
	collect(err)
	if len(errs) < 6 {
		t.Fatalf("only %d errors collected: %v", len(errs), errs)
	}
	if jit == nil || tok == nil {
		t.Fatal("no JIT config or registration token to check")
	}

	var printed strings.Builder
	fmt.Fprintf(&printed, "%v %+v %#v %s %v %+v %#v %s\n", jit, *jit, *jit, jit, tok, *tok, tok, *tok)
	slog.New(slog.NewTextHandler(&printed, nil)).Info("values", "jit", *jit, "token", *tok, "jitp", jit)
	for _, e := range errs {
		printed.WriteString(e.Error() + "\n")
	}
	everything := printed.String() + h.logs.String()

	secrets := []string{"ghs_faketoken", jit.EncodedJITConfig, tok.Token, "Bearer ", "eyJhbGciOi"}
	h.fake.mu.Lock()
	secrets = append(secrets, h.fake.jitConfigs...)
	h.fake.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(everything, s) {
			t.Errorf("secret %q leaked into errors, logs or printed values:\n%s", s, everything)
		}
	}
	if !strings.Contains(printed.String(), "[redacted]") {
		t.Errorf("printed values do not show the redaction: %s", printed.String())
	}
	for _, want := range []string{`"repo":"octo/hello"`, `"runner":"r"`, `"runner_id":1`} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, h.logs.String())
		}
	}
}

func TestPATIsNotLogged(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t, "/api/v3")
	f.pat = "github_pat_11VERYSECRET"
	log, logs := testkit.TextLogs()
	c, err := New(Config{APIURL: f.URL(), PAT: f.pat}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.fault(fakeFault{Method: "GET", Contains: "/runners", Status: 502, Times: 3})
	_, err = c.ListRunners(context.Background(), "octo", "hello")
	if err == nil || strings.Contains(err.Error(), f.pat) || strings.Contains(logs.String(), f.pat) {
		t.Errorf("PAT leaked or no error: err %v\nlogs %s", err, logs.String())
	}
	_, err = New(Config{PAT: "bad pat"}, nil, nil)
	if err == nil || strings.Contains(err.Error(), "bad pat") {
		t.Errorf("config error quotes the PAT: %v", err)
	}
}

func TestRateLimitErrorMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var err error = fmt.Errorf("list runners: %w", &RateLimitError{RetryAt: at, Resource: "core", Status: 429})
	if !errors.Is(err, ErrRateLimited) || errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is mismatch for %v", err)
	}
	if got := err.Error(); !strings.Contains(got, "2030-01-01T00:00:00Z") || !strings.Contains(got, "429") {
		t.Errorf("message %q lacks retry time or status", got)
	}
	if got := (&RateLimitError{RetryAt: at}).Error(); !strings.Contains(got, "not sent") {
		t.Errorf("proactive message %q", got)
	}
}

func TestRewindWithoutGetBodyIsNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"1"}}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	clock := newFakeClock()
	lim := &limiter{now: clock.Now, after: clock.After, maxWait: time.Minute, log: testkit.Discard(), budgets: map[budgetKey]RateState{}}
	m, _ := newMetrics(nil)
	lim.m = m
	rt := &rateTransport{base: base, lim: lim, credential: "pat", basePath: "/"}
	req, _ := http.NewRequest("POST", "http://127.0.0.1/x", io.NopCloser(strings.NewReader("body")))
	req.GetBody = nil
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, ErrRateLimited) || calls.Load() != 1 {
		t.Errorf("unreplayable POST: err %v after %d calls, want ErrRateLimited after 1", err, calls.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
