// Package hub is the server half of the in-process stack (package stack): the GitHub
// simulator and garo-server wired to it as its GitHub App, on 127.0.0.1, the server on
// SQLite in Options.Dir (or on the database that Options.Server names) and restartable on
// the same address. It imports nothing of the agent, so that the server's own tests may
// run it; package stack adds agents.
//
// It takes contexts and returns errors instead of a testing.T because the demo runs it
// outside tests. Test support only: no production binary imports it.
package hub

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
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
	"sync/atomic"
	"time"

	"github.com/garo-dev/garo/githubsim"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	serverapp "github.com/garo-dev/garo/server/app"
	"github.com/garo-dev/garo/server/config"
)

// startTimeout bounds how long a component may take to come up.
const startTimeout = 30 * time.Second

// Options shape a hub. Only Dir is required.
type Options struct {
	// Dir holds the server's SQLite database, the App's private key, the admin token file
	// and the agents' state files.
	Dir string
	// Repositories are installed on the simulator's App.
	Repositories []string
	// Log receives the components' logs, each record with side=server or githubsim (and
	// side=agent, from package stack); nil discards them.
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
	// Apps are further GitHub Apps of the simulator (githubsim.Options.Apps), installed on
	// every repository of Repositories; with any, the server is configured with github.apps
	// (each App's key in Dir, its own webhook secret).
	Apps []githubsim.AppOptions
	// RateLimit, when set, is the simulator's core budget per window
	// (githubsim.Options.RateLimit), and each installation and App JWT has a window of its
	// own (githubsim.Options.SeparateRateLimits), as GitHub counts them; 0 means GitHub's
	// 5000 in one shared window.
	RateLimit int
	// ServerCAs, when Server turns TLS on (server.tls.cert_file), are the CAs of the
	// server's certificate: the portal client and the webhook forwarder trust them.
	ServerCAs *x509.CertPool
}

// Hub is a running simulator and server. Close stops them.
type Hub struct {
	Sim        *githubsim.Sim
	SimURL     string         // the simulator's root, http://127.0.0.1:port (its REST API is under /api/v3)
	ServerURL  string         // garo-server's root, http://127.0.0.1:port (https:// with server.tls)
	Portal     *client.Client // the portal API as the bootstrap admin
	AdminToken string
	Dir        string
	Log        *slog.Logger // Options.Log, or a discarding logger

	cfg    config.Config
	client *http.Client            // trusts Options.ServerCAs
	target atomic.Pointer[url.URL] // where the webhook forwarder sends deliveries
	stop   func() error            // stops the running server and returns its Run's error; nil when it is down
	undo   []func()                // the forwarder and the simulator, in reverse order
}

// Start starts the simulator and the server. On an error everything started is stopped.
// ctx bounds the start only: the hub runs until Close.
func Start(ctx context.Context, o Options) (s *Hub, err error) {
	if o.Dir == "" {
		return nil, errors.New("hub: a directory is required")
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
	s = &Hub{AdminToken: o.AdminToken, Dir: o.Dir, Log: o.Log, client: &http.Client{}}
	if o.ServerCAs != nil {
		s.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.ServerCAs, MinVersion: tls.VersionTLS12}}
	}
	started := s // "return nil, err" clears s before this runs
	defer func() {
		if err != nil {
			started.Close()
			s = nil
		}
	}()
	// The simulator must know the webhook URL before the server listens, and a restarted
	// server must be found again: deliveries go through a forwarder to wherever it is.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hub: webhook forwarder: %w", err)
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
	if s.Portal, err = client.New(s.ServerURL, s.AdminToken, client.WithHTTPClient(s.client)); err != nil {
		return nil, fmt.Errorf("hub: portal client: %w", err)
	}
	return s, nil
}

