// Package app assembles garo-server from its configuration and runs it until its context
// ends: store (with migrations), bootstrap admin token, and the HTTP server.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/webhook"
	"github.com/garo-dev/garo/shared/version"
)

// Started is told where the server listens once it accepts connections, and which admin
// token file it wrote, if any ("" when none).
type Started func(addr net.Addr, adminTokenFile string)

// Run serves until ctx ends, then shuts down gracefully within the configured timeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, started Started) error {
	st, err := store.Open(ctx, storeConfig(cfg.Database), log)
	if err != nil {
		return err
	}
	defer st.Close()
	tokenFile, err := auth.Bootstrap(ctx, st, auth.BootstrapConfig{
		Token: cfg.Auth.BootstrapAdminToken, File: cfg.Auth.AdminTokenFile,
	}, log)
	if err != nil {
		return err
	}
	v := version.Get()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	jobLog := jobs.NewService(st, log, reg)
	if len(webhookSecrets(cfg.GitHub)) == 0 {
		log.Warn("github.webhook_secret is not set: webhooks are refused with 503")
	}
	hook := webhook.NewHandler(webhook.Config{Secrets: webhookSecrets(cfg.GitHub), MaxBody: cfg.GitHub.WebhookMaxBodyBytes}, jobLog, st, log, reg)
	handler := api.New(api.Deps{
		Store: st, Log: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Version: portalapi.VersionInfo{Version: v.Version, Commit: v.Commit, BuildDate: v.BuildDate, GoVersion: v.GoVersion},
		Webhook: hook,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	})
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("garo-server listening", "addr", ln.Addr().String(), "database", cfg.Database.Driver, "version", v.Version)
	if started != nil {
		started(ln.Addr(), tokenFile)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// storeConfig maps the database section to the store's settings.
func storeConfig(d config.Database) store.Config {
	c := store.Config{Driver: d.Driver, DSN: d.DSN, MaxOpenConns: d.MaxOpenConns, ConnMaxLifetime: d.ConnMaxLifetime}
	if d.Driver == store.DriverSQLite {
		c.DSN = d.SQLitePath
	}
	return c
}

// webhookSecrets lists the accepted webhook secrets, the current one first.
func webhookSecrets(g config.GitHub) [][]byte {
	var out [][]byte
	for _, s := range []string{g.WebhookSecret, g.WebhookSecretPrevious} {
		if s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}
