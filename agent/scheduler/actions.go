package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// Environment variables of a runner registered with a registration token: the actions
// runner's config.sh reads ACTIONS_RUNNER_INPUT_<OPTION> for each of its options.
const (
	envURL       = "ACTIONS_RUNNER_INPUT_URL"
	envToken     = "ACTIONS_RUNNER_INPUT_TOKEN"
	envName      = "ACTIONS_RUNNER_INPUT_NAME"
	envLabels    = "ACTIONS_RUNNER_INPUT_LABELS"
	envEphemeral = "ACTIONS_RUNNER_INPUT_EPHEMERAL"
)

// credentialEnv puts the runner's credentials into its environment, never into argv.
func credentialEnv(c protocol.Credentials) map[string]string {
	if c.JITConfig != "" {
		return map[string]string{provider.EnvJITConfig: c.JITConfig}
	}
	env := map[string]string{
		envURL: c.RepositoryURL, envToken: c.RegistrationToken, envName: c.RunnerName,
		envLabels: strings.Join(c.Labels, ","),
	}
	if c.Ephemeral {
		env[envEphemeral] = "true"
	}
	return env
}

// create mints the runner's credentials and creates its instance. Its record is
// pending (creating) until it reports back: booting, or failed. A runner whose policy
// breaks the constraints of the agent's group (cfg, the config the plan was made from)
// is refused before anything is minted: its record fails with the violations as its
// reason, and the policy is held back like after a failed creation, the reason visible
// in the heartbeat's job states.
func (s *Scheduler) create(ctx context.Context, cfg *protocol.Config, c Create) {
	r := *c.Record
	log := s.log.With("repo", r.Repository, "policy", r.Policy, "runner", r.Name)
	if r.ForJob != 0 {
		log = log.With("job_id", r.ForJob)
	}
	if err := Violations(cfg, *c.Policy); err != nil {
		s.createFailed(r, "refused", err, false)
		return
	}
	creds, err := s.opts.Server.Credentials(ctx, protocol.CredentialsRequest{
		Repository: r.Repository, Policy: r.Policy, RunnerName: r.Name, JobID: r.ForJob,
	})
	if errors.Is(err, protocol.ErrQuotaFull) {
		s.heldByQuota(r, err)
		return
	}
	if err != nil {
		s.createFailed(r, "no runner credentials", err, false)
		return
	}
	r.RunnerID = creds.RunnerID
	req := provider.RunnerRequest{
		Name: r.Name, Repository: r.Repository, Policy: r.Policy,
		Labels: Labels(s.opts.AgentID, r), Spec: c.Policy.Runner, Env: credentialEnv(creds),
	}
	inst, err := s.opts.Provider.Create(ctx, req)
	if err != nil {
		s.createFailed(r, "provider create failed", err, true)
		// Its GitHub registration would stay behind, offline; tell the server even when
		// the agent is shutting down (ctx ended), within forget's own short timeout.
		s.forget(context.WithoutCancel(ctx), r)
		return
	}
	log.Info("runner created", "provider_id", inst.ID, "runner_id", creds.RunnerID)
	now := s.opts.Now()
	s.report(func(s *Scheduler) {
		delete(s.failures, r.Key)
		delete(s.blocked, r.Key)
		s.update(r.Name, func(rec *Record) {
			rec.ProviderID, rec.RunnerID, rec.Pending = inst.ID, creds.RunnerID, false
			rec.State, rec.Since = protocol.RunnerBooting, now
		})
	})
}

// quotaHold is how long a policy whose runner a quota held back waits before it asks
// again (Options.QuotaRetry's default): a fixed pause, not the growing back-off of a failure, since a full quota is no
// fault of the policy and frees up as other runners end.
const quotaHold = 5 * time.Second

// heldByQuota drops r (no runner was minted) and holds its policy's creations back for
// Options.QuotaRetry, with the server's reason (which quota, which limit) as the hold's reason,
// which the heartbeat's job states carry to the portal.
func (s *Scheduler) heldByQuota(r Record, err error) {
	now := s.opts.Now()
	s.log.Info("runner held back by a quota", "repo", r.Repository, "policy", r.Policy, "runner", r.Name, "err", err)
	s.report(func(s *Scheduler) {
		reason := "waiting for quota: " + err.Error()
		s.blocked[r.Key] = Hold{Until: now.Add(s.opts.QuotaRetry), Reason: reason}
		// Ended like a runner that was never made (nothing was minted); unlike a failed
		// creation it adds nothing to the policy's failures.
		s.update(r.Name, func(rec *Record) {
			rec.State, rec.Since, rec.Pending, rec.Reason = protocol.RunnerFailed, now, false, reason
		})
	})
}

