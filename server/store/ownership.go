package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm/clause"
)

// Ownership says which agent of a group serves the policies of one provider of a
// repository, until when its lease runs without a renewal. The primary key (repo_key,
// agent_group, provider) makes a second owner of the same repository, group and provider
// impossible; a repository with docker and kubernetes policies in one group has one owner
// of each. Provider is a policy provider (docker, kubernetes), the owner's Agent.Serves.
type Ownership struct {
	RepoKey        string `gorm:"primaryKey"`
	AgentGroup     string `gorm:"primaryKey"`
	Provider       string `gorm:"primaryKey"`
	AgentID        string
	LeaseExpiresAt time.Time
	AssignedAt     time.Time
}

// TableName names the ownership table.
func (Ownership) TableName() string { return "repository_ownership" }

// RenewLeases moves the lease of every repository agentID owns to until.
func (s *Store) RenewLeases(ctx context.Context, agentID string, until time.Time) error {
	if err := s.conn(ctx).Exec("UPDATE repository_ownership SET lease_expires_at = ? WHERE agent_id = ?", until.UTC(), agentID).Error; err != nil {
		return fmt.Errorf("renew leases of agent %s: %w", agentID, err)
	}
	return nil
}

// RenewLeasesOwned is RenewLeases returning the repositories agentID owns (OwnedRepos),
// read by the same statement: a heartbeat that needs them saves a round trip (issue 15).
func (s *Store) RenewLeasesOwned(ctx context.Context, agentID string, until time.Time) ([]string, error) {
	keys := []string{}
	err := s.conn(ctx).Raw("UPDATE repository_ownership SET lease_expires_at = ? WHERE agent_id = ? RETURNING repo_key", until.UTC(), agentID).
		Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("renew leases of agent %s: %w", agentID, err)
	}
	return keys, nil
}

// OwnedRepos returns the keys of the repositories agentID owns, in no order, whatever
// their leases: OwnedBy without the rows.
func (s *Store) OwnedRepos(ctx context.Context, agentID string) ([]string, error) {
	keys := []string{}
	if err := s.conn(ctx).Raw("SELECT repo_key FROM repository_ownership WHERE agent_id = ?", agentID).Scan(&keys).Error; err != nil {
		return nil, fmt.Errorf("repositories owned by agent %s: %w", agentID, err)
	}
	return keys, nil
}

// OwnedBy returns the ownership rows of the agents, by repository. With unexpiredAt set,
// only leases that run past it.
func (s *Store) OwnedBy(ctx context.Context, agentIDs []string, unexpiredAt time.Time) ([]Ownership, error) {
	var out []Ownership
	if len(agentIDs) == 0 {
		return out, nil
	}
	q := s.conn(ctx).Where("agent_id IN ?", agentIDs)
	if !unexpiredAt.IsZero() {
		q = q.Where("lease_expires_at > ?", unexpiredAt.UTC())
	}
	if err := q.Order("repo_key").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list repositories owned: %w", err)
	}
	return out, nil
}

// Owner returns who owns the provider's policies of repoKey in group (ErrNotFound when
// nobody does).
func (s *Store) Owner(ctx context.Context, repoKey, group, provider string) (*Ownership, error) {
	var o Ownership
	if err := s.conn(ctx).Where("repo_key = ? AND agent_group = ? AND provider = ?", repoKey, group, provider).Take(&o).Error; err != nil {
		return nil, fmt.Errorf("owner of %s in %s for provider %s: %w", repoKey, group, provider, notFound(err))
	}
	return &o, nil
}

// GroupOwnership returns every ownership row of group.
func (s *Store) GroupOwnership(ctx context.Context, group string) ([]Ownership, error) {
	var out []Ownership
	if err := s.conn(ctx).Where("agent_group = ?", group).Order("repo_key, provider").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("ownership of group %s: %w", group, err)
	}
	return out, nil
}

// ServedRepos lists the repositories with at least one enabled policy of group.
func (s *Store) ServedRepos(ctx context.Context, group string) ([]RepoRef, error) {
	var out []RepoRef
	err := s.conn(ctx).Model(&Policy{}).Select("MIN(owner) AS owner, MIN(repo) AS repo, repo_key").
		Where("agent_group = ? AND enabled = ?", group, true).Group("repo_key").Order("repo_key").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("repositories served by %s: %w", group, err)
	}
	return out, nil
}

// ServedProvider is one (repository, policy provider) pair that a group serves.
type ServedProvider struct {
	RepoKey  string
	Provider string
}

// ServedProviders lists the (repository, provider) pairs of the enabled policies of group.
func (s *Store) ServedProviders(ctx context.Context, group string) ([]ServedProvider, error) {
	var out []ServedProvider
	err := s.conn(ctx).Model(&Policy{}).Distinct("repo_key", "provider").
		Where("agent_group = ? AND enabled = ?", group, true).Order("repo_key, provider").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("repositories and providers served by %s: %w", group, err)
	}
	return out, nil
}

