package githubsim_test

// Fidelity: the simulator is held to GitHub's own published descriptions (package
// githubspec: @octokit/openapi, @octokit/openapi-webhooks, @octokit/webhooks-examples), so
// that it cannot drift into fiction while everyone's tests pass against it.
//
//   - TestFidelityRoutes: every route the sim serves is an operation of GitHub's REST
//     description, same method and templated path, and the vendored subset holds nothing
//     the sim does not serve.
//   - TestFidelityScenario: go-github v60, authenticated as the App (ghinstallation) and
//     as an installation, drives every route through a recording transport; every answer
//     is validated against the operation's response in GitHub's description, with closed
//     schemas (no member GitHub does not document). Every workflow_job delivery the sim
//     sends (queued, in_progress, completed) is validated against the webhook description,
//     headers and signature included, and parsed by go-github.
//   - TestFidelityOfficialExamples: GitHub's example payloads parse with go-github and pass
//     githubspec (so the validator accepts what GitHub really sends), and the sim delivers
//     them unchanged with GitHub's headers.
//
// Helpers here are prefixed "fidelity" to stay out of the way of the package's other tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/githubspec"
)

func TestFidelityRoutes(t *testing.T) {
	t.Parallel()
	ops, err := githubspec.Operations()
	if err != nil {
		t.Fatal(err)
	}
	served := make(map[string]bool)
	for _, r := range githubsim.Routes() {
		key := r.Method + " " + r.Path
		if served[key] {
			t.Errorf("Routes() lists %s twice", key)
		}
		served[key] = true
		if !githubspec.HasOperation(r.Method, r.Path) {
			t.Errorf("the sim serves %s, which GitHub's REST description (vendored subset) does not have with that method and path; "+
				"if GitHub has it, add it to githubsim/internal/specsubset and regenerate", key)
		}
	}
	for _, op := range ops {
		if !served[op.Method+" "+op.Path] {
			t.Errorf("the vendored REST subset has %s %s (%s), which the sim does not serve: drop it from internal/specsubset", op.Method, op.Path, op.ID)
		}
	}
	if len(served) == 0 {
		t.Fatal("Routes() is empty")
	}
}

const (
	fidelitySecret = "fidelity-secret"
	fidelityOwner  = "octo-org"
	fidelityRepo   = "hello-world"
)

