package githubsim

// Workflow runs with several jobs: matrices (jobs queued together) and `needs:` chains
// (a job queued only once the jobs it needs succeeded).
//
// GitHub: "Use jobs.<job_id>.needs to identify any jobs that must complete successfully
// before this job will run ... If a job fails or is skipped, all jobs that need it are
// skipped unless the jobs use a conditional expression that causes the job to continue"
// ("Using jobs in a workflow", Defining prerequisite jobs,
// https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/using-jobs-in-a-workflow).
// A matrix makes one job per combination of its variables, with no needs between them, so
// they are queued together ("Running variations of jobs in a workflow",
// https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow).
// A job waiting on its needs has had no workflow_job webhook yet (the first one of a job
// is "queued": webhook description workflow-job-queued), and the
// sim does not list it in GET .../runs/{run_id}/jobs until it is queued; its run stays
// in_progress meanwhile. Garo adds only jobs listed as queued, so it works as well if
// GitHub lists such jobs early with another status (the job schema's status enum has
// "pending" and "waiting").

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// RunJob is one job of a workflow run QueueRun creates.
type RunJob struct {
	Name   string
	Labels []string
	// Needs names jobs of the same run that must succeed before this one is queued.
	Needs []string
	// Quiet: GitHub loses this job's workflow_job "queued" delivery (the job is queued and
	// offered to runners all the same); later deliveries of the job are sent.
	Quiet bool
}

// QueueRun creates a workflow run with the given jobs: those without needs are queued at
// once (workflow_job "queued" delivered unless Quiet), the others when every job they
// need completed with success; a job whose need failed or was cancelled is skipped (never
// queued, never delivered). It returns the jobs queued at once.
func (s *Sim) QueueRun(ctx context.Context, repo string, jobs []RunJob) ([]Job, error) {
	if len(jobs) == 0 {
		return nil, fmt.Errorf("queue run on %s: a run needs at least one job", repo)
	}
	names := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || names[j.Name] {
			return nil, fmt.Errorf("queue run on %s: job names must be unique and not empty, got %q", repo, j.Name)
		}
		if len(j.Labels) == 0 {
			return nil, fmt.Errorf("queue run on %s: job %s needs at least one label", repo, j.Name)
		}
		names[j.Name] = true
	}
	for _, j := range jobs {
		for _, n := range j.Needs {
			if !names[n] || n == j.Name {
				return nil, fmt.Errorf("queue run on %s: job %s needs unknown job %q", repo, j.Name, n)
			}
		}
	}
	s.mu.Lock()
	r, ok := s.repoLocked(repo)
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("queue run on %s: %w", repo, ErrUnknownRepository)
	}
	run := s.newRunLocked(r)
	var ready []*jobState
	var quiet []bool
	for _, j := range jobs {
		if len(j.Needs) > 0 {
			run.blocked = append(run.blocked, j)
			continue
		}
		ready = append(ready, s.addJobLocked(run, j.Name, j.Labels))
		quiet = append(quiet, j.Quiet)
	}
	s.mu.Unlock()
	return s.announce(ctx, ready, quiet)
}

// announce delivers workflow_job "queued" for each job not quiet, then offers the jobs to
// runners (so that a runner's in_progress never overtakes the queued delivery).
func (s *Sim) announce(ctx context.Context, jobs []*jobState, quiet []bool) ([]Job, error) {
	var errs []error
	out := make([]Job, 0, len(jobs))
	for i, js := range jobs {
		payload, job := s.jobEvent(js.id, "queued")
		out = append(out, job)
		if quiet[i] {
			continue
		}
		if _, err := s.deliver(ctx, "workflow_job", payload, newGUID(), false); err != nil {
			errs = append(errs, fmt.Errorf("job %d: %w", js.id, err))
		}
	}
	s.mu.Lock()
	for _, js := range jobs {
		js.assignable = true
	}
	s.broadcastLocked()
	s.mu.Unlock()
	return out, errors.Join(errs...)
}

// newRunLocked creates an empty workflow run on r.
func (s *Sim) newRunLocked(r *repoState) *runState {
	now := s.opts.Now().UTC().Truncate(time.Second)
	r.runNumber++
	run := &runState{
		id:          s.nextID("run"),
		repo:        r,
		number:      r.runNumber,
		checkSuite:  s.nextID("checksuite"),
		headSHA:     randomHex(40),
		treeSHA:     randomHex(40),
		created:     now,
		updated:     now,
		workflowNam: "CI",
	}
	s.runs[run.id] = run
	return run
}

// addJobLocked adds a queued job to run, not yet offered to runners (see announce).
func (s *Sim) addJobLocked(run *runState, name string, labels []string) *jobState {
	now := s.opts.Now().UTC().Truncate(time.Second)
	js := &jobState{
		id:      s.nextID("job"),
		run:     run,
		name:    name,
		labels:  slices.Clone(labels),
		status:  "queued",
		created: now,
		started: now,
	}
	run.jobIDs = append(run.jobIDs, js.id)
	run.updated = now
	s.jobs[js.id] = js
	run.repo.queue = append(run.repo.queue, js) // ids grow, so the queue stays oldest first
	s.log.Info("job queued", "repo", run.repo.fullName, "job_id", js.id, "run_id", run.id, "labels", labels)
	return js
}

// releaseLocked queues the blocked jobs of run whose needs are now all met, and drops
// (skips) those with a need that did not succeed. It returns the queued jobs with their
// Quiet flags, for announce after the lock is released.
func (s *Sim) releaseLocked(run *runState) ([]*jobState, []bool) {
	done := map[string]string{} // job name -> conclusion, of completed jobs
	for _, id := range run.jobIDs {
		if js := s.jobs[id]; js.status == "completed" {
			done[js.name] = js.conclusion
		}
	}
	var ready []*jobState
	var quiet []bool
	for changed := true; changed; {
		changed = false
		kept := run.blocked[:0]
		for _, b := range run.blocked {
			met, skip := true, false
			for _, n := range b.Needs {
				c, ok := done[n]
				switch {
				case !ok:
					met = false
				case c != "success":
					skip = true
				}
			}
			switch {
			case skip:
				done[b.Name] = "skipped" // its own dependants are skipped in turn
				changed = true
				s.log.Info("job skipped: a job it needs did not succeed", "run_id", run.id, "job", b.Name)
			case met:
				ready = append(ready, s.addJobLocked(run, b.Name, b.Labels))
				quiet = append(quiet, b.Quiet)
			default:
				kept = append(kept, b)
			}
		}
		run.blocked = kept
	}
	return ready, quiet
}

// afterComplete queues what the completion of a job of run released.
func (s *Sim) afterComplete(ctx context.Context, run *runState) {
	s.mu.Lock()
	ready, quiet := s.releaseLocked(run)
	s.mu.Unlock()
	if len(ready) == 0 {
		return
	}
	if _, err := s.announce(ctx, ready, quiet); err != nil {
		s.log.Info("webhook not answered", "run_id", run.id, "err", err)
	}
}
