// Package stack runs garo-server, the GitHub simulator and garo-agent together in one
// process on 127.0.0.1: the in-process stack of the end-to-end tests (e2e/) and of the
// demo (internal/demo). The server runs on SQLite in Options.Dir (or on the database that
// Options.Server names) with the simulator as its GitHub App; agents start on demand, as
// many as a caller wants, on whatever provider their configuration or Options names.
//
// It takes contexts and returns errors instead of a testing.T because the demo runs it
// outside tests. Test support only: no production binary imports it.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/githubsim"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	serverapp "github.com/garo-dev/garo/server/app"
	"github.com/garo-dev/garo/server/config"
)

// startTimeout bounds how long a component may take to come up.
const startTimeout = 30 * time.Second

// Options shape a stack. Only Dir is required.
type Options struct {
	// Dir holds the server's SQLite database, the App's private key, the admin token file
	// and the agents' state files.
	Dir string
	// Repositories are installed on the simulator's App.
	Repositories []string
	// Log receives the components' logs, each record with side=server, githubsim or
	// agent; nil discards them.
	Log *slog.Logger
	// SimHandler, when set, wraps the simulator's handler: a test can watch or hold some
	// of its requests (a runner completing its job, say).
	SimHandler func(http.Handler) http.Handler
	// Server adjusts the server's configuration (the database, intervals) before it is
	// validated.
	Server func(*config.Config)
	// AdminToken is the server's bootstrap admin token; "" makes a random one.
	AdminToken string
	// WebhookSecret signs the simulator's deliveries; "" makes a random one.
	WebhookSecret string
}

// Stack is a running simulator and server. Close stops them; agents are stopped by their
// own Stop, before Close.
type Stack struct {
	Sim        *githubsim.Sim
	SimURL     string         // the simulator's root, http://127.0.0.1:port (its REST API is under /api/v3)
	ServerURL  string         // garo-server's root, http://127.0.0.1:port
	Portal     *client.Client // the portal API as the bootstrap admin
	AdminToken string
	Dir        string

	log    *slog.Logger
	cfg    config.Config
	target atomic.Pointer[url.URL] // where the webhook forwarder sends deliveries
	stop   func()                  // stops the running server; nil when it is down
	undo   []func()                // the forwarder and the simulator, in reverse order
}

// Start starts the simulator and the server. On an error everything started is stopped.
// ctx bounds the start only: the stack runs until Close.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Dir == "" {
		return nil, errors.New("stack: a directory is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AdminToken == "" {
		o.AdminToken = "garo_" + randomHex(24)
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = randomHex(16)
	}
	s = &Stack{AdminToken: o.AdminToken, Dir: o.Dir, log: o.Log}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	// The simulator must know the webhook URL before the server listens, and a restarted
	// server must be found again: deliveries go through a forwarder to wherever it is.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stack: webhook forwarder: %w", err)
	}
	hookURL := s.serve(ln, http.HandlerFunc(s.forward))
	if err := s.startSim(o, hookURL+"/webhooks/github"); err != nil {
		return nil, err
	}
	if s.cfg, err = s.serverConfig(o); err != nil {
		return nil, err
	}
	if err := s.StartServer(ctx); err != nil {
		return nil, err
	}
	if s.Portal, err = client.New(s.ServerURL, s.AdminToken); err != nil {
		return nil, fmt.Errorf("stack: portal client: %w", err)
	}
	return s, nil
}

