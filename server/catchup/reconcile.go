package catchup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
)

// ReconcileReport says what one reconcile cycle did.
type ReconcileReport struct {
	Repos, Added, Advanced int
	Active                 int    // repositories visited first: open jobs in the log or recent activity
	Calls                  int    // GitHub requests sent
	Lookups                int    // jobs looked up one by one (GET job)
	Rematched              int    // unmatched jobs that a new or changed policy now serves
	Failed                 int    // repositories whose reconciliation failed (see the log)
	LowBudget              int    // repositories left for a later cycle: their installation's budget is under the floor
	Skipped                string // why the cycle did nothing or stopped early
}

// cycle is the budget left to one reconcile cycle.
type cycle struct {
	calls, lookups int
}

// progressReconcileActive is the progress row of the active repositories' rotation (the
// idle ones use store.ProgressReconcile).
const progressReconcileActive = store.ProgressReconcile + "_active"

// ReconcileOnce compares the job log with GitHub for up to ReconcileMaxRepos repositories
// with enabled policies, sending at most ReconcileMaxCalls requests of which at most
// ReconcileMaxJobs single-job lookups. Repositories with open jobs in the log or recent
// activity come first, then the idle ones; each group is a round-robin that resumes after
// the repository last reconciled (stored, so it survives restarts and is shared by
// replicas).
func (l *Loops) ReconcileOnce(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	repos, err := l.st.ReposWithEnabledPolicies(ctx)
	if err != nil || len(repos) == 0 {
		return rep, err
	}
	activeSince := l.now().Add(-l.activeWindow())
	activeKeys, err := l.st.ActiveRepoKeys(ctx, activeSince)
	if err != nil {
		return rep, err
	}
	var active, idle []store.RepoRef
	for _, r := range repos {
		if activeKeys[r.RepoKey] {
			active = append(active, r)
		} else {
			idle = append(idle, r)
		}
	}
	rep.Active = len(active)
	activeProg, err := l.st.GetProgress(ctx, progressReconcileActive)
	if err != nil {
		return rep, err
	}
	idleProg, err := l.st.GetProgress(ctx, store.ProgressReconcile)
	if err != nil {
		return rep, err
	}
	order := append(rotateAfter(active, activeProg.RepoKey), rotateAfter(idle, idleProg.RepoKey)...)
	save := func() error {
		return errors.Join(l.st.SaveProgress(ctx, activeProg), l.st.SaveProgress(ctx, idleProg))
	}
	c := &cycle{calls: l.cfg.ReconcileMaxCalls, lookups: l.cfg.ReconcileMaxJobs}
	n := min(len(order), l.cfg.ReconcileMaxRepos)
	for i := 0; i < n && c.calls > 0; i++ {
		r := order[i]
		mark := func() {
			if activeKeys[r.RepoKey] {
				activeProg.RepoKey = r.RepoKey
			} else {
				idleProg.RepoKey = r.RepoKey
			}
		}
		// Each installation has a budget of its own: a low one stands back alone.
		if why := l.budgetLow(l.gh.RateLimitFor(r.Owner, r.Repo)); why != "" {
			rep.LowBudget++
			l.skipped.WithLabelValues("reconcile", "budget_low").Inc()
			l.log.Info("repository not reconciled this cycle", "repo", r.RepoKey, "reason", why)
			if rep.LowBudget == n {
				rep.Skipped = why
			}
			continue
		}
		before := c.calls
		err := l.reconcileRepo(ctx, r, c, &rep)
		rep.Calls += before - c.calls
		rep.Repos++
		if errors.Is(err, githubapp.ErrRateLimited) {
			rep.Skipped = "rate limited"
			l.skipped.WithLabelValues("reconcile", "rate_limited").Inc()
			return rep, errors.Join(err, save())
		}
		if err != nil {
			rep.Failed++
			l.log.Warn("reconcile repository failed", "repo", r.RepoKey, "err", err)
		}
		mark()
	}
	if c.calls <= 0 && rep.Repos < n {
		l.skipped.WithLabelValues("reconcile", "max_calls").Inc()
	}
	if err := save(); err != nil {
		return rep, err
	}
	if rep.Added+rep.Advanced > 0 {
		l.log.Info("reconciled the job log with GitHub", "repos", rep.Repos, "active", rep.Active,
			"added", rep.Added, "advanced", rep.Advanced, "calls", rep.Calls, "lookups", rep.Lookups)
	}
	return rep, nil
}

