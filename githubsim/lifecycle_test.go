package githubsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

type jitRunner struct {
	id     int64
	config string
}

func newJITRunner(t *testing.T, _ *env, gh *github.Client, name string, labels ...string) jitRunner {
	t.Helper()
	cfg, _, err := gh.Actions.GenerateRepoJITConfig(ctxT(t), "acme", "api", &github.GenerateJITConfigRequest{
		Name: name, RunnerGroupID: 1, Labels: labels,
	})
	if err != nil {
		t.Fatalf("generate jitconfig %s: %v", name, err)
	}
	return jitRunner{id: cfg.GetRunner().GetID(), config: cfg.GetEncodedJITConfig()}
}

// simJob is the part of a /_sim/ job answer the tests read.
type simJob struct {
	ID         int64   `json:"id"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
	RunnerID   *int64  `json:"runner_id"`
	RunnerName *string `json:"runner_name"`
}

// simRunner drives a runner through the /_sim/ HTTP routes, as the stub runner does.
type simRunner struct {
	e       *env
	id      int64
	session string
}

func simPost(t *testing.T, e *env, path, session string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func connectStatus(t *testing.T, e *env, config string) (int, *simRunner) {
	t.Helper()
	status, body := simPost(t, e, "/_sim/runners/connect", "", map[string]string{"jit_config": config})
	if status != http.StatusOK {
		return status, nil
	}
	var out struct {
		SessionToken string `json:"session_token"`
		Runner       struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"runner"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.SessionToken == "" || out.Runner.Status != "online" {
		t.Fatalf("connect answer %s: %v", body, err)
	}
	return status, &simRunner{e: e, id: out.Runner.ID, session: out.SessionToken}
}

func newSimRunner(t *testing.T, e *env, config string) *simRunner {
	t.Helper()
	status, r := connectStatus(t, e, config)
	if status != http.StatusOK {
		t.Fatalf("connect: %d", status)
	}
	return r
}

func (r *simRunner) path(op string) string {
	return "/_sim/runners/" + itoa(r.id) + "/" + op
}

// acquire returns the job, or nil on 204.
func (r *simRunner) acquire(t *testing.T, wait string) *simJob {
	t.Helper()
	status, body := simPost(t, r.e, r.path("acquire")+"?wait="+wait, r.session, struct{}{})
	switch status {
	case http.StatusNoContent:
		return nil
	case http.StatusOK:
		var out struct {
			Job simJob `json:"job"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("acquire answer %s: %v", body, err)
		}
		return &out.Job
	}
	t.Fatalf("acquire: %d %s", status, body)
	return nil
}

