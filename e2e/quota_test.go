package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/stats"
	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/queue"
)

// burstJob is one job of the quota burst as the test saw it.
type burstJob struct {
	id                     int64
	team, policy           string
	priority               int
	received, started, end time.Time // received by Garo, in_progress, completed
}

// TestQuotaBurstTwoTeamsWithPriorities (issue 16, "done when"): two teams with quotas
// share one agent group, itself under a quota, and burst at once, each with an urgent
// (priority 10) and a batch (priority 0) policy. Neither team ever holds more runners
// than its quota and the group never more than its own (from the runner records, which
// are what quotas count); within a team a job never gets its runner after a job it ranks
// ahead of (higher priority, or older at equal priority), unless that one had waited
// scheduling.max_wait; and no job gets its runner after a younger one once it has waited
// max_wait. The portal's places of the waiting jobs are consistent with that order. The
// test prints the wait percentiles per team and priority. /api/v1/usage (JSON and CSV)
// agrees with the runner records.
func TestQuotaBurstTwoTeamsWithPriorities(t *testing.T) {
	const (
		maxWait  = 4 * time.Second
		work     = 600 * time.Millisecond
		batchN   = 10 // per team
		urgentN  = 6  // per team
		groupMax = 4
		// slack covers what the order cannot see: the agent's poll of the jobs, its tick,
		// its pause after a refusal (scheduler.quota_retry), a runner's start.
		slack = 1500 * time.Millisecond
	)
	teams := map[string]struct {
		repo  string
		quota int64
	}{
		"acme/team-a": {"acme/team-a-web", 3},
		"acme/team-b": {"acme/team-b-web", 2},
	}
	e := newEnvWith(t, envOptions{
		repositories: []string{"acme/team-a-web", "acme/team-b-web"},
		server:       func(c *config.Config) { c.Scheduling.MaxWait = maxWait },
	})
	ctx := t.Context()
	grace, boot := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute)
	priorities := map[string]int{"urgent": 10, "batch": 0}
	for _, tm := range teams {
		for pol, prio := range priorities {
			_, err := e.portal.CreatePolicy(ctx, tm.repo, portalapi.PolicyRequest{
				Name: pol, Labels: []string{"self-hosted", pol}, MaxRunners: 10, Priority: prio,
				IdleGrace: &grace, BootstrapTimeout: &boot, Provider: "docker",
				Runner: portalapi.RunnerSpec{Image: "runner:1", CPU: "1", Memory: "1Gi"},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for team, tm := range teams {
		if _, err := e.portal.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: team, MaxRunners: ptr(tm.quota)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.portal.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindAgentGroup, Subject: "default", MaxRunners: ptr[int64](groupMax)})
	if err != nil {
		t.Fatal(err)
	}

	// Runners wait at the start line until the whole burst is in: on a loaded machine the
	// burst could arrive slower than the runners drain it, and the first jobs would be
	// served before the later ones (of the other priority) are even there.
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(open)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return e.sim.RunRunner(ctx, r.JITConfig(), work)
	})
	t.Cleanup(prov.Close)
	// The burst: the batch jobs first, then the urgent ones, so that priority (not age)
	// must put the urgent ones ahead.
	var jobs []*burstJob
	byID := map[int64]*burstJob{}
	queueJobs := func(pol string, n int) {
		for i := range n {
			for _, team := range []string{"acme/team-a", "acme/team-b"} {
				j, err := e.sim.QueueJob(ctx, teams[team].repo, []string{"self-hosted", pol})
				if err != nil {
					t.Fatalf("queue job %d of %s/%s: %v", i, team, pol, err)
				}
				bj := &burstJob{id: j.ID, team: team, policy: pol, priority: priorities[pol]}
				jobs, byID[j.ID] = append(jobs, bj), bj
			}
		}
	}
	queueJobs("batch", batchN)
	queueJobs("urgent", urgentN)
	testkit.Eventually(t, 30*time.Second, "the whole burst received", func() bool {
		n := 0
		for j, err := range e.portal.AllJobs(ctx, "acme", client.JobQuery{Limit: 500}) {
			if err != nil {
				return false
			}
			if byID[j.ID] != nil {
				n++
			}
		}
		return n == len(jobs)
	})
	// The agent starts once the whole burst is in: an agent already running claimed the
	// quotas' first runners for the batch jobs, which came first, and on a slow machine
	// the next ones found every batch job past max_wait (then only age counts), so that
	// priority could not show (CI, 2026-12-07).
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Scheduler.QuotaRetry = 200 * time.Millisecond
	cfg.Capacity.MaxRunners = 8 // reported to the server; the quotas are what binds here
	startAgent(t, e, cfg, prov, app.Options{})
	testkit.Eventually(t, 30*time.Second, "the agent owns both repositories", func() bool {
		agents, err := e.portal.ListAgents(ctx, client.AgentQuery{})
		return err == nil && len(agents.Items) == 1 && len(agents.Items[0].Repositories) == 2 &&
			agents.Items[0].Capacity != nil && agents.Items[0].Capacity.MaxRunners == 8 // as the agent reported it
	})

	open()

	// While it drains: the places the portal gives the waiting jobs.
	var (
		mu        sync.Mutex
		seenLimit = map[string]bool{}
		placeErrs []string
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			list, err := e.portal.ListJobs(watchCtx, "acme", client.JobQuery{State: portalapi.JobQueued, Limit: 500})
			at := time.Now()
			if err == nil {
				mu.Lock()
				placeErrs = append(placeErrs, checkPlaces(list.Items, byID, at, maxWait)...)
				for _, j := range list.Items {
					if j.Wait != nil {
						seenLimit[j.Wait.Limit] = true
					}
				}
				mu.Unlock()
			}
			select {
			case <-watchCtx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	total := len(jobs)
	testkit.Eventually(t, 120*time.Second, "every job of the burst done", func() bool {
		done := 0
		for _, j := range jobs {
			if sj, _ := e.sim.Job(j.id); sj.Status == "completed" {
				done++
			}
		}
		return done == total
	})
	stopWatch()
	<-watched
	// Every runner has ended as quotas count it (its agent reported it gone).
	testkit.Eventually(t, 30*time.Second, "no runner holds a quota", func() bool {
		list, err := e.portal.ListQuotas(ctx)
		if err != nil {
			return false
		}
		for _, q := range list.Items {
			if q.InUse.Runners != 0 {
				return false
			}
		}
		return true
	})

	// The jobs' times, from the portal's timelines.
	for j, err := range e.portal.AllJobs(ctx, "acme", client.JobQuery{Limit: 500}) {
		if err != nil {
			t.Fatal(err)
		}
		bj := byID[j.ID]
		if bj == nil {
			continue
		}
		bj.received = j.ReceivedAt
		for _, ev := range j.Timeline {
			switch ev.Step {
			case "in_progress":
				bj.started = ev.At
			case "completed":
				bj.end = ev.At
			}
		}
		if bj.started.IsZero() {
			t.Errorf("job %d (%s/%s) has no in_progress step: %+v", j.ID, bj.team, bj.policy, j.Timeline)
		}
	}

	// Priorities and the bound, within each team (same quotas, so the same order).
	for _, a := range jobs {
		for _, b := range jobs {
			if a.team != b.team || a == b || a.started.IsZero() || b.started.IsZero() {
				continue
			}
			// b got its runner while a waited: a ranked ahead of b then, unless b had
			// waited max_wait (then only age counts) - and if a was older, b must not pass.
			if !b.started.Before(a.started.Add(-slack)) || !a.received.Before(b.started.Add(-slack)) {
				continue
			}
			at := b.started
			ea := queue.Entry{ID: a.id, Priority: a.priority, ReceivedAt: a.received}
			eb := queue.Entry{ID: b.id, Priority: b.priority, ReceivedAt: b.received}
			if queue.Compare(ea, eb, at.Add(-slack), maxWait) < 0 && queue.Compare(ea, eb, at, maxWait) < 0 {
				t.Errorf("%s: job %d (%s, received %s) ran at %s, after job %d (%s, received %s) at %s, which it ranked ahead of",
					a.team, a.id, a.policy, a.received.Format("15:04:05.000"), a.started.Format("15:04:05.000"),
					b.id, b.policy, b.received.Format("15:04:05.000"), b.started.Format("15:04:05.000"))
			}
		}
	}
	// The bound of waiting across teams: once a job has waited max_wait, no younger job
	// of its team passes it.
	for _, a := range jobs {
		for _, b := range jobs {
			if a.team == b.team && b.received.After(a.received) && b.started.Before(a.started.Add(-slack)) &&
				b.started.After(a.received.Add(maxWait+slack)) {
				t.Errorf("%s: job %d had waited %s when the younger job %d got ahead of it", a.team, a.id, b.started.Sub(a.received), b.id)
			}
		}
	}

	// The wait percentiles, per team and priority.
	waits := map[string][]time.Duration{}
	var keys []string
	for _, j := range jobs {
		k := fmt.Sprintf("%s priority %2d (%s)", j.team, j.priority, j.policy)
		if _, ok := waits[k]; !ok {
			keys = append(keys, k)
		}
		waits[k] = append(waits[k], j.started.Sub(j.received))
	}
	slices.Sort(keys)
	t.Logf("figure: quota burst, %d jobs of %s work, team quotas a=3 b=2, group quota %d, max_wait %s:", total, work, groupMax, maxWait)
	for _, k := range keys {
		ws := waits[k]
		t.Logf("figure:   %s: %2d jobs, wait p50 %6s p90 %6s p99 %6s max %6s", k, len(ws),
			stats.Percentile(ws, 0.5).Round(time.Millisecond), stats.Percentile(ws, 0.9).Round(time.Millisecond),
			stats.Percentile(ws, 0.99).Round(time.Millisecond), stats.Percentile(ws, 1).Round(time.Millisecond))
	}
	// Priority had its effect: urgent jobs went ahead of older batch jobs of their team.
	for _, team := range []string{"acme/team-a", "acme/team-b"} {
		overtakes := 0
		for _, u := range jobs {
			for _, b := range jobs {
				if u.team == team && b.team == team && u.priority > b.priority && b.received.Before(u.received) && u.started.Before(b.started) {
					overtakes++
				}
			}
		}
		t.Logf("figure: %s: %d times an urgent job went ahead of an older batch job", team, overtakes)
		if overtakes == 0 {
			t.Errorf("%s: no urgent job went ahead of an older batch job: priority did not show", team)
		}
	}
	mu.Lock()
	for _, msg := range placeErrs[:min(5, len(placeErrs))] {
		t.Errorf("portal places: %s", msg)
	}
	if !seenLimit[portalapi.WaitGroupQuota] || !seenLimit[portalapi.WaitTeamQuota] {
		t.Errorf("the portal showed the limits %v while the burst drained, want group_quota and team_quota among them", seenLimit)
	}
	mu.Unlock()

	// The runner records: what quotas counted, runner by runner.
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, DSN: filepath.Join(e.dir, "garo.db")}, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	today := time.Now().UTC()
	rows, err := st.UsageBetween(ctx, today.AddDate(0, 0, -2), today.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < total || len(rows) != prov.Created() {
		t.Errorf("%d runner records for %d jobs and %d runners created", len(rows), total, prov.Created())
	}
	// Never above a quota: the most records of a team, and of the group, open at once.
	peak := func(keep func(store.RunnerUsage) bool) int {
		type edge struct {
			at time.Time
			d  int
		}
		var es []edge
		for _, r := range rows {
			if keep(r) && r.EndedAt != nil {
				es = append(es, edge{r.StartedAt, 1}, edge{*r.EndedAt, -1})
			}
		}
		slices.SortFunc(es, func(a, b edge) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return a.d - b.d // an end before a start at the same instant
		})
		n, top := 0, 0
		for _, x := range es {
			n += x.d
			top = max(top, n)
		}
		return top
	}
	for team, tm := range teams {
		got := peak(func(r store.RunnerUsage) bool { return strings.HasPrefix(r.RepoKey, team) })
		t.Logf("figure: %s held at most %d runners at once (quota %d)", team, got, tm.quota)
		if int64(got) > tm.quota {
			t.Errorf("%s held %d runners at once, over its quota of %d", team, got, tm.quota)
		}
	}
	if got := peak(func(store.RunnerUsage) bool { return true }); got > groupMax {
		t.Errorf("the group held %d runners at once, over its quota of %d", got, groupMax)
	} else {
		t.Logf("figure: the group held at most %d runners at once (quota %d)", got, groupMax)
	}

	// /api/v1/usage agrees with the records.
	var wantMin float64
	perPolicy := map[string]float64{}
	for _, r := range rows {
		if r.EndedAt == nil {
			t.Fatalf("runner %s still open after every quota emptied", r.Name)
		}
		m := r.EndedAt.Sub(r.StartedAt).Minutes()
		wantMin += m
		perPolicy[r.RepoKey+"/"+r.Policy] += m
	}
	f := client.UsageFilter{Since: today.AddDate(0, 0, -1).Format(time.DateOnly), Until: today.AddDate(0, 0, 1).Format(time.DateOnly)}
	byPolicy := f
	byPolicy.By = portalapi.UsageByPolicy
	rep, err := e.portal.Usage(ctx, byPolicy)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 0.002*float64(len(rows)+1) }
	if rep.Total.Runners != int64(len(rows)) || !near(rep.Total.RunnerMinutes, wantMin) ||
		!near(rep.Total.CPUMinutes, wantMin) || !near(rep.Total.MemoryGiBMinutes, wantMin) {
		t.Errorf("usage total %+v, want %d runners and %.3f minutes of runner, CPU (1 each) and GiB (1 each)", rep.Total, len(rows), wantMin)
	}
	gotPolicy := map[string]float64{}
	for _, it := range rep.Items {
		gotPolicy[it.Repository+"/"+it.Policy] += it.RunnerMinutes
	}
	for k, m := range perPolicy {
		if !near(gotPolicy[k], m) {
			t.Errorf("usage of %s: %.3f runner-minutes, the records say %.3f", k, gotPolicy[k], m)
		}
	}
	byTeam := f
	byTeam.Prefixes = []string{"acme/team-a", "acme/team-b"}
	teamRep, err := e.portal.Usage(ctx, byTeam)
	if err != nil {
		t.Fatal(err)
	}
	var teamSum float64
	for _, it := range teamRep.Items {
		teamSum += it.RunnerMinutes
	}
	if !near(teamSum, wantMin) {
		t.Errorf("usage by team sums to %.3f runner-minutes, the records say %.3f", teamSum, wantMin)
	}
	// The CSV form says the same.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.server+"/api/v1/usage?by=policy&since="+f.Since+"&until="+f.Until, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	recs, err := csv.NewReader(&body).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || len(recs) < 2 {
		t.Fatalf("usage csv: %d %s %v %q", resp.StatusCode, resp.Header.Get("Content-Type"), err, body.String())
	}
	col := slices.Index(recs[0], "runner_minutes")
	var csvSum float64
	for _, r := range recs[1:] {
		v, _ := strconv.ParseFloat(r[col], 64)
		csvSum += v
	}
	if !near(csvSum, wantMin) {
		t.Errorf("usage csv sums to %.3f runner-minutes, the records say %.3f", csvSum, wantMin)
	}
	t.Logf("figure: usage: %d runners, %.3f runner-minutes (records: %.3f)", rep.Total.Runners, rep.Total.RunnerMinutes, wantMin)
}

