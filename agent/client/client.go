// Package client is the agent's side of the agent protocol (shared/protocol): register,
// heartbeat, the config and jobs long-polls, runner credentials and removal, unregister.
//
// Every call retries what may succeed later (network errors, timeouts, 429, 5xx) with
// exponential backoff and full jitter (1 s → 60 s, shared/backoff), waits at least as long
// as a Retry-After header asks, and gives up only when its context ends. What retrying
// cannot fix comes back at once as a *protocol.Error, which Is the protocol's sentinel its
// answer stands for: protocol.ErrUnauthorized (the credential is revoked: stop, never
// retry), ErrNotOwner, ErrRunnerBusy, ErrNotFound; other 4xx answers stand for none. Each attempt
// has its own timeout; a long-poll's is its wait plus a margin. Secrets (the credential,
// registration tokens, JIT configs) never appear in errors or logs.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/version"
)

// Defaults.
const (
	DefaultTimeout    = 30 * time.Second // one ordinary attempt
	DefaultPollMargin = 15 * time.Second // added to a long-poll's wait
	maxRetryAfter     = 10 * time.Minute // longer Retry-After values are clamped
	// DefaultReconnectCap: an agent retries an unreachable server at least this often,
	// so it is back within about this long after the server returns (the target is 5 s).
	DefaultReconnectCap = 4 * time.Second
	minRetryDelay       = 100 * time.Millisecond
	maxResponseBodySize = 8 << 20
)

// Options configure a Client.
type Options struct {
	// BaseURL is the server's root, e.g. https://garo.example.com (PathPrefix is added).
	BaseURL string
	// HTTPClient sends the requests; nil means a client without a global timeout (each
	// attempt has its own deadline).
	HTTPClient *http.Client
	Timeout    time.Duration  // per attempt of an ordinary call; 0 means DefaultTimeout
	PollMargin time.Duration  // added to a long-poll's wait; 0 means DefaultPollMargin
	Backoff    backoff.Policy // zero value: 1 s → 60 s
	// ReconnectCap caps the backoff while no server answers (network errors, 502, 503,
	// 504); 0 means DefaultReconnectCap. Full jitter and the floor still apply, and a
	// Retry-After is still honoured.
	ReconnectCap time.Duration
	Log          *slog.Logger // nil discards
	// Now and Sleep make time injectable in tests; nil means the real clock and a timer
	// that selects on ctx.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls garo-server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	http  *http.Client
	opts  Options
	log   *slog.Logger
	mu    sync.RWMutex
	cred  string
	agent string
	back  wakeups // the retries of calls that found no server
}

// wakeups ends the retry waits of calls that found no server as soon as another call of
// the same client gets an answer: the server is back, so the agent's other loops (a
// long-poll waiting out its reconnect delay while a heartbeat got through) come back at
// once instead of up to ReconnectCap later. A call that failed an instant before another
// succeeded may miss the wake-up; its delay is still capped.
type wakeups struct {
	mu    sync.Mutex
	next  int
	waits map[int]context.CancelFunc
}

// add registers the cancel of one retry's wait; remove unregisters it.
func (w *wakeups) add(cancel context.CancelFunc) (remove func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[int]context.CancelFunc{}
	}
	id := w.next
	w.next++
	w.waits[id] = cancel
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waits, id)
	}
}

// answered wakes every registered wait.
func (w *wakeups) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, cancel := range w.waits {
		cancel()
		delete(w.waits, id)
	}
}

