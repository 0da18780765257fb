package garoctl

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func agentCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "agent",
		Aliases: []string{"agents"},
		Short:   "List, inspect, drain and revoke agents",
	}
	cmd.AddCommand(agentListCommand(g), agentGetCommand(g), agentDrainCommand(g), agentUndrainCommand(g), agentRevokeCommand(g))
	return cmd
}

// counts prints a state → count map as "idle=2,busy=1", sorted by state.
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatInt(m[k], 10))
	}
	return strings.Join(parts, ",")
}

func agentTable(g *globals, items []portalapi.Agent) table {
	now := g.now()
	t := table{
		head:     []string{"ID", "NAME", "GROUP", "STATUS", "PROVIDER", "RUNNERS", "LAST SEEN"},
		wideHead: []string{"VERSION", "STATE", "REPOSITORIES", "JOBS", "REGISTERED"},
		ticking:  []int{6},
	}
	for _, a := range items {
		status := a.Status
		if a.Draining {
			status += " (draining)"
		}
		t.rows = append(t.rows, []string{a.ID, a.Name, a.Group, status, orDash(a.Provider), counts(a.Runners), age(now, a.LastSeenAt)})
		t.wideRows = append(t.wideRows, []string{orDash(a.Version), orDash(a.State), join(a.Repositories), counts(a.Jobs), stamp(a.RegisteredAt)})
	}
	return t
}

// statusDraining is the --status of agent list that the server does not know: agents
// with draining set, whatever their status.
const statusDraining = "draining"

func agentListCommand(g *globals) *cobra.Command {
	var (
		q client.AgentQuery
		w watchFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents with their status, repositories and runner counts",
		Long: `list shows the agents the token may see. --status filters by status (active, stale,
offline, revoked: the server's filter), or, with "draining", keeps the agents asked to
drain whatever their status (garoctl's filter of the full list: a draining agent is still
active, stale or offline until it is revoked).`,
		Example: "  garoctl agent list --group gpu --status offline\n  garoctl agent list --status draining\n  garoctl agent list --watch",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			query, draining := q, q.Status == statusDraining
			if draining {
				query.Status = ""
			}
			return g.listOrWatch(cmd, w, func(ctx context.Context) (frame, error) {
				l, err := c.ListAgents(ctx, query)
				if err != nil {
					return frame{}, err
				}
				if draining {
					l.Items = slices.DeleteFunc(l.Items, func(a portalapi.Agent) bool { return !a.Draining })
				}
				return frame{l, agentTable(g, l.Items)}, nil
			})
		},
	}
	w.bind(cmd)
	cmd.Flags().StringVar(&q.Group, "group", "", "only agents of this agent group")
	cmd.Flags().StringVar(&q.Status, "status", "", "only agents in this status: active, stale, offline, revoked, or draining (asked to drain)")
	_ = cmd.RegisterFlagCompletionFunc("group", g.completeGroups)
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(
		[]string{"active", "stale", "offline", "revoked", statusDraining}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func agentGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "get AGENT_ID",
		Short:             "Show one agent",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAgents,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.GetAgent(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd, a, agentTable(g, []portalapi.Agent{*a}))
		},
	}
}

func agentDrainCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "drain AGENT_ID",
		Short: "Drain an agent: no new runners; busy ones finish and its repositories move",
		Long: `drain asks an agent to drain (PUT /api/v1/agents/{id}/drain), for maintenance of
its machine or cluster: from its next heartbeat it creates no runner, lets busy runners
finish and removes idle ones. It is given no repository, and each repository it serves
moves to another live agent of its group as soon as it runs no runner of it. The drain
stays, across restarts, until "garoctl agent undrain". Draining a drained agent changes
nothing.`,
		Example:           "  garoctl agent drain 0b7f5c1e-...\n  garoctl agent list   # STATUS shows (draining); RUNNERS fall to zero",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAgents,
		RunE: g.agentDrainRun((*client.Client).DrainAgent, func(a *portalapi.Agent) string {
			return fmt.Sprintf("agent %s draining: it creates no runners; busy ones finish and its repositories move to other agents of group %s", a.ID, a.Group)
		}),
	}
}

func agentUndrainCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undrain AGENT_ID",
		Short: "Lift an agent's drain: it takes work again",
		Long: `undrain lifts an agent's drain (DELETE /api/v1/agents/{id}/drain): from its next
heartbeat it creates runners again and may be given repositories. Repositories that moved
away during the drain stay with their new agents. Undraining an agent that is not drained
changes nothing.`,
		Example:           "  garoctl agent undrain 0b7f5c1e-...",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAgents,
		RunE: g.agentDrainRun((*client.Client).UndrainAgent, func(a *portalapi.Agent) string {
			return fmt.Sprintf("agent %s undrained: it takes work again from its next heartbeat", a.ID)
		}),
	}
}

// agentDrainRun is the RunE of drain and undrain: call the route for the agent named by
// the argument, then print the agent (-o json|yaml) or say what happens now.
func (g *globals) agentDrainRun(call func(*client.Client, context.Context, string) (*portalapi.Agent, error),
	say func(*portalapi.Agent) string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		a, err := call(c, cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if g.output == "json" || g.output == "yaml" {
			return g.print(cmd, a, table{})
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), say(a))
		return err
	}
}

func agentRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke AGENT_ID",
		Short: "Revoke an agent's credential: it can no longer call the server",
		Long: `revoke ends an agent's credential (DELETE /api/v1/agents/{id}); the agent is
told at its next call and stops. To bring the machine back, register it again with a new
registration token.`,
		Example:           "  garoctl agent revoke 0b7f5c1e-...",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAgents,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RevokeAgent(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "agent %s revoked\n", args[0])
			return err
		},
	}
}
