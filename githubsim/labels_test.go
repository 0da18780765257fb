package githubsim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/githubspec"
)

// TestJITConfigFollowsGitHubsExample holds generate-jitconfig to GitHub's own example:
// the documented request (labels ["self-hosted","X64","macOS","no-gpu"]) gets a runner
// carrying exactly those labels, typed as in the documented answer, nothing prepended.
func TestJITConfigFollowsGitHubsExample(t *testing.T) {
	t.Parallel()
	const path = "/repos/{owner}/{repo}/actions/runners/generate-jitconfig"
	rawReq, err := githubspec.RequestExample("POST", path, "default")
	if err != nil {
		t.Fatal(err)
	}
	var req github.GenerateJITConfigRequest
	if err := json.Unmarshal(rawReq, &req); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Labels, []string{"self-hosted", "X64", "macOS", "no-gpu"}) {
		t.Fatalf("GitHub's example asks for %v: the stored description changed", req.Labels)
	}
	rawResp, err := githubspec.RESTExample("runner-jitconfig")
	if err != nil {
		t.Fatal(err)
	}
	var want github.JITRunnerConfig
	if err := json.Unmarshal(rawResp, &want); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	got, resp, err := gh.Actions.GenerateRepoJITConfig(ctxT(t), "acme", "api", &req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("generate-jitconfig with GitHub's example: %v", err)
	}
	labels := func(r *github.Runner) (out []string) {
		for _, l := range r.Labels {
			out = append(out, l.GetName()+"/"+l.GetType())
		}
		return out
	}
	if g, w := labels(got.GetRunner()), labels(want.GetRunner()); !slices.Equal(g, w) {
		t.Fatalf("runner labels %v, GitHub's example answers %v", g, w)
	}
	r := got.GetRunner()
	if r.GetName() != want.GetRunner().GetName() || r.GetOS() != want.GetRunner().GetOS() || r.GetStatus() != want.GetRunner().GetStatus() || r.GetBusy() {
		t.Fatalf("runner %s os=%s status=%s busy=%v, GitHub's example: %s os=%s status=%s", r.GetName(), r.GetOS(), r.GetStatus(), r.GetBusy(),
			want.GetRunner().GetName(), want.GetRunner().GetOS(), want.GetRunner().GetStatus())
	}
	if sims := e.sim.Runners("acme/api"); len(sims) != 1 || !slices.Equal(sims[0].Labels, req.Labels) {
		t.Fatalf("registered runners %+v, want one carrying exactly %v", sims, req.Labels)
	}
}

// TestJITRunnerMatchesOnlyItsLabels: a JIT runner made with [self-hosted, Linux, X64,
// linux-small] takes [self-hosted, linux] (all asked-for labels are there, any case),
// while one made with [linux-small] alone takes neither: GitHub adds no label to a JIT
// runner.
func TestJITRunnerMatchesOnlyItsLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	bare := newSimRunner(t, e, newJITRunner(t, e, gh, "bare", "linux-small").config)
	if _, err := e.sim.QueueJobQuietly("acme/api", []string{"self-hosted", "linux"}); err != nil {
		t.Fatal(err)
	}
	if j := bare.acquire(t, "0s"); j != nil {
		t.Fatalf("runner [linux-small] took job %d asking [self-hosted linux]", j.ID)
	}
	full := newSimRunner(t, e, newJITRunner(t, e, gh, "full", "self-hosted", "Linux", "X64", "linux-small").config)
	if j := full.acquire(t, "0s"); j == nil {
		t.Fatal("runner [self-hosted Linux X64 linux-small] did not take [self-hosted linux]")
	}
}

// TestRegisteredRunnerBringsItsDefaultLabels: a runner that registers itself with a
// registration token gets self-hosted, its OS and its architecture before its custom
// labels, unless it asks for no default labels (config.sh --no-default-labels).
func TestRegisteredRunnerBringsItsDefaultLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	for _, tc := range []struct {
		name string
		body map[string]any
		want []string
	}{
		{"linux-x64", map[string]any{"labels": []string{"linux-small"}}, []string{"self-hosted", "Linux", "X64", "linux-small"}},
		{"mac-arm", map[string]any{"labels": []string{"m2"}, "os": "macos", "arch": "arm64"}, []string{"self-hosted", "macOS", "ARM64", "m2"}},
		{"bare", map[string]any{"labels": []string{"only-this"}, "no_default_labels": true}, []string{"only-this"}},
	} {
		reg, _, err := gh.Actions.CreateRegistrationToken(ctxT(t), "acme", "api")
		if err != nil {
			t.Fatal(err)
		}
		tc.body["token"], tc.body["name"] = reg.GetToken(), tc.name
		if status, body := simPost(t, e, "/_sim/runners/register", "", tc.body); status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", tc.name, status, body)
		}
		var got []string
		for _, r := range e.sim.Runners("acme/api") {
			if r.Name == tc.name {
				got = r.Labels
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("runner %s labels %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRunnerDownloads: GET .../actions/runners/downloads is its own route (not runner id
// "downloads") and lists the runner application per platform.
func TestRunnerDownloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	apps, _, err := gh.Actions.ListRunnerApplicationDownloads(ctxT(t), "acme", "api")
	if err != nil {
		t.Fatalf("list runner downloads: %v", err)
	}
	found := false
	for _, a := range apps {
		if a.GetOS() == "linux" && a.GetArchitecture() == "x64" && a.GetDownloadURL() != "" && a.GetFilename() != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("downloads %+v lack linux/x64", apps)
	}
}
