package webhook

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim/githubspec"
	"github.com/garo-dev/garo/server/jobs"
)

// fromGoGitHub is the event of a payload as go-github's WorkflowJobEvent reads it: what
// parseWorkflowJob, which decodes only the fields Garo uses, must agree with.
func fromGoGitHub(t *testing.T, body []byte) jobs.Event {
	t.Helper()
	var p github.WorkflowJobEvent
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	j, repo := p.GetWorkflowJob(), p.GetRepo()
	owner, name, _ := strings.Cut(repo.GetFullName(), "/")
	labels := j.Labels
	if labels == nil {
		labels = []string{}
	}
	return jobs.Event{
		Action: p.GetAction(), Status: j.GetStatus(), JobID: j.GetID(), RunID: j.GetRunID(), Owner: owner, Repo: name,
		Name: j.GetName(), WorkflowName: j.GetWorkflowName(), Labels: labels, RunnerGroup: j.GetRunnerGroupName(), Conclusion: j.GetConclusion(),
		RunnerName: j.GetRunnerName(), RunnerID: j.GetRunnerID(), HTMLURL: j.GetHTMLURL(),
		CreatedAt: j.GetCreatedAt().Time, Source: jobs.SourceWebhook,
	}
}

// TestParseAsGoGitHub: every workflow_job example of @octokit/webhooks-examples gives the
// event that go-github's full decode of it gives.
func TestParseAsGoGitHub(t *testing.T) {
	examples, err := githubspec.Examples("workflow_job")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range examples {
		t.Run(name, func(t *testing.T) {
			got, err := parseWorkflowJob(body)
			if err != nil {
				t.Fatal(err)
			}
			if want := fromGoGitHub(t, body); !reflect.DeepEqual(got, want) {
				t.Fatalf("parse:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestParseRefuses: what a payload must carry.
func TestParseRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not json":        `{"action":`,
		"no action":       `{"workflow_job":{"id":1,"labels":[]},"repository":{"full_name":"a/b"}}`,
		"no job":          `{"action":"queued","repository":{"full_name":"a/b"}}`,
		"no job id":       `{"action":"queued","workflow_job":{"labels":[]},"repository":{"full_name":"a/b"}}`,
		"job id 0":        `{"action":"queued","workflow_job":{"id":0,"labels":[]},"repository":{"full_name":"a/b"}}`,
		"labels null":     `{"action":"queued","workflow_job":{"id":1,"labels":null},"repository":{"full_name":"a/b"}}`,
		"labels missing":  `{"action":"queued","workflow_job":{"id":1},"repository":{"full_name":"a/b"}}`,
		"labels a string": `{"action":"queued","workflow_job":{"id":1,"labels":"linux"},"repository":{"full_name":"a/b"}}`,
		"no repository":   `{"action":"queued","workflow_job":{"id":1,"labels":[]}}`,
		"no repo name":    `{"action":"queued","workflow_job":{"id":1,"labels":[]},"repository":{"full_name":""}}`,
		"id a string":     `{"action":"queued","workflow_job":{"id":"1","labels":[]},"repository":{"full_name":"a/b"}}`,
	} {
		if ev, err := parseWorkflowJob([]byte(body)); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, ev)
		}
	}
	ev, err := parseWorkflowJob([]byte(`{"action":"queued","workflow_job":{"id":1,"labels":[]},"repository":{"name":"b","owner":{"login":"a"}}}`))
	if err != nil || ev.Owner != "a" || ev.Repo != "b" || ev.Labels == nil || len(ev.Labels) != 0 {
		t.Fatalf("owner.login and name: %+v, %v", ev, err)
	}
}
