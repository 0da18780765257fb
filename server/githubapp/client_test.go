package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/internal/testkit"
)

type harness struct {
	c     *Client
	fake  *fakeGitHub
	clock *testkit.Clock
	logs  *testkit.Buffer
	reg   *prometheus.Registry
}

// newHarness builds an App-mode client for api.github.com, redirected to a fake with
// octo/hello installed as installation 7. mutate adjusts the Config before New.
func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	_, pemKey := appKey(t)
	f := newFakeGitHub(t, "")
	f.install("octo/hello", 7)
	h := &harness{fake: f, clock: newFakeClock(), reg: prometheus.NewRegistry()}
	to, _ := url.Parse(f.srv.URL)
	cfg := Config{
		// APIURL "" is https://api.github.com/; the redirect keeps it on the fake.
		Transport:  redirect{to: to},
		AppID:      testAppID,
		PrivateKey: pemKey,
		Now:        h.clock.Now,
		After:      h.clock.After,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	log, logs := testkit.JSONLogs()
	h.logs = logs
	c, err := New(cfg, log, h.reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.c = c
	return h
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	_, pemKey := appKey(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means success
		mode    string
	}{
		{"app", Config{AppID: 1, PrivateKey: pemKey}, "", "app"},
		{"pat", Config{PAT: "github_pat_abc"}, "", "pat"},
		{"nothing", Config{}, "github.app_id and github.private_key (GitHub App, preferred) or github.pat", ""},
		{"app id without key", Config{AppID: 1}, "github.private_key: required", ""},
		{"key without app id", Config{PrivateKey: pemKey}, "github.app_id is not", ""},
		{"bad key", Config{AppID: 1, PrivateKey: []byte("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")}, "github.private_key: not a PEM-encoded RSA private key", ""},
		{"both", Config{AppID: 1, PrivateKey: pemKey, PAT: "x"}, "github.app_id and github.pat are both set", ""},
		{"negative app id", Config{AppID: -5, PrivateKey: pemKey}, "github.app_id -5", ""},
		{"pat with newline", Config{PAT: "abc\n"}, "github.pat: contains white space", ""},
		{"relative api url", Config{PAT: "x", APIURL: "ghe.example.com/api/v3"}, "github.api_url", ""},
		{"ftp api url", Config{PAT: "x", APIURL: "ftp://ghe.example.com/"}, "github.api_url", ""},
		{"api url with credentials", Config{PAT: "x", APIURL: "https://u:secretpw@ghe.example.com/api/v3/"}, "github.api_url", ""},
		{"negative ttl", Config{PAT: "x", InstallationCacheTTL: -time.Second}, "cache TTL", ""},
		{"negative wait", Config{PAT: "x", MaxRateLimitWait: -time.Second}, "rate-limit wait", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.cfg, nil, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Mode() != tt.mode {
					t.Errorf("Mode() = %q, want %q", c.Mode(), tt.mode)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), string(pemKey[40:80])) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestNewRefusesSecondRegistrationOnSameRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := New(Config{PAT: "x"}, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{PAT: "x"}, nil, reg); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second New on one registry: err = %v, want already registered", err)
	}
}

func TestAPIURLs(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, api, upload string }{
		{"", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://api.github.com/", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://api.github.com", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://ghe.example.com", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
	}
	for _, tt := range tests {
		c, err := New(Config{PAT: "x", APIURL: tt.in}, nil, nil)
		if err != nil {
			t.Fatalf("New(%q): %v", tt.in, err)
		}
		if c.api.String() != tt.api || c.up.String() != tt.upload {
			t.Errorf("APIURL %q: api %s upload %s; want %s and %s", tt.in, c.api, c.up, tt.api, tt.upload)
		}
	}
}

func TestAppAuthEndToEndCachesInstallationAndToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()

	jit, err := h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Name: "garo-1", Labels: []string{"self-hosted", "linux"}})
	if err != nil {
		t.Fatalf("GenerateJITConfig: %v", err)
	}
	if jit.RunnerID == 0 || jit.Name != "garo-1" || jit.EncodedJITConfig != h.fake.jitConfigs[0] {
		t.Errorf("JIT config = %+v (config %q), want runner garo-1 with the fake's config", jit, jit.EncodedJITConfig)
	}
	reqs := h.fake.Requests()
	wantPaths := []string{"/repos/octo/hello/installation", "/app/installations/7/access_tokens", "/repos/octo/hello/actions/runners/generate-jitconfig"}
	if len(reqs) != 3 {
		t.Fatalf("requests = %+v, want %v", reqs, wantPaths)
	}
	for i, want := range wantPaths {
		if reqs[i].Path != want {
			t.Errorf("request %d path %s, want %s", i, reqs[i].Path, want)
		}
	}
	if !strings.HasPrefix(reqs[0].Auth, "Bearer ey") || !strings.HasPrefix(reqs[1].Auth, "Bearer ey") {
		t.Errorf("installation lookup and token mint must use the App JWT; got %q, %q", reqs[0].Auth, reqs[1].Auth)
	}
	if reqs[2].Auth != "token ghs_faketoken000001" {
		t.Errorf("JIT request Authorization = %q, want the installation token", reqs[2].Auth)
	}
	if !strings.Contains(reqs[2].Body, `"runner_group_id":1`) || !strings.Contains(reqs[2].Body, `"work_folder":"_work"`) {
		t.Errorf("JIT body %s lacks the defaults runner_group_id 1 and work_folder _work", reqs[2].Body)
	}

	if _, err := h.c.RegistrationToken(ctx, "Octo", "Hello"); err != nil {
		t.Fatalf("RegistrationToken: %v", err)
	}
	if n := h.fake.count("GET", "/installation"); n != 1 {
		t.Errorf("installation lookups = %d, want 1 (second call for the same repo is cached)", n)
	}
	if n := h.fake.Minted(); n != 1 {
		t.Errorf("installation tokens minted = %d, want 1 (token reused until near expiry)", n)
	}
}

func TestInstallationTokenIsRefreshedNearExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	// ghinstallation refreshes a token one minute before it expires: a token that lives
	// 30 s is due for refresh at once, so every call mints a new one.
	h.fake.mu.Lock()
	h.fake.tokenTTL = 30 * time.Second
	h.fake.mu.Unlock()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
			t.Fatalf("ListRunners %d: %v", i, err)
		}
	}
	if n := h.fake.Minted(); n != 3 {
		t.Errorf("tokens minted = %d, want 3 (refreshed before expiry)", n)
	}
	var used []string
	for _, r := range h.fake.Requests() {
		if strings.HasSuffix(r.Path, "/actions/runners") {
			used = append(used, r.Auth)
		}
	}
	if want := []string{"token ghs_faketoken000001", "token ghs_faketoken000002", "token ghs_faketoken000003"}; !slices.Equal(used, want) {
		t.Errorf("tokens used = %v, want %v", used, want)
	}
	if n := h.fake.count("GET", "/installation"); n != 1 {
		t.Errorf("installation lookups = %d, want 1", n)
	}
}

func TestInstallationCacheExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InstallationCacheTTL = 10 * time.Minute })
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(9 * time.Minute)
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.count("GET", "/installation"); n != 1 {
		t.Fatalf("lookups within the TTL = %d, want 1", n)
	}
	h.clock.Advance(2 * time.Minute)
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.count("GET", "/installation"); n != 2 {
		t.Errorf("lookups after the TTL = %d, want 2", n)
	}
	if n := h.fake.Minted(); n != 1 {
		t.Errorf("tokens minted = %d, want 1: the same installation keeps its token", n)
	}
}

func TestNotInstalled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, err := h.c.GenerateJITConfig(context.Background(), "octo", "elsewhere", JITRequest{Name: "r", Labels: []string{"x"}})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "octo/elsewhere") {
		t.Errorf("error %q does not name the repository", err)
	}
	if n := h.fake.count("", "generate-jitconfig"); n != 0 {
		t.Errorf("JIT requests = %d, want 0", n)
	}
}

func TestReinstallIsPickedUpAfter401(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	// The App is uninstalled and installed again: the old token is revoked, the
	// installation has a new id.
	h.fake.mu.Lock()
	h.fake.tokens = map[string]int64{}
	h.fake.installations["octo/hello"] = 8
	h.fake.mu.Unlock()

	_, err := h.c.ListRunners(ctx, "octo", "hello")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("call with a revoked token: err = %v, want ErrUnauthorized", err)
	}
	if _, err := h.c.ListRunners(ctx, "octo", "hello"); err != nil {
		t.Fatalf("call after the reinstall: %v", err)
	}
	if n := h.fake.count("POST", "/app/installations/8/access_tokens"); n != 1 {
		t.Errorf("tokens minted for the new installation = %d, want 1", n)
	}
}

func TestUninstalledInstallationTokenRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.fault(fakeFault{Method: "POST", Contains: "/access_tokens", Status: 404, Body: `{"message":"Not Found"}`, Times: 1})
	_, err := h.c.ListRunners(context.Background(), "octo", "hello")
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled when the token cannot be minted", err)
	}
	if _, err := h.c.ListRunners(context.Background(), "octo", "hello"); err != nil {
		t.Fatalf("next call: %v", err)
	}
	if n := h.fake.count("GET", "/installation"); n != 2 {
		t.Errorf("lookups = %d, want 2: a refused token refresh forgets the installation", n)
	}
}

func TestPATMode(t *testing.T) {
	t.Parallel()
	f := newFakeGitHub(t, "/api/v3")
	f.pat = "github_pat_11SECRETSECRET"
	f.addRunner("octo/hello", fakeRunner{ID: 5, Name: "r5", OS: "linux", Status: "online", Labels: []string{"self-hosted"}})
	c, err := New(Config{APIURL: f.URL(), PAT: f.pat}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode() != "pat" {
		t.Errorf("Mode() = %q", c.Mode())
	}
	runners, err := c.ListRunners(context.Background(), "octo", "hello")
	if err != nil {
		t.Fatalf("ListRunners: %v", err)
	}
	if len(runners) != 1 || runners[0].Name != "r5" || runners[0].Status != "online" || !slices.Equal(runners[0].Labels, []string{"self-hosted"}) {
		t.Errorf("runners = %+v", runners)
	}
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Auth != "Bearer "+f.pat {
		t.Errorf("requests = %+v, want one with the PAT and no installation lookup", reqs)
	}
	if _, err := c.ListDeliveries(context.Background(), 1, time.Time{}, 10); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ListDeliveries in PAT mode: err = %v, want ErrUnsupported", err)
	}
	if err := c.Redeliver(context.Background(), 1, 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Redeliver in PAT mode: err = %v, want ErrUnsupported", err)
	}
}

func TestGitHubEnterpriseServerURLs(t *testing.T) {
	t.Parallel()
	_, pemKey := appKey(t)
	f := newFakeGitHub(t, "/api/v3")
	f.install("octo/hello", 7)
	to, _ := url.Parse(f.srv.URL)
	c, err := New(Config{
		APIURL: "https://ghe.example.com/api/v3/", AppID: testAppID, PrivateKey: pemKey,
		Transport: redirect{to: to},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateJITConfig(context.Background(), "octo", "hello", JITRequest{Name: "r", Labels: []string{"x"}}); err != nil {
		t.Fatalf("GenerateJITConfig: %v", err)
	}
	want := []string{"/api/v3/repos/octo/hello/installation", "/api/v3/app/installations/7/access_tokens", "/api/v3/repos/octo/hello/actions/runners/generate-jitconfig"}
	reqs := f.Requests()
	if len(reqs) != len(want) {
		t.Fatalf("requests = %+v", reqs)
	}
	for i, r := range reqs {
		if r.Path != want[i] || r.Host != "ghe.example.com" {
			t.Errorf("request %d: host %s path %s, want ghe.example.com %s", i, r.Host, r.Path, want[i])
		}
	}
}

func TestDefaultAPIURLIsGitHubDotCom(t *testing.T) {
	t.Parallel()
	_, pemKey := appKey(t)
	f := newFakeGitHub(t, "")
	f.install("octo/hello", 7)
	to, _ := url.Parse(f.srv.URL)
	c, err := New(Config{AppID: testAppID, PrivateKey: pemKey, Transport: redirect{to: to}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRunners(context.Background(), "octo", "hello"); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Requests() {
		if r.Host != "api.github.com" || strings.HasPrefix(r.Path, "/api/v3") {
			t.Errorf("request to %s%s, want api.github.com without /api/v3", r.Host, r.Path)
		}
	}
}

func TestRegistrationToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tok, err := h.c.RegistrationToken(context.Background(), "octo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token != "AREGTOKEN0001SECRET" || !tok.ExpiresAt.Equal(time.Date(2030, 1, 2, 4, 4, 5, 0, time.UTC)) {
		t.Errorf("token = %q expiring %v", tok.Token, tok.ExpiresAt)
	}
}

func TestGenerateJITConfigValidatesAndReportsConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Labels: []string{"x"}}); err == nil {
		t.Error("no name: want an error")
	}
	if _, err := h.c.GenerateJITConfig(ctx, "octo", "hello", JITRequest{Name: "r"}); err == nil {
		t.Error("no labels: want an error")
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("invalid requests reached GitHub: %d", n)
	}
	req := JITRequest{Name: "dup", Labels: []string{"x"}, RunnerGroupID: 3, WorkFolder: "w"}
	if _, err := h.c.GenerateJITConfig(ctx, "octo", "hello", req); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.GenerateJITConfig(ctx, "octo", "hello", req); !errors.Is(err, ErrRunnerExists) {
		t.Errorf("second JIT config with the same name: err = %v, want ErrRunnerExists", err)
	}
	body := h.fake.Requests()[2].Body
	if !strings.Contains(body, `"runner_group_id":3`) || !strings.Contains(body, `"work_folder":"w"`) {
		t.Errorf("body %s does not carry the given group and work folder", body)
	}
}

