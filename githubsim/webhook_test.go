package githubsim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		secret string
	}{
		{"plain secret", "s3cret"},
		{"secret with symbols", `ünï/cødé "secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			e := newEnv(t, githubsim.Options{AppID: 77, WebhookURL: rc.srv.URL, WebhookSecret: tc.secret})
			repo := e.sim.AddRepository("acme/api")
			job, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
			if err != nil {
				t.Fatal(err)
			}
			hooks := rc.got()
			if len(hooks) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(hooks))
			}
			h := hooks[0]
			if !validSignature(h, tc.secret) {
				t.Fatalf("signatures %q / %q do not verify", h.header.Get("X-Hub-Signature-256"), h.header.Get("X-Hub-Signature"))
			}
			if validSignature(h, tc.secret+"x") {
				t.Fatal("signature verifies with another secret")
			}
			for k, want := range map[string]string{
				"X-GitHub-Event":                         "workflow_job",
				"X-GitHub-Hook-Installation-Target-ID":   "77",
				"X-GitHub-Hook-Installation-Target-Type": "integration",
				"Content-Type":                           "application/json",
			} {
				if got := h.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if !guidRE.MatchString(h.header.Get("X-GitHub-Delivery")) {
				t.Errorf("X-GitHub-Delivery %q is not a GUID", h.header.Get("X-GitHub-Delivery"))
			}
			if !regexp.MustCompile(`^GitHub-Hookshot/[0-9a-f]+$`).MatchString(h.header.Get("User-Agent")) {
				t.Errorf("User-Agent %q", h.header.Get("User-Agent"))
			}
			if _, err := strconv.ParseInt(h.header.Get("X-GitHub-Hook-ID"), 10, 64); err != nil {
				t.Errorf("X-GitHub-Hook-ID %q", h.header.Get("X-GitHub-Hook-ID"))
			}

			var ev github.WorkflowJobEvent
			if err := json.Unmarshal(h.body, &ev); err != nil {
				t.Fatal(err)
			}
			wj := ev.GetWorkflowJob()
			switch {
			case ev.GetAction() != "queued",
				wj.GetID() != job.ID, wj.GetRunID() != job.RunID, wj.GetStatus() != "queued",
				strings.Join(wj.Labels, ",") != "self-hosted,linux-small",
				wj.GetHeadSHA() == "", wj.GetWorkflowName() == "", wj.GetHeadBranch() != "main",
				wj.GetRunURL() != "https://api.github.com/repos/acme/api/actions/runs/"+itoa(job.RunID),
				wj.CreatedAt == nil, wj.StartedAt == nil,
				ev.GetRepo().GetID() != repo.ID, ev.GetRepo().GetFullName() != "acme/api", ev.GetRepo().GetOwner().GetLogin() != "acme",
				ev.GetInstallation().GetID() != repo.InstallationID, ev.GetInstallation().GetNodeID() == "",
				ev.GetSender().GetLogin() == "", ev.GetOrg().GetLogin() != "acme":
				t.Fatalf("payload does not describe job %d of acme/api: %s", job.ID, h.body)
			}
			// GitHub sends nulls, not missing keys, for what a queued job lacks yet.
			var raw struct {
				WorkflowJob map[string]json.RawMessage `json:"workflow_job"`
			}
			if err := json.Unmarshal(h.body, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"runner_id", "runner_name", "runner_group_id", "runner_group_name", "conclusion", "completed_at"} {
				if string(raw.WorkflowJob[k]) != "null" {
					t.Errorf("workflow_job.%s = %s, want null", k, raw.WorkflowJob[k])
				}
			}
			if string(raw.WorkflowJob["steps"]) != "[]" {
				t.Errorf("workflow_job.steps = %s, want []", raw.WorkflowJob["steps"])
			}
			if _, err := time.Parse(time.RFC3339, wj.GetCreatedAt().Format(time.RFC3339)); err != nil || !strings.HasSuffix(string(raw.WorkflowJob["created_at"]), `Z"`) {
				t.Errorf("created_at %s is not RFC 3339 UTC", raw.WorkflowJob["created_at"])
			}
		})
	}
}

func TestNoAutomaticRetry(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, http.StatusInternalServerError)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "x"})
	e.sim.AddRepository("acme/api")
	if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"}); err != nil {
		t.Fatalf("a 500 answer is recorded, not an error: %v", err)
	}
	ds := e.sim.Deliveries()
	if len(ds) != 1 || ds[0].StatusCode != http.StatusInternalServerError || ds[0].Status != "Invalid HTTP Response: 500" {
		t.Fatalf("deliveries %+v, want one with 500", ds)
	}
	e.sim.Close() // waits for anything the sim still had going
	if n := len(rc.got()); n != 1 {
		t.Fatalf("receiver got %d requests after a 500, want 1 (GitHub does not retry)", n)
	}
}

