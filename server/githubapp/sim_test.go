package githubapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
)

// These tests run the client against githubsim, the project's GitHub simulator,
// whose answers are checked against GitHub's published descriptions.

type simEnv struct {
	sim   *githubsim.Sim
	srv   *httptest.Server
	c     *Client
	clock *testkit.Clock
	logs  *testkit.Buffer
}

// newSimEnv serves a simulator (GHES layout when prefix is "/api/v3", else api.github.com
// reached through a redirect) with acme/api installed, and an App-mode client for it. The
// simulator and the client share one clock that moves only when the client waits, and
// starts at the real time because ghinstallation signs JWTs with the real clock.
func newSimEnv(t *testing.T, prefix string, mutate func(*Config)) *simEnv {
	t.Helper()
	e := &simEnv{clock: testkit.NewClock(time.Now())}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	sim, err := githubsim.New(githubsim.Options{AppID: 31337, PathPrefix: prefix, Now: e.clock.Now, BaseURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	e.sim = sim
	e.srv.Config.Handler = sim
	sim.AddRepository("acme/api")

	cfg := Config{AppID: sim.AppID(), PrivateKey: sim.PrivateKeyPEM(), Now: e.clock.Now, After: e.clock.After}
	if prefix != "" {
		cfg.APIURL = e.srv.URL + prefix + "/"
	} else {
		to, _ := url.Parse(e.srv.URL)
		cfg.Transport = redirect{to: to}
	}
	if mutate != nil {
		mutate(&cfg)
	}
	var log *slog.Logger
	log, e.logs = testkit.JSONLogs()
	if e.c, err = New(cfg, log, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// calls counts the simulator's answered requests of one route.
func (e *simEnv) calls(method, route string) int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Method == method && r.Route == route {
			n++
		}
	}
	return n
}

const (
	routeInstallation = "/repos/{owner}/{repo}/installation"
	routeAccessToken  = "/app/installations/{installation_id}/access_tokens"
	routeRunner       = "/repos/{owner}/{repo}/actions/runners/{runner_id}"
)

func TestSimRunnerLifecycle(t *testing.T) {
	t.Parallel()
	for _, layout := range []struct{ name, prefix string }{{"github.com", ""}, {"GHES", "/api/v3"}} {
		t.Run(layout.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, layout.prefix, nil)
			ctx := context.Background()

			jit, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: "garo-a1", Labels: []string{"gpu"}})
			if err != nil {
				t.Fatalf("GenerateJITConfig: %v", err)
			}
			simRunners := e.sim.Runners("acme/api")
			if len(simRunners) != 1 || simRunners[0].ID != jit.RunnerID || simRunners[0].Name != "garo-a1" || !slices.Contains(simRunners[0].Labels, "gpu") {
				t.Fatalf("simulator runners = %+v, want garo-a1 (id %d) with label gpu", simRunners, jit.RunnerID)
			}
			tok, err := e.c.RegistrationToken(ctx, "acme", "api")
			if err != nil || tok.Token == "" || !tok.ExpiresAt.After(e.clock.Now()) {
				t.Fatalf("RegistrationToken: %v, %v", tok, err)
			}
			runners, err := e.c.ListRunners(ctx, "acme", "api")
			if err != nil || len(runners) != 1 || runners[0].ID != jit.RunnerID || runners[0].Status != "offline" {
				t.Fatalf("ListRunners = %+v, %v", runners, err)
			}
			if n := e.calls("GET", routeInstallation); n != 1 {
				t.Errorf("installation lookups = %d, want 1", n)
			}
			if n := e.calls("POST", routeAccessToken); n != 1 {
				t.Errorf("installation tokens = %d, want 1", n)
			}
			if layout.prefix != "" {
				for _, r := range e.sim.Requests() {
					if !strings.HasPrefix(r.Path, "/api/v3/") {
						t.Errorf("request %s %s outside /api/v3", r.Method, r.Path)
					}
				}
			}

			if err := e.c.RemoveRunner(ctx, "acme", "api", jit.RunnerID); err != nil {
				t.Fatalf("RemoveRunner: %v", err)
			}
			if got := e.sim.Runners("acme/api"); len(got) != 0 {
				t.Errorf("runners after removal = %+v", got)
			}
			if err := e.c.RemoveRunner(ctx, "acme", "api", jit.RunnerID); err != nil {
				t.Errorf("second RemoveRunner: %v, want nil", err)
			}
			if _, err := e.c.GetRunner(ctx, "acme", "api", jit.RunnerID); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetRunner of a removed runner: %v, want ErrNotFound", err)
			}
			if strings.Contains(e.logs.String(), jit.EncodedJITConfig) || strings.Contains(e.logs.String(), tok.Token) {
				t.Error("logs contain the JIT config or the registration token")
			}
		})
	}
}

