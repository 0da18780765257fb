package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/dockertest"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// crashLoopWindow is how long the crash-loop test lets an always-failing policy try.
const crashLoopWindow = 2 * time.Minute

// crashLoopBound is the most runner credentials that window may mint for one policy
// (issue 9: "no more than 8").
const crashLoopBound = 8

// TestDockerCrashLoopBacksOff runs a policy whose image always exits 1 before taking a
// job (GARO_STUB_EXIT_EARLY=1: a bad image, a runner that cannot reach GitHub) with two
// queued jobs and room for two runners, for two minutes of real time, through the whole
// stack (server, simulator, agent on the Docker engine), and counts the JIT
// configurations the server asked GitHub (the simulator) for. It prints the count: 307
// before the agent backed such a policy off, 6 with the back-off (5 s doubling, one
// runner at a time). Meanwhile the portal shows the jobs backing_off, with the reason.
func TestDockerCrashLoopBacksOff(t *testing.T) {
	if testing.Short() {
		t.Skip("two minutes of real time")
	}
	cli := dockerEngine(t)
	ref := dockertest.StubImage(t, cli, "ENV GARO_STUB_EXIT_EARLY=1")
	var minted atomic.Int32
	countMints := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions/runners/generate-jitconfig") {
				minted.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnvWith(t, envOptions{simHandler: countMints})
	const policy = "crashloop"
	dockerPolicy(t, e, policy, ref, 0, 2, time.Minute)
	dockerAgent(t, e, cli)
	for range 2 {
		if _, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy}); err != nil {
			t.Fatal(err)
		}
	}
	// Meanwhile the portal shows why the jobs wait: backing_off, with the runners'
	// failure and when the agent tries again.
	start := time.Now()
	window := time.NewTimer(crashLoopWindow)
	defer window.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	var shown *portalapi.Job
	for waiting := true; waiting; {
		select {
		case <-window.C:
			waiting = false
		case <-t.Context().Done():
			t.Fatal("test context ended")
		case <-poll.C:
			for _, j := range e.jobs(t) {
				if j.AgentState == portalapi.JobBackingOff && j.AgentRetryAt != nil && shown == nil {
					shown = &j
				}
			}
		}
	}
	n := minted.Load()
	switch {
	case shown == nil:
		t.Error("no job showed agent_state backing_off with agent_retry_at in the portal")
	case !strings.Contains(shown.AgentReason, "exited with code 1 before taking a job"):
		t.Errorf("job %d backing off because %q; want the runners' exit", shown.ID, shown.AgentReason)
	default:
		t.Logf("the portal showed job %d backing_off until %s: %s", shown.ID, shown.AgentRetryAt.Format(time.RFC3339), shown.AgentReason)
	}
	t.Logf("crash loop: %d runner credentials minted in %s for one policy whose image exits 1 (bound %d)",
		n, time.Since(start).Round(time.Second), crashLoopBound)
	// make test prints the lines of the test log that start with "figure: ".
	fmt.Printf("figure: crash loop: %d runner credentials minted in %s for one policy whose image exits 1 (bound %d)\n",
		n, crashLoopWindow, crashLoopBound)
	if n > crashLoopBound {
		t.Errorf("%d runner credentials minted in %s, want at most %d", n, crashLoopWindow, crashLoopBound)
	}
	if n < 3 {
		t.Errorf("only %d runner credentials minted in %s: the policy was not retried, the test proves nothing", n, crashLoopWindow)
	}
}
