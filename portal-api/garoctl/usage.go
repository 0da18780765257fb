package garoctl

import (
	"strconv"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func usageCommand(g *globals) *cobra.Command {
	var (
		f   client.UsageFilter
		csv bool
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show what runners held, by day and team, policy or agent group",
		Long: `Show the usage of runners day by day (UTC) from the server's runner records: how many
lived, their runner-minutes, and the CPU- and memory-minutes their policies requested,
per owner prefix (a team; --by owner_prefix, the default), per policy (--by policy) or
per agent group (--by agent_group). A token with owner prefixes sees only its own
repositories' runners. --csv prints the server's CSV form, for a spreadsheet.`,
		Example: `  garoctl usage
  garoctl usage --since 2026-12-01 --until 2026-12-31 --prefix acme/team-a --prefix acme/team-b
  garoctl usage --by policy --csv > usage.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			rep, err := c.Usage(cmd.Context(), f)
			if err != nil {
				return err
			}
			if csv {
				return portalapi.WriteUsageCSV(cmd.OutOrStdout(), rep)
			}
			return g.print(cmd, rep, usageTable(rep))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Since, "since", "", "first day, YYYY-MM-DD (default: six days before --until)")
	fl.StringVar(&f.Until, "until", "", "last day, included, YYYY-MM-DD (default: today)")
	fl.StringVar(&f.By, "by", "", "rows by owner_prefix (default), policy or agent_group")
	fl.StringArrayVar(&f.Prefixes, "prefix", nil, "with --by owner_prefix: the owner prefixes of the rows (repeatable)")
	fl.BoolVar(&csv, "csv", false, "print CSV instead of a table")
	_ = cmd.RegisterFlagCompletionFunc("by", cobra.FixedCompletions(
		[]string{portalapi.UsageByOwnerPrefix, portalapi.UsageByPolicy, portalapi.UsageByAgentGroup}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func usageTable(r *portalapi.UsageReport) table {
	var key []string
	switch r.By {
	case portalapi.UsageByPolicy:
		key = []string{"REPOSITORY", "POLICY", "GROUP"}
	case portalapi.UsageByAgentGroup:
		key = []string{"GROUP"}
	default:
		key = []string{"OWNER PREFIX"}
	}
	t := table{head: append(append([]string{"DAY"}, key...), "RUNNERS", "RUNNER-MIN", "CPU-MIN", "GIB-MIN")}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, row := range r.Items {
		cols := []string{row.Day}
		switch r.By {
		case portalapi.UsageByPolicy:
			cols = append(cols, row.Repository, row.Policy, row.AgentGroup)
		case portalapi.UsageByAgentGroup:
			cols = append(cols, row.AgentGroup)
		default:
			cols = append(cols, row.OwnerPrefix)
		}
		t.rows = append(t.rows, append(cols, strconv.FormatInt(row.Runners, 10), num(row.RunnerMinutes), num(row.CPUMinutes), num(row.MemoryGiBMinutes)))
	}
	tot := r.Total
	t.after = []string{"total: " + strconv.FormatInt(tot.Runners, 10) + " runners, " + num(tot.RunnerMinutes) + " runner-minutes, " +
		num(tot.CPUMinutes) + " CPU-minutes, " + num(tot.MemoryGiBMinutes) + " GiB-minutes"}
	return t
}
