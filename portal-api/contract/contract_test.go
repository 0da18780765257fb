package contract

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// routeTable is docs/api-routes.md: every route in echo form with every status it may
// answer (500 is allowed everywhere). The spec must describe exactly this.
var routeTable = []struct {
	method, path string
	statuses     []int
	public       bool
}{
	{"GET", "/healthz", []int{200}, true},
	{"GET", "/readyz", []int{200, 503}, true},
	{"GET", "/api/v1/version", []int{200}, true},
	{"GET", "/api/v1/openapi.yaml", []int{200}, true},
	{"GET", "/api/v1/whoami", []int{200, 401}, false},
	{"GET", "/api/v1/policies", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/repos/:owner/:repo/policies", []int{200, 400, 401, 403}, false},
	{"POST", "/api/v1/repos/:owner/:repo/policies", []int{201, 400, 401, 403, 409, 413, 415}, false},
	{"GET", "/api/v1/repos/:owner/:repo/policies/:name", []int{200, 400, 401, 403, 404}, false},
	{"PUT", "/api/v1/repos/:owner/:repo/policies/:name", []int{200, 400, 401, 403, 404, 412, 413, 415}, false},
	{"PATCH", "/api/v1/repos/:owner/:repo/policies/:name", []int{200, 400, 401, 403, 404, 412, 413, 415}, false},
	{"DELETE", "/api/v1/repos/:owner/:repo/policies/:name", []int{204, 400, 401, 403, 404, 412}, false},
	{"GET", "/api/v1/agent-groups", []int{200, 401, 403}, false},
	{"POST", "/api/v1/agent-groups", []int{201, 400, 401, 403, 409, 413, 415}, false},
	{"GET", "/api/v1/agent-groups/:group", []int{200, 401, 403, 404}, false},
	{"PATCH", "/api/v1/agent-groups/:group", []int{200, 400, 401, 403, 404, 409, 413, 415}, false},
	{"DELETE", "/api/v1/agent-groups/:group", []int{204, 401, 403, 404, 409}, false},
	{"GET", "/api/v1/tokens", []int{200, 401, 403}, false},
	{"POST", "/api/v1/tokens", []int{201, 400, 401, 403, 413, 415}, false},
	{"GET", "/api/v1/tokens/:id", []int{200, 401, 403, 404}, false},
	{"DELETE", "/api/v1/tokens/:id", []int{204, 401, 403, 404, 409}, false},
	{"GET", "/api/v1/audit-events", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/quotas", []int{200, 401, 403}, false},
	{"POST", "/api/v1/quotas", []int{201, 400, 401, 403, 409, 413, 415}, false},
	{"GET", "/api/v1/quotas/:id", []int{200, 401, 403, 404}, false},
	{"PUT", "/api/v1/quotas/:id", []int{200, 400, 401, 403, 404, 413, 415}, false},
	{"DELETE", "/api/v1/quotas/:id", []int{204, 401, 403, 404}, false},
	{"GET", "/metrics", []int{200}, true},
	{"POST", "/webhooks/github", []int{200, 400, 401, 413, 503}, true},
	{"GET", "/api/v1/jobs", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/repos/:owner/:repo/jobs", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/repos/:owner/:repo/jobs/:job_id", []int{200, 400, 401, 403, 404}, false},
	{"GET", "/api/v1/runners", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/usage", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/repos/:owner/:repo/runners", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/agents", []int{200, 400, 401, 403}, false},
	{"GET", "/api/v1/agents/:id", []int{200, 401, 403, 404}, false},
	{"DELETE", "/api/v1/agents/:id", []int{204, 401, 403, 404}, false},
	{"PUT", "/api/v1/agents/:id/drain", []int{200, 401, 403, 404, 409}, false},
	{"DELETE", "/api/v1/agents/:id/drain", []int{200, 401, 403, 404, 409}, false},
	{"GET", "/api/v1/github/rate-limit", []int{200, 401, 403}, false},
	{"GET", "/api/v1/agent-groups/:group/registration-tokens", []int{200, 401, 403, 404}, false},
	{"POST", "/api/v1/agent-groups/:group/registration-tokens", []int{201, 400, 401, 403, 404, 413, 415}, false},
	{"GET", "/api/v1/agent-groups/:group/registration-tokens/:id", []int{200, 401, 403, 404}, false},
	{"DELETE", "/api/v1/agent-groups/:group/registration-tokens/:id", []int{204, 401, 403, 404}, false},
}

func tableRoutes() []Route {
	routes := make([]Route, 0, len(routeTable))
	for _, r := range routeTable {
		routes = append(routes, Route{r.method, r.path})
	}
	return routes
}

func TestSpecDescribesTheRouteTable(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := MissingFromSpec(doc, tableRoutes()); len(got) != 0 {
		t.Errorf("routes missing from the spec: %q", got)
	}
	if got := ExtraInSpec(doc, tableRoutes()); len(got) != 0 {
		t.Errorf("operations in the spec without a route: %q", got)
	}

	for _, r := range routeTable {
		op := doc.Paths.Find(echoToSpecPath(r.path)).GetOperation(r.method)
		if op == nil {
			t.Errorf("%s %s: no operation", r.method, r.path)
			continue
		}
		want := append(slices.Clone(r.statuses), 500)
		if slices.Contains(r.statuses, 401) && !slices.Contains(r.statuses, 503) {
			want = append(want, 503) // authenticated routes need the database
		}
		if slices.Contains(r.statuses, 401) && !r.public {
			want = append(want, 429) // authenticated routes refuse an address that failed too often
		}
		var got []int
		for code := range op.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s %s: response %q is not a status code", r.method, r.path, code)
			}
			got = append(got, n)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: statuses %v, want %v", r.method, r.path, got, want)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != r.public {
			t.Errorf("%s %s: public = %v, want %v", r.method, r.path, public, r.public)
		}
	}
}

func TestMissingAndExtra(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	routes := append(tableRoutes(),
		Route{"GET", "/api/v1/repos/:owner/:repo/secrets"}, // made up
		Route{"echo_route_not_found", "/*"},                // echo internals
		Route{"GET", "/api/v1/*"},
		Route{"", "/api/v1/whatever"},
	)
	// Parameter names do not have to agree with the spec, only their places.
	routes[slices.Index(routes, Route{"GET", "/api/v1/tokens/:id"})] = Route{"GET", "/api/v1/tokens/:token"}

	if got, want := MissingFromSpec(doc, routes), []string{"GET /api/v1/repos/{owner}/{repo}/secrets"}; !slices.Equal(got, want) {
		t.Errorf("MissingFromSpec = %q, want %q", got, want)
	}
	if got := ExtraInSpec(doc, routes); len(got) != 0 {
		t.Errorf("ExtraInSpec = %q, want none", got)
	}

	without := slices.DeleteFunc(tableRoutes(), func(r Route) bool { return r.Method == "PATCH" && strings.Contains(r.Path, "/policies/") })
	if got, want := ExtraInSpec(doc, without), []string{"PATCH /api/v1/repos/{owner}/{repo}/policies/{name}"}; !slices.Equal(got, want) {
		t.Errorf("ExtraInSpec = %q, want %q", got, want)
	}
}

const (
	policyPath = "/api/v1/repos/acme/web/policies/linux-x64"
	goodPolicy = `{"id":"p1","repository":"acme/web","name":"linux-x64","labels":["self-hosted","linux"],
		"min_idle":1,"max_runners":5,"ephemeral":true,"idle_grace":"5m0s","bootstrap_timeout":"10m0s",
		"agent_group":"default","enabled":true,"provider":"docker",
		"runner":{"image":"ghcr.io/actions/actions-runner:latest","docker":{"network_mode":"bridge"}},"schedule":[],"registration_level":"repository",
		"priority":0,"version":3,"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-02T10:00:00.123456789+01:00"}`
	goodRequest = `{"labels":["linux"],"max_runners":5,"provider":"docker","runner":{"image":"runner:1"}}`
)

// answer describes what the fake server sends back.
type answer struct {
	status  int
	ctype   string // "" means application/json; "-" means none
	headers map[string]string
	body    string
}

func policyAnswer(status int, body string) answer {
	return answer{status: status, headers: map[string]string{"ETag": `"3"`}, body: body}
}

func errorAnswer(status int, code string) answer {
	return answer{status: status, body: `{"error":{"code":"` + code + `","message":"m"}}`}
}

func TestValidatorTransport(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		method, path string
		ctype, body  string // request
		answer       answer
		wantFailure  string // substring of the one failure; "" for none
	}{
		{name: "policy ok", method: "GET", path: policyPath, answer: policyAnswer(200, goodPolicy)},
		{name: "policy without a required field", method: "GET", path: policyPath,
			answer:      policyAnswer(200, strings.Replace(goodPolicy, `"version":3,`, "", 1)),
			wantFailure: `property "version" is missing`},
		{name: "policy with an undeclared field", method: "GET", path: policyPath,
			answer:      policyAnswer(200, strings.Replace(goodPolicy, `"version":3,`, `"version":3,"owner":"acme",`, 1)),
			wantFailure: `"owner"`},
		{name: "labels null instead of []", method: "GET", path: policyPath,
			answer:      policyAnswer(200, strings.Replace(goodPolicy, `["self-hosted","linux"]`, "null", 1)),
			wantFailure: "labels"},
		{name: "duration as a number", method: "GET", path: policyPath,
			answer:      policyAnswer(200, strings.Replace(goodPolicy, `"5m0s"`, "300000000000", 1)),
			wantFailure: "idle_grace"},
		{name: "bad timestamp", method: "GET", path: policyPath,
			answer:      policyAnswer(200, strings.Replace(goodPolicy, `"2026-11-01T10:00:00Z"`, `"2026-11-01 10:00"`, 1)),
			wantFailure: "created_at"},
		{name: "undeclared status", method: "GET", path: policyPath,
			answer: errorAnswer(409, "conflict"), wantFailure: "status is not supported"},
		{name: "missing ETag", method: "GET", path: policyPath,
			answer: answer{status: 200, body: goodPolicy}, wantFailure: `"ETag" missing`},
		{name: "ETag of another version", method: "GET", path: policyPath,
			answer: answer{status: 200, headers: map[string]string{"ETag": `"2"`}, body: goodPolicy}, wantFailure: "version"},
		{name: "wrong content type", method: "GET", path: policyPath,
			answer:      answer{status: 200, ctype: "text/plain", headers: map[string]string{"ETag": `"3"`}, body: goodPolicy},
			wantFailure: "text/plain"},
		{name: "not found", method: "GET", path: policyPath, answer: errorAnswer(404, "not_found")},
		{name: "error code does not fit the status", method: "GET", path: policyPath,
			answer: errorAnswer(404, "conflict"), wantFailure: "code"},
		{name: "error body of another shape", method: "GET", path: policyPath,
			answer: answer{status: 404, body: `{"message":"Not Found"}`}, wantFailure: `"error"`},
		{name: "401 with its challenge", method: "GET", path: "/api/v1/whoami",
			answer: answer{status: 401, headers: map[string]string{"WWW-Authenticate": `Bearer realm="garo"`},
				body: `{"error":{"code":"unauthorized","message":"missing bearer token"}}`}},
		{name: "401 without WWW-Authenticate", method: "GET", path: "/api/v1/whoami",
			answer: errorAnswer(401, "unauthorized"), wantFailure: `"WWW-Authenticate" missing`},
		{name: "missing X-Request-ID", method: "GET", path: "/healthz",
			answer:      answer{status: 200, headers: map[string]string{"X-Request-ID": ""}, body: `{"status":"ok"}`},
			wantFailure: `"X-Request-ID" missing`},
		{name: "readyz unavailable", method: "GET", path: "/readyz",
			answer: answer{status: 503, body: `{"status":"unavailable","checks":{"database":"connection refused"}}`}},
		{name: "spec served as yaml", method: "GET", path: "/api/v1/openapi.yaml",
			answer: answer{status: 200, ctype: "application/yaml", body: string(portalapi.OpenAPISpec)}},
		{name: "delete", method: "DELETE", path: policyPath, answer: answer{status: 204, ctype: "-"}},
		{name: "create", method: "POST", path: "/api/v1/repos/acme/web/policies",
			ctype: "application/json", body: strings.Replace(goodRequest, `{`, `{"name":"linux-x64",`, 1),
			answer: answer{status: 201, headers: map[string]string{"ETag": `"3"`, "Location": policyPath}, body: goodPolicy}},
		{name: "create answered without Location", method: "POST", path: "/api/v1/repos/acme/web/policies",
			ctype: "application/json", body: strings.Replace(goodRequest, `{`, `{"name":"linux-x64",`, 1),
			answer: policyAnswer(201, goodPolicy), wantFailure: `"Location" missing`},
		{name: "merge patch", method: "PATCH", path: policyPath,
			ctype: "application/merge-patch+json", body: `{"min_idle":null,"runner":{"env":{"A":null}}}`,
			answer: policyAnswer(200, goodPolicy)},
		{name: "bad request rejected", method: "PUT", path: policyPath,
			ctype: "application/json", body: `{"labels":["linux"],"max_runners":5,"provider":"docker","runner":{"image":"x"},"colour":"red"}`,
			answer: errorAnswer(400, "invalid_request")},
		{name: "bad request accepted", method: "PUT", path: policyPath,
			ctype: "application/json", body: `{"labels":["linux"],"max_runners":5,"provider":"docker","runner":{"image":"x"},"colour":"red"}`,
			answer: policyAnswer(200, goodPolicy), wantFailure: "accepted a request that the spec rejects"},
		{name: "query out of range rejected", method: "GET", path: "/api/v1/policies?limit=501",
			answer: errorAnswer(400, "invalid_request")},
		{name: "query out of range accepted", method: "GET", path: "/api/v1/policies?limit=501",
			answer: answer{status: 200, body: `{"items":[]}`}, wantFailure: `"limit"`},
		{name: "page", method: "GET", path: "/api/v1/policies?limit=1&enabled=true",
			answer: answer{status: 200, body: `{"items":[` + goodPolicy + `],"next_cursor":"abc"}`}},
		{name: "unknown path", method: "GET", path: "/api/v1/nope", answer: errorAnswer(404, "not_found")},
		{name: "unknown method", method: "POST", path: "/api/v1/version", answer: errorAnswer(405, "method_not_allowed")},
		{name: "unknown path with a foreign error body", method: "GET", path: "/api/v1/nope",
			answer: answer{status: 404, body: `{"message":"Not Found"}`}, wantFailure: "not an ErrorBody"},
		{name: "unknown path answered", method: "GET", path: "/debug/vars",
			answer: answer{status: 200, ctype: "text/plain", body: "up 1\n"}, wantFailure: "no operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotBody string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				w.Header().Set("X-Request-ID", "req-1")
				switch tt.answer.ctype {
				case "":
					w.Header().Set("Content-Type", "application/json")
				case "-":
				default:
					w.Header().Set("Content-Type", tt.answer.ctype)
				}
				for k, v := range tt.answer.headers {
					if v == "" {
						w.Header().Del(k)
					} else {
						w.Header().Set(k, v)
					}
				}
				w.WriteHeader(tt.answer.status)
				_, _ = io.WriteString(w, tt.answer.body)
			}))
			defer srv.Close()

			v, err := NewValidator(doc)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: v.Transport(srv.Client().Transport)}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}

			// The exchange itself is untouched by the validation.
			if resp.StatusCode != tt.answer.status || string(body) != tt.answer.body {
				t.Errorf("caller got %d %q, want %d %q", resp.StatusCode, body, tt.answer.status, tt.answer.body)
			}
			if gotBody != tt.body {
				t.Errorf("server got request body %q, want %q", gotBody, tt.body)
			}

			if v.Checked() != 1 {
				t.Errorf("Checked() = %d, want 1", v.Checked())
			}
			failures := v.Failures()
			switch {
			case tt.wantFailure == "" && len(failures) != 0:
				t.Errorf("unexpected failures: %q", failures)
			case tt.wantFailure != "" && len(failures) == 0:
				t.Errorf("no failure, want one containing %q", tt.wantFailure)
			case tt.wantFailure != "" && !slices.ContainsFunc(failures, func(f string) bool { return strings.Contains(f, tt.wantFailure) }):
				t.Errorf("failures %q, want one containing %q", failures, tt.wantFailure)
			}
			for _, f := range failures {
				prefix := tt.method + " " + strings.SplitN(tt.path, "?", 2)[0] + " " + strconv.Itoa(tt.answer.status) + ": "
				if !strings.HasPrefix(f, prefix) {
					t.Errorf("failure %q does not start with %q", f, prefix)
				}
			}
		})
	}
}

func TestValidatorOperations(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(doc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "r")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/version" {
			_ = json.NewEncoder(w).Encode(portalapi.VersionInfo{Version: "dev", Commit: "unknown", BuildDate: "unknown", GoVersion: "go1.26"})
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(portalapi.ErrorBody{Error: portalapi.ErrorDetail{Code: portalapi.CodeNotFound, Message: "no such token"}})
	}))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(nil)}
	for _, p := range []string{"/api/v1/version", "/api/v1/version", "/api/v1/tokens/t1", "/api/v1/nope"} {
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if f := v.Failures(); len(f) != 0 {
		t.Errorf("failures: %q", f)
	}
	if v.Checked() != 4 {
		t.Errorf("Checked() = %d, want 4", v.Checked())
	}
	want := []string{"GET /api/v1/tokens/{id} 404", "GET /api/v1/version 200"}
	if got := v.Operations(); !slices.Equal(got, want) {
		t.Errorf("Operations() = %q, want %q", got, want)
	}
}