// New checks opts and returns a Client without a credential (SetCredential).
func New(opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server url %q: want http(s)://host[:port][/path]", RedactURL(opts.BaseURL))
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PollMargin <= 0 {
		opts.PollMargin = DefaultPollMargin
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{base: u, http: opts.HTTPClient, opts: opts, log: log}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetCredential sets the agent credential sent as a bearer token, and the agent id used
// in log lines.
func (c *Client) SetCredential(agentID, credential string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agent, c.cred = agentID, credential
}

func (c *Client) credential() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cred
}

// Register exchanges a registration token for the agent's identity. The caller stores
// the answer (it holds the credential) and calls SetCredential.
func (c *Client) Register(ctx context.Context, req protocol.RegisterRequest) (protocol.RegisterResponse, error) {
	if req.Version == "" {
		req.Version = version.Version
	}
	var out protocol.RegisterResponse
	_, err := c.call(ctx, call{method: http.MethodPost, path: "/register", body: req, out: &out, want: http.StatusCreated, anonymous: true})
	if err != nil {
		return out, fmt.Errorf("register: %w", err)
	}
	if out.AgentID == "" || out.Credential == "" {
		return out, errors.New("register: the server answered without an agent id or credential")
	}
	return out, nil
}

// Heartbeat reports the agent's state. It is idempotent: the server replaces what it knew.
func (c *Client) Heartbeat(ctx context.Context, req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	if req.Version == "" {
		req.Version = version.Version
	}
	var out protocol.HeartbeatResponse
	_, err := c.call(ctx, call{method: http.MethodPost, path: "/heartbeat", body: req, out: &out, want: http.StatusOK})
	if err != nil {
		return out, fmt.Errorf("heartbeat: %w", err)
	}
	return out, nil
}

// Config long-polls the agent's configuration: it returns at once when the server's
// version differs from version ("" for the first call), or after up to wait with
// changed false when nothing changed.
func (c *Client) Config(ctx context.Context, version string, wait time.Duration) (cfg protocol.Config, changed bool, err error) {
	changed, err = c.poll(ctx, "/config", version, wait, &cfg)
	if err != nil {
		return cfg, false, fmt.Errorf("config: %w", err)
	}
	return cfg, changed, nil
}

// Jobs long-polls the open jobs of the agent's repositories, like Config.
func (c *Client) Jobs(ctx context.Context, version string, wait time.Duration) (jobs protocol.JobsSnapshot, changed bool, err error) {
	changed, err = c.poll(ctx, "/jobs", version, wait, &jobs)
	if err != nil {
		return jobs, false, fmt.Errorf("jobs: %w", err)
	}
	return jobs, changed, nil
}

func (c *Client) poll(ctx context.Context, path, version string, wait time.Duration, out any) (bool, error) {
	q := url.Values{}
	// Always send wait: the server holds a poll without it for its whole long-poll time,
	// which a 0 wait's short timeout would not survive.
	q.Set("wait", max(wait, 0).String())
	var h http.Header
	if version != "" {
		h = http.Header{"If-None-Match": {`"` + version + `"`}}
	}
	status, err := c.call(ctx, call{
		method: http.MethodGet, path: path, query: q, header: h, out: out,
		want: http.StatusOK, notModified: true, timeout: wait + c.opts.PollMargin,
	})
	if err != nil {
		return false, err
	}
	return status == http.StatusOK, nil
}

// credentialAttempts bounds the attempts of one credentials call that the server may have
// carried out (it timed out or broke off after it was sent, or a 500): each may have
// registered the runner at GitHub, and the next one, with the same name, makes the
// server replace that registration (two mints at most), after which the scheduler fails
// the runner and backs its policy off. A server that is not there, or answers 502, 503
// or 504 (GitHub unavailable, or no database), is asked again within ReconnectCap as any
// call is, within the scheduler's bound of one action (scheduler.Options.ActionTimeout);
// the server bounds the mints GitHub did not answer of one name itself.
const credentialAttempts = 4

// Credentials asks for what a new runner needs to join GitHub: a secret.
// protocol.ErrNotOwner when the agent does not serve req.Repository, protocol.ErrNotFound
// when the policy is missing or disabled. A timeout, a network error, a 5xx, 408 or 429
// is tried again with the same runner name (see credentialAttempts).
func (c *Client) Credentials(ctx context.Context, req protocol.CredentialsRequest) (protocol.Credentials, error) {
	var out protocol.Credentials
	_, err := c.call(ctx, call{method: http.MethodPost, path: "/runners/credentials", body: req, out: &out, want: http.StatusCreated, attempts: credentialAttempts})
	if err != nil {
		return out, fmt.Errorf("runner credentials for %s on %s: %w", req.RunnerName, req.Repository, err)
	}
	if out.JITConfig == "" && out.RegistrationToken == "" {
		return out, fmt.Errorf("runner credentials for %s on %s: the server sent neither a JIT config nor a registration token", req.RunnerName, req.Repository)
	}
	return out, nil
}

// RemoveRunner asks the server to remove a runner from GitHub. protocol.ErrRunnerBusy: it
// runs a job, keep it. protocol.ErrNotOwner: the repository is not (or no longer) the
// agent's.
func (c *Client) RemoveRunner(ctx context.Context, req protocol.RemoveRunnerRequest) error {
	_, err := c.call(ctx, call{method: http.MethodPost, path: "/runners/remove", body: req, want: http.StatusNoContent})
	if err != nil {
		return fmt.Errorf("remove runner %s of %s: %w", req.RunnerName, req.Repository, err)
	}
	return nil
}

// Unregister tells the server that the agent leaves: its repositories go to other agents
// at once. The credential stays valid, so a restart comes back as the same agent.
func (c *Client) Unregister(ctx context.Context) error {
	_, err := c.call(ctx, call{method: http.MethodPost, path: "/unregister", want: http.StatusNoContent})
	if err != nil {
		return fmt.Errorf("unregister: %w", err)
	}
	return nil
}

// call is one protocol call.
type call struct {
	method, path string
	query        url.Values
	header       http.Header
	body         any
	out          any
	want         int  // the success status
	notModified  bool // 304 is success too
	anonymous    bool // no Authorization (register)
	timeout      time.Duration
	// attempts bounds the attempts that may have been carried out by the server (see
	// retryable.served); 0: until the call succeeds, fails for good or ctx ends.
	attempts int
}

// retryable is an attempt's failure that a later attempt may not have.
type retryable struct {
	err        error
	retryAfter time.Duration
	hasAfter   bool
	// unreachable: no server answered (a network error, or 502/503/504 from a proxy or
	// a server without its database): retried within ReconnectCap, so that the agent is
	// back within seconds of the server's return (issue 14, finding 5).
	unreachable bool
	// served: the server may have carried the request out (it timed out or broke off
	// after it was sent, or the server answered a 5xx of its own), unlike a request
	// that never reached a server (no connection) or that a proxy or a server without
	// its database refused (502, 503, 504).
	served bool
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// call runs c until it succeeds, fails for good, ctx ends or, with c.attempts set, that
// many attempts that the server may have carried out failed. It returns the status.
func (c *Client) call(ctx context.Context, cl call) (int, error) {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
	}
	if cl.timeout <= 0 {
		cl.timeout = c.opts.Timeout
	}
	served := 0
	for attempt := 0; ; attempt++ {
		status, err := c.attempt(ctx, cl, body)
		var r *retryable
		if err == nil || !errors.As(err, &r) {
			return status, err
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), r.err)
		}
		if r.served {
			served++
		}
		if cl.attempts > 0 && served >= cl.attempts {
			return 0, fmt.Errorf("%w (gave up after %d attempts)", r.err, attempt+1)
		}
		// Full jitter may draw a delay near zero; a floor keeps a run of such draws
		// from turning into a hot loop.
		pol := c.opts.Backoff
		if r.unreachable {
			pol = ReconnectPolicy(pol, c.opts.ReconnectCap)
		}
		wait := max(pol.Delay(attempt), minRetryDelay)
		if r.hasAfter {
			wait = max(wait, min(r.retryAfter, maxRetryAfter))
		}
		c.log.Warn("server call failed, retrying", "call", cl.method+" "+cl.path, "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "err", r.err)
		if err := c.wait(ctx, wait, r.unreachable && !r.hasAfter); err != nil {
			return 0, fmt.Errorf("%w (last attempt: %v)", err, r.err)
		}
	}
}

