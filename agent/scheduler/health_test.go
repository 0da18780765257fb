package scheduler_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/githubsim"
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
	clk := &stepClock{now: t0}
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
