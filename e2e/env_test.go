// Package e2e_test runs garo-server, the GitHub simulator and garo-agent together, in
// one process (internal/testkit/stack, which the demo runs too): with that stack, the
// only place that may import both the server and the agent.
package e2e_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit/stack"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
)

const (
	repo       = "acme/api"
	adminToken = "garo_e2e-admin-token-0123456789abcdef"
	hookSecret = "e2e-webhook-secret-0123"
)

// TestMain starts the PostgreSQL of this test binary (internal/testkit/testdb), for the
// scenarios that run the server on it.
func TestMain(m *testing.M) { testdb.Main(m) }

// env is the in-process stack (internal/testkit/stack) of one test: a server on SQLite
// (or PostgreSQL) wired to the simulator as its GitHub App, with repo installed.
type env struct {
	*stack.Stack
	sim    *githubsim.Sim
	server string // base URL
	portal *client.Client
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// envOptions varies newEnv.
type envOptions struct {
	// database, when set (testdb.Postgres(t)), is the server's database instead of a
	// SQLite file in the env's directory.
	database testdb.Backend
	// simHandler, when set, wraps the simulator's handler: a test can hold some of its
	// requests (a runner completing its job, say) until it has seen what it waits for.
	simHandler func(http.Handler) http.Handler
	// server, when set, adjusts the server's configuration further (TLS, say), and
	// serverCAs are the CAs of the certificate it then serves.
	server    func(*config.Config)
	serverCAs *x509.CertPool
	// repositories, when set, are installed on the simulator instead of repo alone.
	repositories []string
}

// logs is where the components log: warnings and errors only, on stderr.
var logs = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	repos := o.repositories
	if len(repos) == 0 {
		repos = []string{repo}
	}
	s, err := stack.Start(t.Context(), stack.Options{
		Dir: dir, Repositories: repos, Log: logs, SimHandler: o.simHandler,
		AdminToken: adminToken, WebhookSecret: hookSecret, ServerCAs: o.serverCAs,
		Server: func(cfg *config.Config) {
			if o.database.Driver != "" {
				cfg.Database.Driver, cfg.Database.DSN = o.database.Driver, o.database.DSN
			}
			if o.server != nil {
				o.server(cfg)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{Stack: s, sim: s.Sim, server: s.ServerURL, portal: s.Portal, dir: dir}
}

// startServer starts the server again after stopServer, on the address of the first
// start, so that agents and the simulator find it again.
func (e *env) startServer(t *testing.T) {
	t.Helper()
	if err := e.StartServer(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// stopServer stops the running server and waits for it; it must shut down cleanly.
func (e *env) stopServer(t *testing.T) {
	t.Helper()
	if err := e.StopServer(); err != nil {
		t.Fatalf("stop garo-server: %v", err)
	}
}

func (e *env) policy(t *testing.T, name string, minIdle, maxRunners int) *portalapi.Policy {
	t.Helper()
	grace, boot := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute)
	p, err := e.portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: name, Labels: []string{name}, MinIdle: minIdle, MaxRunners: maxRunners,
		IdleGrace: &grace, BootstrapTimeout: &boot, Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// completed counts the jobs of ids that the simulator shows completed.
func (e *env) completed(ids []int64) int {
	n := 0
	for _, id := range ids {
		if j, _ := e.sim.Job(id); j.Status == "completed" {
			n++
		}
	}
	return n
}

func (e *env) registrationToken(t *testing.T) string {
	t.Helper()
	tok, err := e.RegistrationToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jobs lists the repository's jobs through the portal API.
func (e *env) jobs(t *testing.T) []portalapi.Job { return e.jobsOf(t, repo) }

// jobsOf lists the jobs of repository r through the portal API.
func (e *env) jobsOf(t *testing.T, r string) []portalapi.Job {
	t.Helper()
	var all []portalapi.Job
	cursor := ""
	for {
		u := e.server + "/api/v1/repos/" + r + "/jobs?limit=100"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page portalapi.JobList
		if resp.StatusCode != 200 || json.Unmarshal(b, &page) != nil {
			t.Fatalf("list jobs: %d %s", resp.StatusCode, b)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// agentConfig is the stack's agent configuration with room for ten runners at once.
func (e *env) agentConfig(token string) app.Config {
	cfg := e.AgentConfig(token, "e2e-agent")
	cfg.Provider.Type = app.ProviderMemory // the tests inject their memory provider
	cfg.Scheduler.Parallel = 10
	return cfg
}

// startAgent runs garo-agent in process on prov until the test ends (or Stop).
func startAgent(t *testing.T, e *env, cfg app.Config, prov *memory.Provider, opts app.Options) *stack.Agent {
	t.Helper()
	opts.Provider = prov
	a, err := e.StartAgent(t.Context(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	return a
}