func TestRemoveRunner(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.addRunner("octo/hello", fakeRunner{ID: 1, Name: "idle"})
	h.fake.addRunner("octo/hello", fakeRunner{ID: 2, Name: "busy", Busy: true})
	ctx := context.Background()

	if err := h.c.RemoveRunner(ctx, "octo", "hello", 1); err != nil {
		t.Fatalf("remove idle runner: %v", err)
	}
	if _, err := h.c.GetRunner(ctx, "octo", "hello", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRunner of the removed runner: err = %v, want ErrNotFound", err)
	}
	if err := h.c.RemoveRunner(ctx, "octo", "hello", 1); err != nil {
		t.Errorf("removing a runner that is gone: err = %v, want nil (idempotent)", err)
	}

	before := h.fake.count("DELETE", "/runners/2")
	err := h.c.RemoveRunner(ctx, "octo", "hello", 2)
	if !errors.Is(err, ErrRunnerBusy) {
		t.Fatalf("remove busy runner: err = %v, want ErrRunnerBusy", err)
	}
	if n := h.fake.count("DELETE", "/runners/2") - before; n != 1 {
		t.Errorf("DELETE requests for the busy runner = %d, want exactly 1", n)
	}
	if r, err := h.c.GetRunner(ctx, "octo", "hello", 2); err != nil || !r.Busy {
		t.Errorf("busy runner after refused removal: %+v, %v", r, err)
	}
}

func TestListRunnersFollowsPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for i := 1; i <= 230; i++ {
		h.fake.addRunner("octo/hello", fakeRunner{ID: int64(i), Name: fmt.Sprintf("r%d", i)})
	}
	runners, err := h.c.ListRunners(context.Background(), "octo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(runners) != 230 || runners[229].Name != "r230" {
		t.Errorf("got %d runners", len(runners))
	}
	if n := h.fake.count("GET", "/actions/runners"); n != 3 {
		t.Errorf("pages fetched = %d, want 3 (100 per page)", n)
	}
}

func queuedJob(id, run int64, status string) map[string]any {
	return map[string]any{
		"id": id, "run_id": run, "status": status, "name": fmt.Sprintf("job %d", id),
		"labels": []string{"self-hosted", "linux"}, "created_at": "2030-01-02T03:00:00Z",
		"html_url": fmt.Sprintf("https://github.com/octo/hello/actions/runs/%d/job/%d", run, id),
	}
}

func TestGetJobAndListOpenJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.addRun("octo/hello", 10, "in_progress", queuedJob(101, 10, "completed"), queuedJob(102, 10, "in_progress"), queuedJob(103, 10, "queued"))
	h.fake.addRun("octo/hello", 11, "queued", queuedJob(111, 11, "queued"))
	h.fake.addRun("octo/hello", 12, "queued", queuedJob(121, 12, "queued"))
	ctx := context.Background()

	j, err := h.c.GetJob(ctx, "octo", "hello", 102)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != 102 || j.RunID != 10 || j.Status != "in_progress" || j.Owner != "octo" || j.Repo != "hello" ||
		!slices.Equal(j.Labels, []string{"self-hosted", "linux"}) || j.CreatedAt.IsZero() || j.HTMLURL == "" {
		t.Errorf("job = %+v", j)
	}
	if _, err := h.c.GetJob(ctx, "octo", "hello", 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown job: err = %v, want ErrNotFound", err)
	}

	before := len(h.fake.Requests())
	all, err := h.c.ListOpenJobs(ctx, "octo", "hello", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, j := range all.Jobs {
		ids = append(ids, j.ID)
	}
	// Oldest run first; the in_progress run's queued job 103 is there too.
	if !slices.Equal(ids, []int64{101, 102, 103, 111, 121}) || !all.Complete || all.Runs != 3 {
		t.Errorf("open jobs = %v (%+v), want [101 102 103 111 121], complete", ids, all)
	}
	if n := actionsRequests(h.fake.Requests()[before:]); n != 5 || all.Calls != 5 {
		t.Errorf("requests = %d (counted %d), want 5 (two run listings, three job listings)", n, all.Calls)
	}

	before = len(h.fake.Requests())
	three, err := h.c.ListOpenJobs(ctx, "octo", "hello", 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if three.Complete || three.Calls != 3 || len(three.Jobs) != 3 || three.Jobs[2].ID != 103 {
		t.Errorf("ListOpenJobs(budget 3) = %+v", three)
	}
	if n := actionsRequests(h.fake.Requests()[before:]); n != 3 {
		t.Errorf("requests for budget 3 = %d, want 3", n)
	}
	if _, err := h.c.ListOpenJobs(ctx, "octo", "hello", 0, 0); err == nil {
		t.Error("budget 0: want an error")
	}
}

// actionsRequests counts the Actions API requests among reqs (not the installation lookups).
func actionsRequests(reqs []fakeRequest) int {
	n := 0
	for _, r := range reqs {
		if strings.Contains(r.Path, "/actions/") {
			n++
		}
	}
	return n
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := 250; i >= 1; i-- { // newest first
		h.fake.deliveries = append(h.fake.deliveries, map[string]any{
			"id": int64(i), "guid": fmt.Sprintf("guid-%d", i), "event": "workflow_job", "action": "queued",
			"status": "OK", "status_code": 200, "redelivery": false,
			"delivered_at":  base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
			"repository_id": 99, "installation_id": 7,
		})
	}
	ctx := context.Background()

	got, err := h.c.ListDeliveries(ctx, testAppID, base.Add(100*time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 || got[0].ID != 250 || got[149].ID != 101 {
		t.Fatalf("deliveries since minute 100: %d, first %+v", len(got), got[0])
	}
	if d := got[0]; d.GUID != "guid-250" || d.Event != "workflow_job" || d.Action != "queued" || d.StatusCode != 200 || d.InstallationID != 7 || d.RepositoryID != 99 {
		t.Errorf("delivery = %+v", d)
	}
	if n := h.fake.count("GET", "/app/hook/deliveries"); n != 2 {
		t.Errorf("pages = %d, want 2 (cursor followed, stopped at since)", n)
	}

	few, err := h.c.ListDeliveries(ctx, testAppID, time.Time{}, 5)
	if err != nil || len(few) != 5 {
		t.Errorf("max 5: %d deliveries, %v", len(few), err)
	}

	if err := h.c.Redeliver(ctx, testAppID, 42); err != nil {
		t.Errorf("Redeliver (GitHub answers 202): %v", err)
	}
	if !slices.Equal(h.fake.redelivered, []int64{42}) {
		t.Errorf("redelivered = %v", h.fake.redelivered)
	}
	if err := h.c.Redeliver(ctx, testAppID, 4242); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redeliver of an unknown delivery: %v, want ErrNotFound", err)
	}
	if n := h.fake.count("POST", "/attempts"); n != 2 {
		t.Errorf("redeliver requests = %d, want 2", n)
	}
}

// TestConcurrentCallsShareOneLookup runs calls for one repository at once under -race.
func TestConcurrentCallsShareOneLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.fake.install("octo/other", 9)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		for _, repo := range []string{"hello", "other"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := h.c.ListRunners(context.Background(), "octo", repo)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := h.fake.count("GET", "/installation"); n != 2 {
		t.Errorf("installation lookups = %d for 2 repositories, want 2", n)
	}
	if n := h.fake.Minted(); n != 2 {
		t.Errorf("tokens minted = %d, want 2 (one per installation)", n)
	}
}

func TestUnauthorizedApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.AppID = testAppID + 1 })
	_, err := h.c.ListRunners(context.Background(), "octo", "hello")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong App id: err = %v, want ErrUnauthorized", err)
	}
}

var _ http.RoundTripper = redirect{}
