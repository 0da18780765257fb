package githubsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

// TestRoutesAreServed: every route Routes lists is dispatched (an unknown route would be
// recorded without a route template), and nothing else is.
func TestRoutesAreServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	routes := githubsim.Routes()
	if len(routes) < 16 {
		t.Fatalf("Routes lists %d routes", len(routes))
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		if seen[key] {
			t.Fatalf("route %s listed twice", key)
		}
		seen[key] = true
		path := param.ReplaceAllString(rt.Path, "1")
		req, err := http.NewRequestWithContext(ctxT(t), rt.Method, e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, r := range e.sim.Requests() {
		want := param.ReplaceAllString(r.Route, "1")
		if r.Route == "" || want != r.Path {
			t.Errorf("%s %s was dispatched to %q", r.Method, r.Path, r.Route)
		}
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodPut, "/app"},
		{http.MethodGet, "/repos/acme/api/actions/runners/"},
		{http.MethodGet, "/api/v3/app"},
	} {
		req, _ := http.NewRequestWithContext(ctxT(t), tc.method, e.srv.URL+tc.path, nil)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Message          string `json:"message"`
			DocumentationURL string `json:"documentation_url"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || err != nil || body.Message != "Not Found" || body.DocumentationURL == "" {
			t.Errorf("%s %s: %d %+v, want 404 Not Found", tc.method, tc.path, resp.StatusCode, body)
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "" || resp.Header.Get("X-GitHub-Request-Id") == "" {
			t.Errorf("%s %s: 404 without GitHub's headers", tc.method, tc.path)
		}
	}
}

func TestEnterprisePathPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{PathPrefix: "/api/v3", AppID: 3})
	repo := e.sim.AddRepository("acme/api")
	gh, err := github.NewClient(e.srv.Client()).WithEnterpriseURLs(e.srv.URL, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := gh.WithAuthToken(e.appJWT(t)).Apps.Get(ctxT(t), "")
	if err != nil || app.GetID() != 3 {
		t.Fatalf("GET /api/v3/app: %v, %v", app, err)
	}
	tok, _, err := gh.WithAuthToken(e.appJWT(t)).Apps.CreateInstallationToken(ctxT(t), repo.InstallationID, nil)
	if err != nil {
		t.Fatal(err)
	}
	inst := gh.WithAuthToken(tok.GetToken())
	cfg, _, err := inst.Actions.GenerateRepoJITConfig(ctxT(t), "acme", "api", &github.GenerateJITConfigRequest{Name: "ghes", RunnerGroupID: 1, Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"x"}); err != nil {
		t.Fatal(err)
	}
	// The runner side stays at the root, outside the API prefix.
	if err := e.sim.RunRunner(ctxT(t), cfg.GetEncodedJITConfig(), 0); err != nil {
		t.Fatal(err)
	}
	job, _, err := inst.Actions.GetWorkflowJobByID(ctxT(t), "acme", "api", e.sim.Jobs("acme/api")[0].ID)
	if err != nil || job.GetConclusion() != "success" {
		t.Fatalf("job: %v, %v", job.GetConclusion(), err)
	}
	if !strings.HasPrefix(job.GetURL(), "https://github.example.com/api/v3/repos/acme/api/actions/jobs/") {
		t.Fatalf("job url %q, want the enterprise API root", job.GetURL())
	}
	status, body := simPost(t, e, "/_sim/runners/connect", "", map[string]string{"jit_config": "x"})
	if status != http.StatusUnauthorized {
		t.Fatalf("/_sim/ at the root: %d %s", status, body)
	}
	resp, err := e.srv.Client().Get(e.srv.URL + "/app")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-GitHub-Enterprise-Version") == "" {
		t.Fatalf("GET /app without the prefix: %d, want 404 from an enterprise server", resp.StatusCode)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prefix string
		ok     bool
	}{
		{"github.com", "", true},
		{"enterprise", "/api/v3", true},
		{"trailing slash", "/api/v3/", true},
		{"relative", "api/v3", false},
		{"collides with /_sim", "/_sim", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := githubsim.New(githubsim.Options{PathPrefix: tc.prefix})
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q): %v, want ok %v", tc.prefix, err, tc.ok)
			}
			if s == nil {
				return
			}
			defer s.Close()
			if s.AppID() != 1 || !strings.HasPrefix(string(s.PrivateKeyPEM()), "-----BEGIN RSA PRIVATE KEY-----") {
				t.Fatalf("app id %d, key %.30q", s.AppID(), s.PrivateKeyPEM())
			}
		})
	}
}
