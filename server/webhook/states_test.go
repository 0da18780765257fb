package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// TestApprovalOrder: a job held by an environment is waiting, becomes queued when
// approved, and a late waiting (or a queued whose workflow_job.status still says waiting,
// as GitHub's own queued example does) never moves it back.
func TestApprovalOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		steps := []struct {
			guid, action, status, outcome, state string
		}{
			{"a1", "waiting", "waiting", "processed", portalapi.JobWaiting},
			{"a2", "queued", "waiting", "processed", portalapi.JobQueued}, // GitHub's queued example
			{"a3", "waiting", "waiting", "stale", portalapi.JobQueued},    // late waiting
			{"a4", "in_progress", "in_progress", "processed", portalapi.JobInProgress},
			{"a5", "waiting", "waiting", "stale", portalapi.JobInProgress},
			{"a6", "completed", "completed", "processed", portalapi.JobCompleted},
		}
		for _, s := range steps {
			var p map[string]any
			if err := json.Unmarshal(payload(s.action, 31, "acme/web", "self-hosted", "linux"), &p); err != nil {
				t.Fatal(err)
			}
			p["workflow_job"].(map[string]any)["status"] = s.status
			body, _ := json.Marshal(p)
			got, out := e.send(delivery{event: "workflow_job", guid: s.guid, sig256: sign(body, secret), body: body})
			if got != 200 || out["status"] != s.outcome {
				t.Fatalf("%s (%s/%s) = %d %v, want %s", s.guid, s.action, s.status, got, out, s.outcome)
			}
			j, err := e.st.GetJob(ctx, 31, false)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != s.state {
				t.Fatalf("after %s (%s/%s): state %s, want %s", s.guid, s.action, s.status, j.State, s.state)
			}
		}
	})
}

// TestEdgeInputs: a job id that is not positive and labels that are null are refused with
// 400 and store nothing.
func TestEdgeInputs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		mutate := func(id int64, f func(wj map[string]any)) []byte {
			var p map[string]any
			_ = json.Unmarshal(payload("queued", id, "acme/web", "self-hosted", "linux"), &p)
			f(p["workflow_job"].(map[string]any))
			body, _ := json.Marshal(p)
			return body
		}
		for name, body := range map[string][]byte{
			"zero id":       mutate(0, func(map[string]any) {}),
			"negative id":   mutate(-5, func(map[string]any) {}),
			"null labels":   mutate(41, func(wj map[string]any) { wj["labels"] = nil }),
			"absent labels": mutate(42, func(wj map[string]any) { delete(wj, "labels") }),
		} {
			got, out := e.send(delivery{event: "workflow_job", guid: "edge-" + name, sig256: sign(body, secret), body: body})
			if got != 400 {
				t.Errorf("%s = %d %v, want 400", name, got, out)
			}
		}
		for _, id := range []int64{0, -5, 41, 42} {
			if j, err := e.st.GetJob(t.Context(), id, false); err == nil {
				t.Errorf("job %d stored: %+v", id, j)
			}
		}
	})
}
