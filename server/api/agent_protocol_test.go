package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestAgentRegistration: a registration token is exchanged for an identity as many times
// as it has uses; a used-up, expired or malformed one gets 401; bad requests get 400 or
// 415; the credential works until the agent is revoked, after which every call, a held
// poll included, gets 401.
func TestAgentRegistration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		anon := &agentClient{t: t, url: e.url}
		tok := e.registrationToken("default", 2)

		var r protocol.RegisterResponse
		ans := anon.must(http.StatusCreated, http.MethodPost, "/register", protocol.RegisterRequest{Token: tok, Name: "host-1", Provider: "docker", Version: "1.2.3"}, &r)
		if !strings.HasPrefix(r.Credential, "garoa_") || r.Group != "default" || r.AgentID == "" || ans.header.Get("Cache-Control") != "no-store" ||
			r.Intervals != (protocol.Intervals{Heartbeat: protocol.Duration(testHeartbeat), LongPoll: protocol.Duration(testLongPoll), Offline: protocol.Duration(testOffline)}) {
			t.Fatalf("register = %+v (Cache-Control %q)", r, ans.header.Get("Cache-Control"))
		}
		second := e.register(tok, "host-2")
		for name, req := range map[string]protocol.RegisterRequest{
			"used up":   {Token: tok, Name: "host-3", Provider: "docker"},
			"malformed": {Token: "garo_" + tok[6:], Name: "host-3", Provider: "docker"},
			"unknown":   {Token: "garor_" + strings.Repeat("A", 43), Name: "host-3", Provider: "docker"},
		} {
			if ans := anon.do(http.MethodPost, "/register", req); ans.status != http.StatusUnauthorized || ans.errorCode() != portalapi.CodeUnauthorized {
				t.Errorf("register with a %s token = %d %s", name, ans.status, ans.body)
			}
		}
		expiring := e.registrationToken("default", 1)
		e.clock.Advance(agents.DefaultTokenLifetime + time.Second)
		if ans := anon.do(http.MethodPost, "/register", protocol.RegisterRequest{Token: expiring, Name: "h", Provider: "docker"}); ans.status != http.StatusUnauthorized {
			t.Errorf("register with an expired token = %d %s", ans.status, ans.body)
		}
		if ans := anon.do(http.MethodPost, "/register", map[string]any{"token": tok, "name": "h", "provider": "docker", "colour": "red"}); ans.status != http.StatusBadRequest {
			t.Errorf("unknown field = %d %s", ans.status, ans.body)
		}
		if ans := anon.do(http.MethodPost, "/register", protocol.RegisterRequest{Token: tok, Provider: "Docker!"}); ans.status != http.StatusBadRequest || !strings.Contains(string(ans.body), `"provider"`) {
			t.Errorf("bad name and provider = %d %s", ans.status, ans.body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+protocol.PathPrefix+"/register", strings.NewReader("{}"))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("register without Content-Type = %v, %v", resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
		for _, path := range []string{"/heartbeat", "/unregister"} {
			if ans := anon.do(http.MethodPost, path, protocol.HeartbeatRequest{}); ans.status != http.StatusUnauthorized {
				t.Errorf("%s without a credential = %d", path, ans.status)
			}
		}
		if ans := second.do(http.MethodGet, "/nope", nil); ans.status != http.StatusNotFound {
			t.Errorf("unknown path = %d", ans.status)
		}

		// Revocation: a held poll ends with 401, later calls get 401.
		_, cfg := second.config("", "")
		done := make(chan answer, 1)
		go func() {
			ans, _ := second.config(cfg.Version, "20s")
			done <- ans
		}()
		heldPolls(t, e.svc, agents.PollConfig, 1)
		if err := e.admin.RevokeAgent(t.Context(), second.id); err != nil {
			t.Fatal(err)
		}
		if ans := <-done; ans.status != http.StatusUnauthorized {
			t.Fatalf("held poll of a revoked agent = %d %s", ans.status, ans.body)
		}
		if ans := second.do(http.MethodPost, "/heartbeat", protocol.HeartbeatRequest{}); ans.status != http.StatusUnauthorized || !strings.Contains(string(ans.body), "revoked") {
			t.Fatalf("heartbeat after revocation = %d %s", ans.status, ans.body)
		}
		if logs := e.logs.String(); strings.Contains(logs, second.cred) || strings.Contains(logs, tok) || strings.Contains(logs, r.Credential) {
			t.Fatal("a credential or registration token was logged")
		}
	})
}

