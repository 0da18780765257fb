package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// Limits of a heartbeat.
const (
	maxReportedRunners = 10000
	maxReportedJobs    = 10000
	maxReasonLen       = 1000
)

var runnerStates = map[protocol.RunnerState]bool{
	protocol.RunnerCreating: true, protocol.RunnerBooting: true, protocol.RunnerIdle: true,
	protocol.RunnerBusy: true, protocol.RunnerFinished: true, protocol.RunnerFailed: true,
}

var jobStates = map[string]bool{protocol.JobWaitingForCapacity: true, protocol.JobRunnerRequested: true, protocol.JobBackingOff: true}

// inventory is the summary of a heartbeat kept on the agent's row (agents.inventory).
type inventory struct {
	Runners map[string]int64 `json:"runners"`
	Jobs    map[string]int64 `json:"jobs"`
}

// Heartbeat records what agent a reports: its own state and version, its whole runner
// inventory and its view of jobs, each replacing what it reported before (so a repeated
// heartbeat changes nothing). It renews a's leases and settles the ownership of its group.
// Job states are kept only for open jobs of repositories a owns; others are ignored.
func (s *Service) Heartbeat(ctx context.Context, a *store.Agent, req protocol.HeartbeatRequest) (*protocol.HeartbeatResponse, error) {
	ignored, err := validateHeartbeat(&req)
	if err != nil {
		return nil, err
	}
	if len(ignored) > 0 {
		s.ignoredEntries.Add(float64(len(ignored)))
		s.log.Warn("heartbeat entries ignored", "agent_id", a.ID, "count", len(ignored), "first", ignored[0])
	}
	now := s.now()
	capacity := capacityOf(req.Capacity, func(string, string, ...any) {}) // validated
	// An agent that was live and reports the same state and provider changes nothing that
	// settling after the heartbeat would see: the settle before it is enough.
	sameStanding := a.State == req.State && (req.Provider == "" || req.Provider == a.Provider) &&
		sameCapacity(a, capacity) &&
		a.LastSeenAt.After(now.Add(-s.cfg.Offline))
	summary := inventory{Runners: map[string]int64{}, Jobs: map[string]int64{}}
	rows := make([]store.Runner, len(req.Runners))
	for i, r := range req.Runners {
		rows[i] = store.Runner{
			Name: r.Name, RepoKey: strings.ToLower(r.Repository), Policy: r.Policy, ProviderID: r.ProviderID,
			RunnerID: r.RunnerID, State: string(r.State), JobID: r.JobID, Reason: r.Reason,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: now,
		}
		if rows[i].CreatedAt.IsZero() {
			rows[i].CreatedAt = now
		}
		// A time from the agent's clock: kept unless it is in the server's future.
		if t := r.RunningSince; t != nil && !t.IsZero() && !t.After(now.Add(time.Minute)) {
			at := t.UTC()
			rows[i].RunningSince = &at
		}
		summary.Runners[string(r.State)]++
	}
	for _, j := range req.Jobs {
		summary.Jobs[j.State]++
	}
	inv, err := json.Marshal(summary)
	if err != nil {
		return nil, fmt.Errorf("heartbeat of agent %s: %w", a.ID, err)
	}
	// Settle first too: an agent's first heartbeat may come before it owns anything, and
	// only runners of repositories it owns (or reported before) are recorded. A heartbeat
	// that changes its agent's standing does not trust the settle memo.
	settle := s.settleNow
	if sameStanding {
		settle = s.settle
	}
	if err := settle(ctx, a.AgentGroup); err != nil {
		return nil, err
	}
	// The repositories a owns are wanted for a runner a did not report before and for
	// the jobs it reports; then they come with the renewal of its leases. A steady
	// inventory without jobs needs none (read in the Tx when the copy was stale).
	mayClaim := len(req.Jobs) > 0 || !s.inventories.covers(a.ID, rows)
	var rev int64
	var rowsNow map[string]store.Runner
	wrote := false
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		report := store.AgentReport{State: req.State, Version: req.Version, Inventory: inv, At: now,
			Capacity: capacity}
		if req.Provider != "" && req.Provider != a.Provider {
			report.Provider, report.Serves = req.Provider, protocol.PolicyProvider(req.Provider)
		}
		// The revision of the agent's rows, and the repositories it owns, come back from
		// the statements that write the agent's row and renew its leases (issue 15: every
		// round trip of this transaction counts under load).
		var err error
		if rev, err = tx.ReportAgent(ctx, a.ID, report); err != nil {
			return err
		}
		owned := ownedOnce(ctx, tx, a.ID)
		if mayClaim {
			keys, err := tx.RenewLeasesOwned(ctx, a.ID, now.Add(s.cfg.Offline))
			if err != nil {
				return err
			}
			owned = ownedFrom(keys)
		} else if err := tx.RenewLeases(ctx, a.ID, now.Add(s.cfg.Offline)); err != nil {
			return err
		}
		// The agent's rows, for the claim check and for the diff that writes only what
		// changed: as this server's last heartbeat of the agent left them when nothing
		// wrote them since, read once otherwise.
		held, ok := s.inventories.get(a.ID, rev)
		if !ok {
			if held, err = tx.RunnersOf(ctx, a.ID); err != nil {
				return err
			}
		}
		kept, err := s.claimable(ctx, tx, a, held, rows, owned)
		if err != nil {
			return err
		}
		res, err := tx.ReplaceRunnersOf(ctx, a.ID, held, kept)
		if err != nil {
			return err
		}
		if res.Wrote {
			rev++
		}
		rowsNow, wrote = res.Rows, res.Wrote
		for _, name := range res.Refused {
			s.log.Warn("heartbeat reported a runner another agent holds: ignored", "agent_id", a.ID, "runner", name)
		}
		// Reported runners are the agent's to remove: the sweep of unreported ones
		// leaves them.
		if err := tx.MarkReported(ctx, a.ID); err != nil {
			return err
		}
		// A busy runner's job gets its runner_online step (the in_progress webhook stamps
		// it too, from the last heartbeat, when it comes later). Rows that did not change
		// had theirs stamped by the heartbeat that wrote them.
		if len(res.Online) > 0 {
			if _, err := tx.MarkRunnersOnline(ctx, a.ID, res.Online); err != nil {
				return err
			}
		}
		return s.markJobs(ctx, tx, a, req.Jobs, owned)
	})
	if err != nil {
		s.inventories.drop(a.ID)
		return nil, fmt.Errorf("heartbeat of agent %s: %w", a.ID, err)
	}
	s.inventories.put(a.ID, rev, rowsNow, now)
	s.heartbeats.Inc()
	if req.Provider != "" && req.Provider != a.Provider {
		// Settling below releases what it owned for its former provider.
		s.log.Info("agent changed provider", "agent_id", a.ID, "group", a.AgentGroup, "provider", req.Provider, "previous_provider", a.Provider)
		a.Provider, a.Serves = req.Provider, protocol.PolicyProvider(req.Provider)
		s.publish(ctx, TopicAgent(a.ID))
	}
	// A draining agent whose runners changed may now hand a repository over (it runs no
	// working runner of it any more): that is not for the memo to delay either.
	if !sameStanding || (wrote && a.Draining()) {
		if err := s.settleNow(ctx, a.AgentGroup); err != nil {
			return nil, err
		}
	}
	// Drain is repeated in every answer while the request stands: the agent applies
	// what the last answer says (a restarted agent drains again at its first heartbeat).
	return &protocol.HeartbeatResponse{Intervals: s.Intervals(), Ignored: ignored, Drain: a.DrainRequestedAt != nil}, nil
}

