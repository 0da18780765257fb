package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func TestPolicyLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()

		resp, body := e.do(http.MethodPost, "/api/v1/repos/Acme/Web/policies", adminSecret, "application/json",
			`{"name":"linux-small","labels":["self-hosted","linux"],"min_idle":1,"max_runners":3,"provider":"docker","runner":{"image":"runner:1"}}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create = %d %s", resp.StatusCode, body)
		}
		if got := resp.Header.Get("ETag"); got != `"1"` {
			t.Fatalf("ETag = %q", got)
		}
		if got := resp.Header.Get("Location"); got != "/api/v1/repos/Acme/Web/policies/linux-small" {
			t.Fatalf("Location = %q", got)
		}
		var created portalapi.Policy
		if err := json.Unmarshal([]byte(body), &created); err != nil {
			t.Fatal(err)
		}
		if created.Repository != "Acme/Web" || !created.Ephemeral || !created.Enabled || created.AgentGroup != "default" ||
			created.IdleGrace.D() != 5*time.Minute || created.BootstrapTimeout.D() != 10*time.Minute || created.Version != 1 {
			t.Fatalf("defaults not applied: %+v", created)
		}

		// Repository names are case-insensitive on GitHub, and so here.
		got, err := e.admin.GetPolicy(ctx, "acme/web", "linux-small")
		if err != nil || got.ID != created.ID {
			t.Fatalf("get = %+v, %v", got, err)
		}
		_, err = e.admin.CreatePolicy(ctx, "ACME/web", policyRequest("linux-small"))
		wantStatus(t, err, http.StatusConflict, "")

		// Replace with the right If-Match.
		req := policyRequest("linux-small")
		req.MaxRunners = 8
		replaced, err := e.admin.ReplacePolicy(ctx, "acme/web", "linux-small", req, client.ETag(1))
		if err != nil {
			t.Fatal(err)
		}
		if replaced.Version != 2 || replaced.MaxRunners != 8 || replaced.Runner.Memory != "4Gi" || !replaced.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("replaced = %+v", replaced)
		}
		// A stale If-Match is refused and changes nothing.
		req.MaxRunners = 99
		_, err = e.admin.ReplacePolicy(ctx, "acme/web", "linux-small", req, client.ETag(1))
		wantStatus(t, err, http.StatusPreconditionFailed, "")
		_, err = e.admin.PatchPolicy(ctx, "acme/web", "linux-small", map[string]any{"max_runners": 99}, `W/"1", "7"`)
		wantStatus(t, err, http.StatusPreconditionFailed, "")
		if p, _ := e.admin.GetPolicy(ctx, "acme/web", "linux-small"); p.MaxRunners != 8 || p.Version != 2 {
			t.Fatalf("a refused write changed the policy: %+v", p)
		}

		// Merge patch: change one field, delete an optional one (back to its default),
		// leave the rest alone.
		patched, err := e.admin.PatchPolicy(ctx, "acme/web", "linux-small",
			map[string]any{"min_idle": 0, "idle_grace": nil, "runner": map[string]any{"env": map[string]any{"RUNNER_TEMP": nil, "A": "1"}}}, `"2"`)
		if err != nil {
			t.Fatal(err)
		}
		if patched.Version != 3 || patched.MinIdle != 0 || patched.MaxRunners != 8 || patched.IdleGrace.D() != 5*time.Minute ||
			fmt.Sprint(patched.Runner.Env) != "map[A:1]" || patched.Runner.Image != req.Runner.Image {
			t.Fatalf("patched = %+v", patched)
		}
		// What a write answers is what a read returns afterwards.
		if reread, err := e.admin.GetPolicy(ctx, "acme/web", "linux-small"); err != nil || !reread.UpdatedAt.Equal(patched.UpdatedAt) {
			t.Fatalf("updated_at answered %v, stored %v (%v)", patched.UpdatedAt, reread.UpdatedAt, err)
		}
		// If-Match: * matches any existing version.
		if _, err := e.admin.PatchPolicy(ctx, "acme/web", "linux-small", map[string]any{"enabled": false}, "*"); err != nil {
			t.Fatal(err)
		}

		wantStatus(t, e.admin.DeletePolicy(ctx, "acme/web", "linux-small", client.ETag(3)), http.StatusPreconditionFailed, "")
		if err := e.admin.DeletePolicy(ctx, "acme/web", "linux-small", client.ETag(4)); err != nil {
			t.Fatal(err)
		}
		_, err = e.admin.GetPolicy(ctx, "acme/web", "linux-small")
		wantStatus(t, err, http.StatusNotFound, "")
		wantStatus(t, e.admin.DeletePolicy(ctx, "acme/web", "linux-small", ""), http.StatusNotFound, "")

		// Every write is in the audit trail, with before and after.
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{ResourceType: "policy", ResourceID: "acme/web/linux-small"})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events.Items {
			actions = append(actions, ev.Action)
			if ev.Actor != "token:bootstrap-admin" || ev.Repository != "acme/web" || ev.RequestID == "" {
				t.Errorf("event %d: actor %q repository %q request %q", ev.ID, ev.Actor, ev.Repository, ev.RequestID)
			}
		}
		if got := strings.Join(actions, ","); got != "policy.delete,policy.patch,policy.patch,policy.replace,policy.create" {
			t.Fatalf("audit actions = %s", got)
		}
		var before, after portalapi.Policy
		replaceEv := events.Items[3]
		if err := json.Unmarshal(replaceEv.Before, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(replaceEv.After, &after); err != nil {
			t.Fatal(err)
		}
		if before.MaxRunners != 3 || after.MaxRunners != 8 || before.Version != 1 || after.Version != 2 {
			t.Fatalf("replace event before/after = %d/%d v%d/v%d", before.MaxRunners, after.MaxRunners, before.Version, after.Version)
		}
		if events.Items[0].After != nil || events.Items[4].Before != nil {
			t.Fatalf("delete has an after or create has a before")
		}
	})
}

func TestPolicyValidation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		for _, tc := range []struct {
			name  string
			edit  func(r *portalapi.PolicyRequest)
			field string
		}{
			{"max below min", func(r *portalapi.PolicyRequest) { r.MinIdle, r.MaxRunners = 5, 2 }, "max_runners"},
			{"no labels", func(r *portalapi.PolicyRequest) { r.Labels = nil }, "labels"},
			{"label with comma", func(r *portalapi.PolicyRequest) { r.Labels = []string{"ok", "a,b"} }, "labels[1]"},
			{"duplicate label", func(r *portalapi.PolicyRequest) { r.Labels = []string{"Linux", "linux"} }, "labels[1]"},
			{"unknown provider", func(r *portalapi.PolicyRequest) { r.Provider = "lambda" }, "provider"},
			{"bootstrap too short", func(r *portalapi.PolicyRequest) { r.BootstrapTimeout = portalapi.DurationOf(time.Second) }, "bootstrap_timeout"},
			{"negative grace", func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(-time.Second) }, "idle_grace"},
			{"bad policy name", func(r *portalapi.PolicyRequest) { r.Name = "Linux_Small" }, "name"},
			{"no image", func(r *portalapi.PolicyRequest) { r.Runner.Image = "" }, "runner.image"},
			{"bad cpu", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "two" }, "runner.cpu"},
			{"reserved env", func(r *portalapi.PolicyRequest) {
				r.Runner.Env = map[string]string{"ACTIONS_RUNNER_INPUT_JITCONFIG": "x"}
			}, "runner.env.ACTIONS_RUNNER_INPUT_JITCONFIG"},
			{"kubernetes block on docker", func(r *portalapi.PolicyRequest) { r.Runner.Kubernetes = &portalapi.KubernetesSpec{Namespace: "ci"} }, "runner.kubernetes"},
			{"unknown agent group", func(r *portalapi.PolicyRequest) { r.AgentGroup = "gpu" }, "agent_group"},
		} {
			req := policyRequest("p")
			tc.edit(&req)
			_, err := e.admin.CreatePolicy(ctx, "acme/web", req)
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			t.Run(tc.name, func(t *testing.T) { wantStatus(t, err, http.StatusBadRequest, tc.field) })
		}

		raw := []struct {
			name, path, ctype, body string
			status                  int
			field                   string
		}{
			{"unknown field", "/api/v1/repos/acme/web/policies", "application/json", `{"name":"p","colour":"red"}`, 400, "colour"},
			{"wrong type", "/api/v1/repos/acme/web/policies", "application/json", `{"name":"p","max_runners":"ten"}`, 400, "max_runners"},
			{"nested wrong type", "/api/v1/repos/acme/web/policies", "application/json", `{"name":"p","runner":{"env":[]}}`, 400, "runner.env"},
			{"duration as number", "/api/v1/repos/acme/web/policies", "application/json", `{"name":"p","idle_grace":300}`, 400, "idle_grace"},
			{"not JSON", "/api/v1/repos/acme/web/policies", "application/json", `{"name":`, 400, "body"},
			{"two values", "/api/v1/repos/acme/web/policies", "application/json", `{} {}`, 400, "body"},
			{"empty body", "/api/v1/repos/acme/web/policies", "application/json", ``, 400, "body"},
			{"bad owner in path", "/api/v1/repos/-acme/web/policies", "application/json", `{}`, 400, "owner"},
			{"bad repository in path", "/api/v1/repos/acme/web.git/policies", "application/json", `{}`, 400, "repo"},
			{"text body", "/api/v1/repos/acme/web/policies", "text/plain", `{}`, 415, ""},
			{"no content type", "/api/v1/repos/acme/web/policies", "", `{}`, 415, ""},
			{"too large", "/api/v1/repos/acme/web/policies", "application/json", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
		}
		for _, tc := range raw {
			resp, body := e.do(http.MethodPost, tc.path, adminSecret, tc.ctype, tc.body)
			var eb portalapi.ErrorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Code == "" {
				t.Errorf("%s: body is not the error body: %s", tc.name, body)
				continue
			}
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d (%s), want %d", tc.name, resp.StatusCode, body, tc.status)
				continue
			}
			if tc.field != "" && (len(eb.Error.Fields) == 0 || eb.Error.Fields[0].Field != tc.field) {
				t.Errorf("%s: fields %+v, want %s", tc.name, eb.Error.Fields, tc.field)
			}
		}

		// A body without Content-Length is cut off at the limit, and still answered 413.
		chunked, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/api/v1/repos/acme/web/policies",
			io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("x", 70<<10)), strings.NewReader(`"}`)))
		if err != nil {
			t.Fatal(err)
		}
		chunked.Header.Set("Authorization", "Bearer "+adminSecret)
		chunked.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Transport: e.check.Transport(nil)}).Do(chunked)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || chunked.ContentLength != 0 {
			t.Fatalf("chunked oversized body = %d (content length %d), want 413", resp.StatusCode, chunked.ContentLength)
		}

		// A patch can neither rename a policy nor add unknown fields; nothing is written.
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("p")); err != nil {
			t.Fatal(err)
		}
		_, err = e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"name": "q"}, "")
		wantStatus(t, err, http.StatusBadRequest, "name")
		_, err = e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"runner": map[string]any{"gpu": 1}}, "")
		wantStatus(t, err, http.StatusBadRequest, "runner.gpu")
		_, err = e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"min_idle": 10}, "")
		wantStatus(t, err, http.StatusBadRequest, "max_runners")
		resp, body := e.do(http.MethodPatch, "/api/v1/repos/acme/web/policies/p", adminSecret, portalapi.MergePatchMediaType, `[1]`)
		if resp.StatusCode != 400 {
			t.Fatalf("array patch = %d %s", resp.StatusCode, body)
		}
		req := policyRequest("other")
		_, err = e.admin.ReplacePolicy(ctx, "acme/web", "p", req, "")
		wantStatus(t, err, http.StatusBadRequest, "name")
		if p, err := e.admin.GetPolicy(ctx, "acme/web", "p"); err != nil || p.Version != 1 {
			t.Fatalf("after refused writes: %+v, %v", p, err)
		}
	})
}