func TestFidelityScenario(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	hooks := newFidelityReceiver(t)

	var sim *githubsim.Sim
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sim.ServeHTTP(w, r) }))
	t.Cleanup(api.Close)
	sim, err := githubsim.New(githubsim.Options{
		AppID:         4242,
		WebhookURL:    hooks.srv.URL,
		WebhookSecret: fidelitySecret,
		BaseURL:       api.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	repo := sim.AddRepository(fidelityOwner + "/" + fidelityRepo)

	rec := &fidelityRecorder{base: http.DefaultTransport}
	atr, err := ghinstallation.NewAppsTransport(rec, sim.AppID(), sim.PrivateKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	atr.BaseURL = api.URL
	itr := ghinstallation.NewFromAppsTransport(atr, repo.InstallationID)
	itr.BaseURL = api.URL
	app := fidelityClient(t, api.URL, atr)
	inst := fidelityClient(t, api.URL, itr)
	anonymous := fidelityClient(t, api.URL, rec)

	// The App.
	a, _, err := app.Apps.Get(ctx, "")
	fidelityMust(t, "get app", err)
	if a.GetID() != sim.AppID() {
		t.Errorf("app id %d, want %d", a.GetID(), sim.AppID())
	}
	installs, _, err := app.Apps.ListInstallations(ctx, nil)
	fidelityMust(t, "list installations", err)
	if !slices.ContainsFunc(installs, func(i *github.Installation) bool { return i.GetID() == repo.InstallationID }) {
		t.Errorf("installations %v lack %d", installs, repo.InstallationID)
	}
	in, _, err := app.Apps.GetInstallation(ctx, repo.InstallationID)
	fidelityMust(t, "get installation", err)
	if in.GetID() != repo.InstallationID {
		t.Errorf("installation %d, want %d", in.GetID(), repo.InstallationID)
	}
	in, _, err = app.Apps.FindRepositoryInstallation(ctx, fidelityOwner, fidelityRepo)
	fidelityMust(t, "find repository installation", err)
	if in.GetID() != repo.InstallationID {
		t.Errorf("repository installation %d, want %d", in.GetID(), repo.InstallationID)
	}
	tok, _, err := app.Apps.CreateInstallationToken(ctx, repo.InstallationID, nil)
	fidelityMust(t, "create installation token", err)
	if tok.GetToken() == "" || tok.GetExpiresAt().IsZero() {
		t.Errorf("installation token %+v", tok)
	}

	// Runners.
	labels := []string{"self-hosted", "linux", "gpu"}
	jit, _, err := inst.Actions.GenerateRepoJITConfig(ctx, fidelityOwner, fidelityRepo, &github.GenerateJITConfigRequest{
		Name: "fidelity-1", RunnerGroupID: 1, Labels: labels,
	})
	fidelityMust(t, "generate jit config", err)
	if jit.GetEncodedJITConfig() == "" || jit.GetRunner().GetName() != "fidelity-1" {
		t.Fatalf("jit config: %+v", jit)
	}
	spare, _, err := inst.Actions.GenerateRepoJITConfig(ctx, fidelityOwner, fidelityRepo, &github.GenerateJITConfigRequest{
		Name: "fidelity-2", RunnerGroupID: 1, Labels: []string{"arm64"},
	})
	fidelityMust(t, "generate second jit config", err)
	reg, _, err := inst.Actions.CreateRegistrationToken(ctx, fidelityOwner, fidelityRepo)
	fidelityMust(t, "create registration token", err)
	rm, _, err := inst.Actions.CreateRemoveToken(ctx, fidelityOwner, fidelityRepo)
	fidelityMust(t, "create remove token", err)
	if reg.GetToken() == "" || rm.GetToken() == "" {
		t.Errorf("registration token %+v, remove token %+v", reg, rm)
	}
	// One per page, so that the answer carries a Link header.
	runners, _, err := inst.Actions.ListRunners(ctx, fidelityOwner, fidelityRepo, &github.ListOptions{PerPage: 1})
	fidelityMust(t, "list runners", err)
	if runners.TotalCount != 2 || len(runners.Runners) != 1 {
		t.Errorf("runners page: total %d, %d on the page; want 2, 1", runners.TotalCount, len(runners.Runners))
	}
	groups, _, err := inst.Actions.ListOrganizationRunnerGroups(ctx, fidelityOwner, nil)
	fidelityMust(t, "list runner groups", err)
	if groups.TotalCount != 1 {
		t.Errorf("runner groups: total %d, want 1 (Default)", groups.TotalCount)
	}
	r, _, err := inst.Actions.GetRunner(ctx, fidelityOwner, fidelityRepo, jit.GetRunner().GetID())
	fidelityMust(t, "get runner", err)
	apps, _, err := inst.Actions.ListRunnerApplicationDownloads(ctx, fidelityOwner, fidelityRepo)
	fidelityMust(t, "list runner downloads", err)
	if len(apps) == 0 {
		t.Errorf("runner downloads: none")
	}
	if r.GetName() != "fidelity-1" || r.GetStatus() != "offline" {
		t.Errorf("runner %+v, want fidelity-1, offline before it connects", r)
	}

	// A job run to success by the JIT runner: queued, in_progress, completed.
	ran, err := sim.QueueJob(ctx, repo.FullName, labels)
	fidelityMust(t, "queue job", err)
	fidelityMust(t, "run runner", sim.RunRunner(ctx, jit.GetEncodedJITConfig(), 0))
	// A job cancelled while queued: queued, completed (cancelled).
	cancelled, err := sim.QueueJob(ctx, repo.FullName, []string{"self-hosted", "windows"})
	fidelityMust(t, "queue job to cancel", err)
	_, err = sim.CancelJob(ctx, cancelled.ID)
	fidelityMust(t, "cancel job", err)
	// A job no runner takes: queued, and null runner fields in the API.
	waiting, err := sim.QueueJob(ctx, repo.FullName, []string{"self-hosted", "macos"})
	fidelityMust(t, "queue job that waits", err)

	for _, want := range []struct {
		id                 int64
		status, conclusion string
	}{{ran.ID, "completed", "success"}, {cancelled.ID, "completed", "cancelled"}, {waiting.ID, "queued", ""}} {
		j, _, err := inst.Actions.GetWorkflowJobByID(ctx, fidelityOwner, fidelityRepo, want.id)
		fidelityMust(t, "get job", err)
		if j.GetStatus() != want.status || j.GetConclusion() != want.conclusion {
			t.Errorf("job %d: %s/%s, want %s/%s", want.id, j.GetStatus(), j.GetConclusion(), want.status, want.conclusion)
		}
	}
	runs, _, err := inst.Actions.ListRepositoryWorkflowRuns(ctx, fidelityOwner, fidelityRepo, nil)
	fidelityMust(t, "list runs", err)
	if runs.GetTotalCount() != 3 {
		t.Errorf("runs: %d, want 3", runs.GetTotalCount())
	}
	run, _, err := inst.Actions.GetWorkflowRunByID(ctx, fidelityOwner, fidelityRepo, ran.RunID)
	fidelityMust(t, "get run", err)
	if run.GetID() != ran.RunID || run.GetConclusion() != "success" {
		t.Errorf("run %d: id %d conclusion %q", ran.RunID, run.GetID(), run.GetConclusion())
	}
	jobs, _, err := inst.Actions.ListWorkflowJobs(ctx, fidelityOwner, fidelityRepo, ran.RunID, nil)
	fidelityMust(t, "list run jobs", err)
	if jobs.GetTotalCount() != 1 || jobs.Jobs[0].GetID() != ran.ID {
		t.Errorf("jobs of run %d: %+v", ran.RunID, jobs)
	}

	// A run with several jobs, listed as Garo lists it: open runs by status, paged by the
	// Link header, and each run's jobs with filter=latest.
	multi, err := sim.QueueRun(ctx, repo.FullName, []githubsim.RunJob{
		{Name: "build", Labels: labels}, {Name: "test (1)", Labels: labels}, {Name: "test (2)", Labels: labels},
		{Name: "deploy", Labels: labels, Needs: []string{"build"}},
	})
	fidelityMust(t, "queue a run", err)
	extra, err := sim.QueueJob(ctx, repo.FullName, []string{"self-hosted", "macos"})
	fidelityMust(t, "queue a job", err)
	var openRuns []int64
	pages := 0
	for _, status := range []string{"queued", "in_progress"} {
		runOpts := &github.ListWorkflowRunsOptions{Status: status, ListOptions: github.ListOptions{PerPage: 1}}
		for range 10 {
			page, resp, err := inst.Actions.ListRepositoryWorkflowRuns(ctx, fidelityOwner, fidelityRepo, runOpts)
			fidelityMust(t, "list open runs", err)
			pages++
			for _, r := range page.WorkflowRuns {
				openRuns = append(openRuns, r.GetID())
			}
			if resp.NextPage == 0 {
				break
			}
			runOpts.Page = resp.NextPage
		}
	}
	if len(openRuns) != 3 || !slices.Contains(openRuns, multi[0].RunID) || !slices.Contains(openRuns, waiting.RunID) ||
		!slices.Contains(openRuns, extra.RunID) || pages != 3 {
		t.Errorf("open runs, one a page: %v in %d pages, want runs %d, %d and %d in 3", openRuns, pages, multi[0].RunID, waiting.RunID, extra.RunID)
	}
	runJobs, resp, err := inst.Actions.ListWorkflowJobs(ctx, fidelityOwner, fidelityRepo, multi[0].RunID,
		&github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: github.ListOptions{PerPage: 2}})
	fidelityMust(t, "list a run's jobs", err)
	if runJobs.GetTotalCount() != 3 || len(runJobs.Jobs) != 2 || resp.NextPage != 2 {
		t.Errorf("jobs of the run: %d of %d, next page %d; want 2 of 3 (deploy waits for build), next 2", len(runJobs.Jobs), runJobs.GetTotalCount(), resp.NextPage)
	}

	// Organisation runners in a runner group that admits the repository: a job naming
	// the group runs on one, and the in_progress webhook names the group.
	group := sim.AddRunnerGroup(fidelityOwner, "fidelity-group", "selected", repo.FullName)
	orgJIT, _, err := inst.Actions.GenerateOrgJITConfig(ctx, fidelityOwner, &github.GenerateJITConfigRequest{
		Name: "fidelity-org-1", RunnerGroupID: group.ID, Labels: []string{"self-hosted", "linux"},
	})
	fidelityMust(t, "generate organisation jit config", err)
	orgSpare, _, err := inst.Actions.GenerateOrgJITConfig(ctx, fidelityOwner, &github.GenerateJITConfigRequest{
		Name: "fidelity-org-2", RunnerGroupID: group.ID, Labels: []string{"self-hosted"},
	})
	fidelityMust(t, "generate second organisation jit config", err)
	orgReg, _, err := inst.Actions.CreateOrganizationRegistrationToken(ctx, fidelityOwner)
	fidelityMust(t, "create organisation registration token", err)
	if orgReg.GetToken() == "" {
		t.Errorf("organisation registration token %+v", orgReg)
	}
	orgRunners, _, err := inst.Actions.ListOrganizationRunners(ctx, fidelityOwner, &github.ListOptions{PerPage: 1})
	fidelityMust(t, "list organisation runners", err)
	if orgRunners.TotalCount != 2 || len(orgRunners.Runners) != 1 || sim.OrgRunners(fidelityOwner)[0].GroupID != group.ID {
		t.Errorf("organisation runners page: %+v, want 2 in all, 1 on the page, in group %d", orgRunners, group.ID)
	}
	orgRunner, _, err := inst.Actions.GetOrganizationRunner(ctx, fidelityOwner, orgJIT.GetRunner().GetID())
	fidelityMust(t, "get organisation runner", err)
	if orgRunner.GetName() != "fidelity-org-1" {
		t.Errorf("organisation runner %+v", orgRunner)
	}
	access, _, err := inst.Actions.ListRepositoryAccessRunnerGroup(ctx, fidelityOwner, group.ID, nil)
	fidelityMust(t, "list runner group repositories", err)
	if access.GetTotalCount() != 1 || access.Repositories[0].GetFullName() != repo.FullName {
		t.Errorf("runner group repositories: %+v, want %s", access, repo.FullName)
	}
	inGroup, err := sim.QueueJobInGroup(ctx, repo.FullName, group.Name, nil)
	fidelityMust(t, "queue job in group", err)
	fidelityMust(t, "run organisation runner", sim.RunRunner(ctx, orgJIT.GetEncodedJITConfig(), 0))
	j, _, err := inst.Actions.GetWorkflowJobByID(ctx, fidelityOwner, fidelityRepo, inGroup.ID)
	fidelityMust(t, "get job of the group", err)
	if j.GetConclusion() != "success" || j.GetRunnerGroupName() != group.Name || j.GetRunnerGroupID() != group.ID {
		t.Errorf("job in group: conclusion %q, runner group %d %q; want success in %d %q", j.GetConclusion(), j.GetRunnerGroupID(), j.GetRunnerGroupName(), group.ID, group.Name)
	}
	_, err = inst.Actions.RemoveOrganizationRunner(ctx, fidelityOwner, orgSpare.GetRunner().GetID())
	fidelityMust(t, "remove organisation runner", err)

	_, err = inst.Actions.RemoveRunner(ctx, fidelityOwner, fidelityRepo, spare.GetRunner().GetID())
	fidelityMust(t, "remove runner", err)
	limits, _, err := inst.RateLimit.Get(ctx)
	fidelityMust(t, "rate limit", err)
	if limits.GetCore().Limit == 0 {
		t.Errorf("rate limit %+v", limits)
	}

	// Error answers are GitHub's too.
	_, _, err = inst.Actions.GetRunner(ctx, fidelityOwner, fidelityRepo, 987654321)
	fidelityWantStatus(t, "get unknown runner", err, http.StatusNotFound)
	_, _, err = inst.Actions.GetWorkflowJobByID(ctx, fidelityOwner, fidelityRepo, 987654321)
	fidelityWantStatus(t, "get unknown job", err, http.StatusNotFound)
	_, _, err = anonymous.Apps.Get(ctx, "")
	fidelityWantStatus(t, "get app without a JWT", err, http.StatusUnauthorized)

	// Deliveries, through the App's API.
	want := len(sim.Deliveries())
	deliveries, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 100})
	fidelityMust(t, "list deliveries", err)
	if len(deliveries) != want {
		t.Errorf("API lists %d deliveries, the sim recorded %d", len(deliveries), want)
	}
	if len(deliveries) > 0 {
		id := deliveries[len(deliveries)-1].GetID()
		d, _, err := app.Apps.GetHookDelivery(ctx, id)
		fidelityMust(t, "get delivery", err)
		if d.GetEvent() != "workflow_job" {
			t.Errorf("delivery %d: event %q", id, d.GetEvent())
		}
		_, _, err = app.Apps.RedeliverHookDelivery(ctx, id)
		// go-github decodes the 202 answer as a delivery; an empty object is fine.
		var accepted *github.AcceptedError
		if err != nil && !errors.As(err, &accepted) {
			t.Errorf("redeliver: %v", err)
		}
		want++
	}
	if _, err := sim.WaitDeliveries(ctx, want); err != nil {
		t.Fatal(err)
	}

	t.Run("REST answers match GitHub's description", func(t *testing.T) {
		fidelityCheckExchanges(t, rec.all())
	})
	t.Run("REST queries are GitHub's parameters", func(t *testing.T) {
		n := 0
		for _, r := range sim.Requests() {
			if r.Route == "" || r.Query == "" {
				continue
			}
			q, err := url.ParseQuery(r.Query)
			if err != nil {
				t.Fatal(err)
			}
			if err := githubspec.ValidateQuery(r.Method, r.Route, q); err != nil {
				t.Error(err)
			}
			n++
		}
		if n < 3 {
			t.Errorf("only %d requests with a query", n)
		}
	})
	t.Run("workflow_job deliveries match GitHub's description", func(t *testing.T) {
		got := hooks.wait(t, ctx, want)
		actions := fidelityCheckDeliveries(t, got)
		for _, a := range []string{"queued", "in_progress", "completed"} {
			if actions[a] == 0 {
				t.Errorf("no workflow_job %s delivery among %v", a, actions)
			}
		}
		// What go-github reads from the deliveries is what the sim did.
		for _, h := range got {
			ev, ok := fidelityParse(t, h).(*github.WorkflowJobEvent)
			if !ok || ev.GetWorkflowJob().GetID() != ran.ID || ev.GetAction() != "completed" {
				continue
			}
			wj := ev.GetWorkflowJob()
			if wj.GetConclusion() != "success" || wj.GetRunnerID() != jit.GetRunner().GetID() || wj.GetRunnerName() != "fidelity-1" ||
				!slices.Equal(wj.Labels, labels) || ev.GetRepo().GetFullName() != repo.FullName ||
				ev.GetInstallation().GetID() != repo.InstallationID {
				t.Errorf("completed delivery of job %d: %+v", ran.ID, wj)
			}
		}
	})
}

