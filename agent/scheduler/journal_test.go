package scheduler_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
)

// memJournal is a Journal in memory: what a state file keeps across a kill -9.
type memJournal struct {
	mu sync.Mutex
	b  []byte
}

func (j *memJournal) Load() ([]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.b), nil
}

func (j *memJournal) Save(b []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.b = slices.Clone(b)
	return nil
}

// The chaos suite's full run left GitHub registrations behind after a kill -9 of the
// agent: runners whose instances went while the agent was down (removed behind its
// back, as here) are not in the provider's listing after the restart, so the restarted
// agent knew nothing of them, and the server's sweep leaves runners once reported. The
// journal remembers them: the restarted agent removes their registrations (retried
// while GitHub still calls them busy, until GitHub fails their jobs).
func TestRestartedAgentRemovesRunnersThatWentWhileItWasDown(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(t0)
	r := newRig(t, githubsim.Options{Now: clock.Now, RunnerLostAfter: time.Minute}, policy("small", 0, 2), time.Hour)
	journal := &memJournal{}
	log, logs := testkit.TextLogs()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	opts := scheduler.Options{Now: clock.Now, Journal: journal, RefusedRetry: time.Second, Log: log}
	before := r.scheduler(opts)
	ids := r.queue(t, 2, "small")
	r.until(t, before, 2, "two busy runners", func() bool {
		for _, id := range ids {
			if j, _ := r.env.Sim.Job(id); j.Status != "in_progress" {
				return false
			}
		}
		return true
	})
	if n := len(r.env.Sim.Runners(repo)); n != 2 {
		t.Fatalf("%d runners registered, want 2", n)
	}
	// kill -9 of the agent: the scheduler is dropped as it is; while the agent is down,
	// both instances are removed behind its back.
	for _, rec := range before.Records() {
		if !r.prov.Vanish(rec.ProviderID) {
			t.Fatalf("no instance %s to remove", rec.ProviderID)
		}
	}

	after := r.scheduler(opts)
	r.until(t, after, 2, "both registrations removed at GitHub", func() bool {
		clock.Advance(5 * time.Second) // GitHub fails a silent runner's job after a minute
		return len(r.env.Sim.Runners(repo)) == 0
	})
	for _, id := range ids {
		if j, _ := r.env.Sim.Job(id); j.Status != "completed" || j.Conclusion == "success" {
			t.Errorf("job %d: %s/%s, want failed (its runner was lost)", id, j.Status, j.Conclusion)
		}
	}
	r.until(t, after, 2, "no record left", func() bool { return len(after.Records()) == 0 })
	r.checkNothingLeft(t, after)
	if recs := after.Records(); len(recs) != 0 || r.prov.Created() != 2 {
		t.Errorf("records %+v, %d created; want none left and no new runner", recs, r.prov.Created())
	}
}
