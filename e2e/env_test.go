// Package e2e_test runs garo-server, the GitHub simulator and garo-agent together, in
// one process: the only place that may import both the server and the agent.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	serverapp "github.com/garo-dev/garo/server/app"
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

// env is a server on SQLite (or PostgreSQL) wired to the simulator as its GitHub App.
type env struct {
	sim    *githubsim.Sim
	server string // base URL
	portal *client.Client
	dir    string
	cfg    config.Config
	stop   func() // stops the running server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// envOptions varies newEnv.
type envOptions struct {
	// simBaseURL sets the simulator's Options.BaseURL to its own 127.0.0.1 URL, the
	// sim_url of its JIT configs: a runner in a container on the host network reaches it
	// there.
	simBaseURL bool
	// database, when set (testdb.Postgres(t)), is the server's database instead of a
	// SQLite file in the env's directory.
	database testdb.Backend
	// simHandler, when set, wraps the simulator's handler: a test can hold some of its
	// requests (a runner completing its job, say) until it has seen what it waits for.
	simHandler func(http.Handler) http.Handler
}

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	var target sync.Map // "url" → *url.URL: the simulator needs the webhook URL first
	forward := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := target.Load("url")
		if !ok {
			http.Error(w, "server not up", http.StatusServiceUnavailable)
			return
		}
		proxy := httputil.NewSingleHostReverseProxy(u.(*url.URL))
		proxy.ErrorLog = stdlog.New(io.Discard, "", 0) // a server that is down is expected here
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(forward.Close)
	api := httptest.NewUnstartedServer(nil) // listening: its URL can go into the options
	simOpts := githubsim.Options{WebhookURL: forward.URL + "/webhooks/github", WebhookSecret: hookSecret, PathPrefix: "/api/v3"}
	if o.simBaseURL {
		simOpts.BaseURL = "http://" + api.Listener.Addr().String()
	}
	sim, err := githubsim.New(simOpts)
	if err != nil {
		api.Close()
		t.Fatal(err)
	}
	api.Config.Handler = sim
	if o.simHandler != nil {
		api.Config.Handler = o.simHandler(sim)
	}
	api.Start()
	t.Cleanup(func() {
		api.Close()
		sim.Close()
	})
	sim.AddRepository(repo)

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, sim.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "garo.db")
	if o.database.Driver != "" {
		cfg.Database.Driver, cfg.Database.DSN = o.database.Driver, o.database.DSN
	}
	cfg.Auth.BootstrapAdminToken = adminToken
	cfg.GitHub.APIURL = api.URL + "/api/v3/"
	cfg.GitHub.AppID = sim.AppID()
	cfg.GitHub.PrivateKeyFile = keyFile
	cfg.GitHub.WebhookSecret = hookSecret
	cfg.Agents.HeartbeatInterval = time.Second
	cfg.Agents.LongPollTimeout = 10 * time.Second
	cfg.Agents.OfflineAfter = 10 * time.Second
	// Catch up quickly on what a server restart made GitHub's deliveries miss.
	cfg.GitHub.Catchup.RedeliverInterval = 10 * time.Second
	cfg.GitHub.Catchup.ReconcileInterval = 10 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &env{sim: sim, dir: dir, cfg: cfg}
	addr := e.startServer(t)
	t.Cleanup(func() { e.stopServer() })
	base, _ := url.Parse("http://" + addr.String())
	target.Store("url", base)
	portal, err := client.New(base.String(), adminToken)
	if err != nil {
		t.Fatal(err)
	}
	e.server, e.portal = base.String(), portal
	return e
}

// startServer runs garo-server with e.cfg until stopServer; a restart listens on the
// address of the first start, so that agents and the simulator find it again.
func (e *env) startServer(t *testing.T) net.Addr {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serverapp.Run(ctx, e.cfg, log.With("side", "server"), func(a net.Addr, _ string) { ready <- a })
	}()
	select {
	case addr := <-ready:
		e.cfg.Server.Listen = addr.String()
		e.stop = func() { cancel(); <-done }
		return addr
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	return nil
}

// stopServer stops the running server, if any, and waits for it.
func (e *env) stopServer() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
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
	uses := 1
	tok, err := e.portal.CreateRegistrationToken(t.Context(), "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// jobs lists the repository's jobs through the portal API.
func (e *env) jobs(t *testing.T) []portalapi.Job {
	t.Helper()
	var all []portalapi.Job
	cursor := ""
	for {
		u := e.server + "/api/v1/repos/" + repo + "/jobs?limit=100"
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

// agent is one garo-agent run, in process, on the memory provider.
type agent struct {
	cancel context.CancelFunc
	done   chan error
}

func (e *env) agentConfig(token string) app.Config {
	cfg := app.Defaults()
	cfg.Server.URL = e.server
	cfg.RegistrationToken = token
	cfg.Name = "e2e-agent"
	cfg.StateFile = filepath.Join(e.dir, "agent", "state.json")
	cfg.Status.Listen = ""
	cfg.Scheduler.Interval = 250 * time.Millisecond
	cfg.Scheduler.Parallel = 10
	return cfg
}

func startAgent(t *testing.T, cfg app.Config, prov *memory.Provider, opts app.Options) *agent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	a := &agent{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	opts.Provider = prov
	opts.Ready = func(string, net.Addr) { close(ready) }
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("side", "agent")
	go func() { a.done <- app.Run(ctx, cfg, log, opts) }()
	select {
	case <-ready:
	case err := <-a.done:
		t.Fatalf("agent did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not start")
	}
	t.Cleanup(func() { _ = a.stop() })
	return a
}

// stop cancels the agent's context and waits for it.
func (a *agent) stop() error {
	a.cancel()
	select {
	case err, ok := <-a.done:
		if ok {
			close(a.done)
		}
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("agent did not stop")
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
