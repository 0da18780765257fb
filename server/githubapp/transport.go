package githubapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/garo-dev/garo/shared/backoff"
)

const (
	// maxRateLimitRetries bounds how often one request waits out a rate limit.
	maxRateLimitRetries = 3
	// maxAttempts bounds the attempts of an idempotent request that meets 5xx answers or
	// network errors.
	maxAttempts = 3
	// secondaryLimitWait is GitHub's advice for a secondary rate limit that names no time:
	// "wait for at least one minute before retrying".
	secondaryLimitWait = time.Minute
	// peekLimit bounds how much of a 403 body is read to recognise a secondary limit.
	peekLimit = 64 << 10
)

// The rate-limit headers. The transport consumes them and removes them from what it hands
// up; see stripRateHeaders.
const (
	hdrLimit     = "X-RateLimit-Limit"
	hdrRemaining = "X-RateLimit-Remaining"
	hdrReset     = "X-RateLimit-Reset"
	hdrUsed      = "X-RateLimit-Used"
	hdrResource  = "X-RateLimit-Resource"
)

// RateState is one rate-limit budget as GitHub last reported it.
type RateState struct {
	Resource  string
	Limit     int
	Remaining int
	Reset     time.Time
}

// budgetKey names one budget: GitHub counts per credential (the App's JWT, each
// installation, a PAT) and per resource ("core", "search", ...).
type budgetKey struct{ credential, resource string }

// limiter is what the transports of one Client share: the known budgets, the policy, the
// clock and the metrics. It is the one place where rate limits and retries are decided.
type limiter struct {
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	maxWait time.Duration
	policy  backoff.Policy
	log     *slog.Logger
	m       *metrics

	mu      sync.Mutex
	budgets map[budgetKey]RateState
	sending map[string]int // requests under way per credential, not yet counted in budgets
}

// send counts a request of credential under way until the returned func is called.
func (l *limiter) send(credential string) func() {
	l.mu.Lock()
	if l.sending == nil {
		l.sending = map[string]int{}
	}
	l.sending[credential]++
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if l.sending[credential]--; l.sending[credential] <= 0 {
			delete(l.sending, credential)
		}
		l.mu.Unlock()
	}
}

// underWay returns how many requests of credential are under way.
func (l *limiter) underWay(credential string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sending[credential]
}

// sleep waits d on the injectable timer, or until ctx ends.
func (l *limiter) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.after(d):
		return nil
	}
}

// tooLateFor reports whether ctx ends before a wait of d would: waiting is then useless.
func tooLateFor(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < d
}

// observe records the rate headers of resp.
func (l *limiter) observe(credential string, resp *http.Response) {
	h := resp.Header
	limit, err1 := strconv.Atoi(strings.TrimSpace(h.Get(hdrLimit)))
	remaining, err2 := strconv.Atoi(strings.TrimSpace(h.Get(hdrRemaining)))
	if err1 != nil || err2 != nil {
		return // GHES with rate limiting disabled sends none
	}
	st := RateState{Resource: strings.TrimSpace(h.Get(hdrResource)), Limit: limit, Remaining: remaining}
	if st.Resource == "" {
		st.Resource = "core"
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(h.Get(hdrReset)), 10, 64); err == nil && secs > 0 {
		st.Reset = time.Unix(secs, 0)
	}
	l.mu.Lock()
	l.budgets[budgetKey{credential, st.Resource}] = st
	l.mu.Unlock()
	l.m.remaining.WithLabelValues(credential, st.Resource).Set(float64(remaining))
	l.m.limit.WithLabelValues(credential, st.Resource).Set(float64(limit))
}

// budget returns the last known state of one budget (zero when unknown).
func (l *limiter) budget(k budgetKey) RateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.budgets[k]
}

