package agents

import (
	"sync"
	"time"

	"github.com/garo-dev/garo/server/store"
)

// inventories keeps, per agent, the runner rows its last heartbeat on this server left,
// with their runner revision (store.Agent.RunnersRev). A heartbeat that reads the same
// revision diffs against this copy instead of reading the rows again: a steady inventory
// of 5,000 runners then costs no read of them (issue 15). Any other writer of the rows
// (another replica's heartbeat, an adoption) moves the revision, and the copy is not used.
// It holds at most what the runners table holds for the agents heard from within the
// offline period.
type inventories struct {
	mu    sync.Mutex
	m     map[string]inventoryCopy
	swept time.Time
	ttl   time.Duration
}

type inventoryCopy struct {
	rev  int64
	rows map[string]store.Runner // never changed once stored
	used time.Time
}

func newInventories(ttl time.Duration) *inventories {
	return &inventories{m: map[string]inventoryCopy{}, ttl: ttl}
}

// get returns agentID's rows at rev, if this server has them.
func (c *inventories) get(agentID string, rev int64) (map[string]store.Runner, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[agentID]
	if !ok || e.rev != rev {
		return nil, false
	}
	return e.rows, true
}

// covers reports whether this server's copy of agentID's rows, at whatever revision,
// holds every runner of rows under its name in its repository: a heartbeat of those
// most likely claims nothing new (see claimable).
func (c *inventories) covers(agentID string, rows []store.Runner) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[agentID]
	if !ok {
		return false
	}
	for _, r := range rows {
		if h, ok := e.rows[r.Name]; !ok || h.RepoKey != r.RepoKey {
			return false
		}
	}
	return true
}

// put keeps agentID's rows at rev, as of now (after the commit that left them), and
// drops the copies of agents not heard from within ttl.
func (c *inventories) put(agentID string, rev int64, rows map[string]store.Runner, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[agentID] = inventoryCopy{rev: rev, rows: rows, used: now}
	if now.Sub(c.swept) < c.ttl {
		return
	}
	c.swept = now
	for id, e := range c.m {
		if now.Sub(e.used) > c.ttl {
			delete(c.m, id)
		}
	}
}

// drop forgets agentID's copy (its heartbeat failed: what the rows are is unknown).
func (c *inventories) drop(agentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, agentID)
}