// wait sleeps d before the next attempt; when no server answered (wake), another call
// getting an answer ends it early.
func (c *Client) wait(ctx context.Context, d time.Duration, wake bool) error {
	if !wake {
		return c.opts.Sleep(ctx, d)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	remove := c.back.add(cancel)
	defer remove()
	if err := c.opts.Sleep(wctx, d); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil // slept, or woken: the server answered another call
}

func (c *Client) attempt(ctx context.Context, cl call, body []byte) (int, error) {
	actx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + protocol.PathPrefix + cl.path
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), rd)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	maps(req.Header, cl.header)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "garo-agent/"+version.Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !cl.anonymous {
		cred := c.credential()
		if cred == "" {
			return 0, fmt.Errorf("%s %s: %w: no credential (register first)", cl.method, cl.path, protocol.ErrUnauthorized)
		}
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Network errors and the attempt's own timeout: the server may be back soon.
		// url.Error carries the URL; net/http replaces a password in it with "***".
		var op *net.OpError
		dial := errors.As(err, &op) && op.Op == "dial"
		return 0, &retryable{err: fmt.Errorf("%s %s: %w", cl.method, cl.path, err), unreachable: true, served: !dial}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBodySize))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &retryable{err: fmt.Errorf("%s %s: read answer: %w", cl.method, cl.path, err)}
	}
	gone := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
		resp.StatusCode == http.StatusGatewayTimeout
	if !gone {
		c.back.answered() // a server is there: calls waiting to reconnect go now
	}
	switch {
	case resp.StatusCode == cl.want || (cl.notModified && resp.StatusCode == http.StatusNotModified):
		if cl.out != nil && resp.StatusCode != http.StatusNotModified && resp.StatusCode != http.StatusNoContent {
			if err := json.Unmarshal(data, cl.out); err != nil {
				return 0, fmt.Errorf("%s %s: decode answer: %w", cl.method, cl.path, err)
			}
		}
		return resp.StatusCode, nil
	}
	// A 4xx is final (and Is its sentinel, protocol.Sentinel), but for 408 and 429.
	e := apiError(cl, resp.StatusCode, data)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500:
		after, ok := backoff.RetryAfter(resp.Header, c.opts.Now())
		return 0, &retryable{err: e, retryAfter: after, hasAfter: ok, unreachable: gone, served: resp.StatusCode >= 500 && !gone}
	}
	return 0, e
}

func maps(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// apiError reads the error body {"error":{"code","message"}}; other bodies are cut short
// and quoted.
func apiError(cl call, status int, data []byte) *protocol.Error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &protocol.Error{Method: cl.method, Path: protocol.PathPrefix + cl.path, Status: status}
	if err := json.Unmarshal(data, &body); err == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	e.Code, e.Message = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), msg
	return e
}

// RedactURL is raw with the password of its userinfo replaced, for logs and errors; a
// URL that does not parse is replaced whole (it may hold anything).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// ReconnectPolicy is p with its cap lowered to reconnect (DefaultReconnectCap when 0):
// the backoff for calling a server that does not answer at all. The delay is still drawn
// with full jitter, so many agents do not return in step.
func ReconnectPolicy(p backoff.Policy, reconnect time.Duration) backoff.Policy {
	if reconnect <= 0 {
		reconnect = DefaultReconnectCap
	}
	if p.Cap <= 0 || p.Cap > reconnect {
		p.Cap = reconnect
	}
	if p.Base > p.Cap {
		p.Base = p.Cap
	}
	return p
}
