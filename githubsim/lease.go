package githubsim

import (
	"net/http"
	"time"
)

// A runner that stops talking to GitHub while it runs a job loses it. GitHub's runner
// holds a lock on its job request: the listener renews it every minute and each renewal
// extends it by ten minutes ("Successfully renew job request N, job is valid till
// <now+10m>" in the runner's log, actions/runner issues #1549 and #3539, from
// Runner.Listener/JobDispatcher.cs). When renewals stop (the runner process was killed,
// its machine died, its network went away), the lock lapses and GitHub fails the job
// with "The self-hosted runner: <name> lost communication with the server" (conclusion
// failure, actions/runner issues #1546, #2040, #3539); the runner shows offline.
//
// The sim models that with a lease per running job: acquire starts it, every call the
// runner makes with its session (renew, acquire) extends it by Options.RunnerLostAfter,
// and a job whose lease lapsed is failed and delivered as completed. Lapsed leases are
// found by a background check every Options.LeaseCheckEvery (and by FailLostJobs), so a
// killed container's job ends without anybody asking.

// DefaultRunnerLostAfter is GitHub's job lock: ten minutes past the last renewal.
const DefaultRunnerLostAfter = 10 * time.Minute

// DefaultLeaseCheckEvery is how often the background check looks for lapsed leases.
const DefaultLeaseCheckEvery = time.Second

// renewLocked extends rs's lease on its job from now; it returns when the lease ends.
func (s *Sim) renewLocked(rs *runnerState) time.Time {
	rs.renewed = s.opts.Now()
	return rs.renewed.Add(s.opts.RunnerLostAfter)
}

// FailLostJobs fails every running job whose runner has not renewed its lease within
// Options.RunnerLostAfter, as GitHub does when a runner loses communication: the job
// completes with failure (workflow_job completed is delivered) and the runner goes
// offline. It returns the failed jobs' ids. The sim calls it itself; tests with an
// injected clock call it after moving the clock.
func (s *Sim) FailLostJobs() []int64 {
	s.mu.Lock()
	now := s.opts.Now()
	var failed []int64
	for _, rs := range s.runners {
		if rs.jobID == 0 || now.Sub(rs.renewed) < s.opts.RunnerLostAfter {
			continue
		}
		js := s.jobs[rs.jobID]
		if js.status != "completed" {
			s.completeJobLocked(js, "failure")
			failed = append(failed, js.id)
			s.log.Warn("runner lost communication; its job failed", "scope", rs.where(),
				"runner", rs.name, "runner_id", rs.id, "job_id", js.id, "silent_for", now.Sub(rs.renewed).Round(time.Millisecond))
		}
		rs.lastJobID, rs.jobID = rs.jobID, 0
		rs.session = ""
	}
	if failed != nil {
		s.broadcastLocked()
	}
	s.mu.Unlock()
	for _, id := range failed {
		s.deliverJob(id, "completed")
	}
	return failed
}

// watchLeases runs FailLostJobs every Options.LeaseCheckEvery until the sim is closed.
func (s *Sim) watchLeases() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.LeaseCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.FailLostJobs()
		}
	}
}

// simRenew is POST /_sim/runners/{id}/renew: the runner renews the lock on its job →
// 200 {"job_id": N, "locked_until": "..."}; 409 when it has no job.
func (s *Sim) simRenew(w http.ResponseWriter, r *http.Request) {
	id, session, ok := simRunner(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rs, err := s.sessionLocked(id, session)
	if err == nil && rs.jobID == 0 {
		err = ErrNoJob
	}
	if err != nil {
		s.mu.Unlock()
		simFail(w, err)
		return
	}
	out := struct {
		JobID       int64     `json:"job_id"`
		LockedUntil time.Time `json:"locked_until"`
	}{JobID: rs.jobID, LockedUntil: s.renewLocked(rs).UTC()}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
