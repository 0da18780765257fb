package queue

import (
	"slices"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	jobs := []Entry{
		{ID: 1, Priority: 0, ReceivedAt: at(50 * time.Second)},
		{ID: 2, Priority: 10, ReceivedAt: at(5 * time.Second)},
		{ID: 3, Priority: 0, ReceivedAt: at(2 * time.Minute)}, // waited past max_wait
		{ID: 4, Priority: 10, ReceivedAt: at(40 * time.Second)},
		{ID: 5, Priority: -5, ReceivedAt: at(90 * time.Second)}, // waited past max_wait
		{ID: 6, Priority: 0, ReceivedAt: at(50 * time.Second)},
	}
	for _, tc := range []struct {
		maxWait time.Duration
		want    []int64
	}{
		{0, []int64{4, 2, 3, 1, 6, 5}},                // priority, then oldest, then id
		{time.Minute, []int64{3, 5, 4, 2, 1, 6}},      // the aged first, oldest first
		{10 * time.Minute, []int64{4, 2, 3, 1, 6, 5}}, // nobody aged yet
	} {
		got := slices.Clone(jobs)
		slices.SortFunc(got, func(a, b Entry) int { return Compare(a, b, now, tc.maxWait) })
		ids := make([]int64, len(got))
		for i, e := range got {
			ids[i] = e.ID
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("max_wait %s: order %v, want %v", tc.maxWait, ids, tc.want)
		}
	}
}
