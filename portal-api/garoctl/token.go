package garoctl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func tokenCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Manage API tokens (admin scope)",
	}
	cmd.AddCommand(tokenCreateCommand(g), tokenListCommand(g), tokenRevokeCommand(g))
	return cmd
}

func tokenTable(items []portalapi.Token) table {
	t := table{
		head:     []string{"ID", "NAME", "SCOPES", "OWNER PREFIXES", "EXPIRES"},
		wideHead: []string{"CREATED BY", "CREATED", "LAST USED"},
	}
	opt := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return stamp(*p)
	}
	for _, k := range items {
		t.rows = append(t.rows, []string{k.ID, k.Name, join(k.Scopes), join(k.OwnerPrefixes), opt(k.ExpiresAt)})
		t.wideRows = append(t.wideRows, []string{orDash(k.CreatedBy), stamp(k.CreatedAt), opt(k.LastUsedAt)})
	}
	return t
}

var allScopes = []string{portalapi.ScopeAdmin, portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite,
	portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}

func tokenCreateCommand(g *globals) *cobra.Command {
	var (
		req     portalapi.TokenRequest
		expires time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME --scope SCOPE...",
		Short: "Create an API token; its secret is printed this once",
		Long: `create makes an API token with the given scopes (admin, policies:read, policies:write,
agents:read, agents:write), optionally limited to repositories whose owner starts with one
of --owner-prefix, and expiring after --expires-in. The secret is printed once on standard
output (alone on its line in table output); the server keeps only its hash.`,
		Example: `  garoctl token create ci-apply --scope policies:write --owner-prefix acme --expires-in 720h > ci.token
  garoctl token create viewer --scope policies:read --scope agents:read -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if len(req.Scopes) == 0 {
				return usageError{fmt.Errorf("create needs at least one --scope")}
			}
			if cmd.Flags().Changed("expires-in") {
				d := portalapi.Duration(expires)
				req.ExpiresIn = &d
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.output == "json" || g.output == "yaml" {
				return g.print(cmd, t, table{})
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), t.Secret); err != nil {
				return err
			}
			fmt.Fprintf(g.errOut(), "API token %s (%s) created with scopes %s; the secret above is shown only this once\n",
				t.ID, t.Name, join(t.Scopes))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&req.Scopes, "scope", nil, "scope to grant (repeatable): admin, policies:read, policies:write, agents:read, agents:write")
	f.StringSliceVar(&req.OwnerPrefixes, "owner-prefix", nil, "only repositories whose owner starts with this (repeatable)")
	f.DurationVar(&expires, "expires-in", 0, "lifetime (default: never expires)")
	_ = cmd.RegisterFlagCompletionFunc("scope", cobra.FixedCompletions(allScopes, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func tokenListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, l, tokenTable(l.Items))
		},
	}
}

func tokenRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "revoke ID",
		Short:             "Revoke an API token: it stops working at once",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeTokens,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "API token %s revoked\n", args[0])
			return err
		},
	}
}
