package garoctl

import (
	"strings"

	"github.com/spf13/cobra"
)

// getCommand is kubectl's verb-first spelling of the resources' get commands:
// "garoctl get policy acme/web/linux-small -o yaml" is "garoctl policy get ...".
func getCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get RESOURCE ...",
		Short: "Show one resource, verb first (get policy|group|agent|job), as kubectl spells it",
		Example: `  garoctl get policy acme/web/linux-small -o yaml > linux-small.yaml
  garoctl get agent 7f3c... -o wide`,
	}
	for _, sub := range []struct {
		c       *cobra.Command
		noun    string
		aliases []string
	}{
		{policyGetCommand(g), "policy", []string{"policies"}},
		{groupGetCommand(g), "group", []string{"groups"}},
		{agentGetCommand(g), "agent", []string{"agents"}},
		{jobGetCommand(g), "job", []string{"jobs"}},
	} {
		// "get OWNER/REPO NAME" becomes "policy OWNER/REPO NAME".
		sub.c.Use = sub.noun + strings.TrimPrefix(sub.c.Use, "get")
		sub.c.Aliases = sub.aliases
		sub.c.Example = strings.ReplaceAll(sub.c.Example, "garoctl "+sub.noun+" get ", "garoctl get "+sub.noun+" ")
		cmd.AddCommand(sub.c)
	}
	return cmd
}
