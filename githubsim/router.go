package githubsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Route is a GitHub REST route the sim serves, with GitHub's templated path.
type Route struct {
	Method string
	Path   string
}

type authKind int

const (
	authOptional authKind = iota // any valid credential, or none
	authApp                      // the App's JWT
	authRepo                     // an installation token of the repository's installation, or a PAT
)

type route struct {
	method string
	path   string
	auth   authKind
	perm   string // installation permission the route needs, "" for none
	level  string // read or write
	doc    string // GitHub's documentation_url for the route
	handle func(*Sim, *call)
}

const docsRoot = "https://docs.github.com/rest"

// routes is the one table of GitHub routes: ServeHTTP dispatches on it and Routes lists it.
var routes = []route{
	{http.MethodGet, "/app", authApp, "", "", docsRoot + "/apps/apps#get-the-authenticated-app", (*Sim).getApp},
	{http.MethodGet, "/app/installations", authApp, "", "", docsRoot + "/apps/apps#list-installations-for-the-authenticated-app", (*Sim).listInstallations},
	{http.MethodGet, "/app/installations/{installation_id}", authApp, "", "", docsRoot + "/apps/apps#get-an-installation-for-the-authenticated-app", (*Sim).getInstallation},
	{http.MethodPost, "/app/installations/{installation_id}/access_tokens", authApp, "", "", docsRoot + "/apps/apps#create-an-installation-access-token-for-an-app", (*Sim).createAccessToken},
	{http.MethodGet, "/repos/{owner}/{repo}/installation", authApp, "", "", docsRoot + "/apps/apps#get-a-repository-installation-for-the-authenticated-app", (*Sim).getRepoInstallation},
	{http.MethodGet, "/app/hook/deliveries", authApp, "", "", docsRoot + "/apps/webhooks#list-deliveries-for-an-app-webhook", (*Sim).listDeliveries},
	{http.MethodGet, "/app/hook/deliveries/{delivery_id}", authApp, "", "", docsRoot + "/apps/webhooks#get-a-delivery-for-an-app-webhook", (*Sim).getDelivery},
	{http.MethodPost, "/app/hook/deliveries/{delivery_id}/attempts", authApp, "", "", docsRoot + "/apps/webhooks#redeliver-a-delivery-for-an-app-webhook", (*Sim).redeliver},

	{http.MethodGet, "/repos/{owner}/{repo}/actions/runners", authRepo, "administration", "read", docsRoot + "/actions/self-hosted-runners#list-self-hosted-runners-for-a-repository", (*Sim).listRunners},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runners/generate-jitconfig", authRepo, "administration", "write", docsRoot + "/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository", (*Sim).generateJITConfig},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runners/registration-token", authRepo, "administration", "write", docsRoot + "/actions/self-hosted-runners#create-a-registration-token-for-a-repository", (*Sim).createRegistrationToken},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runners/remove-token", authRepo, "administration", "write", docsRoot + "/actions/self-hosted-runners#create-a-remove-token-for-a-repository", (*Sim).createRemoveToken},
	// Before {runner_id}: "downloads" is a path of its own, not a runner id.
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runners/downloads", authRepo, "administration", "read", docsRoot + "/actions/self-hosted-runners#list-runner-applications-for-a-repository", (*Sim).listRunnerApplications},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runners/{runner_id}", authRepo, "administration", "read", docsRoot + "/actions/self-hosted-runners#get-a-self-hosted-runner-for-a-repository", (*Sim).getRunner},
	{http.MethodDelete, "/repos/{owner}/{repo}/actions/runners/{runner_id}", authRepo, "administration", "write", docsRoot + "/actions/self-hosted-runners#delete-a-self-hosted-runner-from-a-repository", (*Sim).deleteRunner},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/jobs/{job_id}", authRepo, "actions", "read", docsRoot + "/actions/workflow-jobs#get-a-job-for-a-workflow-run", (*Sim).getJob},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs", authRepo, "actions", "read", docsRoot + "/actions/workflow-runs#list-workflow-runs-for-a-repository", (*Sim).listRuns},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}", authRepo, "actions", "read", docsRoot + "/actions/workflow-runs#get-a-workflow-run", (*Sim).getRun},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", authRepo, "actions", "read", docsRoot + "/actions/workflow-jobs#list-jobs-for-a-workflow-run", (*Sim).listRunJobs},

	{http.MethodGet, "/orgs/{org}/actions/runner-groups", authRepo, "organization_self_hosted_runners", "read", docsRoot + "/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization", (*Sim).listRunnerGroups},
	{http.MethodGet, "/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", authRepo, "organization_self_hosted_runners", "read", docsRoot + "/actions/self-hosted-runner-groups#list-repository-access-to-a-self-hosted-runner-group-in-an-organization", (*Sim).listGroupRepositories},
	// The organisation's runners (org_runners.go) share the repository routes' handlers.
	{http.MethodGet, "/orgs/{org}/actions/runners", authRepo, "organization_self_hosted_runners", "read", docsRoot + "/actions/self-hosted-runners#list-self-hosted-runners-for-an-organization", (*Sim).listRunners},
	{http.MethodPost, "/orgs/{org}/actions/runners/generate-jitconfig", authRepo, "organization_self_hosted_runners", "write", docsRoot + "/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization", (*Sim).generateOrgJITConfig},
	{http.MethodPost, "/orgs/{org}/actions/runners/registration-token", authRepo, "organization_self_hosted_runners", "write", docsRoot + "/actions/self-hosted-runners#create-a-registration-token-for-an-organization", (*Sim).createOrgRegistrationToken},
	{http.MethodGet, "/orgs/{org}/actions/runners/{runner_id}", authRepo, "organization_self_hosted_runners", "read", docsRoot + "/actions/self-hosted-runners#get-a-self-hosted-runner-for-an-organization", (*Sim).getRunner},
	{http.MethodDelete, "/orgs/{org}/actions/runners/{runner_id}", authRepo, "organization_self_hosted_runners", "write", docsRoot + "/actions/self-hosted-runners#delete-a-self-hosted-runner-from-an-organization", (*Sim).deleteRunner},

	{http.MethodGet, "/rate_limit", authOptional, "", "", docsRoot + "/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user", (*Sim).getRateLimit},
}

