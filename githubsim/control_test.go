package githubsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
)

func simDo(t *testing.T, e *env, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), method, e.srv.URL+path, rd)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// The fault routes of /_sim/: windows of 5xx and 429, counted faults, delays; listed and
// cleared; bad ones refused.
func TestFaultRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{PATs: []string{"ghp_x"}})
	e.sim.AddRepository("acme/api")
	get := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, e.srv.URL+"/repos/acme/api/actions/runners", nil)
		req.Header.Set("Authorization", "Bearer ghp_x")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	if status, body := simDo(t, e, http.MethodPost, "/_sim/faults", map[string]any{"status": 502, "path_prefix": "/repos/", "for": "10s"}); status != http.StatusCreated {
		t.Fatalf("add 502 window: %d %s", status, body)
	}
	if got := get().StatusCode; got != http.StatusBadGateway {
		t.Fatalf("inside the window: %d, want 502", got)
	}
	e.clock.Advance(10 * time.Second)
	if got := get().StatusCode; got != http.StatusOK {
		t.Fatalf("after the window: %d, want 200", got)
	}

	if status, body := simDo(t, e, http.MethodPost, "/_sim/faults", map[string]any{"status": 429, "retry_after": "3s", "times": 2}); status != http.StatusCreated {
		t.Fatalf("add 429: %d %s", status, body)
	}
	status, body := simDo(t, e, http.MethodGet, "/_sim/faults", nil)
	var list struct {
		Faults []map[string]any `json:"faults"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list.Faults) != 1 || list.Faults[0]["status"] != float64(429) {
		t.Fatalf("list: %d %s", status, body)
	}
	for range 2 {
		if resp := get(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
			t.Fatalf("429 fault: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if got := get().StatusCode; got != http.StatusOK {
		t.Fatalf("after two 429s: %d, want 200", got)
	}

	if status, _ := simDo(t, e, http.MethodPost, "/_sim/faults", map[string]any{"status": 503}); status != http.StatusCreated {
		t.Fatal("add a 503 for ever")
	}
	if status, _ := simDo(t, e, http.MethodDelete, "/_sim/faults", nil); status != http.StatusNoContent {
		t.Fatalf("clear: %d", status)
	}
	if got := get().StatusCode; got != http.StatusOK {
		t.Fatalf("after clear: %d, want 200", got)
	}

	start := time.Now()
	if status, _ := simDo(t, e, http.MethodPost, "/_sim/faults", map[string]any{"delay": "150ms", "times": 1}); status != http.StatusCreated {
		t.Fatal("add a delay")
	}
	if got := get().StatusCode; got != http.StatusOK || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("delayed call: %d after %s, want 200 after 150ms", got, time.Since(start))
	}

	for _, bad := range []map[string]any{
		{},
		{"status": 200},
		{"status": 503, "for": "soon"},
		{"status": 503, "times": -1},
		{"delay": "1h"},
		{"status": 429, "retry_after": "-1s"},
	} {
		if status, body := simDo(t, e, http.MethodPost, "/_sim/faults", bad); status != http.StatusUnprocessableEntity {
			t.Errorf("fault %v: %d %s, want 422", bad, status, body)
		}
	}
	if status, _ := simDo(t, e, http.MethodPost, "/_sim/faults", "not an object"); status != http.StatusBadRequest {
		t.Errorf("bad JSON: %d, want 400", status)
	}
}

// POST /_sim/webhooks/lose loses the deliveries of one workflow_job action for a window:
// never made, so not in the deliveries either; after the window they are made again.
func TestLoseWebhooksRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	e.sim.AddRepository("acme/api")
	ctx := ctxT(t)
	completed := func() int {
		n := 0
		for _, d := range e.sim.Deliveries() {
			if d.Action == "completed" {
				n++
			}
		}
		return n
	}
	cancel := func() {
		t.Helper()
		j, err := e.sim.QueueJob(ctx, "acme/api", []string{"self-hosted"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.sim.CancelJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []map[string]any{{"action": "deleted"}, {"action": "completed", "for": "soon"}} {
		if status, body := simDo(t, e, http.MethodPost, "/_sim/webhooks/lose", bad); status != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d %s, want 422", bad, status, body)
		}
	}
	if status, body := simDo(t, e, http.MethodPost, "/_sim/webhooks/lose", map[string]any{"action": "completed", "for": "10s"}); status != http.StatusCreated {
		t.Fatalf("lose: %d %s", status, body)
	}
	cancel()
	if n := completed(); n != 0 {
		t.Fatalf("%d completed deliveries inside the window, want 0", n)
	}
	e.clock.Advance(10 * time.Second)
	cancel()
	if n := completed(); n != 1 {
		t.Fatalf("%d completed deliveries after the window, want 1", n)
	}
	if status, _ := simDo(t, e, http.MethodPost, "/_sim/webhooks/lose", map[string]any{"action": "completed"}); status != http.StatusCreated {
		t.Fatalf("lose without a window: %d", status)
	}
	cancel()
	if status, _ := simDo(t, e, http.MethodDelete, "/_sim/webhooks/lose", nil); status != http.StatusNoContent {
		t.Fatalf("keep: %d", status)
	}
	cancel()
	if n := completed(); n != 2 {
		t.Fatalf("%d completed deliveries, want 2 (one lost until DELETE)", n)
	}
}
