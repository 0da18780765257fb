package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/shared/protocol"
)

// fuzzAPI is the API on a fresh SQLite store, served in process (no sockets), with an
// existing policy acme/web/linux and a registered agent.
type fuzzAPI struct {
	h     http.Handler
	agent string // the agent's credential
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	st := openStore(f, testdb.Backend{Name: "sqlite", Driver: "sqlite", DSN: filepath.Join(f.TempDir(), "garo.db")})
	h, err := api.New(withServices(api.Deps{Store: st, Log: testkit.Discard()}))
	if err != nil {
		f.Fatal(err)
	}
	a := &fuzzAPI{h: h}
	body, _ := json.Marshal(policyRequest("linux"))
	if rec := a.do(http.MethodPost, "/api/v1/repos/acme/web/policies", adminSecret, "application/json", string(body)); rec.Code != http.StatusCreated {
		f.Fatalf("create policy: %d %s", rec.Code, rec.Body)
	}
	rec := a.do(http.MethodPost, "/api/v1/agent-groups/default/registration-tokens", adminSecret, "application/json", `{"uses":1}`)
	var tok portalapi.CreatedRegistrationToken
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.Token == "" {
		f.Fatalf("registration token: %d %s", rec.Code, rec.Body)
	}
	reg, _ := json.Marshal(protocol.RegisterRequest{Token: tok.Token, Name: "fuzz", Provider: "docker"})
	rec = a.do(http.MethodPost, protocol.PathPrefix+"/register", "", "application/json", string(reg))
	var r protocol.RegisterResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Credential == "" {
		f.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	a.agent = r.Credential
	return a
}

func (a *fuzzAPI) do(method, path, token, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// portalWrites are the portal's write routes; %s is the fuzzed name.
var portalWrites = []struct{ method, path, contentType string }{
	{http.MethodPost, "/api/v1/repos/acme/%s/policies", "application/json"},
	{http.MethodPut, "/api/v1/repos/acme/web/policies/%s", "application/json"},
	{http.MethodPatch, "/api/v1/repos/acme/web/policies/%s", "application/merge-patch+json"},
	{http.MethodPatch, "/api/v1/repos/acme/web/policies/linux", "application/merge-patch+json"},
	{http.MethodPost, "/api/v1/agent-groups", "application/json"},
	{http.MethodPatch, "/api/v1/agent-groups/%s", "application/merge-patch+json"},
	{http.MethodPatch, "/api/v1/agent-groups/default", "application/merge-patch+json"},
	{http.MethodPost, "/api/v1/tokens", "application/json"},
	{http.MethodPost, "/api/v1/agent-groups/%s/registration-tokens", "application/json"},
	{http.MethodDelete, "/api/v1/repos/acme/web/policies/%s", ""},
	{http.MethodDelete, "/api/v1/tokens/%s", ""},
	{http.MethodDelete, "/api/v1/agent-groups/%s", ""},
}

// FuzzPortalWrites sends any body to every portal write route as the admin: never a
// panic, never a 5xx.
func FuzzPortalWrites(f *testing.F) {
	a := newFuzzAPI(f)
	pol, _ := json.Marshal(policyRequest("linux"))
	for i := range portalWrites {
		f.Add(uint8(i), "linux", string(pol), false)
	}
	for _, s := range []string{
		`{"max_runners":7}`, `{"runner":{"image":null}}`, `{"schedule":[{"start":"08:00","end":"18:00","min_idle":1}]}`,
		`{"labels":["a","A"]}`, `{"name":"g1","description":"x"}`, `{"constraints":{"allowed_network_modes":["host"]}}`,
		`{"name":"t","scopes":["admin"]}`, `{"uses":3,"ttl":"1h"}`, `null`, `[]`, `{`, `{"max_runners":1e400}`,
		`{"runner":{"docker":{"network_mode":"host","binds":["/:/host"]}}}`, `{"name":"` + strings.Repeat("x", 300) + `"}`,
	} {
		for i := range portalWrites {
			f.Add(uint8(i), "default", s, i%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, name, body string, otherType bool) {
		w := portalWrites[int(route)%len(portalWrites)]
		path := w.path
		path = strings.Replace(path, "%s", url.PathEscape(name), 1)
		ct := w.contentType
		if otherType {
			ct = "text/plain"
		}
		rec := a.do(w.method, path, adminSecret, ct, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", w.method, path, body, rec.Code, rec.Body)
		}
	})
}

// agentCalls are the agent protocol's routes with a body (and the GETs, whose query is
// fuzzed).
var agentCalls = []struct{ method, path string }{
	{http.MethodPost, "/register"},
	{http.MethodPost, "/heartbeat"},
	{http.MethodPost, "/runners/credentials"},
	{http.MethodPost, "/runners/remove"},
	{http.MethodGet, "/config?"},
	{http.MethodGet, "/jobs?"},
}

// FuzzAgentProtocol sends any body to the agent routes as a registered agent (and
// anonymously): never a panic, never a 5xx.
func FuzzAgentProtocol(f *testing.F) {
	a := newFuzzAPI(f)
	for _, s := range []string{
		`{"token":"garor_x","name":"h","provider":"docker","version":"1"}`,
		`{"runners":[{"name":"garo-1","state":"running","job_id":3}],"capacity":{}}`,
		`{"repository":"acme/web","policy":"linux","name":"garo-linux-1","labels":["linux"]}`,
		`{"repository":"acme/web","policy":"linux","name":"garo-linux-1","runner_id":42}`,
		`version=-1&wait=10s`, `version=999999999999999999999&wait=-5s`, `wait=1h`,
		`{"runners":null}`, `{"repository":"acme/../../web"}`, `{}`, `[]`, ``,
	} {
		for i := range agentCalls {
			f.Add(uint8(i), s, true)
		}
	}
	f.Fuzz(func(t *testing.T, call uint8, body string, asAgent bool) {
		c := agentCalls[int(call)%len(agentCalls)]
		path, payload := protocol.PathPrefix+c.path, body
		if c.method == http.MethodGet {
			if strings.Contains(body, "wait") {
				return // a long poll waits for real: its parsing is covered with the other queries
			}
			path, payload = path+body, ""
		}
		if _, err := url.ParseRequestURI(path); err != nil || !validTarget(path) {
			return
		}
		token := ""
		if asAgent {
			token = a.agent
		}
		rec := a.do(c.method, path, token, "application/json", payload)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", c.method, path, body, rec.Code, rec.Body)
		}
	})
}

// validTarget reports whether path can stand in an HTTP request line: no spaces or control
// characters (RFC 9112 3.2), which no client can send and httptest.NewRequest panics on.
func validTarget(path string) bool {
	for i := 0; i < len(path); i++ {
		if path[i] <= ' ' || path[i] == 0x7f {
			return false
		}
	}
	return true
}
