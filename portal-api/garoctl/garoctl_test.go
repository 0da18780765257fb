package garoctl_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
	"github.com/garo-dev/garo/shared/version"
)

const token = "garo_dGVzdC10b2tlbi1mb3ItZ2Fyb2N0bC10ZXN0cy0wMTIzNDU2Nzg5"

// server fakes the policy listing (two pages) and a policy lookup.
type server struct {
	mu    sync.Mutex
	uris  []string
	auths []string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.uris = append(s.uris, r.RequestURI)
	s.auths = append(s.auths, r.Header.Get("Authorization"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/policies" && r.URL.Query().Get("cursor") == "":
		fmt.Fprint(w, `{"items":[{"name":"a","idle_grace":"5m","bootstrap_timeout":"10m"}],"next_cursor":"p2"}`)
	case r.URL.Path == "/api/v1/policies":
		fmt.Fprint(w, `{"items":[{"name":"b","idle_grace":"5m","bootstrap_timeout":"10m"}]}`)
	case r.URL.Path == "/api/v1/repos/acme/web/jobs" && r.URL.Query().Get("cursor") == "":
		fmt.Fprint(w, `{"items":[{"id":2,"state":"queued","agent_state":"waiting_for_capacity","queue_position":1,"received_at":"2026-11-23T10:00:01Z","updated_at":"2026-11-23T10:00:01Z","timeline":[]}],"next_cursor":"j2"}`)
	case r.URL.Path == "/api/v1/repos/acme/web/jobs":
		fmt.Fprint(w, `{"items":[{"id":1,"state":"in_progress","received_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z","timeline":[]}]}`)
	case r.URL.Path == "/api/v1/repos/acme/web/jobs/1":
		fmt.Fprint(w, `{"id":1,"state":"in_progress","received_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z","timeline":[{"step":"received","at":"2026-11-23T10:00:00Z"}]}`)
	case r.URL.Path == "/api/v1/agents":
		fmt.Fprint(w, `{"items":[{"id":"a1","name":"rack-4","agent_group":"gpu","status":"offline"}]}`)
	case r.URL.Path == "/api/v1/agent-groups":
		fmt.Fprint(w, `{"items":[{"name":"default","description":"","policy_count":1,"created_at":"2026-01-02T03:04:05Z"}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"no such policy"}}`)
	}
}

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := garoctl.NewCommand(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestPolicyListAll(t *testing.T) {
	t.Parallel()
	s := &server{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	out, err := run(t, map[string]string{"GARO_SERVER": srv.URL, "GARO_TOKEN": token},
		"policy", "list", "--all", "--enabled=false", "--owner", "acme")
	if err != nil {
		t.Fatal(err)
	}
	var l portalapi.PolicyList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("output %q is not a PolicyList: %v", out, err)
	}
	if len(l.Items) != 2 || l.Items[0].Name != "a" || l.Items[1].Name != "b" || l.NextCursor != "" {
		t.Errorf("list = %+v, want a and b with no cursor", l)
	}
	if !strings.Contains(out, "\n  \"items\"") {
		t.Errorf("output is not indented JSON: %q", out)
	}
	want := []string{"/api/v1/policies?enabled=false&owner=acme", "/api/v1/policies?cursor=p2&enabled=false&owner=acme"}
	if fmt.Sprint(s.uris) != fmt.Sprint(want) {
		t.Errorf("requests = %v, want %v", s.uris, want)
	}
	for _, a := range s.auths {
		if a != "Bearer "+token {
			t.Errorf("Authorization = %q", a)
		}
	}
}

func TestJobsAndAgents(t *testing.T) {
	t.Parallel()
	s := &server{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	env := map[string]string{"GARO_SERVER": srv.URL, "GARO_TOKEN": token}

	out, err := run(t, env, "job", "list", "acme/web", "--all", "--state", "queued", "--since", "2026-11-23T09:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	var l portalapi.JobList
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 2 || l.Items[0].QueuePosition != 1 || l.Items[1].ID != 1 {
		t.Fatalf("job list --all = %q (%v)", out, err)
	}
	out, err = run(t, env, "job", "get", "acme/web", "1")
	if err != nil || !strings.Contains(out, `"step": "received"`) {
		t.Fatalf("job get = %q, %v", out, err)
	}
	out, err = run(t, env, "agent", "list", "--group", "gpu", "--status", "offline")
	if err != nil || !strings.Contains(out, `"rack-4"`) {
		t.Fatalf("agent list = %q, %v", out, err)
	}
	want := []string{
		"/api/v1/repos/acme/web/jobs?since=2026-11-23T09%3A00%3A00Z&state=queued",
		"/api/v1/repos/acme/web/jobs?cursor=j2&since=2026-11-23T09%3A00%3A00Z&state=queued",
		"/api/v1/repos/acme/web/jobs/1",
		"/api/v1/agents?group=gpu&status=offline",
	}
	if fmt.Sprint(s.uris) != fmt.Sprint(want) {
		t.Errorf("requests = %v, want %v", s.uris, want)
	}
}

func TestTokenFileAndServerFlag(t *testing.T) {
	t.Parallel()
	s := &server{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// --token-file wins over GARO_TOKEN; --server wins over GARO_SERVER.
	env := map[string]string{"GARO_SERVER": "http://127.0.0.1:1", "GARO_TOKEN": "garo_other"}
	out, err := run(t, env, "--server", srv.URL, "--token-file", file, "group", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"name": "default"`) {
		t.Errorf("output %q lacks the group", out)
	}
	if s.auths[0] != "Bearer "+token {
		t.Errorf("Authorization = %q, want the token file's", s.auths[0])
	}
}

func TestPolicyGetNotFound(t *testing.T) {
	t.Parallel()
	s := &server{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	_, err := run(t, map[string]string{"GARO_SERVER": srv.URL, "GARO_TOKEN": token}, "policy", "get", "acme/web", "x y")
	if err == nil || !strings.Contains(err.Error(), "no such policy") {
		t.Fatalf("err = %v, want the server's not-found message", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error leaks the token: %v", err)
	}
	if s.uris[0] != "/api/v1/repos/acme/web/policies/x%20y" {
		t.Errorf("request = %s", s.uris[0])
	}
}

func TestErrorsBeforeSending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no token", nil, []string{"group", "list"}, "GARO_TOKEN"},
		{"bad enabled", map[string]string{"GARO_TOKEN": token}, []string{"policy", "list", "--enabled", "maybe"}, "--enabled"},
		{"bad repository", map[string]string{"GARO_TOKEN": token}, []string{"policy", "get", "acme", "ci"}, "owner/name"},
		{"missing name", map[string]string{"GARO_TOKEN": token}, []string{"policy", "get", "acme/web"}, "accepts 2 arg"},
		{"bad job id", map[string]string{"GARO_TOKEN": token}, []string{"job", "get", "acme/web", "x"}, "JOB_ID"},
		{"bad since", map[string]string{"GARO_TOKEN": token}, []string{"job", "list", "acme/web", "--since", "yesterday"}, "--since"},
		{"bad job repository", map[string]string{"GARO_TOKEN": token}, []string{"job", "list", "acme"}, "owner/name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := run(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	if out != version.Get().String()+"\n" {
		t.Errorf("version printed %q", out)
	}
}

func TestHelpHidesToken(t *testing.T) {
	t.Parallel()
	out, err := run(t, map[string]string{"GARO_TOKEN": token, "GARO_SERVER": "http://garo.example:9000"}, "--help")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, token) {
		t.Error("--help shows the token")
	}
	if !strings.Contains(out, "http://garo.example:9000") {
		t.Errorf("--help does not show the server default from GARO_SERVER:\n%s", out)
	}
}