func TestRedeliveryThroughAttempts(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, http.StatusServiceUnavailable, http.StatusOK)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "x"})
	repo := e.sim.AddRepository("acme/api")
	if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"}); err != nil {
		t.Fatal(err)
	}
	gh := e.client(t, e.appJWT(t))
	failed, _, err := gh.Apps.ListHookDeliveries(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].GetStatusCode() != http.StatusServiceUnavailable || failed[0].GetRedelivery() ||
		failed[0].GetEvent() != "workflow_job" || failed[0].GetAction() != "queued" ||
		failed[0].GetInstallationID() != repo.InstallationID || failed[0].GetRepositoryID() != repo.ID {
		t.Fatalf("failed deliveries %v", failed)
	}
	_, _, err = gh.Apps.RedeliverHookDelivery(ctxT(t), failed[0].GetID())
	var accepted *github.AcceptedError
	if !errors.As(err, &accepted) {
		t.Fatalf("redeliver: %v, want 202 Accepted", err)
	}
	ds, err := e.sim.WaitDeliveries(ctxT(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	first, again := ds[0], ds[1]
	if again.GUID != first.GUID || again.ID == first.ID || !again.Redelivery || again.StatusCode != http.StatusOK || string(again.Payload) != string(first.Payload) {
		t.Fatalf("redelivery %+v of %+v: want same GUID and payload, new id, redelivery, 200", again, first)
	}
	hooks := rc.got()
	if len(hooks) != 2 || hooks[0].header.Get("X-GitHub-Delivery") != hooks[1].header.Get("X-GitHub-Delivery") || string(hooks[0].body) != string(hooks[1].body) {
		t.Fatalf("receiver got %d hooks, want the same delivery twice", len(hooks))
	}
	got, _, err := gh.Apps.GetHookDelivery(ctxT(t), again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetGUID() != first.GUID || !got.GetRedelivery() || got.Request.Headers["X-GitHub-Event"] != "workflow_job" ||
		got.Response.Headers["Content-Type"] == "" || got.Request.RawPayload == nil {
		t.Fatalf("delivery detail %v", got)
	}
	if _, _, err := gh.Apps.RedeliverHookDelivery(ctxT(t), 1); statusOf(err) != http.StatusNotFound {
		t.Fatalf("redeliver unknown: %v, want 404", err)
	}
	newest, _, err := gh.Apps.ListHookDeliveries(ctxT(t), nil)
	if err != nil || len(newest) != 2 || newest[0].GetID() != again.ID {
		t.Fatalf("deliveries newest first: %v, %v", newest, err)
	}
	for _, tc := range []struct {
		status string
		want   int64
	}{
		{"failure", first.ID},
		{"success", again.ID},
	} {
		req, _ := gh.NewRequest(http.MethodGet, "app/hook/deliveries?status="+tc.status, nil)
		var page []*github.HookDelivery
		if _, err := gh.Do(ctxT(t), req, &page); err != nil || len(page) != 1 || page[0].GetID() != tc.want {
			t.Fatalf("deliveries with status %s: %v, %v; want %d", tc.status, page, err, tc.want)
		}
	}
}

func TestDeliveriesCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{}) // no URL: recorded, not sent
	e.sim.AddRepository("acme/api")
	for range 5 {
		if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"}); err != nil {
			t.Fatal(err)
		}
	}
	gh := e.client(t, e.appJWT(t))
	var ids []int64
	opts := &github.ListCursorOptions{PerPage: 2}
	for pages := 1; ; pages++ {
		if pages > 4 {
			t.Fatal("cursor pagination does not end")
		}
		page, resp, err := gh.Apps.ListHookDeliveries(ctxT(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			ids = append(ids, d.GetID())
			if d.GetStatusCode() != 0 {
				t.Fatalf("unsent delivery has status code %d", d.GetStatusCode())
			}
		}
		if resp.Cursor == "" {
			if pages != 3 {
				t.Fatalf("%d pages of 2 for 5 deliveries", pages)
			}
			break
		}
		opts.Cursor = resp.Cursor
	}
	want := e.sim.Deliveries()
	if len(ids) != len(want) {
		t.Fatalf("listed %d deliveries, have %d", len(ids), len(want))
	}
	for i, id := range ids {
		if id != want[len(want)-1-i].ID {
			t.Fatalf("listing %v is not newest first", ids)
		}
	}
}

