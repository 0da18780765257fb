package garoctl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// topJobCap bounds how many waiting jobs one top refresh reads (pages of the job log).
const topJobCap = 5000

// Known orders of top's sections; other values follow, sorted.
var (
	agentStatusOrder = []string{portalapi.AgentStatusActive, portalapi.AgentStatusStale, portalapi.AgentStatusOffline, portalapi.AgentStatusRevoked}
	runnerStateOrder = []string{"creating", "booting", "idle", "busy", "finished", "failed"}
)

// topView is one refresh of garoctl top (its -o json|yaml form).
type topView struct {
	Agents map[string]int `json:"agents"`
	// Draining counts the agents asked to drain, whatever their status (revoked ones never are).
	Draining  int            `json:"draining"`
	Runners   map[string]int `json:"runners"`
	Queues    []topQueue     `json:"queues"`
	Truncated bool           `json:"truncated,omitempty"`
}

// topQueue is the waiting work of one policy (Policy empty: jobs no policy matches).
type topQueue struct {
	Repository  string    `json:"repository"`
	Policy      string    `json:"policy"`
	Queued      int       `json:"queued"`
	Waiting     int       `json:"waiting"`
	Unmatched   int       `json:"unmatched"`
	OldestJob   int64     `json:"oldest_job"`
	OldestSince time.Time `json:"oldest_since"`
	// Capacity counts the queued jobs whose agent waits for capacity (max_runners).
	Capacity int `json:"waiting_for_capacity"`
}

// readTop reads the fleet from existing routes: the agents (status, runner counts from
// their heartbeats) and the job log's queued, waiting and unmatched jobs.
func readTop(ctx context.Context, c *client.Client) (topView, error) {
	v := topView{Agents: map[string]int{}, Runners: map[string]int{}}
	for _, s := range agentStatusOrder {
		v.Agents[s] = 0
	}
	for _, s := range runnerStateOrder {
		v.Runners[s] = 0
	}
	al, err := c.ListAgents(ctx, client.AgentQuery{})
	if err != nil {
		return v, fmt.Errorf("list agents: %w", err)
	}
	for _, a := range al.Items {
		v.Agents[a.Status]++
		if a.Draining {
			v.Draining++
		}
		if a.Status == portalapi.AgentStatusRevoked || a.Status == portalapi.AgentStatusOffline {
			continue
		}
		for st, n := range a.Runners {
			v.Runners[st] += int(n)
		}
	}
	queues := map[string]*topQueue{}
	read := 0
	for _, state := range []string{"queued", "waiting", "unmatched"} {
		for j, err := range c.AllJobs(ctx, "", client.JobQuery{State: state, Limit: 500}) {
			if err != nil {
				return v, fmt.Errorf("list %s jobs: %w", state, err)
			}
			if read++; read > topJobCap {
				v.Truncated = true
				break
			}
			key := j.Repository + "/" + j.Policy
			q := queues[key]
			if q == nil {
				q = &topQueue{Repository: j.Repository, Policy: j.Policy}
				queues[key] = q
			}
			switch state {
			case "queued":
				q.Queued++
				if j.AgentState == portalapi.JobWaitingForCapacity {
					q.Capacity++
				}
			case "waiting":
				q.Waiting++
			default:
				q.Unmatched++
			}
			if q.OldestSince.IsZero() || j.ReceivedAt.Before(q.OldestSince) {
				q.OldestSince, q.OldestJob = j.ReceivedAt, j.ID
			}
		}
	}
	for _, q := range queues {
		v.Queues = append(v.Queues, *q)
	}
	sort.Slice(v.Queues, func(i, k int) bool {
		a, b := v.Queues[i], v.Queues[k]
		if !a.OldestSince.Equal(b.OldestSince) {
			return a.OldestSince.Before(b.OldestSince)
		}
		return a.Repository+"/"+a.Policy < b.Repository+"/"+b.Policy
	})
	if v.Queues == nil {
		v.Queues = []topQueue{}
	}
	return v, nil
}