// WorkingRunnerStates are the states of a runner that may still run a job (or take one:
// an idle runner is online at GitHub). A draining agent keeps a repository while it holds
// a runner of it in one of them.
var WorkingRunnerStates = []string{"creating", "booting", "idle", "busy"}

// candidateAgent is the condition on an agent a that may be given repositories: not
// revoked, offline or draining, seen after the parameter (with AgentOffline and
// AgentDraining before it). Server/agents' reassign decides the same in Go.
const candidateAgent = "a.revoked_at IS NULL AND a.state NOT IN (?, ?) AND a.drain_requested_at IS NULL AND a.last_seen_at > ?"

// OwnershipSettled reports whether group needs no reassignment at at: every (repository,
// provider) it serves for which a candidate exists (an agent of the group that serves the
// provider, is not revoked, offline or draining, and was seen after liveSince) has an
// owner whose lease runs past at; no live draining owner holds a repository it could
// hand over (it has no working runner of it, WorkingRunnerStates, and a candidate
// exists); and no row names a repository and provider the group no longer serves, or an
// owner that now serves another provider. It takes no lock: callers use it to skip the
// locked reassignment. A policy that no agent can serve does not unsettle the group:
// there is nothing to assign it to.
func (s *Store) OwnershipSettled(ctx context.Context, group string, at, liveSince time.Time) (bool, error) {
	// Uncorrelated NOT IN / IN: each subquery runs once, into a hash (PostgreSQL) or an
	// ephemeral index (SQLite). The correlated NOT EXISTS it replaces was planned as a
	// nested loop over the group's ownership rows for every policy whenever the planner
	// had no statistics yet (a fresh or fast-growing database): quadratic in the policies,
	// 28 ms for 500 (issue 15). The columns are NOT NULL, so NOT IN means what it says.
	var orphans int64
	err := s.conn(ctx).Model(&Policy{}).
		Where("agent_group = ? AND enabled = ?", group, true).
		Where("(repo_key, provider) NOT IN (SELECT o.repo_key, o.provider FROM repository_ownership o WHERE o.agent_group = ? AND o.lease_expires_at > ?)", group, at.UTC()).
		Where("provider IN (SELECT a.serves FROM agents a WHERE a.agent_group = ? AND "+candidateAgent+")",
			group, AgentOffline, AgentDraining, liveSince.UTC()).
		Count(&orphans).Error
	if err != nil {
		return false, fmt.Errorf("check ownership of %s: %w", group, err)
	}
	if orphans > 0 {
		return false, nil
	}
	if pending, err := s.handOverPending(ctx, group, liveSince); err != nil || pending {
		return false, err
	}
	// The same for the rows that name what the group no longer serves (PostgreSQL: 11.9 ms
	// correlated, 0.7 ms uncorrelated, for 200 rows and 500 policies without statistics).
	var stale int64
	err = s.conn(ctx).Model(&Ownership{}).
		Where("agent_group = ?", group).
		Where("(repo_key, provider) NOT IN (SELECT p.repo_key, p.provider FROM policies p WHERE p.agent_group = ? AND p.enabled = ?) "+
			"OR EXISTS (SELECT 1 FROM agents a WHERE a.id = repository_ownership.agent_id AND a.serves <> repository_ownership.provider)", group, true).
		Count(&stale).Error
	if err != nil {
		return false, fmt.Errorf("check ownership of %s: %w", group, err)
	}
	return stale == 0, nil
}

