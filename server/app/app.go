// Package app assembles garo-server from its configuration and runs it until its context
// ends: store (with migrations), bootstrap admin token, notifier, agent service, and the
// HTTP server.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/catchup"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/server/console"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/groups"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/usage"
	"github.com/garo-dev/garo/server/webhook"
	"github.com/garo-dev/garo/shared/version"
)

// Started is told where the server listens once it accepts connections, and which admin
// token file it wrote, if any ("" when none).
type Started func(addr net.Addr, adminTokenFile string)

// Run serves until ctx ends, then shuts down gracefully within the configured timeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, started Started) error {
	sc := storeConfig(cfg.Database)
	sc.Exclusive = true // a second garo-server on the same SQLite file is refused
	st, err := store.Open(ctx, sc, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Warn("close the store", "err", err)
		}
	}()
	tokenFile, err := auth.Bootstrap(ctx, st, auth.BootstrapConfig{
		Token: cfg.Auth.BootstrapAdminToken, File: cfg.Auth.AdminTokenFile,
	}, log)
	if err != nil {
		return err
	}
	v := version.Get()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	notifier, closeNotifier, err := newNotifier(ctx, cfg.Database, log)
	if err != nil {
		return err
	}
	defer closeNotifier()
	gh, err := newGitHub(cfg.GitHub, log, reg)
	if err != nil {
		return err
	}
	svc, err := build(cfg, st, notifier, gh, log, reg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	tlsCfg, err := serverTLS(cfg.Server.TLS, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           svc.api,
		TLSConfig:         tlsCfg,
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Held agent polls would keep a graceful shutdown waiting: answer them at once.
	srv.RegisterOnShutdown(svc.agents.StopPolls)
	log.Info("garo-server listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil,
		"agent_client_cert_required", cfg.Server.TLS.RequireAgentClientCert, "database", cfg.Database.Driver, "version", v.Version)
	if started != nil {
		started(ln.Addr(), tokenFile)
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "") // the pair comes from tlsCfg.GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	loopsDone := make(chan struct{})
	loopsCtx, stopLoops := context.WithCancel(ctx)
	defer func() { stopLoops(); <-loopsDone }()
	go func() {
		defer close(loopsDone)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A few sweeps per timeout: a lost runner goes within about 1.3 timeouts.
			svc.agents.RunSweep(loopsCtx, max(cfg.Agents.UnreportedRunnerTimeout/3, 10*time.Second), nil)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc.meter.Run(loopsCtx, usageMeterInterval)
		}()
		svc.loops.Run(loopsCtx)
		wg.Wait()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("garo-server shutting down", "timeout", cfg.Server.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// services are what build assembles: the API's handler and the loops Run runs.
type services struct {
	api    http.Handler
	agents *agents.Service
	loops  *catchup.Loops
	meter  *usage.Meter
}

// usageMeterInterval is how often the garo_usage_* counters are read from the runner
// records.
const usageMeterInterval = 15 * time.Second

// build is the composition root: it builds every service of the server on st and hands
// them to the API, which builds none itself.
func build(cfg config.Config, st *store.Store, notifier notify.Notifier, gh gitHub, log *slog.Logger, reg *prometheus.Registry) (services, error) {
	// Every change of the job log wakes the jobs polls of its repository's agent.
	jobLog := agents.NotifyingJobLog(jobs.NewService(st, log, reg), notifier)
	secrets, secretApps := webhookSecrets(cfg.GitHub)
	if len(secrets) == 0 {
		log.Warn("github.webhook_secret is not set: webhooks are refused with 503")
	}
	hook := webhook.NewHandler(webhook.Config{Secrets: secrets, SecretApps: secretApps, MaxBody: cfg.GitHub.WebhookMaxBodyBytes}, jobLog, st, log, reg)
	agentSvc := agents.New(st, agents.Config{
		Heartbeat: cfg.Agents.HeartbeatInterval, LongPoll: cfg.Agents.LongPollTimeout, Offline: cfg.Agents.OfflineAfter,
		Unreported: cfg.Agents.UnreportedRunnerTimeout, GitHubURL: gitHubWebURL(cfg.GitHub.APIURL),
		MaxWait: cfg.Scheduling.MaxWait,
	}, notifier, runners.NewService(runners.Config{NoJIT: cfg.GitHub.RegistrationTokensOnly}, gh), log, reg)
	v := version.Get()
	trusted, err := cfg.Server.TrustedProxyPrefixes()
	if err != nil {
		return services{}, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	l := cfg.Auth.FailureLimit
	quotaSvc := quotas.NewService(st, cfg.Scheduling.MaxWait)
	handler, err := api.New(api.Deps{
		Store: st, Log: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Version:  portalapi.VersionInfo{Version: v.Version, Commit: v.Commit, BuildDate: v.BuildDate, GoVersion: v.GoVersion},
		Auth:     auth.NewAuthenticator(st, time.Now),
		Policies: policy.NewService(st),
		Groups:   groups.NewService(st),
		Quotas:   quotaSvc,
		Usage:    usage.NewService(st, nil),
		Tokens:   auth.NewTokens(st),
		Jobs:     jobs.NewQuery(st, quotaSvc),
		Agents:   agentSvc,
		GitHub:   gh,
		Webhook:  hook,
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),

		RequireAgentClientCert: cfg.Server.TLS.RequireAgentClientCert,
		AuthLimit:              &api.AuthLimit{Burst: l.Burst, Refill: l.Refill, MaxClients: l.MaxClients},
		TrustedProxies:         trusted,
		Registry:               reg,
		Console:                console.Handler(),
	})
	if err != nil {
		return services{}, err
	}
	c := cfg.GitHub.Catchup
	loops := catchup.New(catchup.Config{
		RedeliverInterval: c.RedeliverInterval, RedeliverLookback: c.RedeliverLookback, RedeliverMax: c.RedeliverMax,
		RedeliverMaxPages: c.RedeliverMaxPages,
		ReconcileInterval: c.ReconcileInterval, ReconcileMaxRepos: c.ReconcileMaxRepos, ReconcileMaxCalls: c.ReconcileMaxCalls,
		ReconcileMaxJobs: c.ReconcileMaxJobs, ReconcileMinRemaining: c.ReconcileMinRemaining, InProgressCheck: c.InProgressCheck,
		JobRetention: cfg.Jobs.Retention,
	}, gh, st, jobLog, log, reg)
	meter := usage.NewMeter(st, nil, log.With("component", "usage"))
	reg.MustRegister(meter)
	return services{api: handler, agents: agentSvc, loops: loops, meter: meter}, nil
}

// gitHub is what the server needs of GitHub: a *githubapp.Client, or
// githubapp.NotConfigured when no GitHub credentials are configured.
type gitHub interface {
	catchup.GitHub
	runners.GitHub
	api.GitHubBudgets
}

var (
	_ gitHub = (*githubapp.Client)(nil)
	_ gitHub = githubapp.NotConfigured{}
)

// newNotifier returns the notifier that wakes held agent polls: PostgreSQL LISTEN/NOTIFY
// when several replicas may share the database, in-process otherwise. The returned
// function stops it.
func newNotifier(ctx context.Context, d config.Database, log *slog.Logger) (notify.Notifier, func(), error) {
	if d.Driver != store.DriverPostgres {
		return notify.NewLocal(), func() {}, nil
	}
	n, err := notify.StartPostgres(ctx, d.DSN, log)
	if err != nil {
		return nil, nil, err
	}
	return n, n.Close, nil
}

// gitHubWebURL derives GitHub's web root from github.api_url: https://github.com/ for
// github.com, and the host (with any path before /api/v3) for GitHub Enterprise Server.
func gitHubWebURL(apiURL string) string {
	u, err := url.Parse(apiURL)
	if apiURL == "" || err != nil || u.Host == "api.github.com" {
		return "https://github.com/"
	}
	path := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3")
	return u.Scheme + "://" + u.Host + path + "/"
}

// storeConfig maps the database section to the store's settings.
func storeConfig(d config.Database) store.Config {
	c := store.Config{Driver: d.Driver, DSN: d.DSN, MaxOpenConns: d.MaxOpenConns, ConnMaxLifetime: d.ConnMaxLifetime}
	if d.Driver == store.DriverSQLite {
		c.DSN = d.SQLitePath
	}
	return c
}

// webhookSecrets lists the accepted webhook secrets (per App the current one first) and,
// by index, the App each belongs to.
func webhookSecrets(g config.GitHub) (secrets [][]byte, apps []int64) {
	for _, s := range g.WebhookSecrets() {
		secrets, apps = append(secrets, []byte(s.Secret)), append(apps, s.AppID)
	}
	return secrets, apps
}

// newGitHub builds the GitHub client from the github section, or githubapp.NotConfigured
// when no GitHub credentials are configured (webhooks still work; catch-up, runner
// credentials and removal answer githubapp.ErrNotConfigured).
func newGitHub(g config.GitHub, log *slog.Logger, reg prometheus.Registerer) (gitHub, error) {
	if g.Mode() == "" {
		log.Warn("no GitHub credentials (github.app_id or github.pat): catch-up loops and runner credentials are off")
		return githubapp.NotConfigured{}, nil
	}
	cfg := githubapp.Config{APIURL: g.APIURL, PAT: g.PAT}
	list := g.AppList()
	for i, a := range list {
		key := []byte(a.PrivateKey)
		if a.PrivateKeyFile != "" {
			var err error
			if key, err = readKeyFile(a.PrivateKeyFile, log); err != nil {
				return nil, fmt.Errorf("%s: %w", appKey(g, i, "private_key_file"), err)
			}
		}
		cfg.Apps = append(cfg.Apps, githubapp.App{ID: a.ID, PrivateKey: key})
	}
	if len(g.Apps) == 0 && len(cfg.Apps) == 1 { // the single-App keys, named as such in errors
		cfg.AppID, cfg.PrivateKey, cfg.Apps = cfg.Apps[0].ID, cfg.Apps[0].PrivateKey, nil
	}
	gh, err := githubapp.New(cfg, log, reg)
	if err != nil {
		// A key that does not parse: name the file it came from.
		for i, a := range list {
			if a.PrivateKeyFile != "" && strings.Contains(err.Error(), appKey(g, i, "private_key")+":") {
				return nil, fmt.Errorf("%s %s: %w", appKey(g, i, "private_key_file"), a.PrivateKeyFile, err)
			}
		}
		return nil, err
	}
	log.Info("GitHub client ready", "mode", gh.Mode(), "apps", gh.Apps(), "api_url", g.APIURL)
	return gh, nil
}

// appKey names key of the i-th App as its configuration spells it: github.apps[i].key, or
// github.key for the single-App keys.
func appKey(g config.GitHub, i int, key string) string {
	if len(g.Apps) == 0 {
		return "github." + key
	}
	return fmt.Sprintf("github.apps[%d].%s", i, key)
}

// readKeyFile reads a GitHub App private key file, warning when others may read it.
func readKeyFile(path string, log *slog.Logger) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		log.Warn("the GitHub App private key file is readable by others: chmod 600 it", "file", path, "mode", info.Mode().Perm().String())
	}
	return os.ReadFile(path)
}

// MintAdminToken makes a new admin token named name on the configured database, on an
// operator's purpose (`garo-server admin-token create`): the way back after every admin
// token expired or was deleted, since the server never makes a bootstrap token twice. It
// returns the token's id and secret; the caller shows the secret once and never logs it.
func MintAdminToken(ctx context.Context, cfg config.Config, name string, log *slog.Logger) (id, secret string, err error) {
	st, err := store.Open(ctx, storeConfig(cfg.Database), log)
	if err != nil {
		return "", "", err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the store: %w", cerr)
		}
	}()
	t, secret, err := auth.MintAdmin(ctx, st, store.Actor{Name: "garo-server admin-token"}, name)
	if err != nil {
		return "", "", err
	}
	log.Warn("minted an admin token on an operator's request", "token_id", t.ID, "name", t.Name)
	return t.ID, secret, nil
}