// TestConcurrentWriters: writers racing with the same If-Match, exactly one wins; writers
// without If-Match all apply, none lost.
func TestConcurrentWriters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("p")); err != nil {
			t.Fatal(err)
		}
		const writers = 12
		results := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, results[i] = e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"max_runners": 10 + i}, client.ETag(1))
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range results {
			switch {
			case err == nil:
				wins++
			case client.IsPreconditionFailed(err):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d writers won with the same If-Match, want exactly 1", wins)
		}

		start = make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, results[i] = e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"max_runners": 10 + i}, "")
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range results {
			if err != nil {
				t.Errorf("unconditional patch: %v", err)
			}
		}
		p, err := e.admin.GetPolicy(ctx, "acme/web", "p")
		if err != nil {
			t.Fatal(err)
		}
		if p.Version != 2+writers {
			t.Fatalf("version = %d after %d unconditional writes from 2: updates were lost", p.Version, writers)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{Action: "policy.patch", Limit: 100})
		if err != nil || len(events.Items) != 1+writers {
			t.Fatalf("audit patch events = %d, %v", len(events.Items), err)
		}
	})
}

func TestPolicyListing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		for i, repo := range []string{"acme/api", "acme/web", "acme/web", "other/x", "acme/zeta", "other/y", "acme/web"} {
			req := policyRequest(fmt.Sprintf("p%d", i))
			if i%3 == 0 {
				req.AgentGroup = "gpu"
			}
			if _, err := e.admin.CreatePolicy(ctx, repo, req); err != nil {
				t.Fatal(err)
			}
		}
		names := func(opts client.ListPoliciesOptions) string {
			t.Helper()
			var out []string
			for p, err := range e.admin.AllPolicies(ctx, opts) {
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, p.Repository+"/"+p.Name)
			}
			return strings.Join(out, " ")
		}
		for _, tc := range []struct {
			opts client.ListPoliciesOptions
			want string
		}{
			{client.ListPoliciesOptions{Limit: 2}, "acme/api/p0 acme/web/p1 acme/web/p2 acme/web/p6 acme/zeta/p4 other/x/p3 other/y/p5"},
			{client.ListPoliciesOptions{Owner: "ACME", Limit: 3}, "acme/api/p0 acme/web/p1 acme/web/p2 acme/web/p6 acme/zeta/p4"},
			{client.ListPoliciesOptions{Repository: "acme/web"}, "acme/web/p1 acme/web/p2 acme/web/p6"},
			{client.ListPoliciesOptions{AgentGroup: "gpu"}, "acme/api/p0 acme/web/p6 other/x/p3"},
		} {
			if got := names(tc.opts); got != tc.want {
				t.Errorf("%+v: got %q, want %q", tc.opts, got, tc.want)
			}
		}
		page, err := e.admin.ListRepoPolicies(ctx, "acme/web", client.ListPoliciesOptions{Limit: 2})
		if err != nil || len(page.Items) != 2 || page.NextCursor == "" {
			t.Fatalf("repo page = %+v, %v", page, err)
		}
		for _, q := range []string{"limit=0", "limit=501", "limit=x", "cursor=bogus", "enabled=maybe", "owner=-x", "repository=nope"} {
			resp, body := e.do(http.MethodGet, "/api/v1/policies?"+q, adminSecret, "", "")
			if resp.StatusCode != 400 {
				t.Errorf("?%s = %d %s, want 400", q, resp.StatusCode, body)
			}
		}
	})
}

