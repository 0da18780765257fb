package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
)

// TestLostMintAnswer (issue 15): GitHub registers a job's runner but its answer to the
// server's generate-jitconfig never arrives (the connection drops, or a proxy answers
// 502). The server answers the agent 503, the agent asks again with the same runner
// name, GitHub answers that retry 409 "Already exists", and the server removes the
// unanswered registration and mints the runner again: the job runs on a runner of the
// first name, the agent creates one runner, GitHub ends with no registration left, and
// generate-jitconfig is called three times (the lost one, the 409, the mint again).
// Before, the retry's 409 failed the runner, the policy backed off and the job waited
// for a runner of another name.
func TestLostMintAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, w http.ResponseWriter)
	}{
		{"connection dropped", func(t *testing.T, w http.ResponseWriter) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack the simulator's connection: %v", err)
				return
			}
			_ = conn.Close() // the answer is lost: nothing to report
		}},
		{"bad gateway", func(_ *testing.T, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var asked []string // generate-jitconfig's runner names, in order
			wrap := func(sim http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/actions/runners/generate-jitconfig") {
						sim.ServeHTTP(w, r)
						return
					}
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(body))
					var req struct {
						Name string `json:"name"`
					}
					_ = json.Unmarshal(body, &req)
					mu.Lock()
					asked = append(asked, req.Name)
					first := len(asked) == 1
					mu.Unlock()
					if !first {
						sim.ServeHTTP(w, r)
						return
					}
					rec := httptest.NewRecorder() // the simulator registers the runner; its answer goes nowhere
					sim.ServeHTTP(rec, r)
					if rec.Code != http.StatusCreated {
						t.Errorf("first generate-jitconfig: %d %s", rec.Code, rec.Body)
					}
					tc.lose(t, w)
				})
			}
			e := newEnvWith(t, envOptions{simHandler: wrap})
			e.policy(t, "small", 0, 1)
			var ran []string // the runners the agent created, by name
			prov := memory.New(func(ctx context.Context, r memory.Runner) error {
				mu.Lock()
				ran = append(ran, r.Name)
				mu.Unlock()
				return e.sim.RunRunner(ctx, r.JITConfig(), 50*time.Millisecond)
			})
			t.Cleanup(prov.Close)
			cfg := e.agentConfig(e.registrationToken(t))
			cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
			startAgent(t, e, cfg, prov, app.Options{})

			job, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 60*time.Second, "the job done", func() bool { return e.completed([]int64{job.ID}) == 1 })
			testkit.Eventually(t, 10*time.Second, "no registration left at GitHub", func() bool { return len(e.sim.Runners(repo)) == 0 })
			mu.Lock()
			defer mu.Unlock()
			if len(asked) != 3 || len(slices.Compact(slices.Clone(asked))) != 1 {
				t.Errorf("generate-jitconfig asked for %v; want one name three times (lost, 409, again)", asked)
			}
			if !slices.Equal(ran, asked[:1]) {
				t.Errorf("runners created %v; want one, %s", ran, asked[0])
			}
		})
	}
}
