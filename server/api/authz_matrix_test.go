package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/contract"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestAuthorizationMatrix is the authorization test that cannot go stale (issue 11, item
// 9; docs/security.md#authorization-model). Its routes come from openapi.yaml (each
// operation with its x-garo-scope, or security: [] for open routes) and from the echo
// router (the agent protocol under protocol.PathPrefix, which the spec does not hold); its
// credentials are every kind the server knows; its expectation for each cell comes from
// one model (expect), not from a table per route. It fails
//
//   - when a route has no expectation (an agent route without a rule, an operation
//     without a body for its request, a path parameter without a fixture);
//   - when the server grants what the model refuses, or refuses what the model grants;
//   - on any 5xx;
//   - when an answer to a token confined to acme/ shows anything of beta.
//
// "Allowed" means authorization passed: 2xx or 304, and also 400 and 409, which the
// handlers answer only after the route's authorization (scope, owner prefixes) let the
// request through, so they are the request's fault, not a grant or a refusal. 401 and 403
// are refusals; 404 is expected nowhere, since every path names a fixture that exists.
func TestAuthorizationMatrix(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		m := newMatrix(t, b)
		cells, calls := 0, 0
		routes := m.routes()
		for _, r := range routes {
			for _, v := range r.variants() {
				calls++
				for _, c := range m.creds {
					cells++
					m.cell(r, v, c)
				}
			}
		}
		// make test prints the lines of the test log that start with "figure: ".
		t.Logf("authorization matrix: %d routes called %d ways (own and foreign resources), each with %d credentials", len(routes), calls, len(m.creds))
		t.Logf("figure: authorization matrix: %d cells (%d routes x %d credentials) on %s", cells, len(routes), len(m.creds), b.Name)
	})
}

// owners of the fixtures: the credential kinds confined to a prefix are acme's.
const (
	ownOwner     = "acme"
	foreignOwner = "beta"
)

// variant is whose resource a cell names: ownOwner's, foreignOwner's, or nobody's ("").
type variant string

// route is one route of the matrix with what the model needs to know about it.
type route struct {
	method, path string // path in spec form, /api/v1/repos/{owner}/{repo}/policies
	opID         string
	// access is the scope the route needs, or "open" (no credential), "token" (any valid
	// portal token), "agent" (an agent credential), "register" (a registration token in
	// the body).
	access string
	op     *openapi3.Operation
}

// variants: a route that names an owner's resource (a repository, a group, an agent, a
// registration token, a new group's prefixes) is called on acme's and on beta's.
func (r route) variants() []variant {
	owned := strings.Contains(r.path, "{owner}") || strings.Contains(r.path, "{group}") ||
		strings.HasPrefix(r.path, "/api/v1/agents/") || r.opID == "createAgentGroup" ||
		r.path == protocol.PathPrefix+"/runners/credentials" || r.path == protocol.PathPrefix+"/runners/remove" ||
		r.path == protocol.PathPrefix+"/register"
	if owned {
		return []variant{ownOwner, foreignOwner}
	}
	return []variant{""}
}

// agentAccess is the rule of each agent protocol route; a new route without one fails.
var agentAccess = map[string]string{
	"POST /register":            "register",
	"POST /heartbeat":           "agent",
	"GET /config":               "agent",
	"GET /jobs":                 "agent",
	"POST /runners/credentials": "agent",
	"POST /runners/remove":      "agent",
	"POST /unregister":          "agent",
}

// cred is one kind of credential.
type cred struct {
	name   string
	bearer string
	// kind: "none" (no valid credential of any sort), "portal", "agent".
	kind   string
	scopes []string
	prefix string // the portal token's owner prefix ("" none); an agent's group owner
}

func (c cred) hasScope(s string) bool {
	return slices.Contains(c.scopes, s) || slices.Contains(c.scopes, portalapi.ScopeAdmin)
}

// outcome is the model's answer for one cell.
type outcome int

