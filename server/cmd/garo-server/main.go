// Command garo-server is Garo's hub: the portal REST API, the GitHub webhook receiver and
// the agent protocol. See docs/ and `garo-server --help`.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	// Schedule windows name IANA time zones; a scratch image has no zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/server/app"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/configload"
	"github.com/garo-dev/garo/shared/logging"
	"github.com/garo-dev/garo/shared/probe"
	"github.com/garo-dev/garo/shared/version"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "garo-server:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var configFile string
	root := &cobra.Command{
		Use:   "garo-server",
		Short: "Garo's hub: runner policies, portal API, GitHub webhooks, agent protocol",
		Long: "garo-server stores runner policies per repository and serves them to the portal,\n" +
			"garoctl and Garo agents. Configuration comes from a YAML file (--config or GARO_CONFIG),\n" +
			"GARO_* environment variables and flags, in rising order of precedence.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configFile, "config", os.Getenv("GARO_CONFIG"), "YAML configuration file")
	config.RegisterFlags(root.PersistentFlags())

	load := func(cmd *cobra.Command) (config.Config, error) {
		cfg, err := config.Load(configFile, cmd.Flags())
		if err != nil {
			return cfg, fmt.Errorf("invalid configuration:\n%w", err)
		}
		return cfg, nil
	}

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the server until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			if err != nil {
				return err
			}
			// GARO_* variables that name no key (GARO_STRICT_ENV=1 made them errors of load).
			configload.WarnUnknown(log, config.EnvPrefix, config.UnknownEnv())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx, cfg, log, func(addr net.Addr, tokenFile string) {
				out := cmd.OutOrStdout()
				scheme := "http"
				if cfg.Server.TLS.Enabled() {
					scheme = "https"
				}
				fmt.Fprintf(out, "garo-server %s listening on %s://%s (database: %s)\n", version.Version, scheme, addr, cfg.Database.Driver)
				if tokenFile != "" {
					fmt.Fprintf(out, "first start: the admin token is in %s (mode 0600)\n  export GARO_TOKEN=$(cat %s)\n", tokenFile, tokenFile)
				}
			})
		},
	}

	printCmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration as YAML, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			for _, u := range config.UnknownEnv() {
				fmt.Fprintf(cmd.ErrOrStderr(), "garo-server: warning: %s\n", u)
			}
			return configload.PrintYAML(cmd.OutOrStdout(), cfg.Redacted())
		},
	}
	configCmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	configCmd.AddCommand(printCmd)

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "garo-server", version.Get())
		},
	}
	var ready bool
	healthCmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the running server's /healthz (or /readyz with --ready) on server.listen and exit 0 only on 200: a HEALTHCHECK for images without a shell",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			check := probe.Local
			if cfg.Server.TLS.Enabled() {
				check = probe.LocalTLS
			}
			if err := check(cmd.Context(), cfg.Server.Listen, path); err != nil {
				return fmt.Errorf("server.listen: %w", err)
			}
			return nil
		},
	}
	healthCmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (the database answers) instead of /healthz")

	var tokenName, tokenFile string
	adminCreate := &cobra.Command{
		Use:   "create",
		Short: "Mint a new admin token on the configured database, on purpose (e.g. after every admin token expired or was deleted)",
		Long: "create stores a new admin token (audited as token.create by garo-server admin-token) and writes\n" +
			"its secret to --file (mode 0600; an existing file is refused) or, without --file, to standard\n" +
			"output. The server never makes a bootstrap admin token twice for one database: this is the\n" +
			"way back. Whoever can run it can read the database configuration, and so controls Garo anyway.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			if err != nil {
				return err
			}
			if tokenFile != "" {
				if _, err := os.Lstat(tokenFile); err == nil {
					return fmt.Errorf("--file %s exists already: name another file, or remove it first", tokenFile)
				}
			}
			id, secret, err := app.MintAdminToken(cmd.Context(), cfg, tokenName, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if tokenFile == "" {
				fmt.Fprintln(out, secret)
				return nil
			}
			if err := auth.WriteTokenFile(tokenFile, secret); err != nil {
				return fmt.Errorf("admin token %s was stored, but its secret could not be written (delete the token and run again): %w", id, err)
			}
			fmt.Fprintf(out, "admin token %s (%s) written to %s (mode 0600)\n", id, tokenName, tokenFile)
			return nil
		},
	}
	adminCreate.Flags().StringVar(&tokenName, "name", "recovered-admin", "name of the new token")
	adminCreate.Flags().StringVar(&tokenFile, "file", "", "write the secret to this file (mode 0600) instead of standard output")
	adminCmd := &cobra.Command{Use: "admin-token", Short: "Manage admin tokens from the server's host"}
	adminCmd.AddCommand(adminCreate)
	root.AddCommand(serve, configCmd, versionCmd, healthCmd, adminCmd)
	return root
}
