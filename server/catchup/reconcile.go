package catchup

import (
	"context"
	"errors"
	"fmt"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
)

// ReconcileReport says what one reconcile cycle did.
type ReconcileReport struct {
	Repos, Added, Advanced int
	Rematched              int    // unmatched jobs that a new or changed policy now serves
	Failed                 int    // repositories whose reconciliation failed (see the log)
	LowBudget              int    // repositories left for a later cycle: their installation's budget is under the floor
	Skipped                string // why the cycle did nothing or stopped early
}

// ReconcileOnce compares the job log with GitHub for up to ReconcileMaxRepos repositories
// with enabled policies (continuing where the last cycle stopped), using at most about
// ReconcileMaxJobs job lookups.
func (l *Loops) ReconcileOnce(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	repos, err := l.st.ReposWithEnabledPolicies(ctx)
	if err != nil {
		return rep, err
	}
	if len(repos) == 0 {
		return rep, nil
	}
	l.mu.Lock()
	start := l.repoOffset % len(repos)
	l.mu.Unlock()
	budget := l.cfg.ReconcileMaxJobs
	n := min(len(repos), l.cfg.ReconcileMaxRepos)
	for i := 0; i < n && budget > 0; i++ {
		r := repos[(start+i)%len(repos)]
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
		used, err := l.reconcileRepo(ctx, r, budget, &rep)
		budget -= used
		rep.Repos++
		if errors.Is(err, githubapp.ErrRateLimited) {
			rep.Skipped = "rate limited"
			l.skipped.WithLabelValues("reconcile", "rate_limited").Inc()
			l.advanceOffset(start + i)
			return rep, err
		}
		if err != nil {
			rep.Failed++
			l.log.Warn("reconcile repository failed", "repo", r.RepoKey, "err", err)
		}
	}
	l.advanceOffset(start + rep.Repos)
	if rep.Added+rep.Advanced > 0 {
		l.log.Info("reconciled the job log with GitHub", "repos", rep.Repos, "added", rep.Added, "advanced", rep.Advanced)
	}
	return rep, nil
}

// budgetLow says why a known rate-limit budget is under the floor, or "".
func (l *Loops) budgetLow(rs githubapp.RateState) string {
	if rs.Limit > 0 && rs.Remaining < l.cfg.ReconcileMinRemaining && l.now().Before(rs.Reset) {
		return fmt.Sprintf("rate-limit budget low (%d left, floor %d, reset %s)", rs.Remaining, l.cfg.ReconcileMinRemaining, rs.Reset.UTC().Format(time.RFC3339))
	}
	return ""
}

func (l *Loops) advanceOffset(next int) {
	l.mu.Lock()
	l.repoOffset = next
	l.mu.Unlock()
}

// reconcileRepo brings one repository's jobs in line and returns the API calls it used.
func (l *Loops) reconcileRepo(ctx context.Context, r store.RepoRef, budget int, rep *ReconcileReport) (int, error) {
	if n, err := l.jobs.Rematch(ctx, r.RepoKey); err != nil {
		return 0, err
	} else if n > 0 {
		rep.Rematched += n
	}
	open, err := l.gh.ListOpenJobs(ctx, r.Owner, r.Repo, budget)
	used := open.Calls
	if err != nil {
		return used, err
	}
	var queued []githubapp.Job
	for _, j := range open.Jobs {
		if j.Status == "queued" {
			queued = append(queued, j)
		}
	}
	onGitHub := make(map[int64]bool, len(queued))
	for _, j := range queued {
		onGitHub[j.ID] = true
		if _, err := l.st.GetJob(ctx, j.ID, false); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return used, err
		}
		ev := eventOf(j, "queued")
		if _, _, err := l.jobs.Apply(ctx, ev); err != nil {
			return used, err
		}
		rep.Added++
		l.reconciled.WithLabelValues("added").Inc()
		l.log.Info("added a queued job the webhooks missed", "repo", r.RepoKey, "job_id", j.ID)
	}
	// Jobs the log holds as queued that GitHub no longer lists as queued: ask what became
	// of them (older than the grace period only, so a webhook in flight wins).
	cutoff := l.now().Add(-l.cfg.QueuedGrace)
	for _, state := range []string{portalapi.JobQueued, portalapi.JobUnmatched, portalapi.JobWaiting} {
		stale, _, err := l.st.ListJobs(ctx, store.JobFilter{RepoKey: r.RepoKey, State: state, Limit: max(1, budget-used)})
		if err != nil {
			return used, err
		}
		for _, j := range stale {
			if used >= budget {
				return used, nil
			}
			if onGitHub[j.ID] || j.GitHubStatus == "in_progress" || j.GitHubStatus == "completed" || j.ReceivedAt.After(cutoff) {
				continue
			}
			used++
			gj, err := l.gh.GetJob(ctx, r.Owner, r.Repo, j.ID)
			if errors.Is(err, githubapp.ErrNotFound) {
				// GitHub forgot the job (its run was deleted): close it rather than ask
				// again every cycle.
				gone := githubapp.Job{ID: j.ID, RunID: j.RunID, Owner: j.Owner, Repo: j.Repo, Labels: j.Labels, Conclusion: "unknown"}
				if _, _, err := l.jobs.Apply(ctx, eventOf(gone, "completed")); err != nil {
					return used, err
				}
				rep.Advanced++
				l.reconciled.WithLabelValues("gone").Inc()
				l.log.Info("closed a job GitHub no longer knows", "repo", r.RepoKey, "job_id", j.ID)
				continue
			}
			if err != nil {
				return used, err
			}
			if gj.Status != "in_progress" && gj.Status != "completed" {
				continue
			}
			if _, _, err := l.jobs.Apply(ctx, eventOf(*gj, gj.Status)); err != nil {
				return used, err
			}
			rep.Advanced++
			l.reconciled.WithLabelValues("advanced").Inc()
			l.log.Info("moved a job on that the webhooks missed", "repo", r.RepoKey, "job_id", j.ID, "status", gj.Status)
		}
	}
	return used, nil
}

func eventOf(j githubapp.Job, action string) jobs.Event {
	return jobs.Event{
		Action: action, JobID: j.ID, RunID: j.RunID, Owner: j.Owner, Repo: j.Repo, Name: j.Name,
		Labels: j.Labels, Conclusion: j.Conclusion, RunnerName: j.RunnerName, RunnerID: j.RunnerID,
		HTMLURL: j.HTMLURL, CreatedAt: j.CreatedAt, Source: jobs.SourceReconcile,
	}
}