const (
	allowed outcome = iota
	unauthenticated
	forbiddenOutcome
)

func (o outcome) String() string {
	return [...]string{"allowed", "401", "403"}[o]
}

// expect is the model: docs/security.md's authorization table as a function of the
// credential, the route's access rule and whose resource the cell names.
func expect(c cred, r route, v variant) outcome {
	switch r.access {
	case "open":
		return allowed
	case "register":
		// The credential is the registration token in the body; a bearer adds nothing.
		// The own variant carries a valid one, the foreign variant an unknown one.
		if v == ownOwner {
			return allowed
		}
		return unauthenticated
	case "agent":
		if c.kind != "agent" {
			return unauthenticated
		}
		// Runner credentials and removal are for repositories of the agent's group only.
		if v != "" && string(v) != c.prefix {
			return forbiddenOutcome
		}
		return allowed
	}
	if c.kind != "portal" {
		return unauthenticated
	}
	if r.access == "token" {
		return allowed
	}
	if !c.hasScope(r.access) {
		return forbiddenOutcome
	}
	// What every owner shares (GitHub's rate-limit budgets) is for tokens without prefixes.
	if c.prefix != "" && unprefixedOnly[r.opID] {
		return forbiddenOutcome
	}
	// A confined token reaches its own owner's repositories and covers its own owner's
	// groups (and their agents and registration tokens), nothing of another owner's.
	if c.prefix != "" && v != "" && string(v) != c.prefix {
		return forbiddenOutcome
	}
	return allowed
}

// unprefixedOnly are the operations that show what every owner shares, and so refuse
// every token with owner prefixes (docs/security.md, "Authorization model").
var unprefixedOnly = map[string]bool{"getGitHubRateLimits": true}

// matrix is the server with its fixtures: for each owner a group fenced to it, a policy,
// an agent that serves it, a registration token and a job; plus spare groups whose agents
// the revocation cells may revoke without changing who serves the policies.
type matrix struct {
	t      *testing.T
	e      *agentEnv
	hc     *http.Client
	creds  []cred
	agents map[variant]*agentClient
	regIDs map[variant]string
	jobIDs map[variant]int64
	// regToken is a registration token of acme's spare group with uses to spare.
	regToken string
	tokenID  string
	quotaID  string
	// victims are the resources the DELETE cells delete, made again once deleted.
	victims map[string]string
	made    int // victims made, for unique names
}

