package scheduler_test

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/shared/protocol"
)

// strictServer refuses a removal the way garo-server does when the request cannot name
// a runner (no repository, a runner name GitHub would not accept): 400.
type strictServer struct{ removes atomic.Int32 }

var serverRunnerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (s *strictServer) Credentials(context.Context, protocol.CredentialsRequest) (protocol.Credentials, error) {
	return protocol.Credentials{}, &protocol.Error{Status: 503, Code: "unavailable"}
}

func (s *strictServer) RemoveRunner(_ context.Context, req protocol.RemoveRunnerRequest) error {
	s.removes.Add(1)
	if !strings.Contains(req.Repository, "/") || !serverRunnerName.MatchString(req.RunnerName) {
		return &protocol.Error{Status: 400, Code: "invalid_request", Message: "repository or runner_name"}
	}
	return nil
}

// Running orphans that the server cannot identify (no repository label, or a second
// instance of a runner name the agent already has) are swept like any other: their
// removal is not left waiting on a request the server always refuses.
func TestRunningOrphansTheServerCannotNameAreSwept(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testkit.NewClock(t0)
	prov := memory.New(memory.Hang)
	t.Cleanup(prov.Close)
	srv := &strictServer{}
	// An instance with Garo's labels but no repository or policy.
	bare, err := prov.Create(ctx, provider.RunnerRequest{Name: "bare", Labels: map[string]string{
		provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: agentID, provider.LabelRunner: "bare",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Two instances that both say they are runner "dup": the second cannot be named apart.
	var dups []provider.Instance
	for _, name := range []string{"dup-a", "dup-b"} {
		in, err := prov.Create(ctx, provider.RunnerRequest{Name: name, Labels: scheduler.Labels(agentID, scheduler.Record{
			Name: "dup", Key: scheduler.Key{Repository: repo, Policy: "small"}, CreatedAt: t0,
		})})
		if err != nil {
			t.Fatal(err)
		}
		dups = append(dups, in)
	}
	s := scheduler.New(scheduler.Options{AgentID: agentID, Provider: prov, Server: srv, Now: clock.Now})
	s.SetConfig(*config(policy("small", 1, 5))) // min_idle 1 keeps the first "dup"
	s.SetJobs(*jobs())
	for range 5 {
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		s.Wait()
		clock.Advance(2 * time.Minute) // past any retry backoff
	}
	if in, _ := prov.State(ctx, bare.ID); in.State != provider.StateGone {
		t.Errorf("running unlabelled orphan is %s after 5 sweeps (%d removal requests)", in.State, srv.removes.Load())
	}
	// The first is adopted (min_idle 1 keeps it), the second goes.
	if in, _ := prov.State(ctx, dups[0].ID); in.State != provider.StateRunning {
		t.Errorf("adopted runner dup is %s", in.State)
	}
	if in, _ := prov.State(ctx, dups[1].ID); in.State != provider.StateGone {
		t.Errorf("second instance of runner dup is %s after 5 sweeps", in.State)
	}
	if recs := s.Records(); len(recs) != 1 || recs[0].Name != "dup" || recs[0].ProviderID != dups[0].ID {
		t.Errorf("records: %v", recs)
	}
}
