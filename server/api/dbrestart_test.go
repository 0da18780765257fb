package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// A PostgreSQL restart that is over before anybody could ping (its sessions ended with
// SQLSTATE 57P01, the server already back) answers a write 503 with Retry-After, not 500,
// and a read is tried again on a fresh connection and succeeds (issue 14, finding 4).
func TestSessionsEndedByARestartAnswer503(t *testing.T) {
	b := testdb.Postgres(t)
	url, _ := serve(t, b)
	e := envOn(t, url, nil)
	admin, err := pgx.Connect(t.Context(), b.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(t.Context()) }()
	terminate := func() {
		t.Helper()
		// Every session of the API's pool, as `pg_ctl restart -m fast` ends them.
		if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(policyRequest("linux"))

	if resp, got := e.do(http.MethodGet, "/api/v1/policies", adminSecret, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("list before: %d %s", resp.StatusCode, got)
	}
	terminate()
	resp, got := e.do(http.MethodPost, "/api/v1/repos/acme/web/policies", adminSecret, "application/json", string(body))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("write on ended sessions: %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), got)
	}
	var apiErr portalapi.ErrorBody
	if err := json.Unmarshal([]byte(got), &apiErr); err != nil || apiErr.Error.Code != portalapi.CodeUnavailable {
		t.Fatalf("503 body %s: %v", got, err)
	}

	if resp, got := e.do(http.MethodPost, "/api/v1/repos/acme/web/policies", adminSecret, "application/json", string(body)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("write after: %d %s", resp.StatusCode, got)
	}
	terminate()
	if resp, got := e.do(http.MethodGet, "/api/v1/repos/acme/web/policies/linux", adminSecret, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("read on ended sessions: %d %s, want 200 (retried on a fresh connection)", resp.StatusCode, got)
	}
}