func TestPolicySchedule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		req := policyRequest("p")
		req.Schedule = []portalapi.ScheduleWindow{
			{Days: []string{"sat", "sun"}, Start: "00:00", End: "24:00", TimeZone: "Europe/Berlin", MinIdle: 0},
			{Start: "18:00", End: "08:00", MinIdle: 0},
		}
		created, err := e.admin.CreatePolicy(ctx, "acme/web", req)
		if err != nil {
			t.Fatal(err)
		}
		if len(created.Schedule) != 2 || created.Schedule[0].TimeZone != "Europe/Berlin" || created.Schedule[1].End != "08:00" {
			t.Fatalf("schedule = %+v", created.Schedule)
		}
		for _, tc := range []struct {
			w     portalapi.ScheduleWindow
			field string
		}{
			{portalapi.ScheduleWindow{Start: "25:00", End: "08:00"}, "schedule[0]"},
			{portalapi.ScheduleWindow{Start: "08:00", End: "18:00", TimeZone: "Mars/Olympus"}, "schedule[0]"},
			{portalapi.ScheduleWindow{Days: []string{"funday"}, Start: "08:00", End: "18:00"}, "schedule[0]"},
			{portalapi.ScheduleWindow{Start: "08:00", End: "18:00", MinIdle: 99}, "schedule[0].min_idle"},
		} {
			bad := policyRequest("q")
			bad.Schedule = []portalapi.ScheduleWindow{tc.w}
			_, err := e.admin.CreatePolicy(ctx, "acme/web", bad)
			wantStatus(t, err, http.StatusBadRequest, tc.field)
		}
		// A merge patch with null removes the windows.
		patched, err := e.admin.PatchPolicy(ctx, "acme/web", "p", map[string]any{"schedule": nil}, client.ETag(1))
		if err != nil || len(patched.Schedule) != 0 {
			t.Fatalf("patched = %+v, %v", patched, err)
		}
	})
}