// createFailed reports r failed and holds the policy's creations back for a while. A
// runner the provider could not make (after its credentials were minted) also counts
// against the policy's crash-loop back-off: a bad image fails that way every time.
func (s *Scheduler) createFailed(r Record, what string, err error, crash bool) {
	if errors.Is(err, protocol.ErrUnauthorized) {
		s.setFatal(err)
	}
	now := s.opts.Now()
	reason := what + ": " + err.Error()
	level := s.log.Warn
	if errors.Is(err, context.Canceled) {
		level = s.log.Info
	}
	s.report(func(s *Scheduler) {
		n := s.failures[r.Key]
		s.failures[r.Key] = n + 1
		wait := max(s.opts.Backoff.Delay(n), time.Second)
		s.blocked[r.Key] = Hold{Until: now.Add(wait), Reason: "backing off after a failed creation: " + reason}
		if crash && ctxAlive(err) {
			old := s.backoffs[r.Key]
			b := old.Failed(now, r.Name+": "+reason, s.opts.CrashBackoff, s.opts.AgentID+"/"+r.Key.String())
			s.backoffs = maps.Clone(s.backoffs) // the last plan's map is not changed
			s.backoffs[r.Key] = b
			s.logBackoff(map[Key]Backoff{r.Key: old}, map[Key]Backoff{r.Key: b}, now)
		}
		s.update(r.Name, func(rec *Record) {
			rec.State, rec.Since, rec.Pending, rec.Reason = protocol.RunnerFailed, now, false, reason
		})
		level("runner not created", "repo", r.Repository, "policy", r.Policy, "runner", r.Name,
			"job_id", r.ForJob, "err", err, "retry_in", wait.Round(time.Millisecond))
	})
}

