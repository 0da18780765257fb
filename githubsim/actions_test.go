package githubsim_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

// jitRunnerFile is the .runner file inside encoded_jit_config, whose outer layer is a
// JSON object of strings (file name → base64 of the file), as the real runner reads it.
type jitRunnerFile struct {
	AgentID   int64  `json:"agentId"`
	AgentName string `json:"agentName"`
	ServerURL string `json:"serverUrl"`
	GitHubURL string `json:"gitHubUrl"`
	Ephemeral bool   `json:"ephemeral"`
}

func TestGenerateJITConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))

	cfg, resp, err := gh.Actions.GenerateRepoJITConfig(ctxT(t), "acme", "api", &github.GenerateJITConfigRequest{
		Name: "garo-1", RunnerGroupID: 1, Labels: []string{"linux-small", "GPU"},
	})
	if err != nil {
		t.Fatalf("generate jitconfig: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201", resp.StatusCode)
	}
	r := cfg.GetRunner()
	if r.GetID() == 0 || r.GetName() != "garo-1" || r.GetStatus() != "offline" || r.GetBusy() {
		t.Fatalf("runner %+v: want garo-1, offline, idle", r)
	}
	var names []string
	for _, l := range r.Labels {
		names = append(names, l.GetName()+"/"+l.GetType())
		if l.GetID() == 0 {
			t.Errorf("label %q has no id", l.GetName())
		}
	}
	if got, want := strings.Join(names, ","), "linux-small/custom,GPU/custom"; got != want {
		t.Fatalf("labels %s, want %s", got, want)
	}
	raw, err := base64.StdEncoding.DecodeString(cfg.GetEncodedJITConfig())
	if err != nil {
		t.Fatalf("encoded_jit_config is not base64: %v", err)
	}
	var files map[string]string // every value a string: what actions/runner requires
	if err := json.Unmarshal(raw, &files); err != nil {
		t.Fatalf("encoded_jit_config is not a JSON object of strings: %v", err)
	}
	if len(files) != 3 || files[".runner"] == "" || files[".credentials"] == "" || files[".credentials_rsaparams"] == "" {
		t.Fatalf("jit config files %v, want .runner, .credentials, .credentials_rsaparams", slices.Collect(maps.Keys(files)))
	}
	for name, v := range files {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !json.Valid(b) {
			t.Fatalf("jit config %s is not base64 of JSON: %v", name, err)
		}
	}
	b, _ := base64.StdEncoding.DecodeString(files[".runner"])
	var doc jitRunnerFile
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AgentID != r.GetID() || doc.AgentName != "garo-1" || doc.GitHubURL != "https://github.com/acme/api" || doc.ServerURL != e.srv.URL || !doc.Ephemeral {
		t.Fatalf(".runner %+v: want runner %d garo-1 of acme/api at %s, ephemeral", doc, r.GetID(), e.srv.URL)
	}
	if got := e.sim.Runners("acme/api"); len(got) != 1 || got[0].ID != r.GetID() || got[0].Status != "offline" {
		t.Fatalf("Runners = %+v, want the new runner offline", got)
	}

	for _, tc := range []struct {
		name   string
		req    github.GenerateJITConfigRequest
		status int
		msg    string
	}{
		{"name taken", github.GenerateJITConfigRequest{Name: "garo-1", RunnerGroupID: 1, Labels: []string{"x"}}, http.StatusConflict, "Already exists - A runner with the name garo-1 already exists."},
		{"name taken, other case", github.GenerateJITConfigRequest{Name: "GARO-1", RunnerGroupID: 1, Labels: []string{"x"}}, http.StatusConflict, "Already exists"},
		{"no labels", github.GenerateJITConfigRequest{Name: "garo-2", RunnerGroupID: 1, Labels: []string{}}, http.StatusUnprocessableEntity, "fewer items than 1"},
		{"101 labels", github.GenerateJITConfigRequest{Name: "garo-2", RunnerGroupID: 1, Labels: make101()}, http.StatusUnprocessableEntity, "more than 100"},
		{"no name", github.GenerateJITConfigRequest{RunnerGroupID: 1, Labels: []string{"x"}}, http.StatusUnprocessableEntity, "name"},
		{"unknown group", github.GenerateJITConfigRequest{Name: "garo-2", RunnerGroupID: 7, Labels: []string{"x"}}, http.StatusNotFound, "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := gh.Actions.GenerateRepoJITConfig(ctxT(t), "acme", "api", &tc.req)
			if statusOf(err) != tc.status || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %d with %q", err, tc.status, tc.msg)
			}
		})
	}
}

func make101() []string {
	out := make([]string, 101)
	for i := range out {
		out[i] = "l" + strings.Repeat("x", i%5)
	}
	return out
}

func TestRegistrationAndRemoveTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	reg, resp, err := gh.Actions.CreateRegistrationToken(ctxT(t), "acme", "api")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration token: %v", err)
	}
	if len(reg.GetToken()) != 29 || reg.GetExpiresAt().Sub(e.clock.Now()) != time.Hour {
		t.Fatalf("registration token %q expiring %v: want 29 characters, 1h", reg.GetToken(), reg.GetExpiresAt())
	}
	rm, resp, err := gh.Actions.CreateRemoveToken(ctxT(t), "acme", "api")
	if err != nil || resp.StatusCode != http.StatusCreated || rm.GetToken() == "" || rm.GetToken() == reg.GetToken() {
		t.Fatalf("remove token %v: %v", rm, err)
	}
}

func TestDeleteRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	busy := newJITRunner(t, e, gh, "busy", "self-hosted", "linux-small")
	idle := newJITRunner(t, e, gh, "idle", "self-hosted", "linux-small")

	// Make "busy" busy: connect it and give it a job.
	rc := newSimRunner(t, e, busy.config)
	if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"}); err != nil {
		t.Fatal(err)
	}
	if job := rc.acquire(t, "5s"); job == nil {
		t.Fatal("busy runner got no job")
	}

	for _, tc := range []struct {
		name   string
		id     int64
		status int
		msg    string
	}{
		{"busy", busy.id, http.StatusUnprocessableEntity, `Bad request - Runner "busy" is still running a job"`},
		{"idle", idle.id, http.StatusNoContent, ""},
		{"unknown", 999999, http.StatusNotFound, "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := gh.Actions.RemoveRunner(ctxT(t), "acme", "api", tc.id)
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("remove runner: %v, want %d", err, tc.status)
			}
			if tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("remove runner: %v, want message %q", err, tc.msg)
			}
		})
	}
	if _, _, err := gh.Actions.GetRunner(ctxT(t), "acme", "api", idle.id); statusOf(err) != http.StatusNotFound {
		t.Fatalf("deleted runner: %v, want 404", err)
	}
	r, _, err := gh.Actions.GetRunner(ctxT(t), "acme", "api", busy.id)
	if err != nil || !r.GetBusy() || r.GetStatus() != "online" || r.GetOS() != "linux" {
		t.Fatalf("busy runner %+v, %v: want online, busy, linux", r, err)
	}
}

func TestListRunnersPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		newJITRunner(t, e, gh, n, "x")
	}
	var names []string
	opts := &github.ListOptions{PerPage: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		rs, resp, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", opts)
		if err != nil {
			t.Fatal(err)
		}
		if rs.TotalCount != 5 {
			t.Fatalf("total_count %d, want 5", rs.TotalCount)
		}
		for _, r := range rs.Runners {
			names = append(names, r.GetName())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if got := strings.Join(names, ","); got != "a,b,c,d,e" {
		t.Fatalf("runners over pages: %s", got)
	}
	byName, _, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil)
	if err != nil || byName.TotalCount != 5 {
		t.Fatalf("list: %v", err)
	}
}

func TestRunsAndJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	e.sim.AddRepository("acme/other")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	var jobs []githubsim.Job
	for range 3 {
		j, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	otherJob, err := e.sim.QueueJob(ctxT(t), "acme/other", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	r := newJITRunner(t, e, gh, "r1", "self-hosted", "linux-small")
	if got := newSimRunner(t, e, r.config).acquire(t, "5s"); got == nil || got.ID != jobs[0].ID {
		t.Fatalf("runner got %+v, want the oldest job %d", got, jobs[0].ID)
	}

	queued, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", &github.ListWorkflowRunsOptions{Status: "queued"})
	if err != nil {
		t.Fatal(err)
	}
	if queued.GetTotalCount() != 2 || len(queued.WorkflowRuns) != 2 {
		t.Fatalf("queued runs: %d, want 2", queued.GetTotalCount())
	}
	for _, run := range queued.WorkflowRuns {
		if run.GetStatus() != "queued" || run.GetRepository().GetFullName() != "acme/api" || run.GetID() == jobs[0].RunID {
			t.Fatalf("queued run %d %s of %s", run.GetID(), run.GetStatus(), run.GetRepository().GetFullName())
		}
	}
	if queued.WorkflowRuns[0].GetID() < queued.WorkflowRuns[1].GetID() {
		t.Fatal("runs are not newest first")
	}
	all, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", nil)
	if err != nil || all.GetTotalCount() != 3 {
		t.Fatalf("all runs: %v, %v", all.GetTotalCount(), err)
	}

	list, _, err := gh.Actions.ListWorkflowJobs(ctxT(t), "acme", "api", jobs[1].RunID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if list.GetTotalCount() != 1 || list.Jobs[0].GetID() != jobs[1].ID || list.Jobs[0].GetStatus() != "queued" {
		t.Fatalf("jobs of run %d: %+v", jobs[1].RunID, list)
	}
	got, _, err := gh.Actions.GetWorkflowJobByID(ctxT(t), "acme", "api", jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != "in_progress" || got.GetRunnerName() != "r1" || got.GetRunnerGroupName() != "Default" || len(got.Labels) != 2 {
		t.Fatalf("job %+v: want in_progress on r1", got)
	}
	run, _, err := gh.Actions.GetWorkflowRunByID(ctxT(t), "acme", "api", jobs[0].RunID)
	if err != nil || run.GetStatus() != "in_progress" {
		t.Fatalf("run %v: %v", run.GetStatus(), err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"job of another repository", func() error {
			_, _, err := gh.Actions.GetWorkflowJobByID(ctxT(t), "acme", "api", otherJob.ID)
			return err
		}},
		{"unknown run", func() error {
			_, _, err := gh.Actions.ListWorkflowJobs(ctxT(t), "acme", "api", 42, nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); statusOf(err) != http.StatusNotFound {
				t.Fatalf("%v, want 404", err)
			}
		})
	}
}