func TestSimRemoveBusyRunner(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	jit, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: "garo-busy", Labels: []string{"self-hosted", "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.sim.QueueJobQuietly("acme/api", []string{"self-hosted", "linux"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.sim.RunRunner(runCtx, jit.EncodedJITConfig, time.Hour) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("runner: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rs := e.sim.Runners("acme/api"); len(rs) == 1 && rs[0].Busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner never became busy: %+v", e.sim.Runners("acme/api"))
		}
		time.Sleep(5 * time.Millisecond)
	}

	r, err := e.c.GetRunner(ctx, "acme", "api", jit.RunnerID)
	if err != nil || !r.Busy || r.Status != "online" {
		t.Fatalf("GetRunner = %+v, %v; want online and busy", r, err)
	}
	j, err := e.c.GetJob(ctx, "acme", "api", job.ID)
	if err != nil || j.Status != "in_progress" || j.RunnerID != jit.RunnerID || j.RunnerName != "garo-busy" {
		t.Fatalf("GetJob = %+v, %v; want in progress on garo-busy", j, err)
	}

	err = e.c.RemoveRunner(ctx, "acme", "api", jit.RunnerID)
	if !errors.Is(err, ErrRunnerBusy) {
		t.Fatalf("RemoveRunner of a busy runner: %v, want ErrRunnerBusy", err)
	}
	if n := e.calls("DELETE", routeRunner); n != 1 {
		t.Errorf("DELETE requests = %d, want exactly 1", n)
	}
	if rs := e.sim.Runners("acme/api"); len(rs) != 1 {
		t.Errorf("busy runner was removed: %+v", rs)
	}
}