func newMatrix(t *testing.T, b testdb.Backend) *matrix {
	t.Helper()
	ctx := t.Context()
	st := openStore(t, b)
	clk := testkit.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	log, logs := testkit.TextLogs()
	svc := agents.New(st, agents.Config{
		Heartbeat: testHeartbeat, LongPoll: testLongPoll, Offline: testOffline, Now: clk.Now,
		GitHubURL: "https://github.example.com",
	}, nil, fakeMinter{}, log, nil)
	// Failed authentications are most of the matrix: the limiter is off (a zero
	// AuthLimit). The authenticator runs two minutes ahead, so a token created with
	// expires_in 1m is expired for it, and no other token has an expiry.
	url := startAPI(t, api.Deps{
		Store: st, Log: log, Agents: svc, AuthLimit: &api.AuthLimit{},
		Auth: auth.NewAuthenticator(st, func() time.Time { return time.Now().Add(2 * time.Minute) }),
	})
	e := &agentEnv{env: envOn(t, url, st), svc: svc, clock: clk, logs: logs}
	m := &matrix{t: t, e: e, hc: &http.Client{Timeout: 30 * time.Second},
		agents: map[variant]*agentClient{}, regIDs: map[variant]string{}, jobIDs: map[variant]int64{},
		victims: map[string]string{}}

	jobSvc := jobs.NewService(st, testkit.Discard(), nil)
	for i, o := range []variant{ownOwner, foreignOwner} {
		for _, g := range []string{string(o) + "-ci", string(o) + "-spare"} {
			if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: g, OwnerPrefixes: []string{string(o) + "/"}}); err != nil {
				t.Fatal(err)
			}
		}
		p := policyRequest("linux")
		p.AgentGroup = string(o) + "-ci"
		if _, err := e.admin.CreatePolicy(ctx, m.repo(o), p); err != nil {
			t.Fatal(err)
		}
		a := e.register(e.registrationToken(string(o)+"-ci", 1), string(o)+"-host")
		a.heartbeat(protocol.HeartbeatRequest{})
		if _, cfg := a.config("", ""); len(cfg.Policies) != 1 {
			t.Fatalf("the agent of %s-ci does not serve %s: %+v", o, m.repo(o), cfg)
		}
		m.agents[o] = a
		tok, err := e.admin.CreateRegistrationToken(ctx, string(o)+"-ci", portalapi.RegistrationTokenRequest{Description: string(o) + " rack"})
		if err != nil {
			t.Fatal(err)
		}
		m.regIDs[o] = tok.ID
		id := int64(i + 1)
		if _, _, err := jobSvc.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: string(o), Repo: strings.Split(m.repo(o), "/")[1],
			Labels: []string{"self-hosted", "linux", "x64"}, CreatedAt: time.Now().Add(-time.Minute), Source: jobs.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		m.jobIDs[o] = id
	}
	m.regToken = e.registrationToken(ownOwner+"-spare", 1000)
	revokedAgent := e.register(e.registrationToken(ownOwner+"-spare", 1), "acme-revoked")
	if err := e.admin.RevokeAgent(ctx, revokedAgent.id); err != nil {
		t.Fatal(err)
	}

	expired, err := e.admin.CreateToken(ctx, portalapi.TokenRequest{Name: "expired", Scopes: []string{portalapi.ScopeAdmin}, ExpiresIn: durationPtr(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := e.admin.CreateToken(ctx, portalapi.TokenRequest{Name: "revoked", Scopes: []string{portalapi.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.admin.DeleteToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	m.tokenID = expired.ID
	q, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: "acme/", MaxRunners: int64Ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	m.quotaID = q.ID

	m.creds = []cred{
		{name: "none", kind: "none"},
		{name: "garbage", kind: "none", bearer: "garo_" + strings.Repeat("x", 43)},
		{name: "expired", kind: "none", bearer: expired.Secret},
		{name: "revoked", kind: "none", bearer: revoked.Secret},
		{name: "registration token", kind: "none", bearer: m.regToken},
		{name: "revoked agent", kind: "none", bearer: revokedAgent.cred},
	}
	scopes := []string{portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite, portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}
	for _, s := range append(slices.Clone(scopes), portalapi.ScopeAdmin) {
		m.creds = append(m.creds, cred{name: s, kind: "portal", scopes: []string{s}, bearer: e.token(s, []string{s})})
	}
	for _, s := range scopes {
		m.creds = append(m.creds, cred{name: s + " acme/", kind: "portal", scopes: []string{s}, prefix: ownOwner,
			bearer: e.token(s+"-acme", []string{s}, ownOwner+"/")})
	}
	// The agents come last: POST /agent/v1/unregister, the last route, revokes them.
	for _, o := range []variant{ownOwner, foreignOwner} {
		m.creds = append(m.creds, cred{name: "agent of " + string(o) + "-ci", kind: "agent", prefix: string(o), bearer: m.agents[o].cred})
	}
	return m
}

func durationPtr(d time.Duration) *portalapi.Duration {
	v := portalapi.Duration(d)
	return &v
}

func (m *matrix) repo(o variant) string {
	if o == foreignOwner {
		return "beta/www"
	}
	return "acme/web"
}

// routes are the operations of openapi.yaml and the agent protocol routes of the router,
// in a stable order, with POST /agent/v1/unregister (it revokes the caller) last.
func (m *matrix) routes() []route {
	m.t.Helper()
	doc, err := contract.Load()
	if err != nil {
		m.t.Fatal(err)
	}
	var out []route
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			r := route{method: strings.ToUpper(method), path: path, opID: op.OperationID, op: op}
			if s, ok := op.Extensions["x-garo-scope"].(string); ok {
				if !slices.Contains(portalapi.AllScopes, s) {
					m.t.Errorf("%s %s: x-garo-scope %q is no scope the model knows (%v)", r.method, path, s, portalapi.AllScopes)
				}
				r.access = s
			} else if _, ok := op.Extensions["x-garo-scope"]; ok {
				m.t.Errorf("%s %s: x-garo-scope is not a string", r.method, path)
			} else if op.Security != nil && len(*op.Security) == 0 {
				r.access = "open"
			} else {
				r.access = "token"
			}
			out = append(out, r)
		}
	}
	h, err := api.New(withServices(api.Deps{Store: m.e.st, Log: testkit.Discard()}))
	if err != nil {
		m.t.Fatal(err)
	}
	for _, er := range h.Routes() {
		if !strings.HasPrefix(er.Path, protocol.PathPrefix+"/") || strings.HasSuffix(er.Path, "*") {
			continue
		}
		key := er.Method + " " + strings.TrimPrefix(er.Path, protocol.PathPrefix)
		access, ok := agentAccess[key]
		if !ok {
			m.t.Errorf("agent route %s has no rule in agentAccess: add one to the authorization model", key)
			continue
		}
		out = append(out, route{method: er.Method, path: er.Path, opID: key, access: access})
	}
	last := func(r route) bool { return r.path == protocol.PathPrefix+"/unregister" }
	slices.SortFunc(out, func(a, b route) int {
		if last(a) != last(b) {
			if last(a) {
				return 1
			}
			return -1
		}
		return strings.Compare(a.path+" "+a.method, b.path+" "+b.method)
	})
	return out
}

// cell calls route r on variant v with credential c and checks the answer against the
// model.
func (m *matrix) cell(r route, v variant, c cred) {
	t := m.t
	t.Helper()
	want := expect(c, r, v)
	path := m.fill(r, v)
	body, ok := m.body(r, v)
	if !ok {
		t.Errorf("%s %s: no request body for operation %s: add one to the matrix", r.method, r.path, r.opID)
		return
	}
	status, answer := m.send(r.method, path, c.bearer, body)
	cellName := fmt.Sprintf("%s %s [%s] as %q", r.method, path, orNone(v), c.name)
	got := allowed
	switch {
	case status >= 500:
		t.Errorf("%s: %d %s", cellName, status, answer)
		return
	case status == http.StatusUnauthorized:
		got = unauthenticated
	case status == http.StatusForbidden:
		got = forbiddenOutcome
	case status == http.StatusNotFound && r.access != "open":
		t.Errorf("%s: 404 %s: the cell names a fixture that exists", cellName, answer)
		return
	case status < 300, status == http.StatusNotModified, status == http.StatusBadRequest, status == http.StatusConflict, status == http.StatusNotFound:
	default:
		t.Errorf("%s: unexpected status %d %s", cellName, status, answer)
		return
	}
	if got != want {
		t.Errorf("%s: got %s (%d %s), the model says %s", cellName, got, status, answer, want)
	}
	if got == allowed && c.prefix == ownOwner && c.kind == "portal" && strings.Contains(answer, foreignOwner) {
		t.Errorf("%s: the answer to a token confined to %s/ shows %s's: %s", cellName, ownOwner, foreignOwner, answer)
	}
	if status >= 200 && status < 300 && r.method == http.MethodDelete {
		delete(m.victims, r.path+string(v)) // deleted: the next cell gets a new one
	}
}

func orNone(v variant) string {
	if v == "" {
		return "-"
	}
	return string(v)
}

// fill puts the fixtures of variant v into r's path parameters.
func (m *matrix) fill(r route, v variant) string {
	t := m.t
	t.Helper()
	o := v
	if o == "" {
		o = ownOwner
	}
	owner, repo, _ := strings.Cut(m.repo(o), "/")
	params := map[string]string{
		"owner": owner, "repo": repo, "name": "linux", "group": string(o) + "-ci",
		"job_id": fmt.Sprint(m.jobIDs[o]),
	}
	switch {
	case strings.HasPrefix(r.path, "/api/v1/tokens/"):
		params["id"] = m.tokenID
	case strings.HasPrefix(r.path, "/api/v1/quotas/"):
		params["id"] = m.quotaID
	case strings.HasPrefix(r.path, "/api/v1/agents/"):
		params["id"] = m.agents[o].id
	case strings.Contains(r.path, "/registration-tokens/"):
		params["id"] = m.regIDs[o]
	}
	if r.method == http.MethodDelete {
		for k, val := range m.victim(r, o) {
			params[k] = val
		}
	}
	segs := strings.Split(r.path, "/")
	for i, s := range segs {
		name, ok := strings.CutPrefix(s, "{")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, "}")
		val, ok := params[name]
		if !ok {
			t.Fatalf("%s %s: no fixture for path parameter %s", r.method, r.path, name)
		}
		segs[i] = val
	}
	return strings.Join(segs, "/")
}

// victim returns the path parameters of a resource of owner o that a DELETE route may
// delete, making one when the last was deleted, so that the fixtures the other cells
// name stay.
func (m *matrix) victim(r route, o variant) map[string]string {
	t, e, ctx := m.t, m.e, m.t.Context()
	t.Helper()
	key := r.path + string(o)
	id, made := m.victims[key]
	switch {
	case strings.HasPrefix(r.path, "/api/v1/repos/"):
		if !made {
			p := policyRequest("victim")
			p.AgentGroup = string(o) + "-ci"
			if _, err := e.admin.CreatePolicy(ctx, m.repo(o), p); err != nil {
				t.Fatal(err)
			}
		}
		m.victims[key] = "victim"
		return map[string]string{"name": "victim"}
	case strings.HasPrefix(r.path, "/api/v1/agent-groups/{group}/registration-tokens/"):
		if !made {
			tok, err := e.admin.CreateRegistrationToken(ctx, string(o)+"-ci", portalapi.RegistrationTokenRequest{})
			if err != nil {
				t.Fatal(err)
			}
			id = tok.ID
		}
		m.victims[key] = id
		return map[string]string{"id": id}
	case strings.HasPrefix(r.path, "/api/v1/agent-groups/"):
		if !made {
			m.made++
			id = fmt.Sprintf("%s-victim-%d", o, m.made)
			if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: id, OwnerPrefixes: []string{string(o) + "/"}}); err != nil {
				t.Fatal(err)
			}
		}
		m.victims[key] = id
		return map[string]string{"group": id}
	case strings.HasPrefix(r.path, "/api/v1/agents/"):
		if !made {
			id = e.register(e.registrationToken(string(o)+"-spare", 1), string(o)+"-victim").id
		}
		m.victims[key] = id
		return map[string]string{"id": id}
	case strings.HasPrefix(r.path, "/api/v1/tokens/"):
		if !made {
			tok, err := e.admin.CreateToken(ctx, portalapi.TokenRequest{Name: "victim", Scopes: []string{portalapi.ScopePoliciesRead}})
			if err != nil {
				t.Fatal(err)
			}
			id = tok.ID
		}
		m.victims[key] = id
		return map[string]string{"id": id}
	case strings.HasPrefix(r.path, "/api/v1/quotas/"):
		if !made {
			m.made++
			q, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: fmt.Sprintf("%s/victim-%d", o, m.made)})
			if err != nil {
				t.Fatal(err)
			}
			id = q.ID
		}
		m.victims[key] = id
		return map[string]string{"id": id}
	}
	t.Fatalf("DELETE %s: no victim for the matrix to delete: add one", r.path)
	return nil
}

