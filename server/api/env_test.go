package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/contract"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/groups"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// adminSecret is the bootstrap admin token of every test server.
const adminSecret = "garo_test-admin-token-0123456789abcdefghijklmno"

// env is one API server on one store, with every exchange checked against openapi.yaml.
type env struct {
	t     testing.TB
	url   string
	st    *store.Store
	check *contract.Validator
	admin *client.Client
}

// serve starts an API server on a fresh store of backend b with the bootstrap admin token.
func serve(tb testing.TB, b testdb.Backend) (string, *store.Store) {
	tb.Helper()
	st := openStore(tb, b)
	return startAPI(tb, api.Deps{Store: st, Log: testkit.Discard()}), st
}

// openStore opens a fresh store of backend b with the bootstrap admin token.
func openStore(tb testing.TB, b testdb.Backend) *store.Store {
	tb.Helper()
	st := testdb.Open(tb, b)
	if _, err := auth.Bootstrap(tb.Context(), st, auth.BootstrapConfig{Token: adminSecret}, testkit.Discard()); err != nil {
		tb.Fatalf("bootstrap: %v", err)
	}
	return st
}

// startAPI serves the API with d (withServices fills in what d leaves out) and returns
// its URL.
func startAPI(tb testing.TB, d api.Deps) string {
	tb.Helper()
	h, err := api.New(withServices(d))
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// withServices sets the body limit and version, and builds on d.Store, as server/app
// does, the services d leaves out: agents without GitHub, and webhook and metrics routes
// that answer 404.
func withServices(d api.Deps) api.Deps {
	d.MaxBodyBytes = 64 << 10
	d.Version = portalapi.VersionInfo{Version: "test", Commit: "c", BuildDate: "d", GoVersion: "go"}
	if d.Auth == nil {
		d.Auth = auth.NewAuthenticator(d.Store, time.Now)
	}
	if d.Policies == nil {
		d.Policies = policy.NewService(d.Store)
	}
	if d.Groups == nil {
		d.Groups = groups.NewService(d.Store)
	}
	if d.Quotas == nil {
		d.Quotas = quotas.NewService(d.Store, 0)
	}
	if d.Tokens == nil {
		d.Tokens = auth.NewTokens(d.Store)
	}
	if d.Jobs == nil {
		d.Jobs = jobs.NewQuery(d.Store, d.Quotas)
	}
	if d.Agents == nil {
		d.Agents = agents.New(d.Store, agents.Config{}, nil, noGitHub(), d.Log, nil)
	}
	if d.GitHub == nil {
		d.GitHub = githubapp.NotConfigured{}
	}
	if d.Webhook == nil {
		d.Webhook = http.NotFoundHandler()
	}
	if d.Metrics == nil {
		d.Metrics = http.NotFoundHandler()
	}
	return d
}

// noGitHub is the runner service of a server without GitHub credentials.
func noGitHub() *runners.Service {
	return runners.NewService(runners.Config{}, githubapp.NotConfigured{})
}

// newEnv serves the API on backend b and checks every exchange against openapi.yaml.
func newEnv(t *testing.T, b testdb.Backend) *env {
	t.Helper()
	url, st := serve(t, b)
	return envOn(t, url, st)
}

// envOn checks every exchange with the API at url against openapi.yaml.
func envOn(t *testing.T, url string, st *store.Store) *env {
	t.Helper()
	doc, err := contract.Load()
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	check, err := contract.NewValidator(doc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: url, st: st, check: check}
	e.admin = e.client(adminSecret)
	t.Cleanup(func() {
		for _, f := range check.Failures() {
			t.Errorf("response does not match openapi.yaml: %s", f)
		}
	})
	return e
}

// newBenchEnv serves the API on backend be without the spec check, which would dominate
// the figures.
func newBenchEnv(b *testing.B, be testdb.Backend) *env {
	b.Helper()
	url, st := serve(b, be)
	admin, err := client.New(url, adminSecret)
	if err != nil {
		b.Fatal(err)
	}
	return &env{t: b, url: url, st: st, admin: admin}
}

// client returns an API client with token whose traffic is checked against the spec.
func (e *env) client(token string) *client.Client {
	e.t.Helper()
	c, err := client.New(e.url, token, client.WithHTTPClient(&http.Client{Transport: e.check.Transport(nil)}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends a raw request (through the spec check) and returns the response with its body.
func (e *env) do(method, path, token, contentType, body string, headers ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Transport: e.check.Transport(nil)}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

// token creates a token with scopes and owner prefixes and returns its secret.
func (e *env) token(name string, scopes []string, prefixes ...string) string {
	e.t.Helper()
	ct, err := e.admin.CreateToken(e.t.Context(), portalapi.TokenRequest{Name: name, Scopes: scopes, OwnerPrefixes: prefixes})
	if err != nil {
		e.t.Fatalf("create token %s: %v", name, err)
	}
	return ct.Secret
}

// apiError returns the API error in err's chain, failing the test if there is none.
func apiError(t *testing.T, err error) *portalapi.APIError {
	t.Helper()
	var ae *portalapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae
}

// wantStatus fails unless err is an API error with status (and, if field is set, that
// field named in its field errors).
func wantStatus(t *testing.T, err error, status int, field string) {
	t.Helper()
	ae := apiError(t, err)
	if ae.Status != status {
		t.Fatalf("status = %d (%s), want %d", ae.Status, ae.Message, status)
	}
	if field == "" {
		return
	}
	for _, f := range ae.Fields {
		if f.Field == field {
			if !strings.Contains(ae.Message, field) {
				t.Fatalf("message %q does not name the field %s", ae.Message, field)
			}
			return
		}
	}
	t.Fatalf("fields %+v do not name %s (message %q)", ae.Fields, field, ae.Message)
}

func policyRequest(name string) portalapi.PolicyRequest {
	return portalapi.PolicyRequest{
		Name: name, Labels: []string{"self-hosted", "linux", "x64"}, MinIdle: 1, MaxRunners: 4,
		Provider: portalapi.ProviderDocker,
		Runner: portalapi.RunnerSpec{
			Image: "ghcr.io/actions/actions-runner:2.320.0", CPU: "2", Memory: "4Gi",
			Env: map[string]string{"RUNNER_TEMP": "/tmp/runner"}, Docker: &portalapi.DockerSpec{},
		},
	}
}
