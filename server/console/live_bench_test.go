package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/garo-dev/garo/internal/testkit/browsertest"
	"github.com/garo-dev/garo/internal/testkit/serverproc"
)

// liveFor is how long BenchmarkFiftyLiveConsoles keeps its consoles open, and idleFor how
// long it first measures the server with none.
const (
	liveFor = 60 * time.Second
	idleFor = 20 * time.Second
)

// BenchmarkFiftyLiveConsoles keeps 50 consoles open on a real garo-server process for 60 s
// and reads the server's own CPU time (process_cpu_seconds_total) before and after: 49
// HTTP clients that speak exactly what app.js speaks (sign-in's whoami, then a page's
// first load and its refreshes at app.js's intervals; half on the overview, half on a
// policy's page) and one real headless Chromium tab signed in on a policy's page. The
// server's CPU with no console open, measured first, is subtracted. Run with -benchtime 1x.
func BenchmarkFiftyLiveConsoles(b *testing.B) {
	s := serverproc.Start(b, serverproc.Build(b))
	c := &http.Client{Timeout: 30 * time.Second}
	call := caller(b, c, s)
	seed(b, c, s, call)
	browser := browsertest.New(b)

	for b.Loop() {
		// The server alone, as a baseline: its own loops (reconciler, leases) cost something.
		idle0 := cpuSeconds(b, c, s)
		time.Sleep(idleFor)
		idle := (cpuSeconds(b, c, s) - idle0) / idleFor.Seconds()

		ctx, cancel := context.WithTimeout(b.Context(), liveFor)
		t0 := cpuSeconds(b, c, s)
		var wg sync.WaitGroup
		var mu sync.Mutex
		requests := 0
		count := func(n int) { mu.Lock(); requests += n; mu.Unlock() }
		for i := range consoles - 1 {
			wg.Go(func() {
				if i%2 == 0 {
					count(liveConsole(ctx, call, overviewEvery, nil, overviewCalls))
				} else {
					count(liveConsole(ctx, call, refreshEvery, []string{"/api/v1/repos/acme/web/policies/p1"}, policyCalls))
				}
			})
		}
		if err := chromedp.Do(browser.Ctx,
			chromedp.Navigate(s.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), s.AdminToken), chromedp.Click(chromedp.CSS("#signin")),
			chromedp.WaitVisible(chromedp.CSS("#nav a")),
			chromedp.Navigate(s.URL+"/ui/#/policies/acme/web/p1"), chromedp.WaitVisible(chromedp.CSS("#yaml")),
		); err != nil {
			b.Fatalf("the browser's console: %v (%v)", err, browser.Problems())
		}
		<-ctx.Done()
		wg.Wait()
		t1 := cpuSeconds(b, c, s)
		cancel()
		if p := browser.Problems(); len(p) > 0 {
			b.Errorf("the browser's console reported problems: %v", p)
		}
		updated, err := chromedp.Run(browser.Ctx, chromedp.Evaluate[string](`document.querySelector("#status").textContent`))
		if err != nil || updated == "" {
			b.Errorf("the browser's console never refreshed (%q, %v)", updated, err)
		}
		total := (t1 - t0) / liveFor.Seconds()
		b.ReportMetric(100*total, "server-cpu-%-of-core")
		b.ReportMetric(100*(total-idle), "consoles-cpu-%-of-core")
		b.Logf("figure: %d live consoles (%d HTTP clients speaking app.js's calls, half on the overview every %s, half on a policy's page every %s, and 1 headless Chromium tab) for %s: garo-server used %.2f%% of one core, %.2f%% with none open: the consoles cost %.2f%% of one core (%d requests, %.1f/s)",
			consoles, consoles-1, overviewEvery, refreshEvery, liveFor, 100*total, 100*idle, 100*(total-idle), requests, float64(requests)/liveFor.Seconds())
	}
}

// overviewCalls and policyCalls are one refresh of the overview and of policy acme/web/p1's
// page, as app.js makes them (overview(), policyPage()'s refresh, admin tokens).
func overviewCalls() []string {
	since := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	return []string{"/api/v1/agents", "/api/v1/jobs?state=queued&limit=500", "/api/v1/jobs?since=" + since + "&limit=500", "/api/v1/github/rate-limit"}
}

func policyCalls() []string {
	return []string{"/api/v1/repos/acme/web/jobs?policy=p1&state=queued&limit=500", "/api/v1/repos/acme/web/runners?policy=p1",
		"/api/v1/repos/acme/web/jobs?policy=p1&limit=20", "/api/v1/audit-events?resource_type=policy&resource_id=acme%2Fweb%2Fp1&limit=20"}
}

// liveConsole is one open console until ctx ends: sign-in's whoami, the page's first reads,
// then its refresh every interval. It returns how many requests it made.
func liveConsole(ctx context.Context, call func(method, path string, body any), every time.Duration, first []string, refresh func() []string) int {
	n := 0
	for _, p := range append([]string{"/api/v1/whoami"}, first...) {
		call("GET", p, nil)
		n++
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, p := range refresh() {
			if ctx.Err() != nil {
				return n
			}
			call("GET", p, nil)
			n++
		}
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
	}
}

// caller is an admin client of s that fails b on any error status.
func caller(b *testing.B, c *http.Client, s *serverproc.Server) func(method, path string, body any) {
	return func(method, path string, body any) {
		if err := do(c, s, method, path, body); err != nil {
			b.Error(err)
		}
	}
}

// seed gives s 20 policies on acme/web and 200 queued jobs.
func seed(b *testing.B, c *http.Client, s *serverproc.Server, call func(method, path string, body any)) {
	for i := range 20 {
		call("POST", "/api/v1/repos/acme/web/policies", map[string]any{
			"name": fmt.Sprintf("p%d", i), "labels": []string{fmt.Sprintf("l%d", i)}, "max_runners": 2,
			"provider": "docker", "runner": map[string]any{"image": "img:1"},
		})
	}
	for i := range 200 {
		sendJob(b, c, s, int64(900_000+i), fmt.Sprintf("l%d", i%20))
	}
}