// Routes lists every GitHub REST route the sim serves (not the /_sim/ ones), with
// GitHub's templated paths, without Options.PathPrefix.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, rt := range routes {
		out[i] = Route{Method: rt.method, Path: rt.path}
	}
	return out
}

// call is one REST request on its way through the sim.
type call struct {
	w      *statusWriter
	r      *http.Request
	rt     *route
	params map[string]string
	who    caller
	repo   *repoState  // for routes with {owner}/{repo}
	org    *ownerState // for routes with {org}
	reqID  string
}

func (c *call) param(name string) string { return c.params[name] }

// int64Param parses a numeric path parameter; false when it is not a positive integer.
func (c *call) int64Param(name string) (int64, bool) {
	v, err := strconv.ParseInt(c.params[name], 10, 64)
	return v, err == nil && v > 0
}

type statusWriter struct {
	http.ResponseWriter
	status int
	// answered is called once, with the status, before any of the answer is written:
	// a client that has its answer finds its call in Sim.Requests.
	answered func(status int)
}

func (w *statusWriter) setStatus(code int) {
	if w.status == 0 {
		w.status = code
		if w.answered != nil {
			w.answered(code)
		}
	}
}

func (w *statusWriter) WriteHeader(code int) {
	w.setStatus(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.setStatus(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Flush lets long answers stream; the sim's own answers are small.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ServeHTTP serves GitHub's REST routes under Options.PathPrefix and the simulator's own
// /_sim/ routes at the root.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.simMux.ServeHTTP(w, r)
		return
	}
	c := &call{w: &statusWriter{ResponseWriter: w}, r: r, reqID: newRequestID()}
	h := c.w.Header()
	h.Set("X-GitHub-Request-Id", c.reqID)
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	if s.opts.PathPrefix != "" {
		h.Set("X-GitHub-Enterprise-Version", "3.17.0")
	}
	// The call is recorded before its answer leaves (when its status is written): recorded
	// after the handler returned, a test that read Requests as soon as its client had the
	// answer missed the last call (TestSimListOpenJobsSeesJobsOfRunningRuns on a loaded
	// machine).
	c.w.answered = func(status int) {
		s.reqMu.Lock()
		s.requests = append(s.requests, RequestRecord{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: routePath(c.rt), Status: status, At: s.opts.Now(),
			App: c.who.appID(), Installation: c.who.installationID(),
		})
		s.reqMu.Unlock()
	}
	defer c.w.setStatus(http.StatusOK) // a handler that wrote nothing answers 200

	apiPath, inPrefix := strings.CutPrefix(r.URL.Path, s.opts.PathPrefix)
	if inPrefix && strings.HasPrefix(apiPath, "/") {
		c.rt, c.params = matchRoute(r.Method, apiPath)
	}
	if s.applyFault(c, apiPath) {
		return
	}
	if c.rt == nil {
		s.setRateHeaders(c, s.rateSnapshot())
		s.writeError(c, http.StatusNotFound, "Not Found", docsRoot)
		return
	}
	if !s.authenticate(c) {
		return
	}
	if c.rt.path != "/rate_limit" && !s.takeRate(c) {
		return
	}
	c.rt.handle(s, c)
}

func routePath(rt *route) string {
	if rt == nil {
		return ""
	}
	return rt.path
}

// matchRoute finds the route of method and path; a known path with another method is
// unknown too, as on GitHub (404, not 405).
func matchRoute(method, path string) (*route, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range routes {
		rt := &routes[i]
		if rt.method != method {
			continue
		}
		tsegs := strings.Split(strings.TrimPrefix(rt.path, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, t := range tsegs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[j] == "" {
					ok = false
					break
				}
				v, err := url.PathUnescape(segs[j])
				if err != nil {
					ok = false
					break
				}
				params[t[1:len(t)-1]] = v
				continue
			}
			if t != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

// faultState is a Fault with its remaining count.
type faultState struct {
	Fault
	left int // meaningful when Times > 0
}

// applyFault serves the first matching fault; true when it answered the request.
func (s *Sim) applyFault(c *call, apiPath string) bool {
	s.mu.Lock()
	now := s.opts.Now()
	s.faults = slices.DeleteFunc(s.faults, func(fs *faultState) bool { return !fs.Until.IsZero() && !now.Before(fs.Until) })
	var f *Fault
	for i, fs := range s.faults {
		if fs.Method != "" && !strings.EqualFold(fs.Method, c.r.Method) {
			continue
		}
		if !strings.HasPrefix(c.r.URL.Path, fs.PathPrefix) && !strings.HasPrefix(apiPath, fs.PathPrefix) {
			continue
		}
		cp := fs.Fault
		f = &cp
		if fs.Times > 0 {
			fs.left--
			if fs.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		break
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			t.Stop()
			return true // the client gave up; nobody reads an answer
		}
	}
	if f.Status == 0 {
		return false
	}
	s.setRateHeaders(c, s.rateSnapshot())
	if f.RetryAfter > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	}
	msg, doc := http.StatusText(f.Status), docsRoot
	switch f.Status {
	case http.StatusTooManyRequests, http.StatusForbidden:
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
			"If you reach out to GitHub Support for help, please include the request ID " + c.reqID + "."
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	case http.StatusInternalServerError:
		msg = "Server Error"
	}
	s.writeError(c, f.Status, msg, doc)
	return true
}

// rateState is the core rate limit, one window shared by every caller.
type rateState struct {
	limit     int
	remaining int
	reset     time.Time
}

func (s *Sim) rateSnapshot() rateState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked()
	return s.rate
}

func (s *Sim) refillLocked() {
	now := s.opts.Now()
	if !now.Before(s.rate.reset) {
		s.rate.remaining = s.rate.limit
		s.rate.reset = now.Add(time.Hour)
	}
}

// windowLocked is the window the caller spends: its installation's own, if it has one
// (SetInstallationRateLimit, or every installation with SeparateRateLimits), and with
// SeparateRateLimits an App's JWT its own too; else the shared one. GitHub counts each
// installation apart ("Rate limits for the REST API": an installation access token uses
// the installation's rate limit, at least 5,000 requests per hour,
// https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
func (s *Sim) windowLocked(c *call) *rateState {
	var w *rateState
	switch c.who.kind {
	case callerInstallation:
		id := c.who.installationID()
		w = s.instRates[id]
		if w == nil && s.opts.SeparateRateLimits {
			w = s.freshWindow()
			if s.instRates == nil {
				s.instRates = map[int64]*rateState{}
			}
			s.instRates[id] = w
		}
	case callerApp:
		if s.opts.SeparateRateLimits {
			if c.who.app.rate == nil {
				c.who.app.rate = s.freshWindow()
			}
			w = c.who.app.rate
		}
	}
	if w == nil {
		s.refillLocked()
		return &s.rate
	}
	if now := s.opts.Now(); !now.Before(w.reset) {
		w.remaining, w.reset = w.limit, now.Add(time.Hour)
	}
	return w
}

// freshWindow is a full window of RateLimit calls, resetting in an hour.
func (s *Sim) freshWindow() *rateState {
	return &rateState{limit: s.opts.RateLimit, remaining: s.opts.RateLimit, reset: s.opts.Now().Add(time.Hour)}
}

// takeRate spends one call of the caller's window, or answers 403 when none is left.
func (s *Sim) takeRate(c *call) bool {
	s.mu.Lock()
	w := s.windowLocked(c)
	ok := w.remaining > 0
	if ok {
		w.remaining--
	}
	snap := *w
	s.mu.Unlock()
	s.setRateHeaders(c, snap)
	if ok {
		return true
	}
	who := fmt.Sprintf("installation ID %d", c.who.installationID())
	switch c.who.kind {
	case callerPAT, callerAnonymous:
		who = fmt.Sprintf("user ID %d", simUserID)
	case callerApp:
		who = fmt.Sprintf("app ID %d", c.who.appID())
	}
	s.writeError(c, http.StatusForbidden, fmt.Sprintf(
		"API rate limit exceeded for %s. If you reach out to GitHub Support for help, please include the request ID %s and timestamp %s.",
		who, c.reqID, s.opts.Now().UTC().Format("2006-01-02 15:04:05 MST")),
		"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
	return false
}

func (s *Sim) setRateHeaders(c *call, rs rateState) {
	h := c.w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(rs.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rs.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(rs.limit-rs.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(rs.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// errorBody is GitHub's error answer. GitHub's description documents "status" for its
// basic errors but not for validation errors (422), so those go without it.
type errorBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status,omitempty"`
}

func (s *Sim) writeError(c *call, status int, msg, doc string) {
	body := errorBody{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)}
	if status == http.StatusUnprocessableEntity {
		body.Status = ""
	}
	writeJSON(c.w, status, body)
}

func (c *call) doc() string {
	if c.rt == nil {
		return docsRoot
	}
	return c.rt.doc
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		http.Error(w, "githubsim: encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// marshal encodes like GitHub: no HTML escaping, no trailing newline.
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// decodeBody reads a JSON request body of at most 1 MiB into v; an empty body leaves v
// as it is. It answers 400 itself and returns false on a malformed body.
func (s *Sim) decodeBody(c *call, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		s.writeError(c, http.StatusBadRequest, "Problems parsing JSON", c.doc())
		return false
	}
	return true
}

// page is the slice of a listing one request asks for, GitHub style (per_page ≤ 100,
// default 30; page from 1), with the Link header set.
func (s *Sim) page(c *call, total int) (from, to int) {
	q := c.r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	pg, err := strconv.Atoi(q.Get("page"))
	if err != nil || pg <= 0 {
		pg = 1
	}
	last := max(1, (total+perPage-1)/perPage)
	link := func(p int, rel string) string {
		q2 := c.r.URL.Query()
		q2.Set("per_page", strconv.Itoa(perPage))
		q2.Set("page", strconv.Itoa(p))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", s.publicRoot(c.r), c.r.URL.Path, q2.Encode(), rel)
	}
	var links []string
	if pg > 1 {
		links = append(links, link(min(pg-1, last), "prev"))
	}
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, ", "))
	}
	from = min(total, (pg-1)*perPage)
	return from, min(total, from+perPage)
}

// publicRoot is the scheme and host clients use to reach the sim.
func (s *Sim) publicRoot(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