// claimable keeps the reported runners that a may hold (docs/security.md, "Runners"):
//   - one a reported before under the same name in the same repository (a runner does
//     not change repository: a report that moves a name to another one is a new claim);
//   - one the server minted for a in that repository (a restarted agent reports what it
//     finds by its labels, also after losing the repository, to clean it up);
//   - one of a repository a owns now (it adopts what it finds in its provider, or reports
//     a runner it is about to ask credentials for).
//
// Anything else is dropped: an agent must not take another group's runner rows. Rows of
// other agents are guarded once more by the store (ReplaceRunners), and removal asks for
// the server's own record of the runner (RemoveRunner), not for these rows.
//
// The ownership rows are read only when a runner is not one a reported before (a steady
// inventory needs none), the minted ones only for runners of repositories a does not own.
func (s *Service) claimable(ctx context.Context, tx *store.Store, a *store.Agent, held map[string]store.Runner, rows []store.Runner,
	owned func() (map[string]bool, error)) ([]store.Runner, error) {
	keep := make([]bool, len(rows))
	var unsure []string // neither reported before nor of a repository a owns
	for i, r := range rows {
		if h, reported := held[r.Name]; reported && h.RepoKey == r.RepoKey {
			keep[i] = true
			continue
		}
		ownedKeys, err := owned()
		if err != nil {
			return nil, err
		}
		if keep[i] = ownedKeys[r.RepoKey]; !keep[i] {
			unsure = append(unsure, r.Name)
		}
	}
	var minted map[string]store.MintedRunner
	if len(unsure) > 0 {
		var err error
		if minted, err = tx.MintedFor(ctx, a.ID, unsure); err != nil {
			return nil, err
		}
	}
	kept := rows[:0] // in place: rows are the heartbeat's own, and kept[j] is written after rows[j] was read
	for i, r := range rows {
		if m, mint := minted[r.Name]; keep[i] || (mint && m.RepoKey == r.RepoKey) {
			kept = append(kept, r)
			continue
		}
		s.log.Warn("heartbeat reported a runner of a repository the agent does not serve: ignored",
			"agent_id", a.ID, "runner", r.Name, "repo", r.RepoKey)
	}
	return kept, nil
}