// ClaimRepo makes o.AgentID the owner of (o.RepoKey, o.AgentGroup, o.Provider). When prev is "" the
// repository must have no owner row; otherwise the row must still name prev with a lease
// that ran out by now (a compare-and-swap: a concurrent renewal or claim wins). It reports
// whether the claim took.
func (s *Store) ClaimRepo(ctx context.Context, o Ownership, prev string, now time.Time) (bool, error) {
	o.LeaseExpiresAt, o.AssignedAt = o.LeaseExpiresAt.UTC(), o.AssignedAt.UTC()
	if prev == "" {
		res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&o)
		if res.Error != nil {
			return false, fmt.Errorf("claim %s for agent %s: %w", o.RepoKey, o.AgentID, res.Error)
		}
		return res.RowsAffected == 1, nil
	}
	res := s.conn(ctx).Model(&Ownership{}).
		Where("repo_key = ? AND agent_group = ? AND provider = ? AND agent_id = ? AND lease_expires_at <= ?", o.RepoKey, o.AgentGroup, o.Provider, prev, now.UTC()).
		Updates(map[string]any{"agent_id": o.AgentID, "lease_expires_at": o.LeaseExpiresAt, "assigned_at": o.AssignedAt})
	if res.Error != nil {
		return false, fmt.Errorf("move %s from agent %s to %s: %w", o.RepoKey, prev, o.AgentID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// handOverPending reports whether a live draining agent of group owns a repository that
// it runs no working runner of while a candidate for its provider exists. It starts from
// the group's live draining agents, which are few (none, usually: one small query), and
// reads the rows and runners of each: a correlated query per ownership row would scan an
// agent's runners once per repository.
func (s *Store) handOverPending(ctx context.Context, group string, liveSince time.Time) (bool, error) {
	var draining []Agent
	err := s.conn(ctx).Where("agent_group = ? AND revoked_at IS NULL AND state <> ? AND last_seen_at > ? AND (drain_requested_at IS NOT NULL OR state = ?)",
		group, AgentOffline, liveSince.UTC(), AgentDraining).Find(&draining).Error
	if err != nil {
		return false, fmt.Errorf("check hand-overs of %s: %w", group, err)
	}
	if len(draining) == 0 {
		return false, nil
	}
	var serving []string // the policy providers that candidates of the group serve
	err = s.conn(ctx).Table("agents AS a").Distinct("a.serves").
		Where("a.agent_group = ? AND "+candidateAgent, group, AgentOffline, AgentDraining, liveSince.UTC()).Pluck("a.serves", &serving).Error
	if err != nil {
		return false, fmt.Errorf("check hand-overs of %s: %w", group, err)
	}
	if len(serving) == 0 {
		return false, nil
	}
	for _, d := range draining {
		rows, err := s.OwnedBy(ctx, []string{d.ID}, time.Time{})
		if err != nil {
			return false, err
		}
		if len(rows) == 0 {
			continue
		}
		working, err := s.WorkingRepos(ctx, d.ID)
		if err != nil {
			return false, err
		}
		for _, o := range rows {
			if o.AgentGroup == group && !working[o.RepoKey] && slices.Contains(serving, o.Provider) {
				return true, nil
			}
		}
	}
	return false, nil
}

// HandOverRepo moves (o.RepoKey, o.AgentGroup, o.Provider) from prev to o.AgentID
// whatever prev's lease: prev is draining. It reports false when the row no longer names
// prev (a concurrent move won). Call it holding the group's lock (LockGroup).
func (s *Store) HandOverRepo(ctx context.Context, o Ownership, prev string) (bool, error) {
	res := s.conn(ctx).Model(&Ownership{}).
		Where("repo_key = ? AND agent_group = ? AND provider = ? AND agent_id = ?", o.RepoKey, o.AgentGroup, o.Provider, prev).
		Updates(map[string]any{"agent_id": o.AgentID, "lease_expires_at": o.LeaseExpiresAt.UTC(), "assigned_at": o.AssignedAt.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("hand %s over from agent %s to %s: %w", o.RepoKey, prev, o.AgentID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// WorkingRepos returns the repositories in which agentID holds a runner in one of the
// WorkingRunnerStates, as it last reported.
func (s *Store) WorkingRepos(ctx context.Context, agentID string) (map[string]bool, error) {
	var keys []string
	err := s.conn(ctx).Model(&Runner{}).Distinct("repo_key").
		Where("agent_id = ? AND state IN ?", agentID, WorkingRunnerStates).Pluck("repo_key", &keys).Error
	if err != nil {
		return nil, fmt.Errorf("repositories with working runners of agent %s: %w", agentID, err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// ReleaseRepo drops the ownership row of (repoKey, group, provider).
func (s *Store) ReleaseRepo(ctx context.Context, repoKey, group, provider string) error {
	if err := s.conn(ctx).Where("repo_key = ? AND agent_group = ? AND provider = ?", repoKey, group, provider).Delete(&Ownership{}).Error; err != nil {
		return fmt.Errorf("release %s of %s for provider %s: %w", repoKey, group, provider, err)
	}
	return nil
}

// ReleaseAgent drops every ownership row of agentID and returns the repositories it had.
func (s *Store) ReleaseAgent(ctx context.Context, agentID string) ([]string, error) {
	var keys []string
	if err := s.conn(ctx).Model(&Ownership{}).Where("agent_id = ?", agentID).Order("repo_key").Pluck("repo_key", &keys).Error; err != nil {
		return nil, fmt.Errorf("release repositories of agent %s: %w", agentID, err)
	}
	if err := s.conn(ctx).Where("agent_id = ?", agentID).Delete(&Ownership{}).Error; err != nil {
		return nil, fmt.Errorf("release repositories of agent %s: %w", agentID, err)
	}
	return keys, nil
}

// PoliciesServedBy returns the enabled policies of group and provider for the
// repositories repoKeys, by repository and name.
func (s *Store) PoliciesServedBy(ctx context.Context, group, provider string, repoKeys []string) ([]Policy, error) {
	var out []Policy
	if len(repoKeys) == 0 {
		return out, nil
	}
	err := s.conn(ctx).Where("agent_group = ? AND provider = ? AND enabled = ? AND repo_key IN ?", group, provider, true, repoKeys).
		Order("repo_key, name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("policies served by %s: %w", group, err)
	}
	return out, nil
}
