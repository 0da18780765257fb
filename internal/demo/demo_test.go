package demo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/demo"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/browsertest"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// The `make demo` scenario as a test, on the real Docker engine: every job of the burst
// runs, never more runners than max_runners, every figure of the summary measured, and
// nothing left behind.
func TestDemo(t *testing.T) {
	cli := dockertest.Engine(t, "the demo scenario (make demo)")
	stub, dockerfile, err := dockertest.StubRunner()
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	const jobs, maxRunners = 8, 3
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// With --keep, once the summary is out, what it prints works: garoctl's server and
	// token see the jobs, and a job queued at the simulator runs; then Ctrl-C (cancel).
	// The Ctrl-C waits for the console's watch too: the page must see the queue empty on
	// a refresh of its own before the server goes.
	explored, watchDone := make(chan error, 1), make(chan struct{})
	go func() { explored <- explore(ctx, out, func() { <-watchDone; cancel() }) }()
	// The web console, signed in with the token the demo prints before its burst, shows
	// the burst live: the policy's queue full, then empty, without a reload.
	watched := make(chan consoleWatch, 1)
	if b := browsertest.Optional(t); b != nil {
		go func() { defer close(watchDone); watched <- watchConsole(ctx, out, b) }()
	} else {
		close(watchDone)
		watched <- consoleWatch{skipped: true}
	}
	sum, err := demo.Run(ctx, demo.Options{
		Jobs: jobs, MaxRunners: maxRunners, Work: 500 * time.Millisecond, IdleGrace: 2 * time.Second, Plain: 2,
		StubRunner: stub, StubDockerfile: dockerfile, Dir: t.TempDir(), Out: out, Keep: true, BurstDelay: 3 * time.Second,
	})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if err := <-explored; err != nil {
		t.Errorf("while the demo kept running: %v", err)
	}
	if w := <-watched; w.err != nil {
		t.Errorf("the web console during the burst: %v", w.err)
	} else if !w.skipped {
		t.Logf("the console showed %q during the burst, then the queue empty; screenshots %v", w.peak, w.screenshots)
	}
	if sum.Jobs != jobs || sum.Succeeded != jobs || sum.Failed != 0 {
		t.Errorf("jobs %d, succeeded %d, failed %d; want all %d succeeded", sum.Jobs, sum.Succeeded, sum.Failed, jobs)
	}
	if sum.PeakRunners < 1 || sum.PeakRunners > maxRunners || sum.PeakOnline > maxRunners {
		t.Errorf("peak runners %d (online %d), want 1..%d", sum.PeakRunners, sum.PeakOnline, maxRunners)
	}
	if sum.Containers < jobs {
		t.Errorf("%d runner containers for %d jobs of ephemeral runners", sum.Containers, jobs)
	}
	if len(sum.WebhookToOnline) != jobs || len(sum.WebhookToRunning) != jobs || len(sum.FirstWaveToOnline) != maxRunners {
		t.Errorf("figures for %d/%d jobs (first wave %d), want %d/%d (%d)",
			len(sum.WebhookToOnline), len(sum.WebhookToRunning), len(sum.FirstWaveToOnline), jobs, jobs, maxRunners)
	}
	for i, d := range sum.WebhookToOnline {
		if d <= 0 {
			t.Errorf("job %d: runner online %s after the webhook", i, d)
		}
	}
	if len(sum.Plain) != 2 || len(sum.PlainParallel) != maxRunners {
		t.Errorf("plain runs %d and %d, want 2 and %d", len(sum.Plain), len(sum.PlainParallel), maxRunners)
	}
	for _, want := range []string{"Summary", "jobs run", "8 of 8 succeeded", "webhook -> runner online", "p95", "of max_runners 3", "plain docker run", "garoctl job list acme/demo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("escape sequences in the output for a non-terminal")
	}
	// `docker ps -a --filter label=garo.dev/managed-by=garo` (for this agent) is empty,
	// and the plain runs are gone too.
	for _, sel := range []filters.Args{
		filters.NewArgs(filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro), filters.Arg("label", provider.LabelAgentID+"="+sum.AgentID)),
		filters.NewArgs(filters.Arg("label", "garo.dev/demo=plain-run")),
	} {
		list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel})
		if err != nil || len(list) != 0 {
			t.Errorf("containers left (%v): %d, %v", sel, len(list), err)
		}
	}
}

// Without an engine the demo says so in one sentence.
func TestDemoWithoutEngine(t *testing.T) {
	var out bytes.Buffer
	_, err := demo.Run(t.Context(), demo.Options{
		StubRunner: []byte("x"), StubDockerfile: []byte("FROM scratch"), Dir: t.TempDir(), Out: &out,
		DockerHost: "unix://" + t.TempDir() + "/no-docker.sock",
	})
	if !errors.Is(err, demo.ErrNoEngine) {
		t.Fatalf("err = %v, want ErrNoEngine", err)
	}
	msg := err.Error()
	if strings.Count(msg, ". ") > 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, "no-docker.sock") || !strings.Contains(msg, "DOCKER_HOST") {
		t.Errorf("message %q: want one sentence naming the address and DOCKER_HOST", msg)
	}
	if out.Len() != 0 {
		t.Errorf("output before the engine check: %q", out.String())
	}
}

