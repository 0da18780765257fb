package demo

import (
	"testing"
	"time"
)

func TestUnreachable(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		firstUp time.Time
		started bool
		now     time.Time
		want    bool
	}{
		{time.Time{}, false, t0.Add(time.Hour), false}, // no container ran yet
		{t0, false, t0.Add(offlineLimit - time.Second), false},
		{t0, false, t0.Add(offlineLimit), true},
		{t0, true, t0.Add(time.Hour), false}, // a job started: runners reach the simulator
	} {
		if got := unreachable(tc.firstUp, tc.started, tc.now); got != tc.want {
			t.Errorf("unreachable(%v, %v, %v) = %v, want %v", tc.firstUp, tc.started, tc.now, got, tc.want)
		}
	}
}
