package githubapp

import (
	"testing"
	"time"
)

func TestLimiterSnapshotSorted(t *testing.T) {
	t.Parallel()
	reset := time.Unix(1_800_000_000, 0)
	l := &limiter{budgets: map[budgetKey]RateState{
		{"pat", "search"}:          {Resource: "search", Limit: 30, Remaining: 29, Reset: reset},
		{"installation/7", "core"}: {Resource: "core", Limit: 5000, Remaining: 12, Reset: reset},
		{"app", "core"}:            {Resource: "core", Limit: 5000, Remaining: 4999},
		{"pat", "core"}:            {Resource: "core", Limit: 5000, Remaining: 0, Reset: reset},
	}}
	got := l.snapshot()
	want := []string{"app/core", "installation/7/core", "pat/core", "pat/search"}
	if len(got) != len(want) {
		t.Fatalf("snapshot = %+v, want %d budgets", got, len(want))
	}
	for i, b := range got {
		if k := b.Credential + "/" + b.Resource; k != want[i] {
			t.Errorf("snapshot[%d] = %s, want %s", i, k, want[i])
		}
	}
	if got[1].Remaining != 12 || got[1].Limit != 5000 || !got[1].Reset.Equal(reset) {
		t.Errorf("installation budget = %+v", got[1])
	}
	// The snapshot is a copy: changing it leaves the limiter's state alone.
	got[0].Remaining = -1
	if st := l.budget(budgetKey{"app", "core"}); st.Remaining != 4999 {
		t.Errorf("limiter state changed through the snapshot: %+v", st)
	}
}
