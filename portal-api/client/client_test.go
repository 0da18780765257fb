package client_test

// These tests fake the server with httptest to pin down what goes on the wire: method,
// escaped path, query, headers and body, and how answers and errors are decoded. Tests
// against the real garo-server live with the server.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/version"
)

const testToken = "garo_c2VjcmV0LXRva2VuLWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3"

// seen is one request as the fake server received it.
type seen struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       []byte
}

// fake is a scripted server: it records requests and answers each with the next reply
// (the last reply repeats).
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	reqs    []seen
	replies []reply
}

type reply struct {
	status int
	header map[string]string
	body   string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request body: %v", err)
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, seen{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: body})
	rep := f.replies[min(n, len(f.replies)-1)]
	f.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// newFake starts a fake server answering with replies and a client of it.
func newFake(t *testing.T, replies ...reply) (*fake, *client.Client) {
	t.Helper()
	f := &fake{t: t, replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, testToken)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, c
}

func ok(status int, body string) reply { return reply{status: status, body: body} }

const policyJSON = `{"id":"p1","repository":"acme/web","name":"ci","labels":["linux"],"min_idle":1,
"max_runners":5,"ephemeral":true,"idle_grace":"5m0s","bootstrap_timeout":"10m0s","agent_group":"default",
"enabled":true,"provider":"docker","runner":{"image":"ghcr.io/acme/runner:2"},"version":3,
"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`

func boolp(b bool) *bool { return &b }

