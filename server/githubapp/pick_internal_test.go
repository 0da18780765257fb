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
		sending []int // requests under way per installation
	}{
		{"requests under way count: a burst spreads", []RateState{unknown, unknown}, 1, []int{1, 0}},
		{"under way on the fuller one", []RateState{core(10, ahead), core(8, ahead)}, 1, []int{3, 0}},
		{"under way never makes a budget spent", []RateState{core(2, ahead), core(0, ahead)}, 0, []int{5, 0}},
		{"all unknown: the first App", []RateState{unknown, unknown}, 0, nil},
		{"most left wins", []RateState{core(100, ahead), core(200, ahead), core(150, ahead)}, 1, nil},
		{"a tie goes to the earlier App", []RateState{core(200, ahead), core(200, ahead)}, 0, nil},
		{"unknown counts as full", []RateState{core(4999, ahead), unknown}, 1, nil},
		{"spent is not used while another has budget", []RateState{core(0, ahead), core(1, ahead)}, 1, nil},
		{"past its reset a spent budget is full again", []RateState{core(0, past), core(4000, ahead)}, 0, nil},
		{"all spent: the one that resets first", []RateState{core(0, ahead.Add(time.Minute)), core(0, ahead), core(0, ahead.Add(2*time.Minute))}, 1, nil},
		{"one App", []RateState{core(0, ahead)}, 0, nil},
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
				if i < len(tt.sending) {
					for range tt.sending[i] {
						c.lim.send(installationCredential(id))
					}
				}
			}
			if got := c.pick(insts); got != tt.want {
				t.Errorf("pick = installation %d, want %d", got+1, tt.want+1)
			}
		})
	}
}
