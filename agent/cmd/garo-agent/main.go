// Command garo-agent runs next to the runners of a Garo installation: it registers with
// garo-server, long-polls its config and jobs, and starts, watches and removes runners
// through a provider. See `garo-agent --help` and agent/app.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedule windows name IANA time zones; images FROM scratch have no zoneinfo

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/shared/configload"
	"github.com/garo-dev/garo/shared/logging"
	"github.com/garo-dev/garo/shared/probe"
	"github.com/garo-dev/garo/shared/version"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "garo-agent:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	var configFile string
	root := &cobra.Command{
		Use:   "garo-agent",
		Short: "Run GitHub Actions self-hosted runners for a Garo server",
		Long: `garo-agent is the worker half of Garo, an orchestrator of GitHub Actions
self-hosted runners. It runs next to a Docker engine or in (or beside) a Kubernetes
cluster, only ever calls garo-server (never the other way round), and starts, watches
and removes the runners of the repositories it serves, one container or Pod per
runner. It serves only policies whose provider is its own.

provider.type (--provider, GARO_AGENT_PROVIDER_TYPE) is required: "docker",
"kubernetes" (in-cluster configuration in a Pod, a kubeconfig otherwise), or "memory"
for tests and demos against the GitHub simulator.

Configuration comes from a YAML file (--config or GARO_AGENT_CONFIG), GARO_AGENT_*
environment variables and flags, in rising order of precedence. The first start needs
a registration token in GARO_AGENT_REGISTRATION_TOKEN; the agent then keeps its
identity in its state file (mode 0600) and the token can be removed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configFile, "config", os.Getenv("GARO_AGENT_CONFIG"), "YAML configuration file")
	app.RegisterFlags(root.PersistentFlags())
	load := func(cmd *cobra.Command) (app.Config, error) {
		cfg, err := app.Load(configFile, cmd.Flags())
		if err != nil {
			return cfg, fmt.Errorf("invalid configuration:\n%w", err)
		}
		return cfg, nil
	}

	run := &cobra.Command{
		Use:   "run",
		Short: "Register if needed, then serve runners until SIGINT or SIGTERM",
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
			// GARO_AGENT_* variables that name no key (GARO_AGENT_STRICT_ENV=1 made them
			// errors of load).
			configload.WarnUnknown(log, app.EnvPrefix, app.UnknownEnv())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx, cfg, log, app.Options{})
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
			for _, u := range app.UnknownEnv() {
				fmt.Fprintf(cmd.ErrOrStderr(), "garo-agent: warning: %s\n", u)
			}
			return configload.PrintYAML(cmd.OutOrStdout(), cfg.Redacted())
		},
	}
	configCmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	configCmd.AddCommand(printCmd)
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of garo-agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "garo-agent", version.Get().String())
			return err
		},
	}
	healthCmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the running agent's /healthz (status.listen) and exit 0 only on 200: a HEALTHCHECK for images without a shell",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			if cfg.Status.Listen == "" {
				return errors.New("status.listen is empty: the agent serves no /healthz to ask")
			}
			if err := probe.Local(cmd.Context(), cfg.Status.Listen, "/healthz"); err != nil {
				return fmt.Errorf("status.listen: %w", err)
			}
			return nil
		},
	}
	root.AddCommand(run, configCmd, versionCmd, healthCmd)
	return root
}
