package garoctl

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func githubCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "github",
		Short: "Inspect what garo-server spends of GitHub",
	}
	cmd.AddCommand(githubRateLimitCommand(g))
	return cmd
}

// rateLimitTable has one row per budget; RESET is how long until GitHub renews it.
func rateLimitTable(now time.Time, l *portalapi.GitHubRateLimits) table {
	t := table{
		head:     []string{"CREDENTIAL", "RESOURCE", "REMAINING", "LIMIT", "USED", "RESET"},
		wideHead: []string{"RESET AT"},
	}
	for _, b := range l.Budgets {
		reset, at := "-", "-"
		if b.ResetAt != nil {
			reset = "in " + age(*b.ResetAt, now)
			at = stamp(*b.ResetAt)
		}
		t.rows = append(t.rows, []string{b.Credential, b.Resource, strconv.Itoa(b.Remaining), strconv.Itoa(b.Limit), strconv.Itoa(b.Used), reset})
		t.wideRows = append(t.wideRows, []string{at})
	}
	return t
}

func githubRateLimitCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rate-limit",
		Short: "Show GitHub's rate-limit budgets as garo-server last saw them",
		Long: `Show every GitHub rate-limit budget garo-server has seen, per credential (app: the
GitHub App's own; installation/<id>: one installation of the App; pat: a personal access
token) and resource, as GitHub reported it on its last answer. garo-server asks GitHub
nothing to answer: a budget shows once a call has used it. Needs a token with agents:read
and without owner prefixes (the budgets are shared by every owner).`,
		Example: "  garoctl github rate-limit\n  garoctl github rate-limit -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.GitHubRateLimits(cmd.Context())
			if err != nil {
				return err
			}
			if l.Mode == portalapi.GitHubModeNone {
				cmd.PrintErrln("garoctl: garo-server has no GitHub credentials (github.app_id or github.pat): no budget is spent")
			}
			return g.print(cmd, l, rateLimitTable(g.now(), l))
		},
	}
}
