package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Runner is one runner as its agent last reported it in a heartbeat. Name is unique across
// agents. A row belongs to its agent: another agent's heartbeat never changes it, except
// when the repository's owner adopts it (see ReplaceRunners).
type Runner struct {
	Name       string `gorm:"primaryKey"`
	RepoKey    string
	Policy     string
	AgentID    string
	ProviderID string
	RunnerID   int64
	State      string
	JobID      int64
	Reason     string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt  time.Time `gorm:"autoUpdateTime:false"`
	// RunningSince is when the agent first saw its process running; nil when unknown.
	RunningSince *time.Time
}

// chunkSize bounds the parameters of one IN list.
const chunkSize = 500

// ReplaceRunners makes runners the whole inventory of agentID: its rows that runners does
// not name are deleted. A name another agent's row holds is taken over only by adoption:
// the other agent is of agentID's group, the row is of the same repository, and agentID
// owns that repository now (its ownership row). Every other such name is left to its row
// and returned, unrecorded: no heartbeat moves or overwrites a runner of another group, of
// another repository, or of a repository its agent does not own. Call it inside a Tx.
//
// Only new, changed and gone runners are written (issue 15: a heartbeat of 5,000 runners
// rewrote 5,000 rows, then touched them all): a row's updated_at is when its agent last
// reported it changed; when the agent last reported at all is its last_seen_at.
func (s *Store) ReplaceRunners(ctx context.Context, agentID string, runners []Runner) ([]string, error) {
	old, err := s.RunnersOf(ctx, agentID)
	if err != nil {
		return nil, fmt.Errorf("replace runners of agent %s: %w", agentID, err)
	}
	res, err := s.ReplaceRunnersOf(ctx, agentID, old, runners)
	return res.Refused, err
}

// Replaced is what ReplaceRunnersOf did.
type Replaced struct {
	// Refused are the names another agent's row holds, left unrecorded.
	Refused []string
	// Rows are agentID's rows now, by name: old itself when nothing was written (never
	// change it), a new map otherwise.
	Rows map[string]Runner
	// Wrote: a row of agentID was written or deleted, and its runner revision moved by one.
	Wrote bool
	// Online are the jobs of the rows written busy with a running_since: the only ones
	// that may lack their runner_online step now (MarkRunnersOnline).
	Online []int64
}