// body returns a minimal valid request body for r on variant v (the spec's example when
// the matrix has none of its own), and false when the operation takes a body the matrix
// cannot make.
func (m *matrix) body(r route, v variant) (any, bool) {
	o := v
	if o == "" {
		o = ownOwner
	}
	switch r.opID {
	case "createPolicy", "replacePolicy":
		p := policyRequest("linux")
		p.AgentGroup = string(o) + "-ci"
		return p, true
	case "patchPolicy":
		return map[string]any{"max_runners": 4}, true
	case "createAgentGroup":
		return portalapi.AgentGroupRequest{Name: string(o) + "-new", OwnerPrefixes: []string{string(o) + "/"}}, true
	case "updateAgentGroup":
		return map[string]any{"description": "matrix"}, true
	case "createRegistrationToken":
		return portalapi.RegistrationTokenRequest{}, true
	case "createQuota":
		m.made++
		return portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: fmt.Sprintf("%s/matrix-%d", o, m.made), MaxRunners: int64Ptr(3)}, true
	case "replaceQuota":
		return portalapi.QuotaRequest{MaxRunners: int64Ptr(10)}, true
	case "createToken":
		return portalapi.TokenRequest{Name: "matrix", Scopes: []string{portalapi.ScopePoliciesRead}}, true
	case "POST /register":
		tok := m.regToken
		if v == foreignOwner {
			tok = "garor_" + strings.Repeat("y", 43)
		}
		return protocol.RegisterRequest{Token: tok, Name: "acme-matrix", Version: "test", Provider: "memory"}, true
	case "POST /heartbeat":
		return protocol.HeartbeatRequest{}, true
	case "POST /runners/credentials":
		return protocol.CredentialsRequest{Repository: m.repo(o), Policy: "linux", RunnerName: string(o) + "-matrix"}, true
	case "POST /runners/remove":
		return protocol.RemoveRunnerRequest{Repository: m.repo(o), RunnerName: string(o) + "-gone"}, true
	}
	if r.op == nil || r.op.RequestBody == nil || r.op.RequestBody.Value == nil {
		return nil, true
	}
	if mt := r.op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Example != nil {
		return mt.Example, true
	}
	if r.opID == "receiveGitHubWebhook" {
		return map[string]any{}, true // open; the test server's webhook is a 404
	}
	return nil, false
}