// activeWindow is how recent a change of a repository's job log makes it active.
func (l *Loops) activeWindow() time.Duration {
	return max(10*time.Minute, 3*l.cfg.ReconcileInterval)
}

// rotateAfter returns repos (sorted by key) starting after the one keyed last.
func rotateAfter(repos []store.RepoRef, last string) []store.RepoRef {
	i, _ := slices.BinarySearchFunc(repos, last, func(r store.RepoRef, k string) int {
		switch {
		case r.RepoKey < k:
			return -1
		case r.RepoKey > k:
			return 1
		}
		return 0
	})
	if i < len(repos) && repos[i].RepoKey == last {
		i++
	}
	return append(slices.Clone(repos[i:]), repos[:i]...)
}

// budgetLow says why a known rate-limit budget is under the floor, or "".
func (l *Loops) budgetLow(rs githubapp.RateState) string {
	if rs.Limit > 0 && rs.Remaining < l.cfg.ReconcileMinRemaining && l.now().Before(rs.Reset) {
		return fmt.Sprintf("rate-limit budget low (%d left, floor %d, reset %s)", rs.Remaining, l.cfg.ReconcileMinRemaining, rs.Reset.UTC().Format(time.RFC3339))
	}
	return ""
}

// reconcileRepo brings one repository's jobs in line within the cycle's budget: the jobs
// of its open runs (every job of a multi-job run, listed) are added or moved on; then log
// jobs GitHub did not list — in_progress ones past InProgressCheck, with a share of the
// budget kept for them, then queued ones past the grace — are looked up one by one.
func (l *Loops) reconcileRepo(ctx context.Context, r store.RepoRef, c *cycle, rep *ReconcileReport) error {
	if n, err := l.jobs.Rematch(ctx, r.RepoKey); err != nil {
		return err
	} else if n > 0 {
		rep.Rematched += n
	}
	// A repository with more open runs than a budget covers is walked over several
	// cycles (in memory: after a restart the walk starts again from the oldest run).
	l.mu.Lock()
	after := l.runFrom[r.RepoKey]
	l.mu.Unlock()
	// The look-ups of jobs in_progress past InProgressCheck get their share of the
	// budget before the listing (at most half): a repository with many open runs would
	// spend all of it listing them, and a job whose completed delivery was lost would
	// stay in_progress, holding its runner's slot, until that backlog is gone (the chaos
	// suite's full run: 3 to 8 minutes at in_progress_check 10s). Their runs are
	// completed, so no listing of open runs finds them.
	reserve := 0
	if want := min(c.lookups, c.calls/2); want > 0 {
		late, err := l.st.StaleJobs(ctx, r.RepoKey, portalapi.JobInProgress, "", l.now().Add(-l.cfg.InProgressCheck), want)
		if err != nil {
			return err
		}
		reserve = len(late)
	}
	open, err := l.gh.ListOpenJobs(ctx, r.Owner, r.Repo, c.calls-reserve, after)
	c.calls -= open.Calls
	if err != nil {
		return err
	}
	l.mu.Lock()
	if open.LastRun == 0 {
		delete(l.runFrom, r.RepoKey)
	} else {
		l.runFrom[r.RepoKey] = open.LastRun
	}
	l.mu.Unlock()
	listed := make(map[int64]githubapp.Job, len(open.Jobs))
	for _, j := range open.Jobs {
		listed[j.ID] = j
		if err := l.applyListed(ctx, r, j, rep); err != nil {
			return err
		}
	}
	now := l.now()
	var checked []int64
	defer func() {
		if err := l.st.MarkJobsChecked(context.WithoutCancel(ctx), checked, now); err != nil {
			l.log.Warn("could not record job checks", "repo", r.RepoKey, "err", err)
		}
	}()
	// in_progress first: the share reserved above is theirs.
	stale := []struct {
		state string
		after time.Duration
	}{
		{portalapi.JobInProgress, l.cfg.InProgressCheck}, {portalapi.JobQueued, l.cfg.QueuedGrace},
		{portalapi.JobUnmatched, l.cfg.QueuedGrace}, {portalapi.JobWaiting, l.cfg.QueuedGrace},
	}
	for _, s := range stale {
		if c.calls <= 0 || c.lookups <= 0 {
			return nil
		}
		// A few more than the lookups left: listed ones cost nothing.
		cands, err := l.st.StaleJobs(ctx, r.RepoKey, s.state, "", now.Add(-s.after), c.lookups+len(listed))
		if err != nil {
			return err
		}
		for _, j := range cands {
			if _, ok := listed[j.ID]; ok {
				checked = append(checked, j.ID) // GitHub just told us where it stands
				continue
			}
			if c.calls <= 0 || c.lookups <= 0 {
				return nil
			}
			c.calls--
			c.lookups--
			rep.Lookups++
			checked = append(checked, j.ID)
			if err := l.lookUp(ctx, r, j, rep); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyListed adds a queued (or waiting) job the log does not have and moves on a log
// job whose GitHub status is further along in the listing.
func (l *Loops) applyListed(ctx context.Context, r store.RepoRef, j githubapp.Job, rep *ReconcileReport) error {
	have, err := l.st.GetJob(ctx, j.ID, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if j.Status != "queued" && j.Status != "waiting" {
			return nil // started or done without Garo: not ours to serve
		}
		if _, _, err := l.jobs.Apply(ctx, eventOf(j, j.Status)); err != nil {
			return err
		}
		rep.Added++
		l.reconciled.WithLabelValues("added").Inc()
		l.log.Info("added a job the webhooks missed", "repo", r.RepoKey, "job_id", j.ID, "status", j.Status)
		return nil
	case err != nil:
		return err
	}
	if j.Status == have.GitHubStatus || !jobs.KnownAction(j.Status) || !jobs.Advances(have.GitHubStatus, j.Status) {
		return nil
	}
	if _, _, err := l.jobs.Apply(ctx, eventOf(j, j.Status)); err != nil {
		return err
	}
	rep.Advanced++
	l.reconciled.WithLabelValues("advanced").Inc()
	l.log.Info("moved a job on that the webhooks missed", "repo", r.RepoKey, "job_id", j.ID, "from", have.GitHubStatus, "status", j.Status)
	return nil
}

// lookUp asks GitHub about one log job and applies what it says.
func (l *Loops) lookUp(ctx context.Context, r store.RepoRef, j store.WorkflowJob, rep *ReconcileReport) error {
	gj, err := l.gh.GetJob(ctx, r.Owner, r.Repo, j.ID)
	if errors.Is(err, githubapp.ErrNotFound) {
		// GitHub forgot the job (its run was deleted): close it rather than ask again
		// every cycle.
		gone := githubapp.Job{ID: j.ID, RunID: j.RunID, Owner: j.Owner, Repo: j.Repo, Labels: j.Labels, Conclusion: "unknown"}
		if _, _, err := l.jobs.Apply(ctx, eventOf(gone, "completed")); err != nil {
			return err
		}
		rep.Advanced++
		l.reconciled.WithLabelValues("gone").Inc()
		l.log.Info("closed a job GitHub no longer knows", "repo", r.RepoKey, "job_id", j.ID)
		return nil
	}
	if err != nil {
		return err
	}
	if gj.Status == j.GitHubStatus || !jobs.KnownAction(gj.Status) || !jobs.Advances(j.GitHubStatus, gj.Status) {
		return nil
	}
	if _, _, err := l.jobs.Apply(ctx, eventOf(*gj, gj.Status)); err != nil {
		return err
	}
	rep.Advanced++
	l.reconciled.WithLabelValues("advanced").Inc()
	l.log.Info("moved a job on that the webhooks missed", "repo", r.RepoKey, "job_id", j.ID, "from", j.GitHubStatus, "status", gj.Status)
	return nil
}

func eventOf(j githubapp.Job, action string) jobs.Event {
	return jobs.Event{
		Action: action, JobID: j.ID, RunID: j.RunID, Owner: j.Owner, Repo: j.Repo, Name: j.Name,
		Labels: j.Labels, Conclusion: j.Conclusion, RunnerName: j.RunnerName, RunnerID: j.RunnerID,
		HTMLURL: j.HTMLURL, CreatedAt: j.CreatedAt, Source: jobs.SourceReconcile,
	}
}