// holdIfSpent is the proactive check: while the known budget of (credential, resource) is
// spent and its reset lies ahead, a request is not sent. It waits for the reset when that is
// within maxWait, else it fails with a *RateLimitError.
func (l *limiter) holdIfSpent(ctx context.Context, key budgetKey) error {
	l.mu.Lock()
	st, ok := l.budgets[key]
	l.mu.Unlock()
	now := l.now()
	if !ok || st.Limit == 0 || st.Remaining > 0 || !st.Reset.After(now) {
		return nil
	}
	l.m.rateLimited.Inc()
	wait := st.Reset.Sub(now)
	if wait > l.maxWait || tooLateFor(ctx, wait) {
		l.log.Warn("github rate limit spent; not sending", "resource", key.resource, "retry_at", st.Reset)
		return &RateLimitError{RetryAt: st.Reset, Resource: key.resource}
	}
	l.log.Info("github rate limit spent; waiting for the reset", "resource", key.resource, "retry_in", wait)
	return l.sleep(ctx, wait)
}

// rateLimitWait decides whether resp is a rate-limit answer and how long to wait before
// trying again: Retry-After, else X-RateLimit-Reset - now, else (secondary limit without a
// time) one minute, else backoff. attempt counts the rate-limit retries so far.
func (l *limiter) rateLimitWait(resp *http.Response, attempt int) (time.Duration, bool) {
	code := resp.StatusCode
	if code != http.StatusForbidden && code != http.StatusTooManyRequests {
		return 0, false
	}
	now := l.now()
	retryAfter, hasRetryAfter := backoff.RetryAfter(resp.Header, now)
	spent := strings.TrimSpace(resp.Header.Get(hdrRemaining)) == "0"
	secondary := false
	if code == http.StatusForbidden && !hasRetryAfter && !spent {
		secondary = peekSecondaryLimit(resp)
		if !secondary {
			return 0, false // an ordinary 403: missing permission
		}
	}
	switch {
	case hasRetryAfter:
		return retryAfter, true
	case spent:
		if secs, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get(hdrReset)), 10, 64); err == nil && secs > 0 {
			return max(time.Unix(secs, 0).Sub(now), 0), true
		}
	case secondary:
		return secondaryLimitWait, true
	}
	return l.policy.Delay(attempt), true
}

// peekSecondaryLimit reads the start of a 403 body for GitHub's secondary-rate-limit
// wording and puts what it read back, so go-github still sees the whole body.
func peekSecondaryLimit(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	lower := bytes.ToLower(head)
	return bytes.Contains(lower, []byte("secondary rate limit")) || bytes.Contains(lower, []byte("abuse"))
}

// rateTransport sits under go-github and the auth transports (it sees requests with their
// Authorization header, which it never logs). It keeps the rate budgets and metrics, waits
// out rate limits within MaxRateLimitWait, retries idempotent requests on 5xx and network
// errors with backoff, and never retries a POST that may have been processed.
type rateTransport struct {
	base http.RoundTripper
	lim  *limiter
	// credential names the budget this transport's requests draw on ("app", "app/<id>",
	// "pat", "installation/<id>"); requests under /app/ always use app, the budget of the
	// App's JWT.
	credential string
	app        string
	basePath   string // the API's path prefix, "/" or "/api/v3/"
}

func (t *rateTransport) credentialFor(req *http.Request) string {
	rel := strings.TrimPrefix(req.URL.Path, t.basePath)
	if rel == "app" || strings.HasPrefix(rel, "app/") {
		if t.app == "" {
			return appCredential
		}
		return t.app // e.g. ghinstallation's token refresh under an installation transport
	}
	return t.credential
}