func TestSimQueuedJobsAndDeliveries(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	start := e.clock.Now().Add(-time.Second)
	var want []int64
	for i := 0; i < 3; i++ {
		j, err := e.sim.QueueJobQuietly("acme/api", []string{"self-hosted", "linux"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, j.ID)
	}
	got, err := e.c.ListOpenJobs(ctx, "acme", "api", 10, 0)
	if err != nil || !got.Complete {
		t.Fatalf("ListOpenJobs: %+v, %v", got, err)
	}
	var ids []int64
	for _, j := range got.Jobs {
		ids = append(ids, j.ID)
		if j.Status != "queued" || !slices.Equal(j.Labels, []string{"self-hosted", "linux"}) || j.Owner != "acme" || j.Repo != "api" {
			t.Errorf("job = %+v", j)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Errorf("queued job ids = %v, want %v", ids, want)
	}
	// Budget 3: the run listings (queued, in_progress) and one run's jobs.
	if three, err := e.c.ListOpenJobs(ctx, "acme", "api", 3, 0); err != nil || len(three.Jobs) != 1 || three.Complete || three.Calls != 3 {
		t.Errorf("ListOpenJobs(budget 3) = %+v, %v", three, err)
	}

	// Webhooks: the simulator records deliveries (no webhook URL configured).
	for i := 0; i < 2; i++ {
		if _, err := e.sim.QueueJob(ctx, "acme/api", []string{"linux"}); err != nil && !errors.Is(err, githubsim.ErrDeliveryFailed) {
			t.Fatal(err)
		}
	}
	recorded := e.sim.Deliveries()
	if len(recorded) != 2 {
		t.Fatalf("simulator recorded %d deliveries, want 2", len(recorded))
	}
	dels, err := e.c.ListDeliveries(ctx, e.sim.AppID(), start, 10)
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	if len(dels) != 2 || dels[0].ID != recorded[1].ID || dels[0].Event != "workflow_job" || dels[0].Action != "queued" || dels[0].GUID == "" {
		t.Fatalf("deliveries = %+v, want the two workflow_job queued, newest first", dels)
	}
	if err := e.c.Redeliver(ctx, e.sim.AppID(), dels[1].ID); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	all, err := e.sim.WaitDeliveries(waitCtx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if last := all[len(all)-1]; !last.Redelivery || last.GUID != dels[1].GUID {
		t.Errorf("redelivery = %+v, want GUID %s redelivered", last, dels[1].GUID)
	}
	if err := e.c.Redeliver(ctx, e.sim.AppID(), 987654321); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redeliver of an unknown delivery: %v, want ErrNotFound", err)
	}
}

func TestSimRateLimits(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	if _, err := e.c.ListRunners(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}

	// A spent window that resets within MaxRateLimitWait is waited out.
	reset := e.clock.Now().Add(20 * time.Second).Truncate(time.Second)
	e.sim.SetRateLimit(0, reset)
	if _, err := e.c.ListRunners(ctx, "acme", "api"); err != nil {
		t.Fatalf("ListRunners across a short reset: %v", err)
	}
	if w := e.clock.Waits(); len(w) != 1 || w[0] > 20*time.Second || w[0] < 19*time.Second {
		t.Errorf("waits = %v, want one of about 20s", w)
	}

	// A spent window beyond MaxRateLimitWait fails with RetryAt, and the next call is
	// not sent.
	reset = e.clock.Now().Add(time.Hour).Truncate(time.Second)
	e.sim.SetRateLimit(0, reset)
	_, err := e.c.ListRunners(ctx, "acme", "api")
	var rle *RateLimitError
	if !errors.As(err, &rle) || !rle.RetryAt.Equal(reset) || rle.Status != http.StatusForbidden {
		t.Fatalf("err = %v, want RateLimitError at %v", err, reset)
	}
	before := len(e.sim.Requests())
	if err := e.c.RemoveRunner(ctx, "acme", "api", 1); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("next call: %v, want ErrRateLimited", err)
	}
	if n := len(e.sim.Requests()) - before; n != 0 {
		t.Errorf("requests sent while the budget is spent = %d, want 0", n)
	}
	if st := e.c.RateLimitFor("acme", "api"); st.Remaining != 0 || st.Limit != 5000 || !st.Reset.Equal(reset) {
		t.Errorf("RateLimitFor() = %+v", st)
	}
	inst := installationCredential(e.sim.Repositories()[0].InstallationID)
	found := false
	for _, b := range e.c.RateLimits() {
		if b.Credential == inst && b.Resource == "core" {
			found = b.Remaining == 0 && b.Limit == 5000 && b.Reset.Equal(reset)
		}
	}
	if !found {
		t.Errorf("RateLimits() = %+v, want %s core spent until %v", e.c.RateLimits(), inst, reset)
	}
	if v := testutil.ToFloat64(e.c.lim.m.remaining.WithLabelValues(inst, "core")); v != 0 {
		t.Errorf("remaining gauge of %s = %v, want 0", inst, v)
	}
}

func TestSimFaults(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	if _, err := e.c.ListRunners(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}

	e.sim.AddFault(githubsim.Fault{Method: "GET", PathPrefix: "/repos/acme/api/actions/runners", Status: 429, RetryAfter: 7 * time.Second, Times: 1})
	if _, err := e.c.ListRunners(ctx, "acme", "api"); err != nil {
		t.Fatalf("ListRunners after a 429: %v", err)
	}
	if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{7 * time.Second}) {
		t.Errorf("waits = %v, want [7s]", w)
	}

	e.sim.AddFault(githubsim.Fault{Method: "GET", PathPrefix: "/repos/acme/api/actions/runners", Status: 502, Times: 2})
	before := len(e.sim.Requests())
	if _, err := e.c.ListRunners(ctx, "acme", "api"); err != nil {
		t.Fatalf("ListRunners after two 502s: %v", err)
	}
	var statuses []int
	for _, r := range e.sim.Requests()[before:] {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{502, 502, 200}) {
		t.Errorf("answers = %v, want [502 502 200]", statuses)
	}

	e.sim.AddFault(githubsim.Fault{Method: "POST", PathPrefix: "/repos/acme/api/actions/runners/generate-jitconfig", Status: 500, Times: 1})
	beforeAll := len(e.sim.Requests())
	_, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: "x", Labels: []string{"l"}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("JIT after a 500: %v, want ErrUnavailable", err)
	}
	if n := len(e.sim.Requests()) - beforeAll; n != 1 {
		t.Errorf("requests for the failed POST = %d, want 1", n)
	}
	if got := e.sim.Runners("acme/api"); len(got) != 0 {
		t.Errorf("runners = %+v, want none", got)
	}
}