// fidelityCheckExchanges validates every recorded answer with closed schemas, and that
// every route was answered with a success at least once.
func fidelityCheckExchanges(t *testing.T, exchanges []fidelityExchange) {
	ops, err := githubspec.Operations()
	if err != nil {
		t.Fatal(err)
	}
	succeeded := make(map[string]bool)
	for _, ex := range exchanges {
		op, ok := fidelityOperation(ops, ex.Method, ex.Path)
		if !ok {
			t.Errorf("%s %s (%d): no operation of GitHub's description has this path", ex.Method, ex.Path, ex.Status)
			continue
		}
		if err := githubspec.ValidateResponseClosed(op.Method, op.Path, ex.Status, ex.Header, ex.Body); err != nil {
			t.Errorf("%s %s: %v\nbody: %s", ex.Method, ex.Path, err, fidelityTruncate(ex.Body))
		}
		if ex.Status < 300 {
			succeeded[op.Method+" "+op.Path] = true
		}
	}
	t.Logf("validated %d REST answers", len(exchanges))
	for _, r := range githubsim.Routes() {
		if !succeeded[r.Method+" "+r.Path] {
			t.Errorf("%s %s was never answered with a success: the scenario must drive every route", r.Method, r.Path)
		}
	}
}

// fidelityCheckDeliveries validates what the receiver got and counts workflow_job actions.
func fidelityCheckDeliveries(t *testing.T, got []fidelityHook) map[string]int {
	actions := make(map[string]int)
	for _, h := range got {
		event := h.header.Get("X-GitHub-Event")
		var head struct{ Action string }
		if err := json.Unmarshal(h.body, &head); err != nil {
			t.Errorf("delivery %s: %v", h.header.Get("X-GitHub-Delivery"), err)
			continue
		}
		name := event + "." + head.Action + " " + h.header.Get("X-GitHub-Delivery")
		if h.sigErr != nil {
			t.Errorf("%s: go-github rejects the signature: %v", name, h.sigErr)
		}
		if err := githubspec.ValidateWebhookHeaders(event, head.Action, h.header); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := githubspec.ValidateWebhookClosed(event, head.Action, h.body); err != nil {
			t.Errorf("%s: %v\npayload: %s", name, err, fidelityTruncate(h.body))
		}
		if _, err := github.ParseWebHook(event, h.body); err != nil {
			t.Errorf("%s: go-github cannot parse it: %v", name, err)
		}
		if event == "workflow_job" {
			actions[head.Action]++
		}
	}
	t.Logf("validated %d deliveries: workflow_job %v", len(got), actions)
	return actions
}

