package agents

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garo-dev/garo/server/store"
)

// orphan is a served (repository, provider) without a live owner, or one whose draining
// owner may hand it over (handOver); prev is the agent named in its ownership row (""
// when there is none).
type orphan struct {
	repoKey, provider, prev string
	handOver                bool
}

// settleMemo is how long a group found settled is taken to stay settled by the polls and
// steady heartbeats of this server: the check reads every policy and ownership row of the
// group, and every poll answer and heartbeat of every agent of it asked for it (200 agents
// of a group of 2,000 policies: one core of PostgreSQL, issue 15). What this server
// changes itself (policies, agents, groups: publish, PolicyChanged) ends it at once; a
// lease that runs out, or a change made on another replica, is seen at most this much later.
const settleMemo = time.Second

// settle brings the ownership of group's repositories in line with its policies and live
// agents (see the package doc) and wakes the agents whose set changed. A cheap check
// without locks skips the work when nothing needs doing, which is the common case; a group
// found settled within settleMemo is not checked again, and the looks that find the memo
// run out together share one check: each poll answer used to run its own, and with 600
// answers a second each memo's end let 20-50 checks of a group of 5,000 policies pile up
// in PostgreSQL, every one slower for the others (58 checks a second, 44 ms each, most of
// PostgreSQL's time; issue 15, pg_stat_statements). A flight serves only the looks of its
// generation: a look after the memo was ended (forgetSettled: a change this server saw)
// does not take the answer of a check that began before the change.
func (s *Service) settle(ctx context.Context, group string) error {
	gen, fresh := s.settleState(group, s.now())
	if fresh {
		return nil
	}
	key := group + "\x00" + strconv.FormatUint(gen, 10)
	// The check outlives a looker that goes away: the others wait for it too.
	ch := s.settleFlights.DoChan(key, func() (any, error) {
		return nil, s.settleNow(context.WithoutCancel(ctx), group)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settleNow is settle without the memo: for a heartbeat that changes its agent's standing.
func (s *Service) settleNow(ctx context.Context, group string) error {
	now := s.now()
	s.polls.checksC.Inc()
	settled, err := s.st.OwnershipSettled(ctx, group, now, now.Add(-s.cfg.Offline))
	if err != nil {
		return err
	}
	if settled {
		s.markSettled(group, now)
		return nil
	}
	// Not settled: the memo ends, but not its generation: the looks that come while this
	// settles join its flight (settle) and get its outcome.
	s.settledMu.Lock()
	delete(s.settledAt, group)
	s.settledMu.Unlock()
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

func (s *Service) settledRecently(group string, now time.Time) bool {
	_, fresh := s.settleState(group, now)
	return fresh
}

// settleState reports group's memo generation and whether the memo is fresh at now.
func (s *Service) settleState(group string, now time.Time) (uint64, bool) {
	s.settledMu.Lock()
	defer s.settledMu.Unlock()
	at, ok := s.settledAt[group]
	gen, known := s.settleGen[group]
	if !known {
		s.settleGen[group] = 0 // known from now: forgetSettled("") moves it too
	}
	return gen, ok && !now.Before(at) && now.Sub(at) < settleMemo
}

func (s *Service) markSettled(group string, now time.Time) {
	s.settledMu.Lock()
	defer s.settledMu.Unlock()
	s.settledAt[group] = now
}

// forgetSettled ends the memo of group ("": of every group).
func (s *Service) forgetSettled(group string) {
	s.settledMu.Lock()
	defer s.settledMu.Unlock()
	if group == "" {
		// Every group ever looked at, also one whose check is in flight (not in settledAt).
		for g := range s.settleGen {
			s.settleGen[g]++
		}
		clear(s.settledAt)
		return
	}
	delete(s.settledAt, group)
	s.settleGen[group]++
}

// reassign does settle's work inside tx, holding the group's lock. It records in changed
// every agent whose set of repositories changed.
func (s *Service) reassign(ctx context.Context, tx *store.Store, group string, now time.Time, changed map[string]bool) error {
	if err := tx.LockGroup(ctx, group); err != nil {
		return err
	}
	served, err := tx.ServedProviders(ctx, group)
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
	type pair struct{ repoKey, provider string }
	isServed := make(map[pair]bool, len(served))
	for _, r := range served {
		isServed[pair{r.RepoKey, r.Provider}] = true
	}
	serves := make(map[string]string, len(agents)) // live agent → the policy provider it serves
	counts := make(map[string]int, len(agents))
	candidates := map[string][]string{}     // by provider: live and not draining, by id
	working := map[string]map[string]bool{} // live draining agent → repositories it has working runners of
	weights := make(map[string]int64, len(agents))
	dflt := int64(1)
	for _, a := range agents {
		dflt = max(dflt, weight(a, 0))
	}
	for _, a := range agents {
		weights[a.ID] = weight(a, dflt)
		serves[a.ID] = a.Serves
		if !a.Draining() {
			candidates[a.Serves] = append(candidates[a.Serves], a.ID)
			continue
		}
		if working[a.ID], err = tx.WorkingRepos(ctx, a.ID); err != nil {
			return err
		}
	}
	owned := make(map[pair]bool, len(rows))
	var orphans []orphan
	for _, o := range rows {
		p := pair{o.RepoKey, o.Provider}
		switch {
		case !isServed[p]:
			if err := s.release(ctx, tx, o, "no enabled policy of the group and provider left"); err != nil {
				return err
			}
			changed[o.AgentID] = true
			continue
		case serves[o.AgentID] != "" && serves[o.AgentID] != o.Provider:
			// Its owner came back with another provider (same state file, another
			// provider.type): it gives the repository up at once.
			if err := s.release(ctx, tx, o, "its agent now runs provider "+serves[o.AgentID]); err != nil {
				return err
			}
			changed[o.AgentID] = true
			continue
		}
		owned[p] = true
		switch {
		case working[o.AgentID] != nil && !working[o.AgentID][o.RepoKey] && len(candidates[o.Provider]) > 0:
			// Its owner drains and no longer runs anything of it: another agent takes it
			// over now. While a runner of it may still take a job, it stays, so that
			// two agents never create runners of one policy at once (max_runners).
			orphans = append(orphans, orphan{repoKey: o.RepoKey, provider: o.Provider, prev: o.AgentID, handOver: true})
		case serves[o.AgentID] != "" && o.LeaseExpiresAt.After(now):
			counts[o.AgentID]++
		default:
			orphans = append(orphans, orphan{repoKey: o.RepoKey, provider: o.Provider, prev: o.AgentID})
		}
	}
	for _, r := range served {
		if !owned[pair{r.RepoKey, r.Provider}] {
			orphans = append(orphans, orphan{repoKey: r.RepoKey, provider: r.Provider})
		}
	}
	slices.SortFunc(orphans, func(a, b orphan) int {
		return cmp.Or(strings.Compare(a.repoKey, b.repoKey), strings.Compare(a.provider, b.provider))
	})
	for _, o := range orphans {
		to := pick(candidates[o.provider], counts, weights, o.prev)
		if to == "" {
			// Routine while a group has no live agent of the provider; the portal shows it
			// (the policy's serving status and its queued jobs: no_agent).
			s.log.Debug("no live agent of the group runs the provider of the repository's policies",
				"repo", o.repoKey, "group", group, "provider", o.provider)
			continue
		}
		row := store.Ownership{
			RepoKey: o.repoKey, AgentGroup: group, Provider: o.provider, AgentID: to, LeaseExpiresAt: now.Add(s.cfg.Offline), AssignedAt: now,
		}
		var took bool
		if o.handOver {
			took, err = tx.HandOverRepo(ctx, row, o.prev)
		} else {
			took, err = tx.ClaimRepo(ctx, row, o.prev, now)
		}
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
		msg := "repository assigned"
		if o.handOver {
			msg = "repository handed over by a draining agent"
		}
		s.log.Info(msg, "repo", o.repoKey, "group", group, "provider", o.provider, "agent_id", to, "previous_agent_id", o.prev)
	}
	return nil
}

// release drops an ownership row, for why.
func (s *Service) release(ctx context.Context, tx *store.Store, o store.Ownership, why string) error {
	if err := tx.ReleaseRepo(ctx, o.RepoKey, o.AgentGroup, o.Provider); err != nil {
		return err
	}
	if err := tx.ClearAgentJobMarks(ctx, o.AgentID, []string{o.RepoKey}); err != nil {
		return err
	}
	s.log.Info("repository released: "+why, "repo", o.RepoKey, "group", o.AgentGroup, "provider", o.Provider, "agent_id", o.AgentID)
	return nil
}

// pick chooses the owner of an orphaned repository: its previous owner when that one may
// take repositories again, else the candidate with the fewest for its capacity (counts
// divided by weights: an agent that may run twice as many runners takes twice as many
// repositories), ties by id ("" when there is no candidate).
func pick(candidates []string, counts map[string]int, weights map[string]int64, prev string) string {
	if prev != "" && slices.Contains(candidates, prev) {
		return prev
	}
	best := ""
	for _, id := range candidates { // sorted by id: the first of equals wins
		if best == "" || int64(counts[id])*weights[best] < int64(counts[best])*weights[id] {
			best = id
		}
	}
	return best
}
