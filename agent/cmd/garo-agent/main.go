// Command garo-agent runs next to the runners of a Garo installation. For now it only
// reports its version; the agent itself comes in a later change.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/shared/version"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "garo-agent:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "garo-agent",
		Short: "Run GitHub Actions self-hosted runners for a Garo server",
		Long: `garo-agent is the worker half of Garo, an orchestrator of GitHub Actions
self-hosted runners. It runs next to a Docker host or in a Kubernetes cluster, asks
garo-server which runners its agent group must provide, and starts, watches and
removes those runners.

This build only reports its version; serving runners comes in a later release.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of garo-agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Get().String())
			return err
		},
	})
	return root
}
