package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jobs"
)

func TestJobsAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		svc := jobs.NewService(e.st, testkit.Discard(), nil)
		apply := func(action string, id int64, repo string, labels ...string) {
			t.Helper()
			owner, name := repo[:4], repo[5:]
			if _, _, err := svc.Apply(ctx, jobs.Event{Action: action, JobID: id, RunID: id, Owner: owner, Repo: name,
				Labels: labels, CreatedAt: time.Now().Add(-time.Minute), Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		apply("queued", 1, "acme/web", "self-hosted", "linux")
		apply("in_progress", 1, "acme/web", "self-hosted", "linux")
		apply("completed", 1, "acme/web", "self-hosted", "linux")
		apply("queued", 2, "acme/web", "self-hosted", "gpu")
		apply("queued", 3, "acme/web", "linux")
		apply("queued", 4, "acme/api", "linux")
		apply("queued", 5, "beta/www", "linux")

		get := func(path string, token string) (int, string) {
			t.Helper()
			resp, body := e.do(http.MethodGet, path, token, "", "")
			return resp.StatusCode, body
		}
		status, body := get("/api/v1/repos/acme/web/jobs/1", adminSecret)
		var job portalapi.Job
		if status != 200 || json.Unmarshal([]byte(body), &job) != nil {
			t.Fatalf("get job = %d %s", status, body)
		}
		var steps []string
		for _, ev := range job.Timeline {
			steps = append(steps, ev.Step)
		}
		if fmt.Sprint(steps) != "[created received matched in_progress completed]" || job.State != "completed" || job.Policy != "linux" {
			t.Fatalf("job 1 = state %s policy %s timeline %v", job.State, job.Policy, steps)
		}
		if status, _ := get("/api/v1/repos/acme/api/jobs/1", adminSecret); status != 404 {
			t.Fatalf("job of another repository = %d, want 404", status)
		}
		if status, _ := get("/api/v1/repos/acme/web/jobs/x", adminSecret); status != 400 {
			t.Fatalf("bad job id = %d, want 400", status)
		}

		ids := func(path, token string) string {
			t.Helper()
			status, body := get(path, token)
			var list portalapi.JobList
			if status != 200 || json.Unmarshal([]byte(body), &list) != nil {
				t.Fatalf("%s = %d %s", path, status, body)
			}
			var out []int64
			for _, j := range list.Items {
				out = append(out, j.ID)
			}
			if list.NextCursor != "" {
				return fmt.Sprint(out) + " next=" + list.NextCursor
			}
			return fmt.Sprint(out)
		}
		for _, tc := range []struct{ path, want string }{
			{"/api/v1/repos/acme/web/jobs", "[3 2 1]"},
			{"/api/v1/repos/acme/web/jobs?limit=2", "[3 2] next=2"},
			{"/api/v1/repos/acme/web/jobs?limit=2&cursor=2", "[1]"},
			{"/api/v1/repos/acme/web/jobs?state=unmatched", "[2]"},
			{"/api/v1/repos/acme/web/jobs?policy=linux", "[3 1]"},
			{"/api/v1/jobs?state=unmatched", "[5 4 2]"},
			{"/api/v1/jobs?owner=acme", "[4 3 2 1]"},
			{"/api/v1/jobs?since=2999-01-01T00:00:00Z", "[]"},
		} {
			if got := ids(tc.path, adminSecret); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.path, got, tc.want)
			}
		}
		for _, q := range []string{"state=lost", "since=today", "cursor=x", "owner=-a"} {
			if status, body := get("/api/v1/jobs?"+q, adminSecret); status != 400 {
				t.Errorf("?%s = %d %s", q, status, body)
			}
		}
		// A token confined to beta/ sees only beta's jobs; acme's are forbidden.
		beta := e.token("beta", []string{portalapi.ScopePoliciesRead}, "beta/")
		if got := ids("/api/v1/jobs", beta); got != "[5]" {
			t.Errorf("beta token sees %s", got)
		}
		if status, _ := get("/api/v1/repos/acme/web/jobs", beta); status != 403 {
			t.Errorf("beta token on acme/web = %d", status)
		}
	})
}