// send makes one request to the server (127.0.0.1) and returns its status and body.
func (m *matrix) send(method, path, bearer string, body any) (int, string) {
	t := m.t
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, m.e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// fakeMinter mints runner credentials without GitHub, so that the agent routes answer
// what authorization decided rather than 503.
type fakeMinter struct{}

func (fakeMinter) Credentials(_ context.Context, _ *store.Policy, name string) (*runners.Credentials, error) {
	return &runners.Credentials{Kind: runners.KindJIT, RunnerName: name, RunnerID: 42, Labels: []string{"self-hosted"},
		Ephemeral: true, JITConfig: "e30=", ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (fakeMinter) Remove(context.Context, string, string, int64) error { return nil }

func (fakeMinter) FindByName(context.Context, string, string, string) (*githubapp.Runner, error) {
	return nil, nil
}

func (fakeMinter) Get(context.Context, string, string, int64) (*githubapp.Runner, error) {
	return nil, githubapp.ErrNotFound
}

// The organisation routes behave as the repository ones in this fake.
func (f fakeMinter) RemoveOrg(ctx context.Context, owner, repo string, id int64) error {
	return f.Remove(ctx, owner, repo, id)
}

func (f fakeMinter) FindByNameOrg(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error) {
	return f.FindByName(ctx, owner, repo, name)
}

func (f fakeMinter) GetOrg(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error) {
	return f.Get(ctx, owner, repo, id)
}

func int64Ptr(v int64) *int64 { return &v }