func TestSendWebhook(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, http.StatusNoContent)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "x"})
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"App","id":1}}`)
	d, err := e.sim.SendWebhook(ctxT(t), "ping", ping)
	if err != nil {
		t.Fatal(err)
	}
	if d.Event != "ping" || d.Action != "" || d.StatusCode != http.StatusNoContent || string(d.Payload) != string(ping) {
		t.Fatalf("delivery %+v", d)
	}
	if h := rc.got(); len(h) != 1 || string(h[0].body) != string(ping) || h[0].header.Get("X-GitHub-Event") != "ping" || !validSignature(h[0], "x") {
		t.Fatalf("receiver got %+v", h)
	}
	if _, err := e.sim.SendWebhook(ctxT(t), "ping", []byte("not json")); err == nil {
		t.Fatal("a payload that is not JSON was sent")
	}
}

func TestDeliveryWithoutAnswer(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	url := rc.srv.URL
	rc.srv.Close() // nobody listens there any more
	e := newEnv(t, githubsim.Options{WebhookURL: url})
	e.sim.AddRepository("acme/api")
	job, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"linux-small"})
	if !errors.Is(err, githubsim.ErrDeliveryFailed) || job.ID == 0 {
		t.Fatalf("QueueJob to a closed port: job %d, %v; want the job and ErrDeliveryFailed", job.ID, err)
	}
	if ds := e.sim.Deliveries(); len(ds) != 1 || ds[0].StatusCode != 0 || ds[0].Status == "OK" {
		t.Fatalf("deliveries %+v, want one without answer", ds)
	}
}

func TestQueueJobQuietly(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL})
	repo := e.sim.AddRepository("acme/api")
	job, err := e.sim.QueueJobQuietly("acme/api", []string{"linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.got()) != 0 || len(e.sim.Deliveries()) != 0 {
		t.Fatal("a quiet job was delivered")
	}
	// The job is visible to the REST API, which is how Garo catches up.
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	runs, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", &github.ListWorkflowRunsOptions{Status: "queued"})
	if err != nil || runs.GetTotalCount() != 1 || runs.WorkflowRuns[0].GetID() != job.RunID {
		t.Fatalf("queued runs %v, %v; want run %d", runs, err, job.RunID)
	}
	if _, err := e.sim.QueueJobQuietly("acme/nope", []string{"x"}); !errors.Is(err, githubsim.ErrUnknownRepository) {
		t.Fatalf("unknown repository: %v", err)
	}
}

// TestHookTargets: the App's webhook says integration (target id the App's); a
// repository's says repository (the repository's id), an organization's organization
// (the organization's id); neither carries installation.
func TestHookTargets(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"", "repository", "organization"} {
		rc := newReceiver(t)
		e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "s", HookTarget: target})
		repo := e.sim.AddRepository("acme/api")
		if _, err := e.sim.QueueJob(ctxT(t), "acme/api", []string{"self-hosted"}); err != nil {
			t.Fatal(err)
		}
		hooks := rc.got()
		if len(hooks) != 1 {
			t.Fatalf("%q: %d hooks", target, len(hooks))
		}
		h := hooks[0]
		typ, id := h.header.Get("X-GitHub-Hook-Installation-Target-Type"), h.header.Get("X-GitHub-Hook-Installation-Target-ID")
		var p struct {
			Installation *struct{ ID int64 } `json:"installation"`
			Organization struct{ ID int64 }  `json:"organization"`
		}
		if err := json.Unmarshal(h.body, &p); err != nil {
			t.Fatal(err)
		}
		switch target {
		case "":
			if typ != "integration" || id != strconv.FormatInt(e.sim.AppID(), 10) || p.Installation == nil {
				t.Errorf("app hook: %s %s installation %v", typ, id, p.Installation)
			}
		case "repository":
			if typ != "repository" || id != strconv.FormatInt(repo.ID, 10) || p.Installation != nil {
				t.Errorf("repository hook: %s %s installation %v", typ, id, p.Installation)
			}
		case "organization":
			if typ != "organization" || id != strconv.FormatInt(p.Organization.ID, 10) || p.Installation != nil {
				t.Errorf("organization hook: %s %s installation %v", typ, id, p.Installation)
			}
		}
	}
	if _, err := githubsim.New(githubsim.Options{HookTarget: "user"}); err == nil {
		t.Error("hook target user accepted")
	}
}
