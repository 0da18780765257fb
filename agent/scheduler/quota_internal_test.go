package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/shared/protocol"
)

// quotaServer refuses every runner: a quota of the server is full.
type quotaServer struct{ mintingServer }

func (q *quotaServer) Credentials(context.Context, protocol.CredentialsRequest) (protocol.Credentials, error) {
	return protocol.Credentials{}, fmt.Errorf("409 quota_full: quota q1 of owner_prefix \"acme/\" is full (max_runners): %w", protocol.ErrQuotaFull)
}

// A runner a quota holds back is dropped and holds its policy back for quotaHold with
// the server's reason, without counting as a failure of the policy.
func TestQuotaFullHoldsWithoutFailure(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.Hang)
	t.Cleanup(mem.Close)
	s := New(Options{AgentID: "agent-1", Provider: mem, Server: &quotaServer{}})
	pol := protocol.Policy{ID: "p", Repository: "acme/api", Name: "small", MaxRunners: 1}
	r := Record{Name: "r1", Key: Key{"acme/api", "small"}, Pending: true}
	s.records = map[string]*Record{r.Name: &r}
	s.create(t.Context(), &protocol.Config{Policies: []protocol.Policy{pol}}, Create{Record: &r, Policy: &pol})
	(<-s.results)(s)
	h := s.blocked[r.Key]
	if !strings.HasPrefix(h.Reason, "waiting for quota: ") || !strings.Contains(h.Reason, "max_runners") {
		t.Errorf("hold = %+v, want the quota's reason", h)
	}
	if got := h.Until.Sub(s.opts.Now()); got <= 0 || got > quotaHold {
		t.Errorf("held for %v, want at most %v", got, quotaHold)
	}
	if n := s.failures[r.Key]; n != 0 {
		t.Errorf("failures = %d, want none: a full quota is no failure of the policy", n)
	}
	if rec := s.records[r.Name]; rec.State != protocol.RunnerFailed || rec.Pending {
		t.Errorf("record = %+v, want ended", rec)
	}
}