// serve serves h on ln until Close and returns its root URL.
func (s *Hub) serve(ln net.Listener, h http.Handler) string {
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
func (s *Hub) forward(w http.ResponseWriter, r *http.Request) {
	u := s.target.Load()
	if u == nil {
		http.Error(w, "server not up", http.StatusServiceUnavailable)
		return
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = s.client.Transport
	proxy.ErrorLog = stdlog.New(io.Discard, "", 0) // a server that is down is expected here
	proxy.ServeHTTP(w, r)
}

// startSim serves the simulator, GitHub Enterprise style under /api/v3, with its
// BaseURL on its own address: JIT configs carry it, so runner processes and containers
// on the host network reach it there.
func (s *Hub) startSim(o Options, hookURL string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("hub: simulator: %w", err)
	}
	base := "http://" + ln.Addr().String()
	sim, err := githubsim.New(githubsim.Options{
		WebhookURL: hookURL, WebhookSecret: o.WebhookSecret, PathPrefix: "/api/v3", BaseURL: base,
		Log: s.Log.With("side", "githubsim"), Apps: o.Apps, RateLimit: o.RateLimit, SeparateRateLimits: o.RateLimit > 0,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("hub: simulator: %w", err)
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
func (s *Hub) serverConfig(o Options) (config.Config, error) {
	keyFile := filepath.Join(o.Dir, "app.pem")
	if err := os.WriteFile(keyFile, s.Sim.PrivateKeyPEM(), 0o600); err != nil {
		return config.Config{}, fmt.Errorf("hub: %w", err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(o.Dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = o.AdminToken
	cfg.Auth.AdminTokenFile = filepath.Join(o.Dir, "admin.token")
	cfg.GitHub.APIURL = s.SimURL + "/api/v3/"
	if len(o.Apps) == 0 {
		cfg.GitHub.AppID = s.Sim.AppID()
		cfg.GitHub.PrivateKeyFile = keyFile
		cfg.GitHub.WebhookSecret = o.WebhookSecret
	} else {
		cfg.GitHub.Apps = []config.App{{ID: s.Sim.AppID(), PrivateKeyFile: keyFile, WebhookSecret: o.WebhookSecret}}
		for _, a := range o.Apps {
			file := filepath.Join(o.Dir, fmt.Sprintf("app-%d.pem", a.ID))
			if err := os.WriteFile(file, s.Sim.AppPrivateKeyPEM(a.ID), 0o600); err != nil {
				return config.Config{}, fmt.Errorf("hub: %w", err)
			}
			cfg.GitHub.Apps = append(cfg.GitHub.Apps, config.App{ID: a.ID, PrivateKeyFile: file, WebhookSecret: a.WebhookSecret})
		}
	}
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
		return config.Config{}, fmt.Errorf("hub: server configuration: %w", err)
	}
	return cfg, nil
}

// ServerConfig returns the server's configuration (after its first start, Server.Listen
// is the address it listens on).
func (s *Hub) ServerConfig() config.Config { return s.cfg }

// StartServer starts garo-server, at first start or after StopServer; a restart listens on
// the address of the first start, so that agents find it again. ctx bounds the start.
func (s *Hub) StartServer(ctx context.Context) error {
	if s.stop != nil {
		return errors.New("hub: the server is running")
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		done <- serverapp.Run(srvCtx, s.cfg, s.Log.With("side", "server"), func(a net.Addr, _ string) { ready <- a })
	}()
	wait, stopWait := context.WithTimeout(ctx, startTimeout)
	defer stopWait()
	select {
	case addr := <-ready:
		scheme := "http"
		if s.cfg.Server.TLS.Enabled() {
			scheme = "https"
		}
		s.cfg.Server.Listen = addr.String()
		s.ServerURL = scheme + "://" + addr.String()
		s.target.Store(&url.URL{Scheme: scheme, Host: addr.String()})
		s.stop = func() error { cancel(); return <-done }
		return nil
	case err := <-done:
		cancel()
		return fmt.Errorf("hub: garo-server did not start: %w", err)
	case <-wait.Done():
		cancel()
		return fmt.Errorf("hub: garo-server did not start: %w", errors.Join(context.Cause(wait), <-done))
	}
}

// StopServer stops the running server, if any, waits for it and returns what its Run
// returned (nil after a clean shutdown). Webhook deliveries are answered 503 until
// StartServer.
func (s *Hub) StopServer() error {
	if s.stop == nil {
		return nil
	}
	s.target.Store(nil)
	err := s.stop()
	s.stop = nil
	return err
}

// Close stops the server and the simulator. Idempotent.
func (s *Hub) Close() {
	if err := s.StopServer(); err != nil {
		// Close runs in cleanups that have no error to return; the log is the test's.
		s.Log.Error("hub: garo-server stopped with an error", "err", err)
	}
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// RegistrationToken creates a one-time registration token of the default agent group.
func (s *Hub) RegistrationToken(ctx context.Context) (string, error) {
	uses := 1
	tok, err := s.Portal.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		return "", fmt.Errorf("hub: registration token: %w", err)
	}
	return tok.Token, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
