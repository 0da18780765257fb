package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPublishKeepsOrder: the snapshot's records are sorted by name and are the owner's
// current ones, whether the last order was kept (no record added or removed) or the
// names were sorted again.
func TestPublishKeepsOrder(t *testing.T) {
	t.Parallel()
	s := New(Options{AgentID: "agent-1"})
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Unix(0, 0)
	for step := range 200 {
		switch rng.IntN(3) {
		case 0: // add one
			name := fmt.Sprintf("r%03d", rng.IntN(500))
			s.records[name] = &Record{Name: name, Key: Key{"acme/a", "x"}}
		case 1: // remove one
			for name := range s.records {
				delete(s.records, name)
				break
			}
		default: // change one (a new record of the same name)
			for name, r := range s.records {
				c := *r
				c.Since = at.Add(time.Duration(step))
				s.records[name] = &c
				break
			}
		}
		s.publish(at)
		got := s.snap.Load().records
		if !slices.IsSortedFunc(got, func(a, b *Record) int { return strings.Compare(a.Name, b.Name) }) || len(got) != len(s.records) {
			t.Fatalf("step %d: %d records, %d published, sorted %v", step, len(s.records), len(got), slices.IsSortedFunc(got, func(a, b *Record) int { return strings.Compare(a.Name, b.Name) }))
		}
		for _, r := range got {
			if s.records[r.Name] != r {
				t.Fatalf("step %d: published %s is not the current record", step, r.Name)
			}
		}
	}
}
