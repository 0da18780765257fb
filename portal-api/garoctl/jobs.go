package garoctl

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func jobCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "job",
		Aliases: []string{"jobs"},
		Short:   "Inspect the job log: what Garo knows of each GitHub Actions job",
	}
	cmd.AddCommand(jobListCommand(g), jobGetCommand(g))
	return cmd
}

func jobTable(now time.Time, items []portalapi.Job) table {
	t := table{
		head:     []string{"REPOSITORY", "ID", "NAME", "STATE", "AGENT STATE", "POLICY", "AGE"},
		wideHead: []string{"LABELS", "RUNNER", "CONCLUSION", "REASON", "WAITS FOR"},
		ticking:  []int{6},
	}
	for _, j := range items {
		as := orDash(j.AgentState)
		if j.AgentState == portalapi.JobWaitingForCapacity && j.QueuePosition > 0 {
			as += " #" + strconv.Itoa(j.QueuePosition)
		}
		reason := j.UnmatchedReason
		if reason == "" {
			reason = j.AgentReason
		}
		t.rows = append(t.rows, []string{j.Repository, strconv.FormatInt(j.ID, 10), orDash(j.Name), j.State, as,
			orDash(j.Policy), age(now, j.ReceivedAt)})
		t.wideRows = append(t.wideRows, []string{join(j.Labels), orDash(j.RunnerName), orDash(j.Conclusion), orDash(reason), waitsFor(j.Wait)})
	}
	return t
}

// waitsFor is the limit that holds a queued job and its place: "team_quota acme/team-a #3".
func waitsFor(w *portalapi.JobWait) string {
	if w == nil {
		return "-"
	}
	out := w.Limit
	if w.QuotaSubject != "" {
		out += " " + w.QuotaSubject
	}
	if w.Position > 0 {
		out += " #" + strconv.Itoa(w.Position)
	}
	return out
}

func jobListCommand(g *globals) *cobra.Command {
	var (
		q     client.JobQuery
		since string
		owner string
		all   bool
		w     watchFlags
	)
	cmd := &cobra.Command{
		Use:   "list [OWNER/REPO]",
		Short: "List jobs of one repository, or of every repository, newest first",
		Long: `List jobs from Garo's job log, newest first: a repository's, or with no argument
those of every repository the token may read (--owner keeps one owner's). A queued job shows
agent_state waiting_for_capacity with its queue_position while its policy is at
max_runners, runner_requested while a runner is being made for it, and backing_off
with agent_reason and agent_retry_at while its policy is held back (its runners
failed before taking a job); an unmatched one shows why no policy serves it. With -o wide,
WAITS FOR names the limit that holds a queued job (max_runners, team_quota or group_quota
with the quota's subject, agent_capacity) and its place behind it.`,
		Example: `  garoctl job list acme/web --state queued
  garoctl job list acme/web --state unmatched --since 2h
  garoctl job list --owner acme --policy linux-small --all -o wide
  garoctl job list --state queued --watch`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if since != "" {
				t, err := parseSince(since, g.now())
				if err != nil {
					return usageError{err}
				}
				q.Since = t
			}
			if len(args) == 1 && owner != "" {
				return usageError{fmt.Errorf("--owner is for the listing across repositories, not with OWNER/REPO")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return g.listOrWatch(cmd, w, func(ctx context.Context) (frame, error) {
				l, err := listJobs(ctx, c, args, owner, q, all)
				if err != nil {
					return frame{}, err
				}
				return frame{l, jobTable(g.now(), l.Items)}, nil
			})
		},
	}
	w.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&q.State, "state", "", "only jobs in this state: queued, waiting, unmatched, in_progress or completed")
	f.StringVar(&q.Policy, "policy", "", "only jobs matched to this policy")
	f.StringVar(&owner, "owner", "", "without OWNER/REPO: only this owner's repositories")
	f.StringVar(&since, "since", "", "only jobs received since this RFC 3339 time, or this long ago (90m, 2h)")
	f.IntVar(&q.Limit, "limit", 0, "page size, 1-500 (default: the server's, 100)")
	f.StringVar(&q.Cursor, "cursor", "", "start at this page cursor (next_cursor of the previous page)")
	f.BoolVar(&all, "all", false, "follow next_cursor and print every page as one list")
	cmd.ValidArgsFunction = g.completeRepos
	_ = cmd.RegisterFlagCompletionFunc("policy", g.completePolicyNameFlag)
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(
		[]string{"queued", "waiting", "unmatched", "in_progress", "completed"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// listJobs reads one page, or with all every page, of a repository's jobs (args[0]) or
// of the jobs across repositories.
func listJobs(ctx context.Context, c *client.Client, args []string, owner string, q client.JobQuery, all bool) (*portalapi.JobList, error) {
	if !all {
		if len(args) == 1 {
			return c.ListRepoJobs(ctx, args[0], q)
		}
		return c.ListJobs(ctx, owner, q)
	}
	seq := c.AllJobs(ctx, owner, q)
	if len(args) == 1 {
		seq = c.AllRepoJobs(ctx, args[0], q)
	}
	l := &portalapi.JobList{Items: []portalapi.Job{}}
	for j, err := range seq {
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, j)
	}
	return l, nil
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
		Use:               "get OWNER/REPO JOB_ID",
		Short:             "Show one job with its timeline",
		Example:           "  garoctl job get acme/web 25000000001",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeRepos,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("JOB_ID must be GitHub's job id (a positive number), not %q", args[1])}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), args[0], id)
			if err != nil {
				return err
			}
			t := jobTable(g.now(), []portalapi.Job{*j})
			t.after = timeline(j.Timeline)
			return g.print(cmd, j, t)
		},
	}
}

// timeline is a job's events as lines under its table.
func timeline(ev []portalapi.JobEvent) []string {
	if len(ev) == 0 {
		return nil
	}
	lines := []string{"", "TIMELINE"}
	for _, e := range ev {
		lines = append(lines, "  "+stamp(e.At)+"  "+e.Step)
	}
	return lines
}
