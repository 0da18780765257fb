package garoctl

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func runnerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "runner",
		Aliases: []string{"runners"},
		Short:   "Inspect the runners agents run now",
	}
	cmd.AddCommand(runnerListCommand(g))
	return cmd
}

func runnerTable(now time.Time, items []portalapi.Runner) table {
	t := table{
		head:     []string{"REPOSITORY", "POLICY", "NAME", "STATE", "JOB", "AGENT", "AGE"},
		wideHead: []string{"GROUP", "GITHUB ID", "INSTANCE", "REASON"},
		ticking:  []int{6},
	}
	for _, r := range items {
		job := "-"
		if r.JobID != 0 {
			job = strconv.FormatInt(r.JobID, 10)
		}
		gh := "-"
		if r.GitHubRunnerID != 0 {
			gh = strconv.FormatInt(r.GitHubRunnerID, 10)
		}
		t.rows = append(t.rows, []string{r.Repository, r.Policy, r.Name, r.State, job, orDash(r.AgentName), age(now, r.CreatedAt)})
		t.wideRows = append(t.wideRows, []string{r.AgentGroup, gh, orDash(r.ProviderID), orDash(r.Reason)})
	}
	return t
}

func runnerListCommand(g *globals) *cobra.Command {
	var (
		q client.RunnerQuery
		w watchFlags
	)
	cmd := &cobra.Command{
		Use:   "list [OWNER/REPO]",
		Short: "List runners of one repository, or of every repository the token may read",
		Long: `List the runners as their agents last reported them: creating, booting (not yet
online at GitHub), idle, busy (with the job it runs), finished or failed (until the agent
has removed it). Ordered by repository, policy and name; the server returns at most 5000,
and garoctl says so when more matched.`,
		Example: `  garoctl runner list acme/web
  garoctl runner list --state busy --agent-group gpu -o wide
  garoctl runner list --agent 0b7d3c52-5f0e-4b6e-9a55-3f2f1c9d8e21 --watch`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return g.listOrWatch(cmd, w, func(ctx context.Context) (frame, error) {
				var l *portalapi.RunnerList
				if len(args) == 1 {
					l, err = c.ListRepoRunners(ctx, args[0], q)
				} else {
					l, err = c.ListRunners(ctx, q)
				}
				if err != nil {
					return frame{}, err
				}
				if l.Truncated {
					cmd.PrintErrln("garoctl: more runners matched than the server lists (5000): narrow the filters")
				}
				return frame{l, runnerTable(g.now(), l.Items)}, nil
			})
		},
	}
	w.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&q.State, "state", "", "only runners in this state: creating, booting, idle, busy, finished or failed")
	f.StringVar(&q.Policy, "policy", "", "only runners of this policy")
	f.StringVar(&q.Agent, "agent", "", "only runners of this agent (its id)")
	f.StringVar(&q.AgentGroup, "agent-group", "", "only runners of agents of this group")
	cmd.ValidArgsFunction = g.completeRepos
	_ = cmd.RegisterFlagCompletionFunc("policy", g.completePolicyNameFlag)
	_ = cmd.RegisterFlagCompletionFunc("agent", g.completeAgents)
	_ = cmd.RegisterFlagCompletionFunc("agent-group", g.completeGroups)
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(
		[]string{"creating", "booting", "idle", "busy", "finished", "failed"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