// serve serves h on ln until Close and returns its root URL.
func (s *Stack) serve(ln net.Listener, h http.Handler) string {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	s.undo = append(s.undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// forward passes a webhook delivery to the running server; 503 while it is down, as
// GitHub would see it.
func (s *Stack) forward(w http.ResponseWriter, r *http.Request) {
	u := s.target.Load()
	if u == nil {
		http.Error(w, "server not up", http.StatusServiceUnavailable)
		return
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = stdlog.New(io.Discard, "", 0) // a server that is down is expected here
	proxy.ServeHTTP(w, r)
}

// startSim serves the simulator, GitHub Enterprise style under /api/v3, with its
// BaseURL on its own address: JIT configs carry it, so runner processes and containers
// on the host network reach it there.
func (s *Stack) startSim(o Options, hookURL string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stack: simulator: %w", err)
	}
	base := "http://" + ln.Addr().String()
	sim, err := githubsim.New(githubsim.Options{
		WebhookURL: hookURL, WebhookSecret: o.WebhookSecret, PathPrefix: "/api/v3", BaseURL: base,
		Log: s.log.With("side", "githubsim"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("stack: simulator: %w", err)
	}
	for _, r := range o.Repositories {
		sim.AddRepository(r)
	}
	var h http.Handler = sim
	if o.SimHandler != nil {
		h = o.SimHandler(sim)
	}
	s.Sim, s.SimURL = sim, base
	s.undo = append(s.undo, sim.Close) // undone after its server below
	s.serve(ln, h)
	return nil
}

// serverConfig is garo-server's configuration: SQLite in Dir, the simulator as its
// GitHub App, short agent intervals and catch-up loops, then Options.Server.
func (s *Stack) serverConfig(o Options) (config.Config, error) {
	keyFile := filepath.Join(o.Dir, "app.pem")
	if err := os.WriteFile(keyFile, s.Sim.PrivateKeyPEM(), 0o600); err != nil {
		return config.Config{}, fmt.Errorf("stack: %w", err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(o.Dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = o.AdminToken
	cfg.Auth.AdminTokenFile = filepath.Join(o.Dir, "admin.token")
	cfg.GitHub.APIURL = s.SimURL + "/api/v3/"
	cfg.GitHub.AppID = s.Sim.AppID()
	cfg.GitHub.PrivateKeyFile = keyFile
	cfg.GitHub.WebhookSecret = o.WebhookSecret
	cfg.Agents.HeartbeatInterval = time.Second
	cfg.Agents.LongPollTimeout = 10 * time.Second
	cfg.Agents.OfflineAfter = 10 * time.Second
	// Catch up quickly on what a server restart made GitHub's deliveries miss.
	cfg.GitHub.Catchup.RedeliverInterval = 10 * time.Second
	cfg.GitHub.Catchup.ReconcileInterval = 10 * time.Second
	if o.Server != nil {
		o.Server(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("stack: server configuration: %w", err)
	}
	return cfg, nil
}

// ServerConfig returns the server's configuration (after its first start, Server.Listen
// is the address it listens on).
func (s *Stack) ServerConfig() config.Config { return s.cfg }

// StartServer starts garo-server, at first start or after StopServer; a restart listens on
// the address of the first start, so that agents find it again. ctx bounds the start.
func (s *Stack) StartServer(ctx context.Context) error {
	if s.stop != nil {
		return errors.New("stack: the server is running")
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		done <- serverapp.Run(srvCtx, s.cfg, s.log.With("side", "server"), func(a net.Addr, _ string) { ready <- a })
	}()
	wait, stopWait := context.WithTimeout(ctx, startTimeout)
	defer stopWait()
	select {
	case addr := <-ready:
		s.cfg.Server.Listen = addr.String()
		s.ServerURL = "http://" + addr.String()
		s.target.Store(&url.URL{Scheme: "http", Host: addr.String()})
		s.stop = func() { cancel(); <-done }
		return nil
	case err := <-done:
		cancel()
		return fmt.Errorf("stack: garo-server did not start: %w", err)
	case <-wait.Done():
		cancel()
		<-done
		return fmt.Errorf("stack: garo-server did not start: %w", context.Cause(wait))
	}
}

// StopServer stops the running server, if any, and waits for it. Webhook deliveries are
// answered 503 until StartServer.
func (s *Stack) StopServer() {
	if s.stop != nil {
		s.target.Store(nil)
		s.stop()
		s.stop = nil
	}
}

// Close stops the server and the simulator. Idempotent.
func (s *Stack) Close() {
	s.StopServer()
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// RegistrationToken creates a one-time registration token of the default agent group.
func (s *Stack) RegistrationToken(ctx context.Context) (string, error) {
	uses := 1
	tok, err := s.Portal.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		return "", fmt.Errorf("stack: registration token: %w", err)
	}
	return tok.Token, nil
}

// AgentConfig is garo-agent's configuration for this stack: registering with token as
// name, its state file in Dir/name, no status endpoint, a quick scheduler. The provider
// is the caller's to choose (in the configuration or agentapp.Options.Provider).
func (s *Stack) AgentConfig(token, name string) agentapp.Config {
	cfg := agentapp.Defaults()
	cfg.Server.URL = s.ServerURL
	cfg.RegistrationToken = token
	cfg.Name = name
	cfg.StateFile = filepath.Join(s.Dir, name, "state.json")
	cfg.Status.Listen = ""
	cfg.Scheduler.Interval = 250 * time.Millisecond
	return cfg
}

// Agent is a garo-agent running in process.
type Agent struct {
	ID string // the agent id the server gave it

	cancel   context.CancelFunc
	done     chan error
	stopWait time.Duration
	once     sync.Once
	err      error
}

// StartAgent runs garo-agent with cfg and opts (opts.Ready is called too, if set) and
// returns once it is registered and ready. ctx bounds the start only: the agent runs
// until Stop.
func (s *Stack) StartAgent(ctx context.Context, cfg agentapp.Config, opts agentapp.Options) (*Agent, error) {
	agCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Agent{cancel: cancel, done: make(chan error, 1), stopWait: cfg.Shutdown.Timeout + 30*time.Second}
	ready := make(chan string, 1)
	callerReady := opts.Ready
	opts.Ready = func(id string, addr net.Addr) {
		if callerReady != nil {
			callerReady(id, addr)
		}
		ready <- id
	}
	go func() { a.done <- agentapp.Run(agCtx, cfg, s.log.With("side", "agent"), opts) }()
	wait, stopWait := context.WithTimeout(ctx, startTimeout)
	defer stopWait()
	select {
	case a.ID = <-ready:
		return a, nil
	case err := <-a.done:
		cancel()
		return nil, fmt.Errorf("stack: garo-agent did not start: %w", err)
	case <-wait.Done():
		cancel()
		<-a.done
		return nil, fmt.Errorf("stack: garo-agent did not start: %w", context.Cause(wait))
	}
}

// Stop cancels the agent's context (it then shuts down as cfg.Shutdown says) and returns
// what its Run returned. Idempotent: later calls return the same.
func (a *Agent) Stop() error {
	a.once.Do(func() {
		a.cancel()
		select {
		case a.err = <-a.done:
		case <-time.After(a.stopWait):
			a.err = fmt.Errorf("stack: garo-agent did not stop within %s", a.stopWait)
		}
	})
	return a.err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
