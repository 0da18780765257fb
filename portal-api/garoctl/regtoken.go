package garoctl

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func regTokenCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "registration-token",
		Aliases: []string{"regtoken", "registration-tokens"},
		Short:   "Manage the one-time tokens agents register with",
	}
	cmd.AddCommand(regTokenCreateCommand(g), regTokenListCommand(g), regTokenDeleteCommand(g))
	return cmd
}

func regTokenTable(items []portalapi.RegistrationToken) table {
	t := table{head: []string{"ID", "GROUP", "USES LEFT", "EXPIRES", "DESCRIPTION"}, wideHead: []string{"CREATED BY", "CREATED"}}
	for _, r := range items {
		t.rows = append(t.rows, []string{r.ID, r.Group, strconv.Itoa(r.UsesLeft), stamp(r.ExpiresAt), orDash(r.Description)})
		t.wideRows = append(t.wideRows, []string{orDash(r.CreatedBy), stamp(r.CreatedAt)})
	}
	return t
}

func regTokenCreateCommand(g *globals) *cobra.Command {
	var (
		group   string
		req     portalapi.RegistrationTokenRequest
		expires time.Duration
		uses    int
	)
	cmd := &cobra.Command{
		Use:   "create --group GROUP",
		Short: "Create a registration token; its secret is printed this once",
		Long: `create makes a registration token for an agent group. The secret is printed once,
on standard output and alone on its line in table output, so that a script can capture it;
the server keeps only its hash. Give it to garo-agent (agent.registration_token_file).`,
		Example: `  garoctl registration-token create --group gpu --expires-in 1h --uses 3
  garoctl registration-token create --group default -o json | jq -r .token > reg.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("expires-in") {
				d := portalapi.Duration(expires)
				req.ExpiresIn = &d
			}
			if cmd.Flags().Changed("uses") {
				req.Uses = &uses
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.CreateRegistrationToken(cmd.Context(), group, req)
			if err != nil {
				return err
			}
			if g.output == "json" || g.output == "yaml" {
				return g.print(cmd, t, table{})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", t.Token)
			if err == nil {
				fmt.Fprintf(g.errOut(), "registration token %s for group %s, %d uses, expires %s; the secret above is shown only this once\n",
					t.ID, t.Group, t.UsesLeft, stamp(t.ExpiresAt))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", portalapi.DefaultAgentGroup, "agent group the registering agent joins")
	f.StringVar(&req.Description, "description", "", "what the token is for")
	f.DurationVar(&expires, "expires-in", 0, "lifetime (default: the server's)")
	f.IntVar(&uses, "uses", 0, "how many agents may register with it (default: the server's, 1)")
	_ = cmd.RegisterFlagCompletionFunc("group", g.completeGroups)
	return cmd
}

func regTokenListCommand(g *globals) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a group's registration tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.ListRegistrationTokens(cmd.Context(), group)
			if err != nil {
				return err
			}
			return g.print(cmd, l, regTokenTable(l.Items))
		},
	}
	cmd.Flags().StringVar(&group, "group", portalapi.DefaultAgentGroup, "agent group")
	_ = cmd.RegisterFlagCompletionFunc("group", g.completeGroups)
	return cmd
}

func regTokenDeleteCommand(g *globals) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:               "delete ID",
		Short:             "Delete a registration token; agents that registered with it stay",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeRegTokens,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRegistrationToken(cmd.Context(), group, args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "registration token %s deleted\n", args[0])
			return err
		},
	}
	cmd.Flags().StringVar(&group, "group", portalapi.DefaultAgentGroup, "agent group")
	_ = cmd.RegisterFlagCompletionFunc("group", g.completeGroups)
	return cmd
}