// markJobs replaces a's view of jobs with reported, writing only what changed.
func (s *Service) markJobs(ctx context.Context, tx *store.Store, a *store.Agent, reported []protocol.JobStatus,
	owned func() (map[string]bool, error)) error {
	ids := make([]int64, len(reported))
	for i, j := range reported {
		ids[i] = j.JobID
	}
	marks, err := tx.JobMarks(ctx, a.ID, ids)
	if err != nil {
		return err
	}
	byID := make(map[int64]store.JobMark, len(marks))
	for _, m := range marks {
		byID[m.ID] = m
	}
	want := make(map[int64]bool, len(reported))
	for _, j := range reported {
		m, ok := byID[j.JobID]
		if !ok || m.State == portalapi.JobCompleted {
			continue // unknown, or over: nothing to show
		}
		ownedKeys, err := owned()
		if err != nil {
			return err
		}
		if !ownedKeys[m.RepoKey] {
			continue // not ours (any more)
		}
		want[j.JobID] = true
		v := store.JobView{State: j.State, Position: j.Position, Reason: j.Reason, RetryAt: j.RetryAt, Limit: j.Limit}
		if m.AgentID == a.ID && m.Same(v) {
			continue
		}
		if err := tx.MarkJob(ctx, j.JobID, a.ID, v); err != nil {
			return err
		}
	}
	var stale []int64
	for _, m := range marks {
		if m.AgentID == a.ID && !want[m.ID] {
			stale = append(stale, m.ID)
		}
	}
	return tx.ClearJobMarks(ctx, stale)
}

// ownedOnce returns the repositories agentID owns, read in tx at the first call.
func ownedOnce(ctx context.Context, tx *store.Store, agentID string) func() (map[string]bool, error) {
	var set map[string]bool
	return func() (map[string]bool, error) {
		if set != nil {
			return set, nil
		}
		keys, err := tx.OwnedRepos(ctx, agentID)
		if err != nil {
			return nil, err
		}
		set = keySet(keys)
		return set, nil
	}
}

// ownedFrom is ownedOnce for repositories already read.
func ownedFrom(keys []string) func() (map[string]bool, error) {
	set := keySet(keys)
	return func() (map[string]bool, error) { return set, nil }
}