// resourceFor guesses the rate-limit resource of a request before it is sent, for the
// proactive check; GitHub's answer then says which resource it counted.
func resourceFor(path string) string {
	switch {
	case strings.Contains(path, "/search/"):
		return "search"
	case strings.HasSuffix(path, "/registration-token"), strings.HasSuffix(path, "/remove-token"):
		return "actions_runner_registration"
	}
	return "core"
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	replayable := !hasBody || req.GetBody != nil
	key := budgetKey{t.credentialFor(req), resourceFor(req.URL.Path)}
	closeBody := func() {
		if hasBody {
			_ = req.Body.Close()
		}
	}

	if err := t.lim.holdIfSpent(ctx, key); err != nil {
		closeBody()
		return nil, err
	}
	defer t.lim.send(key.credential)()
	rateRetries, failures := 0, 0
	for attempt := 0; ; attempt++ {
		out := req
		if attempt > 0 {
			var err error
			if out, err = rewind(req); err != nil {
				return nil, err
			}
		}
		resp, err := t.base.RoundTrip(out)
		if err != nil {
			t.lim.m.requests.WithLabelValues("error").Inc()
			failures++
			if ctx.Err() != nil || !idempotent(req.Method) || !replayable || failures >= maxAttempts {
				return nil, err
			}
			wait := t.lim.policy.Delay(failures - 1)
			t.lim.log.Debug("github request failed; retrying", "method", req.Method, "path", req.URL.Path, "attempt", attempt+1, "retry_in", wait, "err", err)
			if err := t.lim.sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		t.lim.m.requests.WithLabelValues(statusClass(resp.StatusCode)).Inc()
		t.lim.observe(key.credential, resp)

		if wait, limited := t.lim.rateLimitWait(resp, rateRetries); limited {
			t.lim.m.rateLimited.Inc()
			resource := strings.TrimSpace(resp.Header.Get(hdrResource))
			if resource == "" {
				resource = key.resource
			}
			drain(resp)
			if rateRetries >= maxRateLimitRetries || !replayable || wait > t.lim.maxWait || tooLateFor(ctx, wait) {
				rle := &RateLimitError{RetryAt: t.lim.now().Add(wait), Resource: resource, Status: resp.StatusCode}
				t.lim.log.Warn("github rate limit; giving up", "resource", resource, "status", resp.StatusCode, "retry_at", rle.RetryAt, "retries", rateRetries)
				return nil, rle
			}
			t.lim.log.Info("github rate limit; waiting", "resource", resource, "status", resp.StatusCode, "retry_in", wait)
			if err := t.lim.sleep(ctx, wait); err != nil {
				return nil, err
			}
			rateRetries++
			continue
		}

		if resp.StatusCode >= 500 && idempotent(req.Method) && replayable && failures+1 < maxAttempts {
			wait, ok := backoff.RetryAfter(resp.Header, t.lim.now())
			if !ok {
				wait = t.lim.policy.Delay(failures)
			}
			if wait <= t.lim.maxWait && !tooLateFor(ctx, wait) {
				failures++
				drain(resp)
				t.lim.log.Debug("github server error; retrying", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "retry_in", wait)
				if err := t.lim.sleep(ctx, wait); err != nil {
					return nil, err
				}
				continue
			}
		}
		stripRateHeaders(resp.Header)
		return resp, nil
	}
}

// rewind returns a fresh copy of req for another attempt, with its body replayed.
func rewind(req *http.Request) (*http.Request, error) {
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, errors.New("github request body cannot be replayed")
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("replay github request body: %w", err)
		}
		out.Body = body
	}
	return out, nil
}

// drain reads a little of an unwanted answer so its connection can be reused, and closes it.
func drain(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, peekLimit))
	_ = resp.Body.Close()
}

// stripRateHeaders removes the rate headers from the answer handed up. go-github keeps its
// own copy of the budget and, once it saw "remaining 0", refuses further calls itself until
// the reset (checkRateLimitBeforeDo), which would bypass MaxRateLimitWait and the metrics.
// This transport is the one place that acts on rate limits, so go-github never sees them.
func stripRateHeaders(h http.Header) {
	for _, k := range []string{hdrLimit, hdrRemaining, hdrReset, hdrUsed, hdrResource} {
		h.Del(k)
	}
}