// ordered lists m's keys: those of order first, in that order, then the rest sorted.
func ordered(m map[string]int, order []string) []string {
	keys := append([]string{}, order...)
	var rest []string
	for k := range m {
		known := false
		for _, o := range order {
			known = known || o == k
		}
		if !known {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// summary prints a count map as "active 2   stale 0 ...".
func summary(m map[string]int, order []string) string {
	var parts []string
	for _, k := range ordered(m, order) {
		parts = append(parts, k+" "+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, "   ")
}

// writeTop renders v as text: two summary lines, then the queue of each policy.
func writeTop(w io.Writer, now time.Time, v topView) error {
	var b bytes.Buffer
	drain := ""
	if v.Draining > 0 {
		drain = fmt.Sprintf("   (%d draining)", v.Draining)
	}
	fmt.Fprintf(&b, "AGENTS    %s%s\n", summary(v.Agents, agentStatusOrder), drain)
	fmt.Fprintf(&b, "RUNNERS   %s\n\n", summary(v.Runners, runnerStateOrder))
	t := table{head: []string{"REPOSITORY", "POLICY", "QUEUED", "AT CAPACITY", "WAITING", "UNMATCHED", "OLDEST JOB", "OLDEST AGE"}}
	for _, q := range v.Queues {
		t.rows = append(t.rows, []string{q.Repository, orDash(q.Policy), strconv.Itoa(q.Queued), strconv.Itoa(q.Capacity),
			strconv.Itoa(q.Waiting), strconv.Itoa(q.Unmatched), strconv.FormatInt(q.OldestJob, 10), age(now, q.OldestSince)})
	}
	if len(v.Queues) == 0 {
		b.WriteString("No job is waiting.\n")
	} else if err := t.write(&b, false); err != nil {
		return err
	}
	if v.Truncated {
		fmt.Fprintf(&b, "(only the first %d waiting jobs are counted)\n", topJobCap)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func topCommand(g *globals) *cobra.Command {
	var (
		once bool
		w    watchFlags
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live view of the fleet: agents by status, runners by state, each policy's queue",
		Long: `top shows the agents by status (and how many of them are draining), their runners
by state (from the agents' last heartbeats; offline and revoked agents are not counted) and, per policy, how many jobs
are queued (and how many of those wait because the policy is at max_runners), waiting
(held by GitHub, e.g. for an environment's reviewers) or unmatched, with the oldest
waiting job and its age. It polls every --interval: on a terminal it redraws, else it
prints a timestamped view whenever something changed. --once prints one view and exits.`,
		Example: `  garoctl top
  garoctl top --once
  garoctl top --once -o json | jq '.queues[] | select(.queued > 10)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			render := func(ctx context.Context) (string, error) {
				v, err := readTop(ctx, c)
				if err != nil {
					return "", err
				}
				var b bytes.Buffer
				switch g.output {
				case "json", "yaml":
					err = writeOutput(&b, g.output, v, table{})
				case "", "table", "wide":
					err = writeTop(&b, g.now(), v)
				default:
					err = writeOutput(&b, g.output, v, table{})
				}
				return b.String(), err
			}
			out := cmd.OutOrStdout()
			if once {
				s, err := render(cmd.Context())
				if err != nil {
					return err
				}
				_, err = io.WriteString(out, s)
				return err
			}
			if err := w.check(); err != nil {
				return err
			}
			redraw, last := isTerminal(out), ""
			return g.poll(cmd.Context(), w.interval, func(ctx context.Context) error {
				s, err := render(ctx)
				if err != nil {
					return err
				}
				if redraw {
					_, err = io.WriteString(out, clearScreen+s)
					return err
				}
				if s == last {
					return nil
				}
				last = s
				_, err = fmt.Fprintf(out, "--- %s\n%s", g.now().UTC().Format(time.RFC3339), s)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "print one view and exit (for scripts and tests)")
	w.bindInterval(cmd)
	return cmd
}