func (r *simRunner) complete(t *testing.T, conclusion string) simJob {
	t.Helper()
	status, body := simPost(t, r.e, r.path("complete"), r.session, map[string]string{"conclusion": conclusion})
	var out struct {
		Job simJob `json:"job"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("complete: %d %s", status, body)
	}
	return out.Job
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// jobHooks decodes the workflow_job deliveries a receiver got.
func jobHooks(t *testing.T, hooks []hook) []*github.WorkflowJobEvent {
	t.Helper()
	var out []*github.WorkflowJobEvent
	for _, h := range hooks {
		if h.header.Get("X-GitHub-Event") != "workflow_job" {
			continue
		}
		var ev github.WorkflowJobEvent
		if err := json.Unmarshal(h.body, &ev); err != nil {
			t.Fatalf("workflow_job payload: %v", err)
		}
		out = append(out, &ev)
	}
	return out
}

func TestRunnerLifecycle(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "s3cret"})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	jr := newJITRunner(t, e, gh, "garo-7", "self-hosted", "linux-small")

	e.clock.Advance(1500 * time.Millisecond) // RunnerOnlineAt keeps what GitHub's seconds drop
	onlineAt := e.clock.Now()
	r := newSimRunner(t, e, jr.config)
	if status, _ := connectStatus(t, e, jr.config); status != http.StatusConflict {
		t.Fatalf("second connect: %d, want 409", status)
	}
	if status, _ := connectStatus(t, e, "bm90IGEgY29uZmln"); status != http.StatusUnauthorized {
		t.Fatalf("connect with a bad config: %d, want 401", status)
	}
	if job := r.acquire(t, "0s"); job != nil {
		t.Fatalf("acquire without jobs: %+v", job)
	}
	if status, _ := simPost(t, e, r.path("acquire")+"?wait=0s", "wrong", struct{}{}); status != http.StatusUnauthorized {
		t.Fatalf("acquire with a wrong session: %d, want 401", status)
	}
	queued, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	job := r.acquire(t, "5s")
	if job == nil || job.ID != queued.ID || job.Status != "in_progress" || job.RunnerID == nil || *job.RunnerID != jr.id {
		t.Fatalf("acquired %+v, want job %d in progress on runner %d", job, queued.ID, jr.id)
	}
	if again := r.acquire(t, "0s"); again == nil || again.ID != queued.ID {
		t.Fatalf("acquire again: %+v, want the same job", again)
	}
	if got, _ := e.sim.Job(queued.ID); got.Status != "in_progress" || got.RunnerName != "garo-7" || !got.RunnerOnlineAt.Equal(onlineAt) {
		t.Fatalf("job %+v, want in progress on garo-7, which came online at %s", got, onlineAt)
	}
	done := r.complete(t, "success")
	if done.Status != "completed" || done.Conclusion == nil || *done.Conclusion != "success" {
		t.Fatalf("completed %+v", done)
	}

	// The ephemeral runner is gone, on GitHub's API too.
	if rs := e.sim.Runners("acme/api"); len(rs) != 0 {
		t.Fatalf("runners after the job: %+v", rs)
	}
	if _, _, err := gh.Actions.GetRunner(ctxT(t), "acme", "api", jr.id); statusOf(err) != http.StatusNotFound {
		t.Fatalf("get finished runner: %v, want 404", err)
	}
	if status, _ := connectStatus(t, e, jr.config); status != http.StatusUnauthorized {
		t.Fatalf("reconnect of a finished JIT runner: %d, want 401", status)
	}

	// Webhooks: queued → in_progress → completed, signed, about the one job.
	hooks := rc.got()
	evs := jobHooks(t, hooks)
	var actions []string
	for i, ev := range evs {
		actions = append(actions, ev.GetAction())
		if ev.GetWorkflowJob().GetID() != queued.ID || !validSignature(hooks[i], "s3cret") {
			t.Fatalf("hook %d: job %d, signature ok %v", i, ev.GetWorkflowJob().GetID(), validSignature(hooks[i], "s3cret"))
		}
	}
	if got := strings.Join(actions, ","); got != "queued,in_progress,completed" {
		t.Fatalf("workflow_job actions %s, want queued,in_progress,completed", got)
	}
	if wj := evs[0].GetWorkflowJob(); wj.RunnerID != nil || wj.GetStatus() != "queued" {
		t.Fatalf("queued hook: runner %v status %s", wj.RunnerID, wj.GetStatus())
	}
	if wj := evs[1].GetWorkflowJob(); wj.GetRunnerID() != jr.id || wj.GetRunnerName() != "garo-7" || wj.GetStatus() != "in_progress" {
		t.Fatalf("in_progress hook: runner %d %q status %s", wj.GetRunnerID(), wj.GetRunnerName(), wj.GetStatus())
	}
	if wj := evs[2].GetWorkflowJob(); wj.GetConclusion() != "success" || wj.CompletedAt == nil || wj.GetRunnerID() != jr.id {
		t.Fatalf("completed hook: conclusion %q completed_at %v", wj.GetConclusion(), wj.CompletedAt)
	}
}

func TestRunRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	jr := newJITRunner(t, e, gh, "inproc", "self-hosted", "linux-small")

	// The runner waits first; the job comes later and wakes it.
	errc := make(chan error, 1)
	go func() { errc <- e.sim.RunRunner(ctxT(t), jr.config, 0) }()
	job, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("RunRunner: %v", err)
	}
	got, _ := e.sim.Job(job.ID)
	if got.Status != "completed" || got.Conclusion != "success" || got.RunnerID != jr.id {
		t.Fatalf("job %+v: want completed with success by runner %d", got, jr.id)
	}
	var actions []string
	for _, d := range e.sim.Deliveries() {
		actions = append(actions, d.Action)
	}
	if strings.Join(actions, ",") != "queued,in_progress,completed" {
		t.Fatalf("deliveries %v", actions)
	}
	if len(e.sim.Runners("acme/api")) != 0 {
		t.Fatal("ephemeral runner still registered")
	}

	// A runner whose context ends while it works fails its job.
	jr2 := newJITRunner(t, e, gh, "cut", "self-hosted", "linux-small")
	job2, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	errc2 := make(chan error, 1)
	go func() { errc2 <- e.sim.RunRunner(ctx, jr2.config, time.Hour) }()
	waitFor(t, e, func() bool { j, _ := e.sim.Job(job2.ID); return j.Status == "in_progress" })
	cancel()
	if err := <-errc2; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunRunner after cancel: %v", err)
	}
	if j, _ := e.sim.Job(job2.ID); j.Status != "completed" || j.Conclusion != "failure" {
		t.Fatalf("job of a lost runner: %+v, want completed/failure", j)
	}
	if rs := e.sim.Runners("acme/api"); len(rs) != 1 || rs[0].Status != "offline" || rs[0].Busy {
		t.Fatalf("lost runner: %+v, want registered, offline, idle", rs)
	}
}

// waitFor waits for cond, re-checking whenever a delivery is recorded.
func waitFor(t *testing.T, e *env, cond func() bool) {
	t.Helper()
	for n := len(e.sim.Deliveries()) + 1; !cond(); n++ {
		if _, err := e.sim.WaitDeliveries(ctxT(t), n); err != nil {
			t.Fatalf("condition never held: %v", err)
		}
	}
}

func TestLabelMatching(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		runner []string
		job    []string
		match  bool
	}{
		// A JIT runner has only the labels it was made with: nothing is implicit.
		{"no implicit labels", []string{"gpu"}, []string{"self-hosted", "linux", "x64"}, false},
		{"no implicit self-hosted", []string{"linux-small"}, []string{"self-hosted", "linux-small"}, false},
		{"asked-for defaults", []string{"self-hosted", "Linux", "X64", "gpu"}, []string{"self-hosted", "linux", "x64"}, true},
		{"subset of the runner's labels", []string{"self-hosted", "Linux", "X64", "linux-small"}, []string{"self-hosted", "linux"}, true},
		{"case-insensitive", []string{"self-hosted", "linux-small"}, []string{"Self-Hosted", "LINUX-SMALL"}, true},
		{"all labels", []string{"self-hosted", "gpu", "linux-small"}, []string{"self-hosted", "gpu", "linux-small"}, true},
		{"missing label", []string{"linux-small"}, []string{"self-hosted", "gpu"}, false},
		{"other os", []string{"linux-small"}, []string{"self-hosted", "windows"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, githubsim.Options{})
			repo := e.sim.AddRepository("acme/api")
			gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
			if _, err := e.sim.QueueJobQuietly("acme/api", tc.job); err != nil {
				t.Fatal(err)
			}
			r := newSimRunner(t, e, newJITRunner(t, e, gh, "r", tc.runner...).config)
			if got := r.acquire(t, "0s") != nil; got != tc.match {
				t.Fatalf("runner %v took job %v: %v, want %v", tc.runner, tc.job, got, tc.match)
			}
		})
	}
}

func TestJobsOfOtherRepositoriesAreNotOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	e.sim.AddRepository("acme/web")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	if _, err := e.sim.QueueJobQuietly("acme/web", []string{"linux-small"}); err != nil {
		t.Fatal(err)
	}
	r := newSimRunner(t, e, newJITRunner(t, e, gh, "r", "self-hosted", "linux-small").config)
	if job := r.acquire(t, "0s"); job != nil {
		t.Fatalf("runner of acme/api got job %d of acme/web", job.ID)
	}
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))

	queued, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := e.sim.CancelJob(ctxT(t), queued.ID)
	if err != nil || cancelled.Status != "completed" || cancelled.Conclusion != "cancelled" {
		t.Fatalf("cancel queued job: %+v, %v", cancelled, err)
	}
	r := newSimRunner(t, e, newJITRunner(t, e, gh, "r", "self-hosted", "linux-small").config)
	if job := r.acquire(t, "0s"); job != nil {
		t.Fatalf("cancelled job %d was offered", job.ID)
	}

	// Cancelling a running job: completed/cancelled at once; the runner's own
	// completion then only frees it, without a second webhook.
	running, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	if job := r.acquire(t, "5s"); job == nil || job.ID != running.ID {
		t.Fatalf("acquire: %+v", job)
	}
	if _, err := e.sim.CancelJob(ctxT(t), running.ID); err != nil {
		t.Fatal(err)
	}
	if done := r.complete(t, "success"); done.Conclusion == nil || *done.Conclusion != "cancelled" {
		t.Fatalf("runner completion changed the conclusion: %+v", done)
	}
	var got []string
	for _, ev := range jobHooks(t, rc.got()) {
		got = append(got, itoa(ev.GetWorkflowJob().GetID())+":"+ev.GetAction()+":"+ev.GetWorkflowJob().GetConclusion())
	}
	want := []string{
		itoa(queued.ID) + ":queued:", itoa(queued.ID) + ":completed:cancelled",
		itoa(running.ID) + ":queued:", itoa(running.ID) + ":in_progress:", itoa(running.ID) + ":completed:cancelled",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("hooks %v, want %v", got, want)
	}
}

func TestRegistrationTokenRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	reg, _, err := gh.Actions.CreateRegistrationToken(ctxT(t), "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	status, body := simPost(t, e, "/_sim/runners/register", "", map[string]any{
		"token": reg.GetToken(), "name": "persistent", "labels": []string{"linux-small"},
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	if status, _ := simPost(t, e, "/_sim/runners/register", "", map[string]any{"token": "WRONG", "name": "x"}); status != http.StatusUnauthorized {
		t.Fatalf("register with a wrong token: %d, want 401", status)
	}
	var out struct {
		JITConfig string `json:"jit_config"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	r := newSimRunner(t, e, out.JITConfig)
	for i := range 2 {
		job, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.acquire(t, "5s"); got == nil || got.ID != job.ID {
			t.Fatalf("job %d: acquired %+v", i, got)
		}
		r.complete(t, "failure")
	}
	rs := e.sim.Runners("acme/api")
	if len(rs) != 1 || rs[0].Ephemeral || rs[0].Status != "online" || rs[0].Busy {
		t.Fatalf("persistent runner after two jobs: %+v, want registered, online, idle", rs)
	}
}

func TestConcurrentRunners(t *testing.T) {
	t.Parallel()
	const n = 8
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "x"})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		jr := newJITRunner(t, e, gh, "r"+itoa(int64(i)), "self-hosted", "linux-small")
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- e.sim.RunRunner(ctxT(t), jr.config, time.Millisecond)
		}()
		go func() {
			defer wg.Done()
			_, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	for _, j := range e.sim.Jobs("acme/api") {
		if j.Status != "completed" || j.Conclusion != "success" || seen[j.RunnerID] {
			t.Fatalf("job %+v: want completed by a runner of its own", j)
		}
		seen[j.RunnerID] = true
	}
	if len(seen) != n || len(e.sim.Runners("acme/api")) != 0 || len(rc.got()) != 3*n {
		t.Fatalf("%d runners used, %d left, %d hooks; want %d, 0, %d", len(seen), len(e.sim.Runners("acme/api")), len(rc.got()), n, 3*n)
	}
}