func fidelityParse(t *testing.T, h fidelityHook) any {
	t.Helper()
	ev, err := github.ParseWebHook(h.header.Get("X-GitHub-Event"), h.body)
	if err != nil {
		t.Errorf("parse delivery: %v", err)
	}
	return ev
}

// fidelityExampleDeviations are GitHub's examples that GitHub's own webhook description
// rejects (githubspec's tests pin the same list).
var fidelityExampleDeviations = map[string]string{
	"workflow_job.in_progress.1": "missing properties 'run_attempt', 'workflow_name', 'head_branch', 'created_at'",
}

func TestFidelityOfficialExamples(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hooks := newFidelityReceiver(t)
	sim, err := githubsim.New(githubsim.Options{WebhookURL: hooks.srv.URL, WebhookSecret: fidelitySecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	sent := make(map[string][]byte) // X-GitHub-Delivery -> payload
	for _, event := range []string{"workflow_job", "ping"} {
		examples, err := githubspec.Examples(event)
		if err != nil {
			t.Fatal(err)
		}
		if len(examples) == 0 {
			t.Fatalf("no %s examples", event)
		}
		for name, payload := range examples {
			parsed, err := github.ParseWebHook(event, payload)
			if err != nil {
				t.Errorf("%s: go-github cannot parse GitHub's example: %v", name, err)
				continue
			}
			var action string
			switch ev := parsed.(type) {
			case *github.WorkflowJobEvent:
				action = ev.GetAction()
				if ev.GetWorkflowJob().GetID() == 0 || len(ev.GetWorkflowJob().Labels) == 0 || !strings.HasPrefix(name, "workflow_job."+action+".") {
					t.Errorf("%s: go-github read %+v", name, ev)
				}
			case *github.PingEvent:
				if ev.GetHookID() == 0 || ev.GetZen() == "" {
					t.Errorf("%s: go-github read %+v", name, ev)
				}
			default:
				t.Errorf("%s: go-github parsed a %T", name, parsed)
			}
			err = githubspec.ValidateWebhook(event, action, payload)
			if want, known := fidelityExampleDeviations[name]; known {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: known deviation (%q) changed: %v", name, want, err)
				}
			} else if err != nil {
				t.Errorf("%s: githubspec rejects GitHub's own example: %v", name, err)
			}

			d, err := sim.SendWebhook(ctx, event, payload)
			if err != nil {
				t.Errorf("%s: SendWebhook: %v", name, err)
				continue
			}
			sent[d.GUID] = payload
		}
	}
	got := hooks.wait(t, ctx, len(sent))
	for _, h := range got {
		guid := h.header.Get("X-GitHub-Delivery")
		want, ok := sent[guid]
		if !ok {
			t.Errorf("received unknown delivery %q", guid)
			continue
		}
		if !bytes.Equal(h.body, want) {
			t.Errorf("delivery %s: the sim changed the payload", guid)
		}
		if h.sigErr != nil {
			t.Errorf("delivery %s: go-github rejects the signature: %v", guid, h.sigErr)
		}
		var head struct{ Action string }
		_ = json.Unmarshal(h.body, &head)
		if err := githubspec.ValidateWebhookHeaders(h.header.Get("X-GitHub-Event"), head.Action, h.header); err != nil {
			t.Errorf("delivery %s: %v", guid, err)
		}
	}
}

// --- helpers ---

func fidelityClient(t *testing.T, base string, rt http.RoundTripper) *github.Client {
	t.Helper()
	c := github.NewClient(&http.Client{Transport: rt, Timeout: 30 * time.Second})
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func fidelityMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func fidelityWantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var ge *github.ErrorResponse
	if !errors.As(err, &ge) || ge.Response.StatusCode != status {
		t.Errorf("%s: %v, want a %d answer", what, err, status)
	}
}

func fidelityTruncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// fidelityOperation finds the operation whose templated path matches a request path; a
// literal segment beats a parameter ("/runners/generate-jitconfig" is not
// "/runners/{runner_id}").
func fidelityOperation(ops []githubspec.Operation, method, path string) (githubspec.Operation, bool) {
	segs := strings.Split(path, "/")
	var best githubspec.Operation
	bestLiterals := -1
	for _, op := range ops {
		if op.Method != method {
			continue
		}
		tsegs := strings.Split(op.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				ok = ok && segs[i] != ""
				continue
			}
			if ts != segs[i] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = op, literals
		}
	}
	return best, bestLiterals >= 0
}