func ptr[T any](v T) *T { return &v }

// checkPlaces checks one listing of the queued jobs: under each quota the positions run
// 1..n, and they follow the order of shared/queue (skipping pairs that cross the
// max_wait line around the listing's time).
func checkPlaces(items []portalapi.Job, byID map[int64]*burstJob, at time.Time, maxWait time.Duration) []string {
	type placed struct {
		pos int
		e   queue.Entry
	}
	byQuota := map[string][]placed{}
	for _, j := range items {
		bj := byID[j.ID]
		if j.Wait == nil || j.Wait.QuotaID == "" || bj == nil {
			continue
		}
		byQuota[j.Wait.QuotaID] = append(byQuota[j.Wait.QuotaID], placed{j.Wait.Position, queue.Entry{ID: j.ID, Priority: bj.priority, ReceivedAt: j.ReceivedAt}})
	}
	var errs []string
	for id, ps := range byQuota {
		slices.SortFunc(ps, func(a, b placed) int { return a.pos - b.pos })
		for i, p := range ps {
			if p.pos != i+1 {
				errs = append(errs, fmt.Sprintf("quota %s: positions %v do not run 1..%d", id, ps, len(ps)))
				break
			}
			if i == 0 {
				continue
			}
			prev := ps[i-1].e
			near := func(e queue.Entry) bool {
				d := at.Sub(e.ReceivedAt) - maxWait
				return d > -time.Second && d < time.Second
			}
			if !near(prev) && !near(p.e) && queue.Compare(prev, p.e, at, maxWait) > 0 {
				errs = append(errs, fmt.Sprintf("quota %s: job %d at %d ranks after job %d at %d", id, prev.ID, i, p.e.ID, i+1))
			}
		}
	}
	return errs
}