// TestRoutes checks every method of the client against the route table: method, escaped
// request URI, body and content type, If-Match, and the decoded answer.
func TestRoutes(t *testing.T) {
	t.Parallel()
	preq := portalapi.PolicyRequest{
		Name: "ci", Labels: []string{"linux"}, MaxRunners: 5, Provider: portalapi.ProviderDocker,
		Runner: portalapi.RunnerSpec{Image: "ghcr.io/acme/runner:2"}, IdleGrace: portalapi.DurationOf(90 * time.Second),
	}
	tests := []struct {
		name        string
		reply       reply
		call        func(ctx context.Context, c *client.Client) (any, error)
		method      string
		uri         string
		contentType string // "" means no body expected
		body        string // expected JSON body, compared semantically
		ifMatch     string
		check       func(t *testing.T, got any)
	}{
		{
			name: "health", reply: ok(200, `{"status":"ok"}`), method: "GET", uri: "/healthz",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.Health(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Health).Status, "ok") },
		},
		{
			name: "ready", reply: ok(200, `{"status":"ok","checks":{"database":"ok"}}`), method: "GET", uri: "/readyz",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.Ready(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Health).Checks["database"], "ok") },
		},
		{
			name: "version", reply: ok(200, `{"version":"1.2.3","commit":"abc","build_date":"x","go_version":"go1.26"}`),
			method: "GET", uri: "/api/v1/version",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.Version(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.VersionInfo).Version, "1.2.3") },
		},
		{
			name: "openapi", reply: reply{status: 200, header: map[string]string{"Content-Type": "application/yaml"}, body: "openapi: 3.0.3\n"},
			method: "GET", uri: "/api/v1/openapi.yaml",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.OpenAPISpec(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, string(got.([]byte)), "openapi: 3.0.3\n") },
		},
		{
			name: "whoami", reply: ok(200, `{"token_id":"t1","name":"ops","scopes":["admin"],"owner_prefixes":[]}`),
			method: "GET", uri: "/api/v1/whoami",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.WhoAmI(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.WhoAmI).TokenID, "t1") },
		},
		{
			name: "list policies with every filter", reply: ok(200, `{"items":[`+policyJSON+`],"next_cursor":"c2"}`),
			method: "GET", uri: "/api/v1/policies?agent_group=gpu&cursor=a%2Fb%3D&enabled=false&limit=50&owner=acme&repository=acme%2Fweb",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListPolicies(ctx, client.ListPoliciesOptions{
					Owner: "acme", Repository: "acme/web", AgentGroup: "gpu", Enabled: boolp(false), Limit: 50, Cursor: "a/b=",
				})
			},
			check: func(t *testing.T, got any) {
				l := got.(*portalapi.PolicyList)
				wantEq(t, len(l.Items), 1)
				wantEq(t, l.Items[0].IdleGrace.D(), 5*time.Minute)
				wantEq(t, l.NextCursor, "c2")
			},
		},
		{
			name: "list policies without filters", reply: ok(200, `{"items":[]}`),
			method: "GET", uri: "/api/v1/policies",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListPolicies(ctx, client.ListPoliciesOptions{})
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.PolicyList).NextCursor, "") },
		},
		{
			name: "list repo policies", reply: ok(200, `{"items":[`+policyJSON+`]}`),
			method: "GET", uri: "/api/v1/repos/acme/web/policies?enabled=true&limit=2",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListRepoPolicies(ctx, "acme/web", client.ListPoliciesOptions{Enabled: boolp(true), Limit: 2})
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.PolicyList).Items[0].Name, "ci") },
		},
		{
			name: "list repo jobs with every filter", reply: ok(200, `{"items":[{"id":7,"run_id":1,"repository":"acme/web","name":"build","workflow_name":"CI","labels":["self-hosted"],"state":"queued","github_status":"queued","source":"webhook","received_at":"2026-11-23T10:00:00.5Z","updated_at":"2026-11-23T10:00:00.5Z","timeline":[],"agent_state":"waiting_for_capacity","queue_position":2}],"next_cursor":"n"}`),
			method: "GET", uri: "/api/v1/repos/acme/web/jobs?cursor=c&limit=5&policy=ci&since=2026-11-23T10%3A00%3A00.25Z&state=queued",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListRepoJobs(ctx, "acme/web", client.JobQuery{
					State: "queued", Policy: "ci", Since: time.Date(2026, 11, 23, 11, 0, 0, 250e6, time.FixedZone("CET", 3600)), Limit: 5, Cursor: "c",
				})
			},
			check: func(t *testing.T, got any) {
				l := got.(*portalapi.JobList)
				wantEq(t, len(l.Items), 1)
				wantEq(t, l.Items[0].QueuePosition, 2)
				wantEq(t, l.Items[0].ReceivedAt.Nanosecond(), 500e6)
				wantEq(t, l.NextCursor, "n")
			},
		},
		{
			name: "get job", reply: ok(200, `{"id":7,"run_id":1,"repository":"acme/web","name":"build","workflow_name":"CI","labels":[],"state":"completed","github_status":"completed","conclusion":"success","source":"webhook","received_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:09Z","timeline":[{"step":"received","at":"2026-11-23T10:00:00Z"}]}`),
			method: "GET", uri: "/api/v1/repos/acme/web/jobs/7",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.GetJob(ctx, "acme/web", 7) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Job).Conclusion, "success") },
		},
		{
			name: "create policy", reply: reply{status: 201, header: map[string]string{"ETag": `"3"`, "Location": "/api/v1/repos/acme/web/policies/ci"}, body: policyJSON},
			method: "POST", uri: "/api/v1/repos/acme/web/policies", contentType: "application/json",
			body: `{"name":"ci","labels":["linux"],"min_idle":0,"max_runners":5,"idle_grace":"1m30s","provider":"docker","runner":{"image":"ghcr.io/acme/runner:2"}}`,
			call: func(ctx context.Context, c *client.Client) (any, error) { return c.CreatePolicy(ctx, "acme/web", preq) },
			check: func(t *testing.T, got any) {
				p := got.(*portalapi.Policy)
				wantEq(t, p.Version, int64(3))
				wantEq(t, client.ETag(p.Version), `"3"`)
			},
		},
		{
			name: "get policy escapes every segment", reply: ok(200, policyJSON),
			method: "GET", uri: "/api/v1/repos/my%20org/web.site/policies/a%2Fb%3Fc%23d%25",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.GetPolicy(ctx, "my org/web.site", "a/b?c#d%")
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Policy).ID, "p1") },
		},
		{
			name: "replace policy with If-Match", reply: ok(200, policyJSON),
			method: "PUT", uri: "/api/v1/repos/acme/web/policies/ci", contentType: "application/json", ifMatch: `"2"`,
			body: `{"name":"ci","labels":["linux"],"min_idle":0,"max_runners":5,"idle_grace":"1m30s","provider":"docker","runner":{"image":"ghcr.io/acme/runner:2"}}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ReplacePolicy(ctx, "acme/web", "ci", preq, client.ETag(2))
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Policy).Name, "ci") },
		},
		{
			name: "replace policy without If-Match", reply: ok(200, policyJSON),
			method: "PUT", uri: "/api/v1/repos/acme/web/policies/ci", contentType: "application/json",
			body: `{"name":"ci","labels":["linux"],"min_idle":0,"max_runners":5,"idle_grace":"1m30s","provider":"docker","runner":{"image":"ghcr.io/acme/runner:2"}}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ReplacePolicy(ctx, "acme/web", "ci", preq, "")
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Policy).Name, "ci") },
		},
		{
			name: "patch policy as merge patch", reply: ok(200, policyJSON),
			method: "PATCH", uri: "/api/v1/repos/acme/web/policies/ci", contentType: "application/merge-patch+json",
			ifMatch: `W/"1", "3"`, body: `{"max_runners":9,"runner":{"cpu":null}}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.PatchPolicy(ctx, "acme/web", "ci", map[string]any{"max_runners": 9, "runner": map[string]any{"cpu": nil}}, `W/"1", "3"`)
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Policy).MaxRunners, 5) },
		},
		{
			name: "delete policy", reply: ok(204, ""), method: "DELETE", uri: "/api/v1/repos/acme/web/policies/ci", ifMatch: "*",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.DeletePolicy(ctx, "acme/web", "ci", "*")
			},
		},
		{
			name: "list agent groups", reply: ok(200, `{"items":[{"name":"default","description":"","policy_count":2,"created_at":"2026-01-02T03:04:05Z"}]}`),
			method: "GET", uri: "/api/v1/agent-groups",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.ListAgentGroups(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.AgentGroupList).Items[0].PolicyCount, int64(2)) },
		},
		{
			name: "create agent group", reply: ok(201, `{"name":"gpu","description":"GPU boxes","policy_count":0,"created_at":"2026-01-02T03:04:05Z"}`),
			method: "POST", uri: "/api/v1/agent-groups", contentType: "application/json", body: `{"name":"gpu","description":"GPU boxes"}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu", Description: "GPU boxes"})
			},
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.AgentGroup).Description, "GPU boxes") },
		},
		{
			name: "get agent group", reply: ok(200, `{"name":"gpu","description":"","policy_count":0,"created_at":"2026-01-02T03:04:05Z"}`),
			method: "GET", uri: "/api/v1/agent-groups/gpu%2Fx",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.GetAgentGroup(ctx, "gpu/x") },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.AgentGroup).Name, "gpu") },
		},
		{
			name: "delete agent group", reply: ok(204, ""), method: "DELETE", uri: "/api/v1/agent-groups/gpu",
			call: func(ctx context.Context, c *client.Client) (any, error) { return nil, c.DeleteAgentGroup(ctx, "gpu") },
		},
		{
			name: "list tokens", reply: ok(200, `{"items":[{"id":"t1","name":"ops","scopes":["admin"],"owner_prefixes":[],"created_by":"bootstrap","created_at":"2026-01-02T03:04:05Z"}]}`),
			method: "GET", uri: "/api/v1/tokens",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.ListTokens(ctx) },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.TokenList).Items[0].CreatedBy, "bootstrap") },
		},
		{
			name: "create token", reply: ok(201, `{"id":"t2","name":"portal","scopes":["policies:read"],"owner_prefixes":["acme/"],"created_by":"ops","created_at":"2026-01-02T03:04:05Z","token":"garo_new"}`),
			method: "POST", uri: "/api/v1/tokens", contentType: "application/json",
			body: `{"name":"portal","scopes":["policies:read"],"owner_prefixes":["acme/"],"expires_in":"720h0m0s"}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.CreateToken(ctx, portalapi.TokenRequest{
					Name: "portal", Scopes: []string{portalapi.ScopePoliciesRead}, OwnerPrefixes: []string{"acme/"},
					ExpiresIn: portalapi.DurationOf(720 * time.Hour),
				})
			},
			check: func(t *testing.T, got any) {
				ct := got.(*portalapi.CreatedToken)
				wantEq(t, ct.Secret, "garo_new")
				wantEq(t, ct.ID, "t2")
			},
		},
		{
			name: "get token", reply: ok(200, `{"id":"t 1","name":"ops","scopes":["admin"],"owner_prefixes":[],"created_by":"x","created_at":"2026-01-02T03:04:05Z"}`),
			method: "GET", uri: "/api/v1/tokens/t%201",
			call:  func(ctx context.Context, c *client.Client) (any, error) { return c.GetToken(ctx, "t 1") },
			check: func(t *testing.T, got any) { wantEq(t, got.(*portalapi.Token).ID, "t 1") },
		},
		{
			name: "delete token", reply: ok(204, ""), method: "DELETE", uri: "/api/v1/tokens/t1",
			call: func(ctx context.Context, c *client.Client) (any, error) { return nil, c.DeleteToken(ctx, "t1") },
		},
		{
			name: "list audit events", reply: ok(200, `{"items":[{"id":7,"time":"2026-01-02T03:04:05Z","actor":"ops","actor_token_id":"t1","action":"policy.create","resource_type":"policy","resource_id":"acme/web/ci","after":{"name":"ci"}}],"next_cursor":"n"}`),
			method: "GET",
			uri:    "/api/v1/audit-events?action=policy.create&actor=ops&cursor=c1&limit=10&repository=acme%2Fweb&resource_id=acme%2Fweb%2Fci&resource_type=policy&since=2026-01-01T22%3A00%3A00Z&until=2026-01-02T00%3A00%3A00.5Z",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				cet := time.FixedZone("CET", 3600)
				return c.ListAuditEvents(ctx, client.AuditQuery{
					Actor: "ops", Action: "policy.create", ResourceType: "policy", ResourceID: "acme/web/ci", Repository: "acme/web",
					Since: time.Date(2026, 1, 1, 23, 0, 0, 0, cet), Until: time.Date(2026, 1, 2, 0, 0, 0, 5e8, time.UTC),
					Limit: 10, Cursor: "c1",
				})
			},
			check: func(t *testing.T, got any) {
				l := got.(*portalapi.AuditEventList)
				wantEq(t, l.Items[0].ID, int64(7))
				wantEq(t, string(l.Items[0].After), `{"name":"ci"}`)
				wantEq(t, l.NextCursor, "n")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, tt.reply)
			got, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			wantEq(t, r.Method, tt.method)
			wantEq(t, r.RequestURI, tt.uri)
			wantEq(t, r.Header.Get("Authorization"), "Bearer "+testToken)
			wantEq(t, r.Header.Get("If-Match"), tt.ifMatch)
			if _, present := r.Header["If-Match"]; present != (tt.ifMatch != "") {
				t.Errorf("If-Match header present = %v, want %v", present, tt.ifMatch != "")
			}
			wantEq(t, r.Header.Get("Content-Type"), tt.contentType)
			if tt.contentType == "" {
				wantEq(t, len(r.Body), 0)
			} else {
				wantJSONEq(t, r.Body, tt.body)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestDefaultHeaders(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, ok(200, `{"status":"ok"}`))
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := f.requests()[0].Header
	wantEq(t, h.Get("Accept"), "application/json")
	wantEq(t, h.Get("User-Agent"), "garo-client/"+version.Get().Version)
	wantEq(t, h.Get("Authorization"), "Bearer "+testToken)
}

func TestOptions(t *testing.T) {
	t.Parallel()
	f := &fake{t: t, replies: []reply{ok(200, `{"status":"ok"}`)}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	// An empty token sends no Authorization header at all (probes need none); the base
	// URL may carry a path prefix with a trailing slash.
	c, err := client.New(srv.URL+"/garo/", "", client.WithHTTPClient(hc), client.WithUserAgent("portal/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !used {
		t.Error("WithHTTPClient: the given client was not used")
	}
	r := f.requests()[0]
	wantEq(t, r.RequestURI, "/garo/healthz")
	wantEq(t, r.Header.Get("User-Agent"), "portal/1.0")
	if _, present := r.Header["Authorization"]; present {
		t.Error("Authorization sent with an empty token")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, token string
		opts             []client.Option
		wantInErr        string
	}{
		{"no scheme", "127.0.0.1:8080", "t", nil, "http://"},
		{"no scheme, password", "user:garo_secret@host", "t", nil, "http://"},
		{"ftp", "ftp://u:garo_secret@host", "t", nil, "http://"},
		{"no host", "http://", "t", nil, "no host"},
		{"query", "http://host/?x=1", "t", nil, "query"},
		{"token with newline", "http://host", "garo_secret\n", nil, "token"},
		{"nil http client", "http://host", "t", []client.Option{client.WithHTTPClient(nil)}, "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := client.New(tt.url, tt.token, tt.opts...)
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tt.url, c)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), "garo_secret") {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

// TestInvalidArguments checks that bad repositories and path segments are refused before
// anything is sent.
func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	calls := map[string]func(ctx context.Context, c *client.Client) error{
		"repo without slash": func(ctx context.Context, c *client.Client) error {
			_, err := c.GetPolicy(ctx, "acme", "ci")
			return err
		},
		"repo with two slashes": func(ctx context.Context, c *client.Client) error {
			_, err := c.CreatePolicy(ctx, "acme/web/x", portalapi.PolicyRequest{})
			return err
		},
		"repo with empty owner": func(ctx context.Context, c *client.Client) error {
			_, err := c.ListRepoPolicies(ctx, "/web", client.ListPoliciesOptions{})
			return err
		},
		"repo with empty name": func(ctx context.Context, c *client.Client) error {
			return c.DeletePolicy(ctx, "acme/", "ci", "")
		},
		"dot-dot repo name": func(ctx context.Context, c *client.Client) error {
			_, err := c.GetPolicy(ctx, "acme/..", "ci")
			return err
		},
		"empty policy name": func(ctx context.Context, c *client.Client) error {
			_, err := c.GetPolicy(ctx, "acme/web", "")
			return err
		},
		"dot policy name": func(ctx context.Context, c *client.Client) error {
			_, err := c.PatchPolicy(ctx, "acme/web", ".", map[string]any{}, "")
			return err
		},
		"empty group": func(ctx context.Context, c *client.Client) error { return c.DeleteAgentGroup(ctx, "") },
		"empty token id": func(ctx context.Context, c *client.Client) error {
			_, err := c.GetToken(ctx, "")
			return err
		},
		"repository filter not owner/name": func(ctx context.Context, c *client.Client) error {
			_, err := c.ListPolicies(ctx, client.ListPoliciesOptions{Repository: "acme"})
			return err
		},
		"owner filter on a repo listing": func(ctx context.Context, c *client.Client) error {
			_, err := c.ListRepoPolicies(ctx, "acme/web", client.ListPoliciesOptions{Owner: "acme"})
			return err
		},
		"negative limit": func(ctx context.Context, c *client.Client) error {
			_, err := c.ListAuditEvents(ctx, client.AuditQuery{Limit: -1})
			return err
		},
		"unencodable patch": func(ctx context.Context, c *client.Client) error {
			_, err := c.PatchPolicy(ctx, "acme/web", "ci", map[string]any{"x": make(chan int)}, "")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, ok(200, `{}`))
			err := call(t.Context(), c)
			if err == nil {
				t.Fatal("no error")
			}
			if client.StatusCode(err) != 0 {
				t.Errorf("error %v carries a status; want a client-side error", err)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     reply
		status    int
		code      string
		message   string // exact, or prefix when prefix is set
		prefix    bool
		fields    []portalapi.FieldError
		is        string // the one helper that must match, "" for none
		inErrText []string
	}{
		{
			name:   "validation error with fields",
			reply:  ok(400, `{"error":{"code":"invalid_request","message":"invalid policy","fields":[{"field":"runner.image","message":"required"}]}}`),
			status: 400, code: portalapi.CodeInvalidRequest, message: "invalid policy",
			fields: []portalapi.FieldError{{Field: "runner.image", Message: "required"}},
		},
		{
			name:   "unauthorized",
			reply:  reply{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="garo"`}, body: `{"error":{"code":"unauthorized","message":"unknown token"}}`},
			status: 401, code: portalapi.CodeUnauthorized, message: "unknown token", is: "IsUnauthorized",
		},
		{
			name:   "forbidden",
			reply:  ok(403, `{"error":{"code":"forbidden","message":"token lacks policies:write"}}`),
			status: 403, code: portalapi.CodeForbidden, message: "token lacks policies:write", is: "IsForbidden",
		},
		{
			name:   "not found with request id",
			reply:  reply{status: 404, header: map[string]string{"X-Request-ID": "req-42"}, body: `{"error":{"code":"not_found","message":"no policy acme/web/ci"}}`},
			status: 404, code: portalapi.CodeNotFound, message: "no policy acme/web/ci", is: "IsNotFound",
			inErrText: []string{"req-42", "get policy acme/web/ci"},
		},
		{
			name:   "conflict",
			reply:  ok(409, `{"error":{"code":"conflict","message":"exists"}}`),
			status: 409, code: portalapi.CodeConflict, message: "exists", is: "IsConflict",
		},
		{
			name:   "precondition failed",
			reply:  ok(412, `{"error":{"code":"precondition_failed","message":"version is 4"}}`),
			status: 412, code: portalapi.CodePreconditionFailed, message: "version is 4", is: "IsPreconditionFailed",
		},
		{
			name:   "html from a proxy",
			reply:  reply{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: "<html>\n  <body>upstream\tdown</body>\n</html>"},
			status: 502, code: "unknown", message: "Bad Gateway: <html> <body>upstream down</body> </html>",
		},
		{
			name:   "json that is not an error body",
			reply:  ok(500, `{"oops":true}`),
			status: 500, code: "unknown", message: `Internal Server Error: {"oops":true}`,
		},
		{
			name:   "empty body",
			reply:  ok(503, ""),
			status: 503, code: "unknown", message: "Service Unavailable",
		},
		{
			name:   "long body is cut",
			reply:  reply{status: 500, header: map[string]string{"Content-Type": "text/plain"}, body: strings.Repeat("é", 1000)},
			status: 500, code: "unknown", message: "Internal Server Error: " + strings.Repeat("é", 100) + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFake(t, tt.reply)
			_, err := c.GetPolicy(t.Context(), "acme/web", "ci")
			var apiErr *portalapi.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) holds no *portalapi.APIError", err, err)
			}
			wantEq(t, apiErr.Status, tt.status)
			wantEq(t, apiErr.Code, tt.code)
			wantEq(t, apiErr.Message, tt.message)
			wantEq(t, fmt.Sprint(apiErr.Fields), fmt.Sprint(tt.fields))
			wantEq(t, client.StatusCode(err), tt.status)
			for name, is := range map[string]func(error) bool{
				"IsNotFound": client.IsNotFound, "IsConflict": client.IsConflict, "IsPreconditionFailed": client.IsPreconditionFailed,
				"IsForbidden": client.IsForbidden, "IsUnauthorized": client.IsUnauthorized,
			} {
				if got, want := is(err), name == tt.is; got != want {
					t.Errorf("%s(err) = %v, want %v", name, got, want)
				}
			}
			for _, s := range tt.inErrText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

func TestHelpersOnOtherErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nil, errors.New("boom"), context.Canceled} {
		if client.IsNotFound(err) || client.IsConflict(err) || client.IsPreconditionFailed(err) ||
			client.IsForbidden(err) || client.IsUnauthorized(err) || client.StatusCode(err) != 0 {
			t.Errorf("a helper matched %v", err)
		}
	}
}

func TestReadyUnavailable(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, ok(503, `{"status":"unavailable","checks":{"database":"dial tcp: connection refused"}}`))
	h, err := c.Ready(t.Context())
	if h == nil || h.Checks["database"] != "dial tcp: connection refused" {
		t.Errorf("Ready health = %+v, want the decoded 503 body", h)
	}
	var apiErr *portalapi.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v holds no *portalapi.APIError", err)
	}
	wantEq(t, apiErr.Status, 503)
	wantEq(t, apiErr.Code, portalapi.CodeUnavailable)
	wantEq(t, apiErr.Message, "server not ready (unavailable): database: dial tcp: connection refused")
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	big := `{"items":[],"pad":"` + strings.Repeat("x", client.MaxResponseBytes) + `"}`
	_, c := newFake(t, ok(200, big))
	_, err := c.ListAgentGroups(t.Context())
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v, want a too-large error", err)
	}
}

func TestUndecodableAnswer(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, ok(200, `{"items":`))
	if _, err := c.ListAgentGroups(t.Context()); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("err = %v, want a decode error", err)
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	c, err := client.New(srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go cancel()
	_, err = c.WhoAmI(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q leaks the token", err)
	}
}

func wantEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func wantJSONEq(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("request body\n got %s\nwant %s", gb, wb)
	}
}