// ReplaceRunnersOf is ReplaceRunners for a caller that has agentID's rows, old: read in
// the same Tx (RunnersOf), or kept from the last call at the same runner revision
// (RunnersRev). It does not change old.
func (s *Store) ReplaceRunnersOf(ctx context.Context, agentID string, old map[string]Runner, runners []Runner) (Replaced, error) {
	fail := func(err error) (Replaced, error) {
		return Replaced{}, fmt.Errorf("replace runners of agent %s: %w", agentID, err)
	}
	for i := range runners {
		runners[i].AgentID = agentID
	}
	reported := make(map[string]bool, len(runners))
	var fresh []Runner // new names, and rows that changed
	var newNames []string
	for _, r := range runners {
		reported[r.Name] = true
		o, ok := old[r.Name]
		if !ok {
			newNames = append(newNames, r.Name)
		}
		if !ok || !sameRunner(o, r) {
			fresh = append(fresh, r)
		}
	}
	var gone []string // rows of agentID not reported, or reported changed
	for name := range old {
		if !reported[name] {
			gone = append(gone, name)
		}
	}
	for _, r := range fresh {
		if _, ok := old[r.Name]; ok {
			gone = append(gone, r.Name)
		}
	}
	slices.Sort(gone) // the same order of locks from one heartbeat to the next
	wrote := len(gone) > 0
	for chunk := range slices.Chunk(gone, chunkSize) {
		// By name (the primary key): "agent_id || ''" keeps both planners off the
		// agent_id index, which without statistics (a young database; SQLite has none)
		// they chose, scanning all 5,000 rows of the agent for 50 names (issue 15,
		// EXPLAIN ANALYZE). agent_id still guards the rows of other agents.
		if err := s.conn(ctx).Exec("DELETE FROM runners WHERE name IN ? AND agent_id || '' = ?", chunk, agentID).Error; err != nil {
			return fail(err)
		}
	}
	// Runners no longer reported no longer count against quotas: their usage ends.
	var ended []string
	for _, name := range gone {
		if !reported[name] {
			ended = append(ended, name)
		}
	}
	if err := s.EndUsageIfGone(ctx, ended); err != nil {
		return Replaced{}, err
	}
	// A new name may be held by another agent's row.
	var others []Runner
	for chunk := range slices.Chunk(newNames, chunkSize) {
		var rows []Runner
		if err := s.conn(ctx).Select("name, agent_id, repo_key").Where("name IN ?", chunk).Find(&rows).Error; err != nil {
			return fail(err)
		}
		others = append(others, rows...)
	}
	var refused []string
	if len(others) > 0 {
		adoptable, err := s.adoptable(ctx, agentID, others)
		if err != nil {
			return Replaced{}, err
		}
		repoOf := make(map[string]string, len(runners))
		for _, r := range runners {
			repoOf[r.Name] = r.RepoKey
		}
		var moved []string
		from := map[string]bool{} // the agents whose rows move to agentID
		taken := map[string]bool{}
		for _, o := range others {
			if adoptable[o.Name] && repoOf[o.Name] == o.RepoKey {
				moved = append(moved, o.Name)
				from[o.AgentID] = true
				continue
			}
			taken[o.Name] = true
			refused = append(refused, o.Name)
		}
		// Their revisions move first: the agents' rows are locked before their runners'.
		if err := s.bumpRunnersRev(ctx, slices.Sorted(maps.Keys(from))); err != nil {
			return Replaced{}, err
		}
		for chunk := range slices.Chunk(moved, chunkSize) {
			if err := s.conn(ctx).Where("name IN ?", chunk).Delete(&Runner{}).Error; err != nil {
				return fail(err)
			}
		}
		if len(taken) > 0 {
			fresh = slices.DeleteFunc(fresh, func(r Runner) bool { return taken[r.Name] })
		}
	}
	if len(fresh) > 0 {
		wrote = true
		if err := s.insertRunners(ctx, fresh); err != nil {
			return fail(classifyWrite(err))
		}
	}
	if !wrote {
		return Replaced{Refused: refused, Rows: old}, nil
	}
	var online []int64
	for _, r := range fresh {
		if r.State == "busy" && r.JobID > 0 && r.RunningSince != nil {
			online = append(online, r.JobID)
		}
	}
	if err := s.bumpRunnersRev(ctx, []string{agentID}); err != nil {
		return Replaced{}, err
	}
	rows := make(map[string]Runner, len(runners))
	for _, r := range runners {
		if o, ok := old[r.Name]; ok {
			rows[r.Name] = o // unchanged, or rewritten as reported below
		}
	}
	for _, r := range fresh {
		rows[r.Name] = r
	}
	return Replaced{Refused: refused, Rows: rows, Wrote: true, Online: online}, nil
}

// runnerColumns are the columns of a runner row, in the order insertRunners writes them.
const runnerColumns = "name, repo_key, policy, agent_id, provider_id, runner_id, state, job_id, reason, created_at, updated_at, running_since"