// fidelityRecorder is an http.RoundTripper that keeps every answer.
type fidelityRecorder struct {
	base      http.RoundTripper
	mu        sync.Mutex
	exchanges []fidelityExchange
}

type fidelityExchange struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r *fidelityRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.exchanges = append(r.exchanges, fidelityExchange{
		Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body,
	})
	r.mu.Unlock()
	return resp, nil
}

func (r *fidelityRecorder) all() []fidelityExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exchanges)
}

// fidelityReceiver is a webhook endpoint that keeps every delivery and checks its
// signature the way go-github does.
type fidelityReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []fidelityHook
	arrived chan struct{} // closed and replaced on each delivery
}

type fidelityHook struct {
	header http.Header
	body   []byte
	sigErr error
}

func newFidelityReceiver(t *testing.T) *fidelityReceiver {
	t.Helper()
	rc := &fidelityReceiver{arrived: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		_, sigErr := github.ValidatePayload(r, []byte(fidelitySecret))
		rc.mu.Lock()
		rc.got = append(rc.got, fidelityHook{header: r.Header.Clone(), body: body, sigErr: sigErr})
		close(rc.arrived)
		rc.arrived = make(chan struct{})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// wait returns the deliveries once at least n arrived.
func (rc *fidelityReceiver) wait(t *testing.T, ctx context.Context, n int) []fidelityHook {
	t.Helper()
	for {
		rc.mu.Lock()
		got, ch := slices.Clone(rc.got), rc.arrived
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("received %d deliveries, want %d: %v", len(got), n, ctx.Err())
		}
	}
}
