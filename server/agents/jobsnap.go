package agents

import (
	"sync"
	"time"

	"github.com/garo-dev/garo/server/notify"
)

// snapshotMemo is how long a jobs snapshot or config this server computed, or found
// unchanged at the end of a hold, answers a poll that already has it without being
// computed again, while nothing it depends on was published. Every change of one publishes
// one of its topics (the job log or the policies of its repositories, its agent, its
// group); the memo bounds what a lost wake-up (another replica's notification lost with
// its connection) costs, as settleMemo does.
const snapshotMemo = time.Second

// snapshots keeps, per agent, the version of the last jobs snapshot (or config: one
// snapshots each) this server computed or found unchanged, with a subscription to every
// topic that announces a change of it, made before it was read. An agent polls again as
// soon as it has an answer, changed or not: without it, that poll read every open job of
// the agent's repositories (or its config) again only to find the version it just got
// (issue 15: two reads of the whole snapshot for every change of one job; a read of
// each config and jobs snapshot of every idle agent after every hold). An entry lives
// snapshotMemo; the subscriptions of the entries live as long.
type snapshots struct {
	mu    sync.Mutex
	m     map[string]snapshotEntry
	swept time.Time
}

type snapshotEntry struct {
	version string
	topics  []string             // the topics of its repositories
	sub     *notify.Subscription // agent, group and topics: woken by any change
	at      time.Time
}

func newSnapshots() *snapshots { return &snapshots{m: map[string]snapshotEntry{}} }

// unchanged reports whether the snapshot of agentID this server computed last is still
// at version have: computed less than snapshotMemo before now, with no wake-up of its
// subscription since. It adds the entry's topics to sub first, so that a change after the
// check wakes sub, and one before it shows on the entry's subscription.
func (c *snapshots) unchanged(agentID, have string, sub *notify.Subscription, now time.Time) ([]string, bool) {
	if have == "" {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.m[agentID]
	c.mu.Unlock()
	if !ok || e.version != have || now.Sub(e.at) >= snapshotMemo || now.Before(e.at) {
		return nil, false
	}
	sub.Add(e.topics...)
	// Under the lock, so that the entry's subscription is not closed before its wake-ups
	// are looked at: a change published before this look woke it, one after woke sub.
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[agentID]; !ok || cur.sub != e.sub {
		return nil, false
	}
	select {
	case <-e.sub.C():
		e.sub.Close()
		delete(c.m, agentID)
		return nil, false
	default:
		return e.topics, true
	}
}

// put keeps snap of agentID, read after sub subscribed to its topics, as of now; it
// closes the subscription of the entry it replaces and of entries older than the memo.
func (c *snapshots) put(agentID, version string, topics []string, sub *notify.Subscription, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[agentID]; ok {
		old.sub.Close()
	}
	c.m[agentID] = snapshotEntry{version: version, topics: topics, sub: sub, at: now}
	if now.Sub(c.swept) < snapshotMemo {
		return
	}
	c.swept = now
	for id, e := range c.m {
		if now.Sub(e.at) >= snapshotMemo {
			e.sub.Close()
			delete(c.m, id)
		}
	}
}