// ctxAlive reports whether err is not the end of the action's context (the agent
// stopping, or the action's timeout): that says nothing about the policy.
func ctxAlive(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// reap removes one runner: from GitHub first when it may be running (the server refuses
// a busy one), then its instance, then its record.
func (s *Scheduler) reap(ctx context.Context, rp Reap) {
	r := rp.Record
	log := s.log.With("repo", r.Repository, "policy", r.Policy, "runner", r.Name, "reason", r.Reason)
	if rp.Running {
		// The plan may be a moment old: a runner that has exited since needs no word
		// from GitHub (and none is possible during a server outage).
		if in, err := s.opts.Provider.State(ctx, r.ProviderID); err == nil && in.State != provider.StateRunning {
			rp.Running = false
		}
	}
	if rp.Running {
		err := s.opts.Server.RemoveRunner(ctx, protocol.RemoveRunnerRequest{
			Repository: r.Repository, RunnerID: r.RunnerID, RunnerName: r.Name,
		})
		switch {
		case err == nil:
		case errors.Is(err, protocol.ErrNotFound): // not at GitHub (any more)
		case errors.Is(err, protocol.ErrRunnerBusy):
			log.Info("runner is busy at GitHub: kept")
			s.keep(r.Name, s.opts.RefusedRetry)
			return
		case errors.Is(err, protocol.ErrNotOwner):
			log.Info("repository not served by this agent: runner kept for its owner")
			s.keep(r.Name, 2*s.opts.RefusedRetry)
			return
		default:
			if errors.Is(err, protocol.ErrUnauthorized) {
				s.setFatal(err)
			}
			log.Warn("runner removal from GitHub failed: kept for now", "err", err)
			s.retry(r.Name)
			return
		}
	}
	if r.ProviderID != "" {
		if err := s.opts.Provider.Delete(ctx, r.ProviderID); err != nil {
			log.Warn("runner instance not deleted: retrying later", "provider_id", r.ProviderID, "err", err)
			s.retry(r.Name)
			return
		}
	}
	if rp.Lost || (!rp.Running && r.State == protocol.RunnerFailed) {
		// Its registration would stay at GitHub, offline: the record is kept until the
		// server confirms the removal, also while no server answers (the chaos suite's
		// outage left one behind when this was a single best-effort call).
		if !s.deregister(ctx, log, r) {
			return
		}
	}
	log.Info("runner removed")
	s.report(func(s *Scheduler) { delete(s.records, r.Name) })
}

// keep reports that r's pending mark is to be cleared and r left alone for d.
func (s *Scheduler) keep(name string, d time.Duration) {
	now := s.opts.Now()
	s.report(func(s *Scheduler) {
		s.update(name, func(rec *Record) { rec.Pending, rec.RetryAt = false, now.Add(d) })
	})
}

// retry reports a failed removal: r's pending mark is cleared, and the next attempt held
// back by the backoff policy.
func (s *Scheduler) retry(name string) {
	now := s.opts.Now()
	s.report(func(s *Scheduler) {
		s.update(name, func(rec *Record) {
			rec.Pending, rec.RetryAt = false, now.Add(max(s.opts.Backoff.Delay(rec.Attempts), time.Second))
			rec.Attempts++
		})
	})
}

// update changes one record, if it still exists: a copy of it, which replaces it (a
// published record is never written). Only the owner calls it, from a report.
func (s *Scheduler) update(name string, f func(*Record)) {
	if old, ok := s.records[name]; ok {
		r := *old
		f(&r)
		s.records[name] = &r
	}
}

// forget asks the server, best effort and briefly, to remove a runner that never ran a
// job from GitHub, where its registration would stay behind offline.
func (s *Scheduler) forget(ctx context.Context, r Record) {
	// Without a GitHub id (a registration-token runner, or a kill while its JIT config
	// was minted) the server finds the runner by name.
	if ctx.Err() != nil {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := s.opts.Server.RemoveRunner(fctx, protocol.RemoveRunnerRequest{
		Repository: r.Repository, RunnerID: r.RunnerID, RunnerName: r.Name,
	})
	if err != nil {
		if errors.Is(err, protocol.ErrUnauthorized) {
			s.setFatal(err)
		}
		s.log.Debug("runner registration not removed from GitHub", "repo", r.Repository, "runner", r.Name,
			"runner_id", strconv.FormatInt(r.RunnerID, 10), "err", err)
	}
}

// refusedForGood is a 4xx answer that another attempt would get too: not busy (asked
// again after its job), not unauthorized (the agent re-registers), not 408 or 429.
func refusedForGood(err error) bool {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status < 400 || pe.Status >= 500 {
		return false
	}
	return !errors.Is(err, protocol.ErrRunnerBusy) && !errors.Is(err, protocol.ErrUnauthorized) &&
		pe.Status != http.StatusRequestTimeout && pe.Status != http.StatusTooManyRequests
}

// deregisterFor bounds how long the agent asks GitHub to remove a runner that is gone:
// GitHub fails the job of a runner that stopped talking to it within minutes, after
// which the removal succeeds, and a server outage seldom lasts longer.
const deregisterFor = time.Hour

// deregister removes from GitHub a runner whose instance is gone: lost while it ran a
// job, or failed before taking one (by name when the agent never learnt its GitHub id).
// It reports whether the record is done with: false means the record was kept for
// another attempt (GitHub still calls it busy, or the server could not be reached).
func (s *Scheduler) deregister(ctx context.Context, log *slog.Logger, r Record) bool {
	err := s.opts.Server.RemoveRunner(ctx, protocol.RemoveRunnerRequest{
		Repository: r.Repository, RunnerID: r.RunnerID, RunnerName: r.Name,
	})
	giveUp := s.opts.Now().Sub(r.Since) >= deregisterFor
	switch {
	case err == nil, errors.Is(err, protocol.ErrNotFound):
		return true
	case errors.Is(err, protocol.ErrNotOwner):
		return true // its repository moved: the new owner's sweep has it
	case refusedForGood(err):
		// The server cannot name it (an orphan without a repository label, a duplicate
		// name): asking again changes nothing.
		log.Info("runner removal refused by the server: not asked again", "err", err)
		return true
	case giveUp:
		log.Warn("runner still registered at GitHub: giving up", "err", err)
		return true
	case errors.Is(err, protocol.ErrRunnerBusy):
		log.Info("runner still busy at GitHub: removal retried later")
		s.keep(r.Name, s.opts.RefusedRetry)
	default:
		if errors.Is(err, protocol.ErrUnauthorized) {
			s.setFatal(err)
		}
		log.Warn("runner not removed from GitHub: retrying later", "err", err)
		s.retry(r.Name)
	}
	return false
}