func TestDemoRejectsBadOptions(t *testing.T) {
	for _, o := range []demo.Options{
		{Jobs: -1, StubRunner: []byte("x"), StubDockerfile: []byte("x"), Dir: "d"},
		{MaxRunners: 51, StubRunner: []byte("x"), StubDockerfile: []byte("x"), Dir: "d"},
		{Dir: "d"},
		{StubRunner: []byte("x"), StubDockerfile: []byte("x")},
	} {
		if _, err := demo.Run(t.Context(), o); err == nil || errors.Is(err, demo.ErrNoEngine) {
			t.Errorf("%+v: err %v, want an options error", o, err)
		}
	}
}

// consoleWatch is what watchConsole saw.
type consoleWatch struct {
	skipped     bool
	peak        string // the queue's line when jobs waited
	screenshots []string
	err         error
}

var consoleRe = regexp.MustCompile(`web console on (\S+)/ui/: sign in with the admin token (\S+)`)

// watchConsole signs in to the web console with the address and token the demo prints
// before its burst, opens the policy's page as the burst is sent, and waits for the
// page to show jobs waiting and then, refreshing itself, none.
func watchConsole(ctx context.Context, out *testkit.Buffer, b *browsertest.Browser) consoleWatch {
	var w consoleWatch
	fail := func(format string, args ...any) consoleWatch {
		w.err = fmt.Errorf(format+" (problems of the page: %v)", append(args, b.Problems())...)
		return w
	}
	waitOut := func(re *regexp.Regexp) []string {
		for {
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	m := waitOut(consoleRe)
	if m == nil {
		return fail("the demo printed no console address and token")
	}
	sctx, cancelSignIn := context.WithTimeout(b.Ctx, time.Minute)
	defer cancelSignIn()
	if err := chromedp.Do(sctx, chromedp.Navigate(m[1]+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), m[2]), chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#nav a"))); err != nil {
		return fail("sign in: %v", err)
	}
	if waitOut(regexp.MustCompile(`jobs queued on acme/demo`)) == nil {
		return fail("the burst never started")
	}
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(m[1]+"/ui/#/policies/acme/demo/demo")); err != nil {
		return fail("the policy's page: %v", err)
	}
	poll := func(js string) (string, error) {
		pctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
		defer cancel()
		return chromedp.Run(pctx, chromedp.Poll[string](js, chromedp.WithPollingInterval(100*time.Millisecond)))
	}
	// The queue's line, once it says jobs wait (the page's first read comes right after the
	// webhooks), and once it says none (a refresh of the same page, no reload).
	const queueLine = `(() => { const p = [...document.querySelectorAll("main p")].find((e) => / waiting\.$/.test(e.textContent)); return p ? p.textContent : ""; })()`
	peak, err := poll(`(() => { const t = ` + queueLine + `; return /^[1-9]\d* jobs? waiting\.$/.test(t) && document.querySelector("#runners table") ? t : ""; })()`)
	if err != nil {
		return fail("no jobs waiting on the policy's page during the burst: %v", err)
	}
	w.peak = peak
	if p, err := b.SaveScreenshot("console-demo-burst"); err == nil {
		w.screenshots = append(w.screenshots, p)
	}
	if _, err := poll(`(() => { const t = ` + queueLine + `; return t === "0 jobs waiting." ? t : ""; })()`); err != nil {
		return fail("the policy's page never showed the queue empty after %q: %v", peak, err)
	}
	octx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(octx, chromedp.Navigate(m[1]+"/ui/#/"), chromedp.WaitVisible(chromedp.CSS("#rates table"))); err != nil {
		return fail("the overview with GitHub's budgets: %v", err)
	}
	if p, err := b.SaveScreenshot("console-demo-overview"); err == nil {
		w.screenshots = append(w.screenshots, p)
	}
	if p := b.Problems(); len(p) > 0 {
		return fail("the page reported problems")
	}
	return w
}

var (
	exportRe = regexp.MustCompile(`export GARO_SERVER=(\S+) GARO_TOKEN=(\S+)`)
	queueRe  = regexp.MustCompile(`curl -sS -X POST (\S+/_sim/jobs) -d '([^']+)'`)
)

// explore waits for the demo's hints after its summary, follows them, and stops the demo.
func explore(ctx context.Context, out *testkit.Buffer, stop context.CancelFunc) error {
	defer stop()
	var m, q []string
	for m == nil || q == nil {
		select {
		case <-ctx.Done():
			return errors.New("no hints printed")
		case <-time.After(100 * time.Millisecond):
		}
		m, q = exportRe.FindStringSubmatch(out.String()), queueRe.FindStringSubmatch(out.String())
	}
	portal, err := client.New(m[1], m[2])
	if err != nil {
		return err
	}
	count := func(state string) (int, error) {
		n := 0
		for _, err := range portal.AllRepoJobs(ctx, "acme/demo", client.JobQuery{State: state}) {
			if err != nil {
				return 0, err
			}
			n++
		}
		return n, nil
	}
	if n, err := count(portalapi.JobCompleted); err != nil || n != 8 {
		return fmt.Errorf("completed jobs through the printed server and token: %d, %v", n, err)
	}
	resp, err := http.Post(q[1], "application/json", strings.NewReader(q[2]))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("queue a job at the printed simulator URL: %s", resp.Status)
	}
	for {
		if n, err := count(portalapi.JobCompleted); err != nil || n == 9 {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New("the job queued after the summary did not complete")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
