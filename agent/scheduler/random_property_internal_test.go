package scheduler

import (
	"encoding/json"
	"testing"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestReconcileRandomInputs checks over random ticks (randomInput) what must hold for
// any input: Reconcile changes nothing in its input (records are shared by pointer with
// the plan), the same input gives the same plan, no busy runner is reaped, and no policy
// (nor the agent's capacity) gets a creation that takes it past its maximum. The ticks
// share one Scratch, as the scheduler's do; the plans are compared with those of ticks
// that have their own.
func TestReconcileRandomInputs(t *testing.T) {
	t.Parallel()
	var mem Scratch
	for seed := range uint64(3000) {
		in := randomInput(seed)
		in.Scratch = &mem
		before := inputDump(t, in)
		p := Reconcile(in)
		if after := inputDump(t, in); after != before {
			t.Fatalf("seed %d: Reconcile changed its input:\n%s\nwas\n%s", seed, after, before)
		}
		if again := Reconcile(randomInput(seed)); canonicalPlan(again) != canonicalPlan(p) {
			t.Fatalf("seed %d: the same input gave another plan (with a fresh Scratch)", seed)
		}
		for _, rp := range p.Reaps {
			if r := p.Records[rp.Record.Name]; r == nil || r.State == protocol.RunnerBusy || !r.Pending {
				t.Fatalf("seed %d: reap of %s, whose record is %v", seed, rp.Record.Name, r)
			}
		}
		running := map[string]bool{}
		for _, inst := range in.Inventory {
			running[inst.ID] = inst.State != provider.StateExited && inst.State != provider.StateGone
		}
		holding := map[Key]int{} // live, or on its way out with its instance running
		total := 0
		for _, r := range p.Records {
			if r.live() || running[r.ProviderID] {
				holding[r.Key]++
				total++
			}
		}
		created := map[Key]bool{}
		for _, c := range p.Creates {
			k := c.Record.Key
			created[k] = true
			if c.Policy.Repository != k.Repository || c.Policy.Name != k.Policy || p.Records[c.Record.Name] != c.Record {
				t.Fatalf("seed %d: create %v of policy %s/%s", seed, c.Record, c.Policy.Repository, c.Policy.Name)
			}
			if holding[k] > c.Policy.MaxRunners {
				t.Fatalf("seed %d: %s holds %d runners with its creations, max_runners %d", seed, k, holding[k], c.Policy.MaxRunners)
			}
		}
		if c := in.Capacity.MaxRunners; c > 0 && len(created) > 0 && total > c {
			t.Fatalf("seed %d: %d runners with the creations, capacity %d", seed, total, c)
		}
	}
}

// inputDump is what Reconcile must not change of in.
func inputDump(t *testing.T, in Input) string {
	t.Helper()
	recs := make(map[string]Record, len(in.Records))
	for name, r := range in.Records {
		recs[name] = *r
	}
	blocked, backoffs := map[string]Hold{}, map[string]Backoff{}
	for k, h := range in.Blocked {
		blocked[k.String()] = h
	}
	for k, b := range in.Backoff {
		backoffs[k.String()] = b
	}
	b, err := json.Marshal([]any{in.Config, in.Jobs, in.Inventory, recs, blocked, backoffs, in.Specs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
