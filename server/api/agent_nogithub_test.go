package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestAgentProtocolWithoutGitHub: on a server without GitHub credentials (server/runners
// on githubapp.NotConfigured, as server/app builds it) the agent protocol works but for
// what needs GitHub: runner credentials and removal answer 503 unavailable with a
// Retry-After of a minute and say which settings are missing, a code that stands for no
// sentinel of the protocol (retry later, not a refusal). Refusals that need no GitHub
// keep their codes, and the agent's client maps each back to its sentinel.
func TestAgentProtocolWithoutGitHub(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		if _, err := e.admin.CreatePolicy(t.Context(), "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		a := e.register(e.registrationToken("default", 1), "host")
		if _, cfg := a.config("", ""); strings.Join(cfg.Repositories, " ") != "acme/web" {
			t.Fatalf("config = %+v", cfg)
		}
		// A runner minted while GitHub was configured: the server's record lets its agent
		// ask for its removal, which needs GitHub.
		if err := e.st.RecordMinted(t.Context(), store.MintedRunner{Name: "garo-linux-1", RepoKey: "acme/web", Policy: "linux",
			AgentID: a.id, RunnerID: 7, MintedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]struct {
			path string
			body any
		}{
			"credentials":    {"/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1"}},
			"remove by id":   {"/runners/remove", protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerID: 7, RunnerName: "garo-linux-1"}},
			"remove by name": {"/runners/remove", protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "garo-linux-1"}},
		} {
			ans := a.do(http.MethodPost, call.path, call.body)
			if ans.status != http.StatusServiceUnavailable || ans.errorCode() != protocol.CodeUnavailable ||
				ans.header.Get("Retry-After") != "60" || !strings.Contains(string(ans.body), "github.app_id or github.pat") {
				t.Errorf("%s without GitHub = %d %s (Retry-After %q), want 503 unavailable naming the settings",
					name, ans.status, ans.body, ans.header.Get("Retry-After"))
			}
			if s := protocol.Sentinel(ans.status, ans.errorCode()); s != nil {
				t.Errorf("%s without GitHub stands for %v, want no sentinel", name, s)
			}
		}

		// What needs no GitHub is refused as before, with the protocol's codes.
		for name, tc := range map[string]struct {
			client *agentClient
			path   string
			body   any
			want   error
		}{
			"another repository": {a, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/other", Policy: "linux", RunnerName: "r"}, protocol.ErrNotOwner},
			"no such policy":     {a, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "nope", RunnerName: "r"}, protocol.ErrNotFound},
			"unknown credential": {&agentClient{t: t, url: e.url, cred: "garoa_" + strings.Repeat("A", 43)}, "/heartbeat", protocol.HeartbeatRequest{}, protocol.ErrUnauthorized},
		} {
			ans := tc.client.do(http.MethodPost, tc.path, tc.body)
			if s := protocol.Sentinel(ans.status, ans.errorCode()); s != tc.want {
				t.Errorf("%s = %d %s, stands for %v, want %v", name, ans.status, ans.body, s, tc.want)
			}
		}
	})
}

// TestSharedErrorCodes: the codes the agent protocol shares with the portal API are the
// portal API's.
func TestSharedErrorCodes(t *testing.T) {
	t.Parallel()
	for proto, portal := range map[string]string{
		protocol.CodeUnauthorized:   portalapi.CodeUnauthorized,
		protocol.CodeNotFound:       portalapi.CodeNotFound,
		protocol.CodeConflict:       portalapi.CodeConflict,
		protocol.CodeInvalidRequest: portalapi.CodeInvalidRequest,
		protocol.CodeUnavailable:    portalapi.CodeUnavailable,
	} {
		if proto != portal {
			t.Errorf("protocol code %q, portal API code %q", proto, portal)
		}
	}
}

// TestNewNeedsEveryService: the API builds no service itself and falls back on none; a
// dependency left out is an error that names it.
func TestNewNeedsEveryService(t *testing.T) {
	t.Parallel()
	_, err := api.New(api.Deps{Log: testkit.Discard()})
	if err == nil {
		t.Fatal("api.New accepted missing services")
	}
	for _, name := range []string{"Store", "MaxBodyBytes", "Auth", "Policies", "Groups", "Tokens", "Jobs", "Agents", "GitHub", "Webhook", "Metrics"} {
		if !strings.Contains(err.Error(), "api.Deps."+name+" ") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "api.Deps.Log ") {
		t.Errorf("error %q names Log, which was set", err)
	}
}