func keySet(keys []string) map[string]bool {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

func validateHeartbeat(req *protocol.HeartbeatRequest) ([]string, error) {
	var errs []portalapi.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, portalapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch req.State {
	case "":
		req.State = protocol.AgentActive
	case protocol.AgentActive, protocol.AgentDraining:
	default:
		bad("state", "must be %s or %s, got %q", protocol.AgentActive, protocol.AgentDraining, req.State)
	}
	if len(req.Version) > 64 {
		bad("version", "must be at most 64 characters")
	}
	if req.Provider != "" && !providerRe.MatchString(req.Provider) {
		bad("provider", "must be empty (unchanged) or 1-20 lower-case letters, digits or hyphens (docker, kubernetes, memory), got %q", req.Provider)
	}
	capacityOf(req.Capacity, bad)
	if len(req.Runners) > maxReportedRunners {
		bad("runners", "at most %d runners per heartbeat, got %d", maxReportedRunners, len(req.Runners))
	}
	if len(req.Jobs) > maxReportedJobs {
		bad("jobs", "at most %d jobs per heartbeat, got %d", maxReportedJobs, len(req.Jobs))
	}
	if len(errs) > 0 {
		return nil, &portalapi.ValidationError{Fields: errs}
	}
	// One bad entry (an agent's bug, a version skew) must not cost the whole heartbeat:
	// the agent would look silent and lose its repositories. It is dropped and named.
	var ignored []string
	names := make(map[string]bool, len(req.Runners))
	checked := map[[2]string]string{} // (repository, policy) → its problem: runners share them
	runners := req.Runners[:0]
	for i, r := range req.Runners {
		if problem := runnerProblem(r, names, checked); problem != "" {
			ignored = append(ignored, fmt.Sprintf("runners[%d] (%q): %s", i, r.Name, problem))
			continue
		}
		names[r.Name] = true
		if len(r.Reason) > maxReasonLen {
			r.Reason = strings.ToValidUTF8(r.Reason[:maxReasonLen], "")
		}
		runners = append(runners, r)
	}
	req.Runners = runners
	jobs := make(map[int64]bool, len(req.Jobs))
	kept := req.Jobs[:0]
	for i, j := range req.Jobs {
		var problem string
		switch {
		case j.JobID <= 0:
			problem = "job_id must be a GitHub job id (positive)"
		case jobs[j.JobID]:
			problem = fmt.Sprintf("duplicate job %d", j.JobID)
		case !jobStates[j.State]:
			problem = fmt.Sprintf("state must be %s, %s or %s, got %q", protocol.JobWaitingForCapacity, protocol.JobRunnerRequested,
				protocol.JobBackingOff, j.State)
		case j.Position < 0:
			problem = "position must not be negative"
		case j.Limit != "" && j.Limit != protocol.LimitMaxRunners && j.Limit != protocol.LimitAgentCapacity:
			problem = fmt.Sprintf("limit must be empty, %s or %s, got %q", protocol.LimitMaxRunners, protocol.LimitAgentCapacity, j.Limit)
		}
		if problem == "" {
			// A reason and a retry time belong to backing_off only; the reason is cut to
			// what the portal shows.
			if j.State != protocol.JobBackingOff {
				j.Reason, j.RetryAt = "", nil
			}
			if j.State != protocol.JobWaitingForCapacity {
				j.Limit = ""
			} else if j.Limit == "" {
				j.Limit = protocol.LimitMaxRunners // an older agent's only limit
			}
			if len(j.Reason) > maxReasonLen {
				j.Reason = strings.ToValidUTF8(j.Reason[:maxReasonLen], "")
			}
			if j.RetryAt != nil {
				at := j.RetryAt.UTC().Truncate(time.Millisecond) // what both stores keep
				j.RetryAt = &at
			}
		}
		if problem != "" {
			ignored = append(ignored, fmt.Sprintf("jobs[%d] (%d): %s", i, j.JobID, problem))
			continue
		}
		jobs[j.JobID] = true
		kept = append(kept, j)
	}
	req.Jobs = kept
	return ignored, nil
}

// runnerProblem says what is wrong with one reported runner, "" when nothing; names are
// the names kept so far, checked the problems of the (repository, policy) pairs seen so far.
func runnerProblem(r protocol.RunnerStatus, names map[string]bool, checked map[[2]string]string) string {
	switch {
	case r.Name == "" || len(r.Name) > 255 || strings.IndexFunc(r.Name, unicode.IsControl) >= 0:
		return "name must be 1-255 characters without control characters"
	case names[r.Name]:
		return "duplicate runner name"
	case !runnerStates[r.State]:
		return fmt.Sprintf("unknown runner state %q", r.State)
	case len(r.ProviderID) > 255:
		return "provider_id must be at most 255 characters"
	case r.RunnerID < 0 || r.JobID < 0:
		return "runner_id and job_id must not be negative"
	}
	k := [2]string{r.Repository, r.Policy}
	if problem, ok := checked[k]; ok {
		return problem
	}
	problem := ""
	if _, _, err := policy.ParseRepository(r.Repository); err != nil {
		problem = "repository " + err.Error()
	} else if err := policy.ValidateName(r.Policy); err != nil {
		problem = "policy " + err.Error()
	}
	checked[k] = problem
	return problem
}
