package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
)

// TestGitHubWiring runs the whole server configured for a GitHub App (the simulator, as
// GitHub Enterprise Server): a job queued on "GitHub" reaches the job log through a signed
// webhook, and the metrics endpoint counts it.
func TestGitHubWiring(t *testing.T) {
	const secret = "wiring-webhook-secret-0123"
	var target atomic.Pointer[url.URL]
	// The simulator needs the webhook URL before the server listens: a forwarder bridges.
	forward := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputil.NewSingleHostReverseProxy(target.Load()).ServeHTTP(w, r)
	}))
	defer forward.Close()
	sim, err := githubsim.New(githubsim.Options{WebhookURL: forward.URL + "/webhooks/github", WebhookSecret: secret, PathPrefix: "/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	api := httptest.NewServer(sim)
	defer api.Close()
	sim.AddRepository("acme/web")

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, sim.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = "garo_wiring-admin-token-0123456789abcdef"
	cfg.GitHub.APIURL = api.URL + "/api/v3/"
	cfg.GitHub.AppID = sim.AppID()
	cfg.GitHub.PrivateKeyFile = keyFile
	cfg.GitHub.WebhookSecret = secret
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	addr, _, stop := start(t, cfg)
	defer mustStop(t, stop)
	base, _ := url.Parse("http://" + addr.String())
	target.Store(base)

	c, _ := client.New(base.String(), cfg.Auth.BootstrapAdminToken)
	_, err = c.CreatePolicy(t.Context(), "acme/web", portalapi.PolicyRequest{
		Name: "linux", Labels: []string{"linux"}, MaxRunners: 2, Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	job, err := sim.QueueJob(t.Context(), "acme/web", []string{"self-hosted", "linux"})
	if err != nil {
		t.Fatal(err)
	}
	if d := sim.Deliveries(); len(d) != 1 || d[0].StatusCode != 200 {
		t.Fatalf("deliveries = %+v", d)
	}
	resp, err := http.Get(base.String() + "/api/v1/repos/acme/web/jobs/" + itoa(job.ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("jobs without a token = %d", resp.StatusCode)
	}
	page, err := listJobs(t, base.String(), cfg.Auth.BootstrapAdminToken)
	if err != nil || !strings.Contains(page, `"state":"queued"`) || !strings.Contains(page, `"policy":"linux"`) {
		t.Fatalf("jobs = %s, %v", page, err)
	}
	metrics, err := http.Get(base.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(body), `garo_webhook_deliveries_total{event="workflow_job",outcome="processed"} 1`) {
		t.Fatalf("metrics lack the delivery:\n%s", grep(string(body), "garo_"))
	}
}

func listJobs(t *testing.T, base, token string) (string, error) {
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/repos/acme/web/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
