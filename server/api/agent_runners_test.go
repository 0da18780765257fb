package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/webhook"
	"github.com/garo-dev/garo/shared/protocol"
)

const simWebhookSecret = "agent-runners-webhook-secret"

// TestRunnerCredentialsAgainstSimulator: runner credentials and removal through the agent
// protocol, with server/runners on the GitHub App client on the GitHub simulator (a GHES
// layout). A JIT runner minted for a queued job takes it; the job log follows through the
// webhooks; removal is refused while the runner is busy; another group's repository or
// policy is refused with 403 not_owner; GitHub's rate limit is a 503 with Retry-After;
// no credential ever reaches the log or an error.
func TestRunnerCredentialsAgainstSimulator(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := openStore(t, b)
		n := notify.NewLocal()
		hook := httptest.NewServer(webhook.NewHandler(webhook.Config{Secrets: [][]byte{[]byte(simWebhookSecret)}},
			agents.NotifyingJobLog(jobs.NewService(st, testkit.Discard(), nil), n), st, testkit.Discard(), nil))
		defer hook.Close()
		gitHub := simtest.New(t, githubsim.Options{WebhookURL: hook.URL, WebhookSecret: simWebhookSecret, PathPrefix: "/api/v3"}, "acme/web", "acme/ml")
		sim := gitHub.Sim
		gh, err := githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: sim.AppID(), PrivateKey: sim.PrivateKeyPEM()}, testkit.Discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e := newAgentEnv(t, b, agentOptions{store: st, notifier: n, minter: runners.NewService(runners.Config{}, gh)})

		if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		linux := policyRequest("linux")
		linux.Labels = []string{"linux", "x64"}
		long := policyRequest("long")
		long.Labels = []string{"long"}
		long.Ephemeral = new(bool)
		cuda := policyRequest("cuda")
		cuda.Labels, cuda.AgentGroup = []string{"cuda"}, "gpu"
		for repo, reqs := range map[string][]portalapi.PolicyRequest{"acme/web": {linux, long, cuda}, "acme/ml": {cuda}} {
			for _, req := range reqs {
				if _, err := e.admin.CreatePolicy(ctx, repo, req); err != nil {
					t.Fatal(err)
				}
			}
		}
		a := e.register(e.registrationToken("default", 1), "host")
		if _, cfg := a.config("", ""); strings.Join(cfg.Repositories, " ") != "acme/web" || len(cfg.Policies) != 2 {
			t.Fatalf("config = %+v", cfg)
		}

		job, err := sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "linux", "x64"})
		if err != nil {
			t.Fatal(err)
		}
		if _, snap := a.jobs("", ""); len(snap.Jobs) != 1 || snap.Jobs[0].ID != job.ID || snap.Jobs[0].Policy != "linux" {
			t.Fatalf("jobs = %+v", snap)
		}

		// Credentials for the job's runner.
		var creds protocol.Credentials
		ans := a.must(http.StatusCreated, http.MethodPost, "/runners/credentials",
			protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1", JobID: job.ID}, &creds)
		if creds.Kind != runners.KindJIT || creds.JITConfig == "" || creds.RunnerID == 0 || !creds.Ephemeral ||
			strings.Join(creds.Labels, ",") != "self-hosted,linux,x64" || ans.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("credentials = kind %s id %d labels %v", creds.Kind, creds.RunnerID, creds.Labels)
		}
		logged, err := st.GetJob(ctx, job.ID, false)
		if err != nil || logged.RunnerRequestedAt == nil {
			t.Fatalf("job after the credentials = %+v, %v", logged, err)
		}
		// The same name again: GitHub has it already (409), and it is this agent's, not
		// yet online: the server takes it for an ask whose answer was lost, removes that
		// registration and mints the runner again.
		first := creds.RunnerID
		a.must(http.StatusCreated, http.MethodPost, "/runners/credentials",
			protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1", JobID: job.ID}, &creds)
		if rs := sim.Runners("acme/web"); creds.RunnerID == first || len(rs) != 1 || rs[0].ID != creds.RunnerID {
			t.Fatalf("the same name again: runner id %d (first %d), GitHub has %+v; want the first registration replaced", creds.RunnerID, first, rs)
		}

		// The runner takes the job; removing it now is refused.
		var connected struct {
			SessionToken string `json:"session_token"`
		}
		simPost(t, gitHub.Srv.URL+"/_sim/runners/connect", "", map[string]any{"jit_config": creds.JITConfig}, &connected)
		simPost(t, fmt.Sprintf("%s/_sim/runners/%d/acquire?wait=5s", gitHub.Srv.URL, creds.RunnerID), connected.SessionToken, nil, nil)
		// Its name again now: the registration runs, it stays, and so does the conflict.
		if ans := a.do(http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1"}); ans.status != http.StatusConflict || ans.errorCode() != protocol.CodeConflict {
			t.Errorf("the name of a runner that runs a job = %d %s", ans.status, ans.body)
		}
		remove := protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerID: creds.RunnerID, RunnerName: "garo-linux-1"}
		if ans := a.do(http.MethodPost, "/runners/remove", remove); ans.status != http.StatusConflict || ans.errorCode() != protocol.CodeRunnerBusy {
			t.Fatalf("remove a busy runner = %d %s", ans.status, ans.body)
		}
		// By name, for runners registered with a token (no id known to the agent): same rule.
		byName := protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "garo-linux-1"}
		if ans := a.do(http.MethodPost, "/runners/remove", byName); ans.status != http.StatusConflict || ans.errorCode() != protocol.CodeRunnerBusy {
			t.Fatalf("remove a busy runner by name = %d %s", ans.status, ans.body)
		}
		simPost(t, fmt.Sprintf("%s/_sim/runners/%d/complete", gitHub.Srv.URL, creds.RunnerID), connected.SessionToken, map[string]any{"conclusion": "success"}, nil)
		a.must(http.StatusNoContent, http.MethodPost, "/runners/remove", remove, nil)
		a.must(http.StatusNoContent, http.MethodPost, "/runners/remove", byName, nil)
		resp, body := e.do(http.MethodGet, fmt.Sprintf("/api/v1/repos/acme/web/jobs/%d", job.ID), adminSecret, "", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"runner_requested"`) || !strings.Contains(body, `"state":"completed"`) {
			t.Fatalf("portal job = %d %s", resp.StatusCode, body)
		}

		// Long-lived policies get a registration token and the repository's URL.
		var reg protocol.Credentials
		a.must(http.StatusCreated, http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "long", RunnerName: "garo-long-1"}, &reg)
		if reg.Kind != runners.KindRegistrationToken || reg.RegistrationToken == "" || reg.RepositoryURL != "https://github.example.com/acme/web" || reg.JITConfig != "" {
			t.Fatalf("registration-token credentials = kind %s url %s", reg.Kind, reg.RepositoryURL)
		}

		// Another group's repository, or policy, is refused.
		for _, req := range []protocol.CredentialsRequest{
			{Repository: "acme/ml", Policy: "cuda", RunnerName: "garo-cuda-1"},
			{Repository: "acme/web", Policy: "cuda", RunnerName: "garo-cuda-1"},
		} {
			if ans := a.do(http.MethodPost, "/runners/credentials", req); ans.status != http.StatusForbidden || ans.errorCode() != protocol.CodeNotOwner {
				t.Errorf("credentials for %s/%s = %d %s", req.Repository, req.Policy, ans.status, ans.body)
			}
		}
		if ans := a.do(http.MethodPost, "/runners/remove", protocol.RemoveRunnerRequest{Repository: "acme/ml", RunnerID: 1, RunnerName: "x"}); ans.status != http.StatusForbidden || ans.errorCode() != protocol.CodeNotOwner {
			t.Errorf("remove in another group's repository = %d %s", ans.status, ans.body)
		}
		for name, req := range map[string]protocol.CredentialsRequest{
			"no such policy": {Repository: "acme/web", Policy: "nope", RunnerName: "r"},
			"bad runner":     {Repository: "acme/web", Policy: "linux", RunnerName: "bad name!"},
			"bad repository": {Repository: "acme", Policy: "linux", RunnerName: "r"},
		} {
			want := http.StatusBadRequest
			if name == "no such policy" {
				want = http.StatusNotFound
			}
			if ans := a.do(http.MethodPost, "/runners/credentials", req); ans.status != want {
				t.Errorf("%s = %d %s, want %d", name, ans.status, ans.body, want)
			}
		}

		// GitHub's rate limit: 503 github_limit with Retry-After.
		sim.SetRateLimit(0, time.Now().Add(10*time.Minute))
		ans = a.do(http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-2"})
		retry, _ := strconv.Atoi(ans.header.Get("Retry-After"))
		if ans.status != http.StatusServiceUnavailable || ans.errorCode() != protocol.CodeGitHubLimit || retry < 60 || retry > 600 {
			t.Fatalf("credentials while rate limited = %d %s (Retry-After %q)", ans.status, ans.body, ans.header.Get("Retry-After"))
		}

		logs := e.logs.String()
		for _, secret := range []string{creds.JITConfig, reg.RegistrationToken, a.cred} {
			if strings.Contains(logs, secret) {
				t.Fatal("a secret reached the server log")
			}
		}
		if !strings.Contains(logs, "runner credentials minted") || !strings.Contains(logs, "job_id=") {
			t.Fatalf("the minting was not logged with its keys:\n%s", logs)
		}
	})
}

// simPost calls a /_sim route of the simulator (the runner's side of GitHub).
func simPost(t *testing.T, url, session string, body, out any) {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, r)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %s", url, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}
