package scheduler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
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

// TestJournalCoder: the journal encoded from the last encoding's parts is, after every
// change, the one encoding/json writes of all the records.
func TestJournalCoder(t *testing.T) {
	t.Parallel()
	var c journalCoder
	rng := rand.New(rand.NewPCG(3, 4))
	recs := map[string]*Record{}
	size := 0
	for step := range 300 {
		name := fmt.Sprintf("r%02d", rng.IntN(40))
		switch rng.IntN(3) {
		case 0:
			delete(recs, name)
		default: // a new record, or a changed one (a new pointer)
			recs[name] = &Record{Name: name, Key: Key{"acme/a", "x"}, State: "idle", Since: time.Unix(int64(step), 0).UTC(), Reason: `"quoted" <b>`}
		}
		sorted := slices.SortedFunc(maps.Values(recs), func(a, b *Record) int { return strings.Compare(a.Name, b.Name) })
		got, err := c.encode(sorted, size)
		if err != nil {
			t.Fatal(err)
		}
		size = len(got)
		vals := make([]Record, 0, len(sorted))
		for _, r := range sorted {
			vals = append(vals, *r)
		}
		want, err := json.Marshal(journalFile{Version: journalVersion, Records: vals})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d:\n got %s\nwant %s", step, got, want)
		}
	}
}
