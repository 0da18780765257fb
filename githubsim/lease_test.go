package githubsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
)

// A runner that stops renewing the lock on its job loses the job, as on GitHub: failed,
// delivered as completed, the runner offline and no longer busy, so that its registration
// can be deleted. Renewals keep a long job alive.
func TestSilentRunnerLosesItsJob(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, RunnerLostAfter: time.Minute, LeaseCheckEvery: -1})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	jr := newJITRunner(t, e, gh, "garo-1", "self-hosted", "linux-small")
	r := newSimRunner(t, e, jr.config)
	queued, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	status, body := simPost(t, e, r.path("acquire")+"?wait=5s", r.session, struct{}{})
	var acq struct {
		Job         simJob    `json:"job"`
		LockedUntil time.Time `json:"locked_until"`
	}
	if err := json.Unmarshal(body, &acq); status != http.StatusOK || err != nil || acq.Job.ID != queued.ID {
		t.Fatalf("acquire: %d %s", status, body)
	}
	if want := e.clock.Now().Add(time.Minute); !acq.LockedUntil.Equal(want.UTC()) {
		t.Fatalf("locked_until %s, want %s", acq.LockedUntil, want)
	}

	// Renewed within the minute, twice: the job outlives its first lock.
	for range 2 {
		e.clock.Advance(50 * time.Second)
		if status, body := simPost(t, e, r.path("renew"), r.session, struct{}{}); status != http.StatusOK || !strings.Contains(string(body), `"job_id":`+itoa(queued.ID)) {
			t.Fatalf("renew: %d %s", status, body)
		}
		if failed := e.sim.FailLostJobs(); len(failed) != 0 {
			t.Fatalf("renewed runner lost jobs %v", failed)
		}
	}
	if status, _ := simPost(t, e, r.path("renew"), "wrong", struct{}{}); status != http.StatusUnauthorized {
		t.Fatalf("renew with a wrong session: %d, want 401", status)
	}

	// Silent for a minute: the job fails.
	e.clock.Advance(59 * time.Second)
	if failed := e.sim.FailLostJobs(); len(failed) != 0 {
		t.Fatalf("lost after 59 s: %v", failed)
	}
	e.clock.Advance(time.Second)
	if failed := e.sim.FailLostJobs(); len(failed) != 1 || failed[0] != queued.ID {
		t.Fatalf("failed %v, want [%d]", failed, queued.ID)
	}
	if job, _ := e.sim.Job(queued.ID); job.Status != "completed" || job.Conclusion != "failure" {
		t.Fatalf("job %s/%s, want completed/failure", job.Status, job.Conclusion)
	}
	rs := e.sim.Runners("acme/api")
	if len(rs) != 1 || rs[0].Status != "offline" || rs[0].Busy {
		t.Fatalf("runners %+v, want garo-1 offline and idle", rs)
	}
	if _, err := gh.Actions.RemoveRunner(ctxT(t), "acme", "api", jr.id); err != nil {
		t.Fatalf("delete the lost runner: %v (GitHub refuses only a busy one)", err)
	}
	evs := jobHooks(t, rc.got())
	if last := evs[len(evs)-1]; last.GetAction() != "completed" || last.GetWorkflowJob().GetConclusion() != "failure" {
		t.Fatalf("last hook %s/%s, want completed/failure", last.GetAction(), last.GetWorkflowJob().GetConclusion())
	}
	if status, _ := simPost(t, e, r.path("complete"), r.session, map[string]string{"conclusion": "success"}); status != http.StatusUnauthorized {
		t.Fatalf("complete after the job was lost: %d, want 401", status)
	}
	if again := e.sim.FailLostJobs(); len(again) != 0 {
		t.Fatalf("failed again: %v", again)
	}
}

// Without an injected check the sim finds the lapsed lease by itself.
func TestLapsedLeaseIsFoundInTheBackground(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{Now: time.Now, RunnerLostAfter: 200 * time.Millisecond, LeaseCheckEvery: 20 * time.Millisecond})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	jr := newJITRunner(t, e, gh, "garo-1", "self-hosted", "linux-small")
	r := newSimRunner(t, e, jr.config)
	queued, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	if job := r.acquire(t, "5s"); job == nil || job.ID != queued.ID {
		t.Fatalf("acquired %+v", job)
	}
	testkit.Eventually(t, 10*time.Second, "the silent runner's job failed", func() bool {
		job, _ := e.sim.Job(queued.ID)
		return job.Conclusion == "failure"
	})
}