// insertRunners writes rows with multi-row INSERTs built by hand: gorm's reflection of
// each row cost more than the statement (issue 15).
func (s *Store) insertRunners(ctx context.Context, rows []Runner) error {
	const perStatement = 200 // 12 parameters each: far below both stores' limits
	for chunk := range slices.Chunk(rows, perStatement) {
		var q strings.Builder
		q.WriteString("INSERT INTO runners (" + runnerColumns + ") VALUES ")
		args := make([]any, 0, 12*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			var since *time.Time
			if r.RunningSince != nil {
				at := r.RunningSince.UTC()
				since = &at
			}
			args = append(args, r.Name, r.RepoKey, r.Policy, r.AgentID, r.ProviderID, r.RunnerID, r.State, r.JobID, r.Reason,
				r.CreatedAt.UTC(), r.UpdatedAt.UTC(), since)
		}
		if err := s.conn(ctx).Exec(q.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// sameRunner reports whether row a, as stored, records what b reports, updated_at aside.
// Times are compared to the microsecond: PostgreSQL keeps no finer.
func sameRunner(a, b Runner) bool {
	near := func(x, y time.Time) bool { d := x.Sub(y); return d < time.Microsecond && d > -time.Microsecond }
	switch {
	case a.Name != b.Name, a.RepoKey != b.RepoKey, a.Policy != b.Policy, a.AgentID != b.AgentID,
		a.ProviderID != b.ProviderID, a.RunnerID != b.RunnerID, a.State != b.State, a.JobID != b.JobID,
		a.Reason != b.Reason, !near(a.CreatedAt, b.CreatedAt):
		return false
	case a.RunningSince == nil || b.RunningSince == nil:
		return a.RunningSince == nil && b.RunningSince == nil
	default:
		return near(*a.RunningSince, *b.RunningSince)
	}
}

// adoptable returns the names of the rows others that agentID may adopt: rows of an agent
// of its group, of a repository agentID owns now.
func (s *Store) adoptable(ctx context.Context, agentID string, others []Runner) (map[string]bool, error) {
	var group string
	var groups []string
	if err := s.conn(ctx).Model(&Agent{}).Where("id = ?", agentID).Pluck("agent_group", &groups).Error; err != nil {
		return nil, fmt.Errorf("replace runners of agent %s: %w", agentID, err)
	}
	if len(groups) == 1 {
		group = groups[0]
	}
	var owned []string
	if err := s.conn(ctx).Model(&Ownership{}).Where("agent_id = ?", agentID).Pluck("repo_key", &owned).Error; err != nil {
		return nil, fmt.Errorf("replace runners of agent %s: %w", agentID, err)
	}
	ownedKeys := make(map[string]bool, len(owned))
	for _, k := range owned {
		ownedKeys[k] = true
	}
	ids := map[string]bool{}
	for _, o := range others {
		ids[o.AgentID] = true
	}
	var mates []string
	if err := s.conn(ctx).Model(&Agent{}).Where("id IN ? AND agent_group = ?", slices.Collect(maps.Keys(ids)), group).Pluck("id", &mates).Error; err != nil {
		return nil, fmt.Errorf("replace runners of agent %s: %w", agentID, err)
	}
	sameGroup := make(map[string]bool, len(mates))
	for _, id := range mates {
		sameGroup[id] = true
	}
	out := map[string]bool{}
	for _, o := range others {
		if group != "" && sameGroup[o.AgentID] && ownedKeys[o.RepoKey] {
			out[o.Name] = true
		}
	}
	return out, nil
}

// RunnersOf returns the runners agentID reported last, by name, every column read. The
// rows are scanned by hand: a heartbeat reads up to 10,000 of them, and reflection cost
// more than the query (issue 15).
func (s *Store) RunnersOf(ctx context.Context, agentID string) (map[string]Runner, error) {
	rows, err := s.conn(ctx).Raw(`SELECT name, repo_key, policy, provider_id, runner_id, state, job_id, reason,
		created_at, updated_at, running_since FROM runners WHERE agent_id = ?`, agentID).Rows()
	if err != nil {
		return nil, fmt.Errorf("runners of agent %s: %w", agentID, err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]Runner{}
	for rows.Next() {
		r := Runner{AgentID: agentID}
		var since sql.NullTime
		if err := rows.Scan(&r.Name, &r.RepoKey, &r.Policy, &r.ProviderID, &r.RunnerID, &r.State, &r.JobID, &r.Reason,
			&r.CreatedAt, &r.UpdatedAt, &since); err != nil {
			return nil, fmt.Errorf("runners of agent %s: %w", agentID, err)
		}
		if since.Valid {
			at := since.Time
			r.RunningSince = &at
		}
		out[r.Name] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runners of agent %s: %w", agentID, err)
	}
	return out, nil
}

// GetRunner returns the runner name.
func (s *Store) GetRunner(ctx context.Context, name string) (*Runner, error) {
	var r Runner
	if err := s.conn(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("get runner %s: %w", name, notFound(err))
	}
	return &r, nil
}

// CountRunners counts the runners of each agent by state: agent id → state → count.
// Only runners of repositories within prefixes count, when prefixes are given.
func (s *Store) CountRunners(ctx context.Context, agentIDs []string, prefixes []string) (map[string]map[string]int64, error) {
	out := make(map[string]map[string]int64, len(agentIDs))
	if len(agentIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		AgentID string
		State   string
		N       int64
	}
	q := s.conn(ctx).Model(&Runner{}).Select("agent_id, state, COUNT(*) AS n").Where("agent_id IN ?", agentIDs)
	if len(prefixes) > 0 {
		q = q.Where(prefixCondition(s.db, prefixes))
	}
	err := q.Group("agent_id, state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count runners: %w", err)
	}
	for _, r := range rows {
		if out[r.AgentID] == nil {
			out[r.AgentID] = map[string]int64{}
		}
		out[r.AgentID][r.State] = r.N
	}
	return out, nil
}

// JobMark is an agent's view of one job on the job log.
type JobMark struct {
	ID            int64
	RepoKey       string
	State         string
	AgentID       string
	AgentState    string
	QueuePosition int
	AgentReason   string
	AgentRetryAt  *time.Time
	AgentLimit    string
}

// Same reports whether m shows the agent view v (its state, position, reason and retry
// time).
func (m JobMark) Same(v JobView) bool {
	return m.AgentState == v.State && m.QueuePosition == v.Position && m.AgentReason == v.Reason && m.AgentLimit == v.Limit &&
		(m.AgentRetryAt == nil) == (v.RetryAt == nil) && (m.AgentRetryAt == nil || m.AgentRetryAt.Equal(*v.RetryAt))
}

// JobView is what an agent reports of one job.
type JobView struct {
	State    string
	Position int
	Reason   string
	RetryAt  *time.Time
	Limit    string // with waiting_for_capacity: protocol.LimitMaxRunners or LimitAgentCapacity
}

// clearedMark are the columns of a job no agent reports.
var clearedMark = map[string]any{"agent_id": "", "agent_state": "", "queue_position": 0, "agent_reason": "", "agent_retry_at": nil, "agent_limit": ""}

// JobMarks returns the marks of the jobs ids and of every job agentID marked.
func (s *Store) JobMarks(ctx context.Context, agentID string, ids []int64) ([]JobMark, error) {
	seen := map[int64]bool{}
	var out []JobMark
	add := func(q func() ([]JobMark, error)) error {
		rows, err := q()
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
		return nil
	}
	cols := "id, repo_key, state, agent_id, agent_state, queue_position, agent_reason, agent_retry_at, agent_limit"
	err := add(func() ([]JobMark, error) {
		var rows []JobMark
		err := s.conn(ctx).Model(&WorkflowJob{}).Select(cols).Where("agent_id = ?", agentID).Scan(&rows).Error
		return rows, err
	})
	for chunk := range slices.Chunk(ids, chunkSize) {
		if err != nil {
			break
		}
		err = add(func() ([]JobMark, error) {
			var rows []JobMark
			err := s.conn(ctx).Model(&WorkflowJob{}).Select(cols).Where("id IN ?", chunk).Scan(&rows).Error
			return rows, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("read job marks of agent %s: %w", agentID, err)
	}
	return out, nil
}

// MarkJob writes an agent's view of job id.
func (s *Store) MarkJob(ctx context.Context, id int64, agentID string, v JobView) error {
	var retryAt *time.Time
	if v.RetryAt != nil {
		at := v.RetryAt.UTC()
		retryAt = &at
	}
	err := s.conn(ctx).Model(&WorkflowJob{}).Where("id = ?", id).UpdateColumns(map[string]any{
		"agent_id": agentID, "agent_state": v.State, "queue_position": v.Position,
		"agent_reason": v.Reason, "agent_retry_at": retryAt, "agent_limit": v.Limit,
	}).Error
	if err != nil {
		return fmt.Errorf("mark job %d: %w", id, err)
	}
	return nil
}

// ClearJobMarks clears the agent's view of the jobs ids.
func (s *Store) ClearJobMarks(ctx context.Context, ids []int64) error {
	for chunk := range slices.Chunk(ids, chunkSize) {
		err := s.conn(ctx).Model(&WorkflowJob{}).Where("id IN ?", chunk).UpdateColumns(clearedMark).Error
		if err != nil {
			return fmt.Errorf("clear job marks: %w", err)
		}
	}
	return nil
}

// ClearAgentJobMarks clears every mark agentID put on jobs of repoKeys (all its marks when
// repoKeys is nil): the agent no longer serves them.
func (s *Store) ClearAgentJobMarks(ctx context.Context, agentID string, repoKeys []string) error {
	q := s.conn(ctx).Model(&WorkflowJob{}).Where("agent_id = ?", agentID)
	if repoKeys != nil {
		if len(repoKeys) == 0 {
			return nil
		}
		q = q.Where("repo_key IN ?", repoKeys)
	}
	if err := q.UpdateColumns(clearedMark).Error; err != nil {
		return fmt.Errorf("clear job marks of agent %s: %w", agentID, err)
	}
	return nil
}

// JobsServedBy returns up to limit open (not completed) jobs of repoKeys whose matched policy is an enabled policy of group and provider, oldest first. Only the
// columns an agent's jobs snapshot shows are read (id, owner, repo, policy_name, labels,
// github_status, runner_name, received_at): every answer of a jobs poll reads them all.
// Jobs with the same labels share one Labels slice: callers must not change it.
func (s *Store) JobsServedBy(ctx context.Context, group, provider string, repoKeys []string, limit int) ([]WorkflowJob, error) {
	out := []WorkflowJob{}
	if len(repoKeys) == 0 {
		return out, nil
	}
	// The enabled policies of group and provider among those repositories' first, then the
	// open jobs matched to them from workflow_jobs alone. One join of both was planned on a
	// young PostgreSQL database (no statistics yet: the first minute of a server) as a
	// sequential scan of workflow_jobs for each policy: 13 ms an answer at 1,400
	// deliveries/s, 93 % of PostgreSQL's time (issue 15, pg_stat_statements); the table
	// alone is read through the partial index of open jobs (migration 0024) whatever the
	// statistics say. The literal 'completed' lets the planner prove that index's predicate,
	// which a parameter would not. A job's policy is one of its repository's.
	var policyIDs []string
	if err := s.conn(ctx).Raw(`SELECT id FROM policies WHERE repo_key IN ? AND agent_group = ? AND provider = ? AND enabled = ?`,
		repoKeys, group, provider, true).Scan(&policyIDs).Error; err != nil {
		return nil, fmt.Errorf("jobs served by %s: policies: %w", group, err)
	}
	if len(policyIDs) == 0 {
		return out, nil
	}
	// Scanned by hand: gorm's reflection cost more than the query for a snapshot of a few
	// hundred jobs (issue 15).
	rows, err := s.conn(ctx).Raw(`SELECT id, owner, repo, policy_name, labels, github_status, runner_name, received_at
		FROM workflow_jobs WHERE repo_key IN ? AND state <> 'completed' AND policy_id IN ?
		ORDER BY received_at, id LIMIT ?`, repoKeys, policyIDs, limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("jobs served by %s: %w", group, err)
	}
	defer func() { _ = rows.Close() }()
	// The jobs of a policy mostly carry the same labels: each set is decoded once, and
	// the jobs that carry it share it (callers must not change a job's Labels).
	labels := map[string]StringList{}
	for rows.Next() {
		var j WorkflowJob
		var raw sql.RawBytes
		if err := rows.Scan(&j.ID, &j.Owner, &j.Repo, &j.PolicyName, &raw, &j.GitHubStatus, &j.RunnerName, &j.ReceivedAt); err != nil {
			return nil, fmt.Errorf("jobs served by %s: %w", group, err)
		}
		l, ok := labels[string(raw)]
		if !ok {
			if err := l.Scan([]byte(raw)); err != nil {
				return nil, fmt.Errorf("jobs served by %s: job %d: %w", group, j.ID, err)
			}
			labels[string(raw)] = l
		}
		j.Labels = l
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs served by %s: %w", group, err)
	}
	return out, nil
}

// MarkRunnersOnline gives the jobs jobIDs that agentID's busy runners run (as its last
// report says) their runner_online step, the runner's running_since, where they lack it.
// The heartbeat passes the jobs of the rows it wrote (Replaced.Online): a row it did not
// write had its job stamped by the heartbeat that wrote it, and the in_progress webhook
// stamps a job that comes after its runner's row. It returns how many jobs it changed.
func (s *Store) MarkRunnersOnline(ctx context.Context, agentID string, jobIDs []int64) (int64, error) {
	var n int64
	for chunk := range slices.Chunk(jobIDs, chunkSize) {
		res := s.conn(ctx).Exec(`UPDATE workflow_jobs SET runner_online_at = (
				SELECT MIN(r.running_since) FROM runners r
				WHERE r.job_id = workflow_jobs.id AND r.agent_id = ? AND r.state = 'busy' AND r.repo_key = workflow_jobs.repo_key)
			WHERE runner_online_at IS NULL AND id IN ? AND EXISTS (
				SELECT 1 FROM runners r WHERE r.job_id = workflow_jobs.id AND r.agent_id = ? AND r.state = 'busy'
				AND r.repo_key = workflow_jobs.repo_key AND r.running_since IS NOT NULL)`,
			agentID, chunk, agentID)
		if res.Error != nil {
			return n, fmt.Errorf("mark runners online for agent %s: %w", agentID, res.Error)
		}
		n += res.RowsAffected
	}
	return n, nil
}

// MarkRunnerRequested records when a runner was first requested for job id of repoKey. It
// reports whether the job was found without an earlier request.
func (s *Store) MarkRunnerRequested(ctx context.Context, id int64, repoKey string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&WorkflowJob{}).
		Where("id = ? AND repo_key = ? AND runner_requested_at IS NULL", id, repoKey).
		UpdateColumn("runner_requested_at", at.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("mark runner requested for job %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}
