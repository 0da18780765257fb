package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/contract"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/shared/protocol"
)

func TestAuthentication(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		for _, tc := range []struct{ name, header string }{
			{"missing", ""},
			{"wrong scheme", "Basic " + adminSecret},
			{"unknown token", "Bearer garo_nope"},
			{"empty bearer", "Bearer "},
		} {
			resp, body := e.do(http.MethodGet, "/api/v1/policies", "", "", "", "Authorization", tc.header)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, `"unauthorized"`) {
				t.Errorf("%s: %d %q %s", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		}
		// Open routes need no token.
		for _, path := range []string{"/healthz", "/readyz", "/api/v1/version", "/api/v1/openapi.yaml"} {
			if resp, body := e.do(http.MethodGet, path, "", "", ""); resp.StatusCode != 200 {
				t.Errorf("%s = %d %s", path, resp.StatusCode, body)
			}
		}
		who, err := e.admin.WhoAmI(t.Context())
		if err != nil || who.Name != "bootstrap-admin" || strings.Join(who.Scopes, ",") != "admin" {
			t.Fatalf("whoami = %+v, %v", who, err)
		}
	})
}

func TestScopes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		reader := e.client(e.token("reader", []string{portalapi.ScopePoliciesRead}))
		writer := e.client(e.token("writer", []string{portalapi.ScopePoliciesWrite}))
		agents := e.client(e.token("agents", []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}))

		_, err := reader.CreatePolicy(ctx, "acme/web", policyRequest("p"))
		wantStatus(t, err, http.StatusForbidden, "")
		if _, err := writer.CreatePolicy(ctx, "acme/web", policyRequest("p")); err != nil {
			t.Fatalf("writer create: %v", err)
		}
		_, err = writer.GetPolicy(ctx, "acme/web", "p")
		wantStatus(t, err, http.StatusForbidden, "")
		if _, err := reader.GetPolicy(ctx, "acme/web", "p"); err != nil {
			t.Fatalf("reader get: %v", err)
		}
		_, err = reader.PatchPolicy(ctx, "acme/web", "p", map[string]any{"max_runners": 2}, "")
		wantStatus(t, err, http.StatusForbidden, "")
		wantStatus(t, reader.DeletePolicy(ctx, "acme/web", "p", ""), http.StatusForbidden, "")

		_, err = reader.ListAgentGroups(ctx)
		wantStatus(t, err, http.StatusForbidden, "")
		if _, err := agents.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu"}); err != nil {
			t.Fatalf("agents create group: %v", err)
		}
		_, err = agents.ListPolicies(ctx, client.ListPoliciesOptions{})
		wantStatus(t, err, http.StatusForbidden, "")

		// Only admin manages tokens and reads the audit trail.
		for _, c := range []*client.Client{reader, writer, agents} {
			_, err := c.ListTokens(ctx)
			wantStatus(t, err, http.StatusForbidden, "")
			_, err = c.CreateToken(ctx, portalapi.TokenRequest{Name: "x", Scopes: []string{"admin"}})
			wantStatus(t, err, http.StatusForbidden, "")
			_, err = c.ListAuditEvents(ctx, client.AuditQuery{})
			wantStatus(t, err, http.StatusForbidden, "")
		}
	})
}

func TestOwnerPrefixes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		for _, repo := range []string{"acme/web", "acme/api", "other/web", "acmeco/x"} {
			if _, err := e.admin.CreatePolicy(ctx, repo, policyRequest("p")); err != nil {
				t.Fatal(err)
			}
		}
		team := e.client(e.token("team", []string{portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite}, "ACME/", "other/w"))
		var seen []string
		for p, err := range team.AllPolicies(ctx, client.ListPoliciesOptions{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, p.Repository)
		}
		if got := strings.Join(seen, " "); got != "acme/api acme/web other/web" {
			t.Fatalf("team sees %q", got)
		}
		if _, err := team.GetPolicy(ctx, "Acme/Web", "p"); err != nil {
			t.Fatalf("own repository: %v", err)
		}
		_, err := team.GetPolicy(ctx, "acmeco/x", "p")
		wantStatus(t, err, http.StatusForbidden, "")
		_, err = team.CreatePolicy(ctx, "other/api", policyRequest("p"))
		wantStatus(t, err, http.StatusForbidden, "")
		wantStatus(t, team.DeletePolicy(ctx, "acmeco/x", "p", ""), http.StatusForbidden, "")
		list, err := team.ListRepoPolicies(ctx, "acmeco/x", client.ListPoliciesOptions{})
		wantStatus(t, err, http.StatusForbidden, "")
		if list != nil {
			t.Fatalf("list of a foreign repository returned %+v", list)
		}
		if _, err := team.PatchPolicy(ctx, "acme/api", "p", map[string]any{"max_runners": 9}, ""); err != nil {
			t.Fatalf("patch own repository: %v", err)
		}
	})
}

func TestTokensAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		created, err := e.admin.CreateToken(ctx, portalapi.TokenRequest{
			Name: "ci", Scopes: []string{portalapi.ScopePoliciesRead}, OwnerPrefixes: []string{"Acme/"},
			ExpiresIn: portalapi.DurationOf(24 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.Secret, "garo_") || created.ExpiresAt == nil || strings.Join(created.OwnerPrefixes, ",") != "acme/" {
			t.Fatalf("created = %+v", created)
		}
		ci := e.client(created.Secret)
		if _, err := ci.ListPolicies(ctx, client.ListPoliciesOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := e.admin.GetToken(ctx, created.ID)
		if err != nil || got.LastUsedAt == nil || got.CreatedBy != "token:bootstrap-admin" {
			t.Fatalf("token after use = %+v, %v", got, err)
		}
		list, err := e.admin.ListTokens(ctx)
		if err != nil || len(list.Items) != 2 {
			t.Fatalf("tokens = %+v, %v", list, err)
		}
		raw, _ := json.Marshal(list)
		if strings.Contains(string(raw), created.Secret) || strings.Contains(string(raw), adminSecret) {
			t.Fatal("a token list shows a secret")
		}
		for _, tc := range []struct {
			req   portalapi.TokenRequest
			field string
		}{
			{portalapi.TokenRequest{Name: "x"}, "scopes"},
			{portalapi.TokenRequest{Name: "x", Scopes: []string{"root"}}, "scopes[0]"},
			{portalapi.TokenRequest{Name: "", Scopes: []string{"admin"}}, "name"},
			{portalapi.TokenRequest{Name: "x", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(time.Second)}, "expires_in"},
		} {
			_, err := e.admin.CreateToken(ctx, tc.req)
			wantStatus(t, err, http.StatusBadRequest, tc.field)
		}

		_, err = e.admin.CreateToken(ctx, portalapi.TokenRequest{Name: "x", Scopes: []string{"admin"}, OwnerPrefixes: []string{"acme/"}})
		wantStatus(t, err, http.StatusBadRequest, "owner_prefixes")

		// Revocation is immediate.
		if err := e.admin.DeleteToken(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		_, err = ci.ListPolicies(ctx, client.ListPoliciesOptions{})
		wantStatus(t, err, http.StatusUnauthorized, "")
		_, err = e.admin.GetToken(ctx, created.ID)
		wantStatus(t, err, http.StatusNotFound, "")

		// The last admin token cannot go; once another exists, it can.
		who, _ := e.admin.WhoAmI(ctx)
		wantStatus(t, e.admin.DeleteToken(ctx, who.TokenID), http.StatusConflict, "")
		second := e.client(e.token("admin-2", []string{portalapi.ScopeAdmin}))
		if err := second.DeleteToken(ctx, who.TokenID); err != nil {
			t.Fatal(err)
		}
		_, err = e.admin.WhoAmI(ctx)
		wantStatus(t, err, http.StatusUnauthorized, "")
	})
}

func TestAgentGroupsAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		g, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu", Description: "GPU hosts in DC2"})
		if err != nil || g.Name != "gpu" || g.PolicyCount != 0 {
			t.Fatalf("create group = %+v, %v", g, err)
		}
		_, err = e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu"})
		wantStatus(t, err, http.StatusConflict, "")
		_, err = e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "GPU"})
		wantStatus(t, err, http.StatusBadRequest, "name")

		req := policyRequest("p")
		req.AgentGroup = "gpu"
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", req); err != nil {
			t.Fatal(err)
		}
		if g, err := e.admin.GetAgentGroup(ctx, "gpu"); err != nil || g.PolicyCount != 1 {
			t.Fatalf("group = %+v, %v", g, err)
		}
		wantStatus(t, e.admin.DeleteAgentGroup(ctx, "gpu"), http.StatusConflict, "")
		if _, err := e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"agent_group": "default"}, ""); err != nil {
			t.Fatal(err)
		}
		if err := e.admin.DeleteAgentGroup(ctx, "gpu"); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.admin.DeleteAgentGroup(ctx, "gpu"), http.StatusNotFound, "")
		_, err = e.admin.GetAgentGroup(ctx, "gpu")
		wantStatus(t, err, http.StatusNotFound, "")
		list, err := e.admin.ListAgentGroups(ctx)
		if err != nil || len(list.Items) != 1 || list.Items[0].Name != "default" || list.Items[0].PolicyCount != 1 {
			t.Fatalf("groups = %+v, %v", list, err)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{ResourceType: "agent_group"})
		if err != nil || len(events.Items) != 2 || events.Items[0].Action != "agent_group.delete" {
			t.Fatalf("group audit = %+v, %v", events, err)
		}
	})
}

func TestAuditAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		// Nothing was recorded before the server existed (the bootstrap token's event
		// comes with it); a margin of a second covers stores that keep whole seconds.
		before := time.Now().Add(-time.Second)
		e := newEnv(t, b)
		ctx := t.Context()
		start := time.Now().Add(-time.Second)
		for _, repo := range []string{"acme/a", "acme/b", "acme/c"} {
			if _, err := e.admin.CreatePolicy(ctx, repo, policyRequest("p")); err != nil {
				t.Fatal(err)
			}
		}
		var ids []int64
		for ev, err := range e.admin.AllAuditEvents(ctx, client.AuditQuery{Action: "policy.create", Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
		}
		if len(ids) != 3 || !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] > ids[j] }) {
			t.Fatalf("policy.create events newest first = %v", ids)
		}
		for _, tc := range []struct {
			q    client.AuditQuery
			want int
		}{
			{client.AuditQuery{Repository: "acme/b"}, 1},
			{client.AuditQuery{Actor: "token:bootstrap-admin", Action: "policy.create"}, 3},
			{client.AuditQuery{Since: start, Action: "policy.create"}, 3},
			{client.AuditQuery{Until: before}, 0},
		} {
			list, err := e.admin.ListAuditEvents(ctx, tc.q)
			if err != nil || len(list.Items) != tc.want {
				t.Errorf("%+v: %d events, %v; want %d", tc.q, len(list.Items), err, tc.want)
			}
		}
		for _, q := range []string{"since=yesterday", "cursor=-1", "cursor=x", "limit=1000"} {
			if resp, body := e.do(http.MethodGet, "/api/v1/audit-events?"+q, adminSecret, "", ""); resp.StatusCode != 400 {
				t.Errorf("?%s = %d %s", q, resp.StatusCode, body)
			}
		}
	})
}

func TestMetaRoutes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		v, err := e.admin.Version(ctx)
		if err != nil || v.Version != "test" {
			t.Fatalf("version = %+v, %v", v, err)
		}
		spec, err := e.admin.OpenAPISpec(ctx)
		if err != nil || string(spec) != string(portalapi.OpenAPISpec) {
			t.Fatalf("served spec differs from the embedded one (%d bytes), %v", len(spec), err)
		}
		resp, body := e.do(http.MethodGet, "/api/v1/nope", adminSecret, "", "", "X-Request-ID", "trace-42")
		if resp.StatusCode != 404 || resp.Header.Get("X-Request-ID") != "trace-42" || !strings.Contains(body, `"not_found"`) {
			t.Fatalf("unknown route = %d %q %s", resp.StatusCode, resp.Header.Get("X-Request-ID"), body)
		}
		resp, body = e.do(http.MethodPost, "/api/v1/version", adminSecret, "application/json", "{}")
		if resp.StatusCode != 405 || !strings.Contains(body, `"method_not_allowed"`) {
			t.Fatalf("wrong method = %d %s", resp.StatusCode, body)
		}
		if h, err := e.admin.Ready(ctx); err != nil || h.Checks["database"] != "ok" {
			t.Fatalf("ready = %+v, %v", h, err)
		}
		// With the database gone, /readyz says so and /healthz does not care.
		e.st.Close()
		shortCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := e.admin.Ready(shortCtx); client.StatusCode(err) != http.StatusServiceUnavailable {
			t.Fatalf("ready with a closed database = %v", err)
		}
		if _, err := e.admin.Health(shortCtx); err != nil {
			t.Fatalf("health with a closed database = %v", err)
		}
		resp, body = e.do(http.MethodGet, "/api/v1/policies", adminSecret, "", "")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"unavailable"`) {
			t.Fatalf("API call with a closed database = %d %q %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	})
}

// TestRoutesMatchSpec fails when a registered route is missing from openapi.yaml, or the
// spec describes an operation the server does not have. The agent protocol is not part of
// the portal's spec (shared/protocol is its contract): its routes must be exactly those of
// the protocol's package doc.
func TestRoutesMatchSpec(t *testing.T) {
	doc, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	var routes []contract.Route
	var agentRoutes []string
	for _, r := range api.New(api.Deps{Log: testkit.Discard()}).Routes() {
		if strings.HasPrefix(r.Path, protocol.PathPrefix+"/") {
			if !strings.HasSuffix(r.Path, "*") {
				agentRoutes = append(agentRoutes, r.Method+" "+strings.TrimPrefix(r.Path, protocol.PathPrefix))
			}
			continue
		}
		routes = append(routes, contract.Route{Method: r.Method, Path: r.Path})
	}
	slices.Sort(agentRoutes)
	wantAgent := []string{"GET /config", "GET /jobs", "POST /heartbeat", "POST /register", "POST /runners/credentials", "POST /runners/remove", "POST /unregister"}
	if !slices.Equal(agentRoutes, wantAgent) {
		t.Errorf("agent protocol routes = %q, want %q", agentRoutes, wantAgent)
	}
	if len(routes) < 20 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	if missing := contract.MissingFromSpec(doc, routes); len(missing) > 0 {
		t.Errorf("routes missing from portal-api/openapi.yaml: %v", missing)
	}
	if extra := contract.ExtraInSpec(doc, routes); len(extra) > 0 {
		t.Errorf("operations in portal-api/openapi.yaml that no route serves: %v", extra)
	}
}
