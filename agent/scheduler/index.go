package scheduler

import (
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// The indexes of one Reconcile: its groups (one per policy, and one per key of records
// whose policy it does not serve) and the inventory by provider id.

// group is what Reconcile knows of one policy (or of the key of records whose policy the
// agent does not serve: pol nil).
type group struct {
	key       Key
	pol       *protocol.Policy
	queued    []*protocol.Job // its queued jobs, oldest first
	recs      []*Record       // its records, after observe (the plan's until schedule reaps)
	failed    string          // the first of its runners (by name) that failed before taking a job, and why
	hasFailed bool
	took      bool // one of its runners took a job
}

// groupIndex holds the groups of one Reconcile, by key.
type groupIndex struct {
	at     map[Key]int32
	groups []group
}

// index returns the index of k's group, which it adds when there is none.
func (ix *groupIndex) index(k Key) int32 {
	if i, ok := ix.at[k]; ok {
		return i
	}
	i := int32(len(ix.groups))
	ix.at[k] = i
	ix.groups = append(ix.groups, group{key: k})
	return i
}

func (ix *groupIndex) of(k Key) *group { return &ix.groups[ix.index(k)] }

// policy is k's policy, nil when the agent does not serve it.
func (ix *groupIndex) policy(k Key) *protocol.Policy {
	if i, ok := ix.at[k]; ok {
		return ix.groups[i].pol
	}
	return nil
}

// member is one element of a group's slice.
type member[T any] struct {
	g int32
	v T
}

// layOut sets each group's slice (field) to its members, in their order, all in one
// backing array: counted first, then laid out (appending per policy was most of the
// allocations of a tick).
func layOut[T any](groups []group, ms []member[T], field func(*group) *[]T) {
	if len(ms) == 0 {
		return
	}
	count := make([]int32, len(groups))
	for _, m := range ms {
		count[m.g]++
	}
	flat := make([]T, len(ms))
	at := int32(0)
	for i := range groups {
		*field(&groups[i]) = flat[at : at : at+count[i]]
		at += count[i]
	}
	for _, m := range ms {
		s := field(&groups[m.g])
		*s = append(*s, m.v) // within its own part of flat
	}
}

// instances finds the inventory's instances by provider id. Its map is made when it is
// first needed: a tick where no runner is on its way out needs none.
type instances struct {
	inv []provider.Instance
	ids map[string]*provider.Instance
}

func (x *instances) byID(id string) (*provider.Instance, bool) {
	if x.ids == nil {
		x.ids = make(map[string]*provider.Instance, len(x.inv))
		for i := range x.inv {
			x.ids[x.inv[i].ID] = &x.inv[i]
		}
	}
	inst, ok := x.ids[id]
	return inst, ok
}

// noInstance is the instance of a record that has none (never written).
var noInstance provider.Instance

// Scratch is memory that Reconcile uses again: the indexes it builds on every tick and
// drops at its end, which were most of the bytes a tick allocated with thousands of
// runners, and so most of the collector's work. A caller that reconciles again and
// again (the scheduler's loop) keeps one and passes it in each Input, to one Reconcile
// at a time; a plan keeps nothing of it, and it holds nothing of a tick once that
// Reconcile returned. The zero value is ready.
type Scratch struct {
	busyJob map[string]*protocol.Job
	mine    map[string]int32
	at      map[Key]int32
	owned   map[string]bool
	groups  []group
	queued  []member[*protocol.Job]
	recs    []member[*Record]
}

// done empties sc at the end of a Reconcile, keeping its memory: nothing of the tick
// (records, jobs, policies) stays reachable from it.
func (sc *Scratch) done() {
	clear(sc.busyJob)
	clear(sc.mine)
	clear(sc.at)
	clear(sc.owned)
	clear(sc.groups)
	clear(sc.queued)
	clear(sc.recs)
	sc.groups, sc.queued, sc.recs = sc.groups[:0], sc.queued[:0], sc.recs[:0]
}

// reuse returns *m, empty, made with room for n when there is none.
func reuse[K comparable, V any](m *map[K]V, n int) map[K]V {
	if *m == nil {
		*m = make(map[K]V, n)
	}
	return *m
}
