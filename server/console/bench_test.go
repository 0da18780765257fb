package console_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/serverproc"
)

// consoles is how many open consoles the benchmark stands for.
const consoles = 50

// refreshEvery and overviewEvery are how often an open console refreshes a page and the
// overview (app.js REFRESH_MS, OVERVIEW_REFRESH_MS).
const (
	refreshEvery  = 5 * time.Second
	overviewEvery = 15 * time.Second
)

// BenchmarkFiftyConsoles measures what open consoles cost garo-server: one op is one refresh
// of 50 consoles on the overview and one on a policy's page (the API calls app.js makes),
// against a real garo-server process holding 20 policies and 200 queued jobs. It reports
// the server's CPU per refresh of each page and, as a figure, the share of one core that 50
// consoles take, half on each page, at the console's refresh intervals.
func BenchmarkFiftyConsoles(b *testing.B) {
	s := serverproc.Start(b, serverproc.Build(b))
	c := &http.Client{Timeout: 30 * time.Second}
	call := caller(b, c, s)
	seed(b, c, s, call)

	overview, policyPage := overviewCalls(), policyCalls()
	// round is one refresh of every console showing page.
	round := func(page []string) {
		var wg sync.WaitGroup
		for range consoles {
			wg.Go(func() {
				for _, p := range page {
					call("GET", p, nil)
				}
			})
		}
		wg.Wait()
	}
	round(overview) // warm
	var ovCPU, polCPU float64
	b.ResetTimer()
	for b.Loop() {
		t0 := cpuSeconds(b, c, s)
		round(overview)
		t1 := cpuSeconds(b, c, s)
		round(policyPage)
		ovCPU, polCPU = ovCPU+t1-t0, polCPU+cpuSeconds(b, c, s)-t1
	}
	b.StopTimer()
	ov, pol := ovCPU/float64(b.N)/consoles, polCPU/float64(b.N)/consoles // seconds of CPU per console refresh
	b.ReportMetric(ov*1e6, "server-cpu-us/overview-refresh")
	b.ReportMetric(pol*1e6, "server-cpu-us/policy-refresh")
	// app.js refreshes the overview every 15 s and other pages every 5 s.
	half := float64(consoles) / 2
	share := half*ov/overviewEvery.Seconds() + half*pol/refreshEvery.Seconds()
	b.Logf("figure: %d open consoles (half on the overview, refreshed every %s, half on a policy's page, every %s) take %.2f%% of one core of garo-server; one refresh costs %.2f ms (overview) and %.2f ms (policy page) of server CPU",
		consoles, overviewEvery, refreshEvery, 100*share, ov*1000, pol*1000)
}

// do makes one call of the portal API as s's admin; an error status is an error.
func do(c *http.Client, s *serverproc.Server, method, path string, body any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	return nil
}

// cpuSeconds reads process_cpu_seconds_total from the server's /metrics.
func cpuSeconds(b *testing.B, c *http.Client, s *serverproc.Server) float64 {
	resp, err := c.Get(s.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatal("no process_cpu_seconds_total in /metrics")
	return 0
}

// sendJob delivers a signed workflow_job "queued" webhook, as GitHub does.
func sendJob(b *testing.B, c *http.Client, s *serverproc.Server, id int64, label string) {
	payload, _ := json.Marshal(map[string]any{
		"action": "queued",
		"workflow_job": map[string]any{"id": id, "run_id": id * 10, "name": "build", "workflow_name": "CI", "labels": []string{label},
			"status": "queued", "created_at": time.Now().UTC().Format(time.RFC3339), "html_url": "https://github.com/acme/web/actions/runs/1/job/1"},
		"repository":   map[string]any{"id": 1, "name": "web", "full_name": "acme/web", "owner": map[string]any{"login": "acme"}},
		"installation": map[string]any{"id": 7},
	})
	mac := hmac.New(sha256.New, []byte(s.WebhookSecret))
	mac.Write(payload)
	req, _ := http.NewRequest("POST", s.URL+"/webhooks/github", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_job")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", id))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("webhook: %d", resp.StatusCode)
	}
}
