package githubapp

import (
	"testing"
	"time"
)

func TestPickInstallationWithMostBudget(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	ahead, past := now.Add(30*time.Minute), now.Add(-time.Minute)
	core := func(remaining int, reset time.Time) RateState {
		return RateState{Resource: "core", Limit: 5000, Remaining: remaining, Reset: reset}
	}
	unknown := RateState{}
	tests := []struct {
		name    string
		budgets []RateState // of installations 1, 2, 3 in the Apps' order
		want    int
	}{
		{"all unknown: the first App", []RateState{unknown, unknown}, 0},
		{"most left wins", []RateState{core(100, ahead), core(200, ahead), core(150, ahead)}, 1},
		{"a tie goes to the earlier App", []RateState{core(200, ahead), core(200, ahead)}, 0},
		{"unknown counts as full", []RateState{core(4999, ahead), unknown}, 1},
		{"spent is not used while another has budget", []RateState{core(0, ahead), core(1, ahead)}, 1},
		{"past its reset a spent budget is full again", []RateState{core(0, past), core(4000, ahead)}, 0},
		{"all spent: the one that resets first", []RateState{core(0, ahead.Add(time.Minute)), core(0, ahead), core(0, ahead.Add(2*time.Minute))}, 1},
		{"one App", []RateState{core(0, ahead)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Client{now: func() time.Time { return now }, lim: &limiter{budgets: map[budgetKey]RateState{}}}
			var insts []*installation
			for i, st := range tt.budgets {
				id := int64(i + 1)
				insts = append(insts, &installation{id: id, app: &appClient{id: 100 + id}})
				if st != unknown {
					c.lim.budgets[budgetKey{installationCredential(id), "core"}] = st
				}
			}
			if got := c.pick(insts); got != tt.want {
				t.Errorf("pick = installation %d, want %d", got+1, tt.want+1)
			}
		})
	}
}
