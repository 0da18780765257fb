package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/stack/hub"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// TestGitHubWiring runs the whole server configured for a GitHub App (the simulator, as
// GitHub Enterprise Server): a job queued on "GitHub" reaches the job log through a signed
// webhook, and the metrics endpoint counts it.
func TestGitHubWiring(t *testing.T) {
	h, err := hub.Start(t.Context(), hub.Options{Dir: t.TempDir(), Repositories: []string{"acme/web"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sim, c := h.Sim, h.Portal
	base, _ := url.Parse(h.ServerURL)
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
	page, err := listJobs(t, base.String(), h.AdminToken)
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
