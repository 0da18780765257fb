package runners_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const secret = "runners-webhook-secret-0123"

func policy(ephemeral bool) *store.Policy {
	return &store.Policy{
		ID: "p1", Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: "linux",
		Labels: []string{"linux", "small"}, MaxRunners: 5, Ephemeral: ephemeral, AgentGroup: "default", Enabled: true,
		Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
	}
}

// TestRunnerLifecycle: a JIT runner minted by the service comes online at the simulator,
// takes a queued job, and the job log follows it through in_progress and completed via
// the webhooks; removal is refused while it is busy; the ephemeral runner is then gone.
func TestRunnerLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		p := policy(true)
		if err := st.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
		hook := httptest.NewServer(webhook.NewHandler(webhook.Config{Secrets: [][]byte{[]byte(secret)}}, jobs.NewService(st, testkit.Discard(), nil), st, testkit.Discard(), nil))
		defer hook.Close()
		gitHub := simtest.New(t, githubsim.Options{WebhookURL: hook.URL, WebhookSecret: secret, PathPrefix: "/api/v3"}, "acme/web")
		sim := gitHub.Sim
		gh, err := githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: sim.AppID(), PrivateKey: sim.PrivateKeyPEM()}, testkit.Discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		svc := runners.NewService(runners.Config{}, gh)

		job, err := sim.QueueJob(ctx, "acme/web", []string{"self-hosted", "linux", "small"})
		if err != nil {
			t.Fatal(err)
		}
		creds, err := svc.Credentials(ctx, p, "garo-linux-1")
		if err != nil {
			t.Fatal(err)
		}
		if creds.Kind != runners.KindJIT || creds.JITConfig == "" || creds.RunnerID == 0 || strings.Contains(creds.String(), creds.JITConfig) {
			t.Fatalf("credentials = %s (kind %s, id %d)", creds, creds.Kind, creds.RunnerID)
		}
		if _, err := svc.Credentials(ctx, p, "garo-linux-1"); err == nil {
			t.Fatal("a second runner with the same name was minted")
		}

		// Connect and take the job, but do not finish it yet.
		var connected struct {
			SessionToken string `json:"session_token"`
		}
		post(t, gitHub.Srv.URL+"/_sim/runners/connect", "", map[string]any{"jit_config": creds.JITConfig}, http.StatusOK, &connected)
		post(t, fmt.Sprintf("%s/_sim/runners/%d/acquire?wait=5s", gitHub.Srv.URL, creds.RunnerID), connected.SessionToken, nil, http.StatusOK, nil)
		logged, err := st.GetJob(ctx, job.ID, false)
		if err != nil || logged.State != portalapi.JobInProgress || logged.RunnerName != "garo-linux-1" || logged.PolicyName != "linux" {
			t.Fatalf("job while running = %+v, %v", logged, err)
		}
		listed, err := svc.List(ctx, "acme", "web")
		if err != nil || len(listed) != 1 || !listed[0].Busy {
			t.Fatalf("runners while busy = %+v, %v", listed, err)
		}
		if err := svc.Remove(ctx, "acme", "web", creds.RunnerID); !errors.Is(err, runners.ErrRunnerBusy) {
			t.Fatalf("remove busy runner = %v, want ErrRunnerBusy", err)
		}

		post(t, fmt.Sprintf("%s/_sim/runners/%d/complete", gitHub.Srv.URL, creds.RunnerID), connected.SessionToken, map[string]any{"conclusion": "success"}, http.StatusOK, nil)
		logged, _ = st.GetJob(ctx, job.ID, false)
		if logged.State != portalapi.JobCompleted || logged.Conclusion != "success" || logged.InProgressAt == nil || logged.CompletedAt == nil {
			t.Fatalf("job after completion = %+v", logged)
		}
		if _, err := svc.Get(ctx, "acme", "web", creds.RunnerID); !errors.Is(err, githubapp.ErrNotFound) {
			t.Fatalf("the ephemeral runner is still there: %v", err)
		}
		if err := svc.Remove(ctx, "acme", "web", creds.RunnerID); err != nil {
			t.Fatalf("removing a runner that is gone = %v, want nil", err)
		}
	})
}

// TestRegistrationTokens: long-lived policies, and GHES without JIT, get registration
// tokens instead of JIT configs.
func TestRegistrationTokens(t *testing.T) {
	gitHub := simtest.New(t, githubsim.Options{PathPrefix: "/api/v3"}, "acme/web")
	sim := gitHub.Sim
	gh, err := githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: sim.AppID(), PrivateKey: sim.PrivateKeyPEM()}, testkit.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cfg       runners.Config
		ephemeral bool
	}{
		{"long-lived policy", runners.Config{}, false},
		{"no JIT on this GitHub", runners.Config{NoJIT: true}, true},
	} {
		creds, err := runners.NewService(tc.cfg, gh).Credentials(t.Context(), policy(tc.ephemeral), "garo-r")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if creds.Kind != runners.KindRegistrationToken || creds.RegistrationToken == "" || creds.ExpiresAt.IsZero() || creds.JITConfig != "" || creds.Ephemeral != tc.ephemeral {
			t.Fatalf("%s: credentials kind %s token set %v", tc.name, creds.Kind, creds.RegistrationToken != "")
		}
	}
	if _, err := runners.NewService(runners.Config{}, gh).Credentials(t.Context(), policy(true), "bad name!"); err == nil {
		t.Fatal("a bad runner name was accepted")
	}
}

func post(t *testing.T, url, session string, body any, want int, out any) {
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
	if resp.StatusCode != want {
		t.Fatalf("POST %s = %d %s, want %d", url, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}