func TestSimPATAndNotInstalled(t *testing.T) {
	t.Parallel()
	gitHub := simtest.New(t, githubsim.Options{PathPrefix: "/api/v3", PATs: []string{"github_pat_SIMSECRET"}}, "acme/api")
	c, err := New(Config{APIURL: gitHub.Srv.URL + "/api/v3/", PAT: "github_pat_SIMSECRET"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	jit, err := c.GenerateJITConfig(context.Background(), "acme", "api", JITRequest{Name: "p1", Labels: []string{"l"}})
	if err != nil || jit.RunnerID == 0 {
		t.Fatalf("JIT in PAT mode: %v, %v", jit, err)
	}

	app, err := New(Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: gitHub.Sim.AppID(), PrivateKey: gitHub.Sim.PrivateKeyPEM()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.ListRunners(context.Background(), "acme", "missing"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("repository without the App: %v, want ErrNotInstalled", err)
	}
}

// TestSimFindRunner: a runner is found by name with one request that GitHub filters by
// its name query parameter, at the repository's and the organisation's level; a name
// nobody has is nil, and a runner whose name only starts with it is not taken for it.
func TestSimFindRunner(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	var want int64
	for _, name := range []string{"garo-a", "garo-ab", "garo-b"} {
		jit, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: name, Labels: []string{"self-hosted"}})
		if err != nil {
			t.Fatal(err)
		}
		if name == "garo-a" {
			want = jit.RunnerID
		}
	}
	before := e.calls("GET", "/repos/{owner}/{repo}/actions/runners")
	r, err := e.c.FindRunner(ctx, "acme", "api", "garo-a")
	if err != nil || r == nil || r.ID != want || r.Name != "garo-a" {
		t.Fatalf("FindRunner(garo-a) = %+v, %v; want id %d", r, err, want)
	}
	if n := e.calls("GET", "/repos/{owner}/{repo}/actions/runners") - before; n != 1 {
		t.Errorf("list requests = %d, want 1", n)
	}
	named := false
	for _, rq := range e.sim.Requests() {
		if rq.Route == "/repos/{owner}/{repo}/actions/runners" && strings.Contains(rq.Query, "name=garo-a") {
			named = true
		}
	}
	if !named {
		t.Error("no list request carried the name query parameter")
	}
	if r, err := e.c.FindRunner(ctx, "acme", "api", "garo-z"); err != nil || r != nil {
		t.Fatalf("FindRunner(garo-z) = %+v, %v; want nil", r, err)
	}

	e.sim.AddRunnerGroup("acme", "gpu", "all")
	g, err := e.c.ResolveRunnerGroup(ctx, "acme", "api", "gpu", false)
	if err != nil {
		t.Fatal(err)
	}
	jit, err := e.c.GenerateOrgJITConfig(ctx, "acme", "api", "gpu", JITRequest{Name: "o1", Labels: []string{"self-hosted"}, RunnerGroupID: g.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.c.FindOrgRunner(ctx, "acme", "api", "o1"); err != nil || r == nil || r.ID != jit.RunnerID {
		t.Fatalf("FindOrgRunner(o1) = %+v, %v; want id %d", r, err, jit.RunnerID)
	}
	if r, err := e.c.FindOrgRunner(ctx, "acme", "api", "garo-a"); err != nil || r != nil {
		t.Fatalf("FindOrgRunner(garo-a), a repository's runner = %+v, %v; want nil", r, err)
	}
}
