package garoctl

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func jobCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Inspect the job log: what Garo knows of each GitHub Actions job",
	}
	cmd.AddCommand(jobListCommand(g), jobGetCommand(g))
	return cmd
}

func jobListCommand(g *globals) *cobra.Command {
	var (
		q     client.JobQuery
		since string
		all   bool
	)
	cmd := &cobra.Command{
		Use:   "list OWNER/REPO",
		Short: "List a repository's jobs, newest first, one page or --all",
		Long: `List a repository's jobs from Garo's job log, newest first. A queued job shows
agent_state waiting_for_capacity with its queue_position while its policy is at
max_runners, runner_requested while a runner is being made for it, and backing_off
with agent_reason and agent_retry_at while its policy is held back (its runners
failed before taking a job); an unmatched one shows why no policy serves it.`,
		Example: `  garoctl job list acme/web --state queued
  garoctl job list acme/web --state unmatched --since 2h
  garoctl job list acme/web --policy linux-small --all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Since = t
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if !all {
				l, err := c.ListRepoJobs(cmd.Context(), args[0], q)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), l)
			}
			l := &portalapi.JobList{Items: []portalapi.Job{}}
			for j, err := range c.AllRepoJobs(cmd.Context(), args[0], q) {
				if err != nil {
					return err
				}
				l.Items = append(l.Items, j)
			}
			return printJSON(cmd.OutOrStdout(), l)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.State, "state", "", "only jobs in this state: queued, waiting, unmatched, in_progress or completed")
	f.StringVar(&q.Policy, "policy", "", "only jobs matched to this policy")
	f.StringVar(&since, "since", "", "only jobs received since this RFC 3339 time, or this long ago (90m, 2h)")
	f.IntVar(&q.Limit, "limit", 0, "page size, 1-500 (default: the server's, 100)")
	f.StringVar(&q.Cursor, "cursor", "", "start at this page cursor (next_cursor of the previous page)")
	f.BoolVar(&all, "all", false, "follow next_cursor and print every page as one list")
	return cmd
}

// parseSince reads --since: an RFC 3339 time, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since must be an RFC 3339 time (2026-11-23T10:00:00Z) or a positive duration (90m), not %q", s)
}

func jobGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get OWNER/REPO JOB_ID",
		Short:   "Show one job with its timeline",
		Example: "  garoctl job get acme/web 25000000001",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("JOB_ID must be GitHub's job id (a positive number), not %q", args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), args[0], id)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), j)
		},
	}
}

func agentCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Inspect agents",
	}
	var q client.AgentQuery
	list := &cobra.Command{
		Use:     "list",
		Short:   "List agents with their status, repositories and runner counts",
		Example: "  garoctl agent list --group gpu --status offline",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.ListAgents(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), l)
		},
	}
	list.Flags().StringVar(&q.Group, "group", "", "only agents of this agent group")
	list.Flags().StringVar(&q.Status, "status", "", "only agents in this status: active, stale, offline or revoked")
	get := &cobra.Command{
		Use:   "get AGENT_ID",
		Short: "Show one agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.GetAgent(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), a)
		},
	}
	cmd.AddCommand(list, get)
	return cmd
}
