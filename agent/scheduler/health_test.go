package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/shared/protocol"
)

// flakyProvider is a provider whose List fails while down holds an error: an engine
// that went away.
type flakyProvider struct {
	provider.Provider
	down atomic.Pointer[error]
}

func (f *flakyProvider) List(ctx context.Context, sel map[string]string) ([]provider.Instance, error) {
	if e := f.down.Load(); e != nil {
		return nil, *e
	}
	return f.Provider.List(ctx, sel)
}

// The scheduler reports whether the provider answered its listing: since when it fails,
// and when it last answered; nothing is planned while it fails.
func TestProviderHealth(t *testing.T) {
	t.Parallel()
	r := newRig(t, githubsim.Options{}, policy("small", 1, 2), time.Second)
	clk := testkit.NewClock(t0)
	clk.Step(time.Second)
	flaky := &flakyProvider{Provider: r.prov}
	s := scheduler.New(scheduler.Options{AgentID: agentID, Provider: flaky, Server: r.srv, Now: clk.Now})
	s.SetConfig(r.cfg)
	if h := s.Health(); h.OK || !h.LastOK.IsZero() || h.Err != nil {
		t.Fatalf("health before the first tick = %+v", h)
	}
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	first := s.Health()
	if !first.OK || first.LastOK.IsZero() {
		t.Fatalf("health after a good tick = %+v", first)
	}

	gone := errors.New("cannot connect to the Docker daemon")
	flaky.down.Store(&gone)
	for range 2 {
		if err := s.Tick(t.Context()); !errors.Is(err, gone) {
			t.Fatalf("tick with the provider down = %v", err)
		}
	}
	h := s.Health()
	if h.OK || !errors.Is(h.Err, gone) || !h.LastOK.Equal(first.LastOK) || !h.FailingSince.After(first.LastOK) {
		t.Fatalf("health while down = %+v (first %+v)", h, first)
	}
	since := h.FailingSince
	if err := s.Tick(t.Context()); err == nil || !s.Health().FailingSince.Equal(since) {
		t.Fatalf("a third failing tick moved FailingSince: %+v", s.Health())
	}

	flaky.down.Store(nil)
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if h := s.Health(); !h.OK || h.Err != nil || !h.LastOK.After(since) {
		t.Fatalf("health after recovery = %+v", h)
	}
}

// A listing that does not answer holds up nothing but the loop: Heartbeat, Health,
// Records and Snapshot answer at once from the last snapshot, and when the listing's
// timeout ends the provider is reported unavailable with the error.
func TestHungListingBlocksNoReader(t *testing.T) {
	t.Parallel()
	r := newRig(t, githubsim.Options{}, policy("small", 1, 2), time.Second)
	hung := agenttest.Hang(r.prov)
	const listTimeout = 500 * time.Millisecond
	s := scheduler.New(scheduler.Options{AgentID: agentID, Provider: hung, Server: r.srv, ListTimeout: listTimeout,
		Interval: time.Hour}) // only wakes tick: none come while the listing hangs
	s.SetConfig(r.cfg)
	s.SetJobs(agenttest.Jobs(r.env.Sim, repo))
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if err := s.Tick(t.Context()); err != nil { // the min_idle runner's create reported back
		t.Fatal(err)
	}
	if recs := s.Records(); len(recs) != 1 || recs[0].State != protocol.RunnerBooting && recs[0].State != protocol.RunnerIdle {
		t.Fatalf("records before the engine hangs: %v", recs)
	}

	hung.SetHung(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after its context ended: %v", err)
		}
	}()
	for hung.HungListings() < 1 { // Run's first listing is under way
		time.Sleep(time.Millisecond)
	}
	// The listing hangs now (for up to listTimeout): every reader answers within 100 ms.
	for range 20 {
		start := time.Now()
		hb := s.Heartbeat()
		h := s.Health()
		recs := s.Records()
		runners, _ := s.Snapshot()
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Fatalf("readers took %s while the listing hangs", took)
		}
		if len(hb.Runners) != 1 || len(recs) != 1 || len(runners) != 1 || h.SnapshotAt.IsZero() {
			t.Fatalf("heartbeat %+v, records %v, health %+v while the listing hangs", hb, recs, h)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once the listing's timeout has passed, the provider is unavailable with the error,
	// and the snapshot's age shows how old what the heartbeat reports is.
	deadline := time.Now().Add(10 * time.Second)
	for h := s.Health(); h.OK; h = s.Health() {
		if time.Now().After(deadline) {
			t.Fatalf("health still %+v %s after the listing timeout", h, time.Since(deadline.Add(-10*time.Second)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	h := s.Health()
	if !errors.Is(h.Err, context.DeadlineExceeded) || !strings.Contains(h.Err.Error(), "list_timeout") || h.FailingSince.IsZero() {
		t.Errorf("health after the listing timed out: %+v", h)
	}
	if h.SnapshotAt.IsZero() || h.SnapshotAge < 0 {
		t.Errorf("snapshot time %s, age %s", h.SnapshotAt, h.SnapshotAge)
	}
}