// TestConfigLongPoll: ETag and If-None-Match, 304 at the end of the hold, the wait
// parameter, and the wake-up of a held poll by a policy PATCH through the portal API,
// whose latency (PATCH sent to poll answered) the test reports.
func TestConfigLongPoll(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		a := e.register(e.registrationToken("default", 1), "h")
		ans, cfg := a.config("", "")
		if ans.status != http.StatusOK || ans.header.Get("ETag") != `"`+cfg.Version+`"` || len(cfg.Policies) != 1 || cfg.Policies[0].MaxRunners != 4 {
			t.Fatalf("config = %d %+v", ans.status, cfg)
		}
		if ans, _ := a.config(cfg.Version, "0s"); ans.status != http.StatusNotModified || ans.header.Get("ETag") != `"`+cfg.Version+`"` || len(ans.body) != 0 {
			t.Fatalf("unchanged, no wait = %d %q", ans.status, ans.body)
		}
		start := time.Now()
		if ans, _ := a.config(cfg.Version, "150ms"); ans.status != http.StatusNotModified || time.Since(start) < 150*time.Millisecond {
			t.Fatalf("unchanged after a hold = %d after %s", ans.status, time.Since(start))
		}
		for _, w := range []string{"soon", "-1s", "30"} {
			if ans, _ := a.config(cfg.Version, w); ans.status != http.StatusBadRequest {
				t.Errorf("wait=%s = %d", w, ans.status)
			}
		}

		var latencies []time.Duration
		for i := range 10 {
			done := make(chan protocol.Config, 1)
			go func(have string) {
				ans, c := a.config(have, "20s")
				if ans.status != http.StatusOK {
					t.Errorf("held poll = %d %s", ans.status, ans.body)
				}
				done <- c
			}(cfg.Version)
			heldPolls(t, e.svc, agents.PollConfig, 1)
			start := time.Now()
			if _, err := e.admin.PatchPolicy(ctx, "acme/web", "linux", map[string]any{"max_runners": 5 + i}, ""); err != nil {
				t.Fatal(err)
			}
			cfg = <-done
			latencies = append(latencies, time.Since(start))
			if cfg.Policies[0].MaxRunners != 5+i {
				t.Fatalf("woken config has max_runners %d, want %d", cfg.Policies[0].MaxRunners, 5+i)
			}
		}
		slices.Sort(latencies)
		t.Logf("%s: policy PATCH to held config poll answered: p50 %s, max %s (%d samples)", b.Name, latencies[len(latencies)/2], latencies[len(latencies)-1], len(latencies))
	})
}

// TestJobsLongPoll: the jobs snapshot holds the open jobs of owned repositories matched to
// a policy of the agent's group, oldest first; a job recorded meanwhile wakes a held poll.
func TestJobsLongPoll(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		n := notify.NewLocal()
		e := newAgentEnv(t, b, agentOptions{notifier: n})
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		a := e.register(e.registrationToken("default", 1), "h")
		log := agents.NotifyingJobLog(jobs.NewService(e.st, testkit.Discard(), nil), n)
		apply := func(action string, id int64, repo string, labels ...string) {
			t.Helper()
			owner, name, _ := strings.Cut(repo, "/")
			if _, _, err := log.Apply(ctx, jobs.Event{Action: action, JobID: id, RunID: id, Owner: owner, Repo: name, Labels: labels, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		apply("queued", 3, "acme/web", "self-hosted", "linux")
		apply("queued", 2, "acme/web", "self-hosted", "linux")
		apply("queued", 4, "acme/web", "self-hosted", "gpu") // unmatched
		apply("queued", 5, "beta/www", "self-hosted", "linux")
		apply("queued", 6, "acme/web", "self-hosted", "linux")
		apply("completed", 6, "acme/web", "self-hosted", "linux")

		ans, snap := a.jobs("", "")
		if ans.status != http.StatusOK || jobIDs(snap) != "3 2" || snap.Jobs[0].Policy != "linux" || snap.Jobs[0].Repository != "acme/web" {
			t.Fatalf("jobs = %d %+v", ans.status, snap)
		}
		done := make(chan protocol.JobsSnapshot, 1)
		go func() {
			ans, s := a.jobs(snap.Version, "20s")
			if ans.status != http.StatusOK {
				t.Errorf("held jobs poll = %d", ans.status)
			}
			done <- s
		}()
		heldPolls(t, e.svc, agents.PollJobs, 1)
		apply("in_progress", 3, "acme/web", "self-hosted", "linux")
		if s := <-done; jobIDs(s) != "3 2" || s.Jobs[0].Status != "in_progress" {
			t.Fatalf("jobs after the wake-up = %+v", s)
		}
		if ans, _ := a.jobs(snap.Version, "0s"); ans.status != http.StatusOK {
			t.Fatalf("an old version = %d", ans.status)
		}
	})
}

func jobIDs(s protocol.JobsSnapshot) string {
	var out []string
	for _, j := range s.Jobs {
		b, _ := json.Marshal(j.ID)
		out = append(out, string(b))
	}
	return strings.Join(out, " ")
}
