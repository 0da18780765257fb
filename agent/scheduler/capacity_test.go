package scheduler_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/protocol"
)

// waitingFor lists the plan's waiting jobs as "id:limit@position".
func waitingFor(p scheduler.Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		if j.State == protocol.JobWaitingForCapacity {
			out = append(out, fmt.Sprintf("%d:%s@%d", j.JobID, j.Limit, j.Position))
		}
	}
	slices.Sort(out)
	return out
}

// The agent's capacity is shared by its policies: when it is short, the jobs of the
// higher-priority policy get runners first, then the oldest; the rest wait with the
// agent's capacity as their limit and their place in that order, while the jobs beyond a
// policy's own max_runners wait for it. A job that has waited max_wait goes first.
func TestReconcileAgentCapacity(t *testing.T) {
	t.Parallel()
	low, high := policy("low", 0, 3), policy("high", 0, 10)
	high.Priority = 10
	low.Runner.CPU, high.Runner.CPU = "2", "1"
	js := jobs(
		queued(1, "low", t0.Add(-50*time.Second)), queued(2, "low", t0.Add(-40*time.Second)),
		queued(3, "low", t0.Add(-30*time.Second)), queued(4, "low", t0.Add(-20*time.Second)),
		queued(5, "high", t0.Add(-10*time.Second)), queued(6, "high", t0.Add(-5*time.Second)),
		queued(7, "high", t0.Add(-1*time.Second)),
	)
	busy := rec("busy-1", "high", protocol.RunnerBusy, t0.Add(-time.Hour))
	inv := []provider.Instance{inst("busy-1", "high", provider.StateRunning)}
	for _, tc := range []struct {
		name        string
		capacity    scheduler.Capacity
		maxWait     time.Duration
		wantCreated []int64
		wantWaiting []string
	}{
		{"no capacity set", scheduler.Capacity{}, 0,
			[]int64{5, 6, 7, 1, 2, 3}, []string{"4:max_runners@1"}},
		{"four runners", scheduler.Capacity{MaxRunners: 4}, 0,
			// the busy runner holds one: room for three, the high jobs first
			[]int64{5, 6, 7}, []string{"1:agent_capacity@1", "2:agent_capacity@2", "3:agent_capacity@3", "4:max_runners@1"}},
		{"four runners, max_wait 45s", scheduler.Capacity{MaxRunners: 4}, 45 * time.Second,
			[]int64{5, 6, 1}, []string{"2:agent_capacity@2", "3:agent_capacity@3", "4:max_runners@1", "7:agent_capacity@1"}},
		{"5 CPUs", scheduler.Capacity{CPUMilli: 5000}, 0,
			// busy 1 + high 1+1+1 = 4, then low's 2 does not fit: it and all after it wait
			[]int64{5, 6, 7}, []string{"1:agent_capacity@1", "2:agent_capacity@2", "3:agent_capacity@3", "4:max_runners@1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(low, high)
			cfg.Scheduling.MaxWait = protocol.Duration(tc.maxWait)
			in := input(cfg, js, inv, records(busy))
			in.Capacity = tc.capacity
			p := scheduler.Reconcile(in)
			if got := createdFor(p); !slices.Equal(got, tc.wantCreated) {
				t.Errorf("created for %v, want %v", got, tc.wantCreated)
			}
			if got := waitingFor(p); !slices.Equal(got, tc.wantWaiting) {
				t.Errorf("waiting %v, want %v", got, tc.wantWaiting)
			}
			total := 0
			for _, n := range p.Queues {
				total += n
			}
			if total != len(tc.wantWaiting) {
				t.Errorf("queues %v, want %d waiting", p.Queues, len(tc.wantWaiting))
			}
		})
	}
}

// Idle runners for min_idle come after every job, and never beyond the capacity.
func TestReconcileCapacityMinIdle(t *testing.T) {
	t.Parallel()
	warm := policy("warm", 3, 5)
	in := input(config(warm), jobs(queued(1, "warm", t0)), nil, nil)
	in.Capacity = scheduler.Capacity{MaxRunners: 2}
	p := scheduler.Reconcile(in)
	if got := createdFor(p); !slices.Equal(got, []int64{1, 0}) {
		t.Errorf("created for %v, want the job's runner and one idle", got)
	}
}
