package agents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/garo-dev/garo/server/store"
)

// orphan is a served repository without a live owner; prev is the agent named in its
// ownership row ("" when there is none).
type orphan struct {
	repoKey, prev string
}

// settle brings the ownership of group's repositories in line with its policies and live
// agents (see the package doc) and wakes the agents whose set changed. A cheap check
// without locks skips the work when nothing needs doing, which is the common case.
func (s *Service) settle(ctx context.Context, group string) error {
	now := s.now()
	settled, err := s.st.OwnershipSettled(ctx, group, now)
	if err != nil || settled {
		return err
	}
	changed := map[string]bool{}
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		clear(changed)
		return s.reassign(ctx, tx, group, now, changed)
	})
	if err != nil {
		return fmt.Errorf("settle ownership of group %s: %w", group, err)
	}
	topics := make([]string, 0, len(changed))
	for id := range changed {
		topics = append(topics, TopicAgent(id))
	}
	slices.Sort(topics)
	s.publish(ctx, topics...)
	return nil
}

// reassign does settle's work inside tx, holding the group's lock. It records in changed
// every agent whose set of repositories changed.
func (s *Service) reassign(ctx context.Context, tx *store.Store, group string, now time.Time, changed map[string]bool) error {
	if err := tx.LockGroup(ctx, group); err != nil {
		return err
	}
	served, err := tx.ServedRepos(ctx, group)
	if err != nil {
		return err
	}
	rows, err := tx.GroupOwnership(ctx, group)
	if err != nil {
		return err
	}
	agents, err := tx.LiveAgents(ctx, group, now.Add(-s.cfg.Offline))
	if err != nil {
		return err
	}
	isServed := make(map[string]bool, len(served))
	for _, r := range served {
		isServed[r.RepoKey] = true
	}
	live := make(map[string]bool, len(agents))
	counts := make(map[string]int, len(agents))
	var candidates []string // may take repositories: live and not draining, by id
	for _, a := range agents {
		live[a.ID] = true
		if a.State != store.AgentDraining {
			candidates = append(candidates, a.ID)
		}
	}
	owned := make(map[string]bool, len(rows))
	var orphans []orphan
	for _, o := range rows {
		owned[o.RepoKey] = true
		switch {
		case !isServed[o.RepoKey]:
			if err := s.release(ctx, tx, o); err != nil {
				return err
			}
			changed[o.AgentID] = true
		case live[o.AgentID] && o.LeaseExpiresAt.After(now):
			counts[o.AgentID]++
		default:
			orphans = append(orphans, orphan{repoKey: o.RepoKey, prev: o.AgentID})
		}
	}
	for _, r := range served {
		if !owned[r.RepoKey] {
			orphans = append(orphans, orphan{repoKey: r.RepoKey})
		}
	}
	slices.SortFunc(orphans, func(a, b orphan) int { return strings.Compare(a.repoKey, b.repoKey) })
	for _, o := range orphans {
		to := pick(candidates, counts, o.prev)
		if to == "" {
			// Routine while a group has no live agent; the portal shows it (no owner).
			s.log.Debug("no live agent in the group to serve the repository", "repo", o.repoKey, "group", group)
			continue
		}
		took, err := tx.ClaimRepo(ctx, store.Ownership{
			RepoKey: o.repoKey, AgentGroup: group, AgentID: to, LeaseExpiresAt: now.Add(s.cfg.Offline), AssignedAt: now,
		}, o.prev, now)
		if err != nil {
			return err
		}
		if !took {
			continue // renewed or claimed concurrently: the row is right as it is
		}
		counts[to]++
		if o.prev == to {
			continue // its owner is back: the set did not change
		}
		changed[to] = true
		if o.prev != "" {
			changed[o.prev] = true
			if err := tx.ClearAgentJobMarks(ctx, o.prev, []string{o.repoKey}); err != nil {
				return err
			}
		}
		s.log.Info("repository assigned", "repo", o.repoKey, "group", group, "agent_id", to, "previous_agent_id", o.prev)
	}
	return nil
}

// release drops an ownership row whose repository the group no longer serves.
func (s *Service) release(ctx context.Context, tx *store.Store, o store.Ownership) error {
	if err := tx.ReleaseRepo(ctx, o.RepoKey, o.AgentGroup); err != nil {
		return err
	}
	if err := tx.ClearAgentJobMarks(ctx, o.AgentID, []string{o.RepoKey}); err != nil {
		return err
	}
	s.log.Info("repository released: no enabled policy of the group left", "repo", o.RepoKey, "group", o.AgentGroup, "agent_id", o.AgentID)
	return nil
}

// pick chooses the owner of an orphaned repository: its previous owner when that one may
// take repositories again, else the candidate with the fewest, ties by id ("" when there
// is no candidate).
func pick(candidates []string, counts map[string]int, prev string) string {
	if prev != "" && slices.Contains(candidates, prev) {
		return prev
	}
	best := ""
	for _, id := range candidates { // sorted by id: the first of equals wins
		if best == "" || counts[id] < counts[best] {
			best = id
		}
	}
	return best
}
