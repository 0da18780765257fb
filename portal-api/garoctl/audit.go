package garoctl

import (
	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func auditCommand(g *globals) *cobra.Command {
	var (
		q            client.AuditQuery
		since, until string
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List audit events (who changed what), newest first (admin scope)",
		Example: `  garoctl audit --since 24h
  garoctl audit --resource-type policy --repository acme/web --since 2026-11-23T00:00:00Z -o json
  garoctl audit --actor ci-apply --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := g.now()
			if since != "" {
				t, err := parseSince(since, now)
				if err != nil {
					return usageError{err}
				}
				q.Since = t
			}
			if until != "" {
				t, err := parseSince(until, now)
				if err != nil {
					return usageError{err}
				}
				q.Until = t
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			l := &portalapi.AuditEventList{Items: []portalapi.AuditEvent{}}
			if all {
				for e, err := range c.AllAuditEvents(cmd.Context(), q) {
					if err != nil {
						return err
					}
					l.Items = append(l.Items, e)
				}
			} else if l, err = c.ListAuditEvents(cmd.Context(), q); err != nil {
				return err
			}
			t := table{head: []string{"TIME", "ACTOR", "ACTION", "RESOURCE"}, wideHead: []string{"REPOSITORY", "TOKEN", "REQUEST"}}
			for _, e := range l.Items {
				t.rows = append(t.rows, []string{stamp(e.Time), e.Actor, e.Action, e.ResourceType + "/" + e.ResourceID})
				t.wideRows = append(t.wideRows, []string{orDash(e.Repository), orDash(e.ActorTokenID), orDash(e.RequestID)})
			}
			return g.print(cmd, l, t)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Actor, "actor", "", "only events of this actor (token name)")
	f.StringVar(&q.Action, "action", "", "only this action, e.g. policy.create")
	f.StringVar(&q.ResourceType, "resource-type", "", "only this resource type: policy, agent_group or token")
	f.StringVar(&q.ResourceID, "resource-id", "", "only this resource")
	f.StringVar(&q.Repository, "repository", "", "only events of this repository (owner/name)")
	f.StringVar(&since, "since", "", "only events since this RFC 3339 time, or this long ago (90m, 24h)")
	f.StringVar(&until, "until", "", "only events before this RFC 3339 time, or this long ago")
	f.IntVar(&q.Limit, "limit", 0, "page size, 1-500 (default: the server's, 100)")
	f.StringVar(&q.Cursor, "cursor", "", "start at this page cursor (next_cursor of the previous page)")
	f.BoolVar(&all, "all", false, "follow next_cursor and print every page as one list")
	_ = cmd.RegisterFlagCompletionFunc("resource-type", cobra.FixedCompletions(
		[]string{"policy", "agent_group", "token"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
