package scheduler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/shared/protocol"
)

// mintingServer mints a credential for every runner and removes any.
type mintingServer struct{ removes atomic.Int32 }

func (m *mintingServer) Credentials(_ context.Context, req protocol.CredentialsRequest) (protocol.Credentials, error) {
	return protocol.Credentials{Kind: "jit", RunnerName: req.RunnerName, RunnerID: 7, JITConfig: "jit", Ephemeral: true}, nil
}

func (m *mintingServer) RemoveRunner(context.Context, protocol.RemoveRunnerRequest) error {
	m.removes.Add(1)
	return nil
}

// racingProvider reproduces the race the scheduler must be immune to: while armed, List
// takes its inventory, then lets the pending create through and returns only once the
// create has reported back to the scheduler, so that the inventory misses a runner
// whose report is already waiting.
type racingProvider struct {
	*memory.Provider
	s       *Scheduler
	armed   atomic.Bool
	listed  chan struct{}
	deletes atomic.Int32
}

func (p *racingProvider) List(ctx context.Context, sel map[string]string) ([]provider.Instance, error) {
	inv, err := p.Provider.List(ctx, sel)
	if !p.armed.CompareAndSwap(true, false) {
		return inv, err
	}
	close(p.listed)
	for len(p.s.results) == 0 { // the create's report is on its way to the loop
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return inv, err
}

func (p *racingProvider) Create(ctx context.Context, req provider.RunnerRequest) (provider.Instance, error) {
	select {
	case <-p.listed:
	case <-ctx.Done():
		return provider.Instance{}, ctx.Err()
	}
	return p.Provider.Create(ctx, req)
}

func (p *racingProvider) Delete(ctx context.Context, id string) error {
	p.deletes.Add(1)
	return p.Provider.Delete(ctx, id)
}

// A create that finishes after a listing took its inventory, and reports back before
// that listing is reconciled, is never taken for a runner that vanished: its report is
// applied only before the next listing, which shows its instance.
func TestCreateFinishingDuringAListingIsNotTakenForVanished(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.Hang)
	t.Cleanup(mem.Close)
	prov := &racingProvider{Provider: mem, listed: make(chan struct{})}
	srv := &mintingServer{}
	s := New(Options{AgentID: "agent-1", Provider: prov, Server: srv})
	prov.s = s
	pol := protocol.Policy{
		ID: "p-small", Repository: "acme/api", Name: "small", Labels: []string{"small"}, MinIdle: 1, MaxRunners: 1,
		Ephemeral: true, IdleGrace: protocol.Duration(time.Hour), BootstrapTimeout: protocol.Duration(time.Hour),
	}
	s.SetConfig(protocol.Config{Version: "1", AgentID: "agent-1", Repositories: []string{"acme/api"}, Policies: []protocol.Policy{pol}})
	s.SetJobs(protocol.JobsSnapshot{Version: "1"})
	ctx := t.Context()
	if err := s.Tick(ctx); err != nil { // plans the min_idle runner; its create waits for the listing below
		t.Fatal(err)
	}
	prov.armed.Store(true)
	if err := s.Tick(ctx); err != nil { // lists without it; the create reports back meanwhile
		t.Fatal(err)
	}
	if recs := s.Records(); len(recs) != 1 || recs[0].State != protocol.RunnerCreating || !recs[0].Pending {
		t.Fatalf("after the racing listing: %v; want the runner still creating", recs)
	}
	s.Wait()
	for range 3 {
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		s.Wait()
	}
	recs := s.Records()
	if len(recs) != 1 || recs[0].State != protocol.RunnerIdle || recs[0].ProviderID == "" {
		t.Fatalf("records %v; want the runner idle", recs)
	}
	if n := prov.deletes.Load(); n != 0 || srv.removes.Load() != 0 || mem.Created() != 1 || mem.Live(nil) != 1 {
		t.Fatalf("%d deletes, %d removals, %d created, %d live: the runner was taken for one that vanished",
			n, srv.removes.Load(), mem.Created(), mem.Live(nil))
	}
	if len(s.backoffs) != 0 {
		t.Fatalf("the policy backs off: %+v", s.backoffs)
	}
}
