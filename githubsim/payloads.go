package githubsim

// Builders of GitHub's JSON shapes (wire.go) from the sim's state.

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

const appSlug = "garo-sim"

// ts formats a time as GitHub does: RFC 3339, UTC, whole seconds.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func tsPtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := ts(t)
	return &v
}

func ptr[T any](v T) *T { return &v }

// nodeID builds a legacy global node id, e.g. "MDQ6VXNlcjE=" for User 1.
func nodeID(typ string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%02d:%s%d", len(typ), typ, id))
}

// apiRoot is the REST root that URLs inside payloads point to.
func (s *Sim) apiRoot() string {
	switch {
	case s.opts.BaseURL != "":
		return s.opts.BaseURL + s.opts.PathPrefix
	case s.opts.PathPrefix != "":
		return "https://github.example.com" + s.opts.PathPrefix
	}
	return "https://api.github.com"
}

// webRoot is the web root html_url fields point to.
func (s *Sim) webRoot() string {
	switch {
	case s.opts.BaseURL != "":
		return s.opts.BaseURL
	case s.opts.PathPrefix != "":
		return "https://github.example.com"
	}
	return "https://github.com"
}

func (s *Sim) user(login string, id int64, typ string) userJSON {
	api, web := s.apiRoot(), s.webRoot()
	u := api + "/users/" + login
	return userJSON{
		Login:             login,
		ID:                id,
		NodeID:            nodeID(typ, id),
		AvatarURL:         fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id),
		GravatarID:        "",
		URL:               u,
		HTMLURL:           web + "/" + login,
		FollowersURL:      u + "/followers",
		FollowingURL:      u + "/following{/other_user}",
		GistsURL:          u + "/gists{/gist_id}",
		StarredURL:        u + "/starred{/owner}{/repo}",
		SubscriptionsURL:  u + "/subscriptions",
		OrganizationsURL:  u + "/orgs",
		ReposURL:          u + "/repos",
		EventsURL:         u + "/events{/privacy}",
		ReceivedEventsURL: u + "/received_events",
		Type:              typ,
		UserViewType:      "public",
	}
}

func (s *Sim) simUser() userJSON { return s.user(simUserLogin, simUserID, "User") }

func (s *Sim) ownerJSON(o *ownerState) userJSON { return s.user(o.login, o.id, "Organization") }

func (s *Sim) orgJSON(o *ownerState) *orgJSON {
	u := s.apiRoot() + "/orgs/" + o.login
	return &orgJSON{
		Login:            o.login,
		ID:               o.id,
		NodeID:           nodeID("Organization", o.id),
		URL:              u,
		ReposURL:         u + "/repos",
		EventsURL:        u + "/events",
		HooksURL:         u + "/hooks",
		IssuesURL:        u + "/issues",
		MembersURL:       u + "/members{/member}",
		PublicMembersURL: u + "/public_members{/member}",
		AvatarURL:        fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", o.id),
		Description:      nil,
	}
}

func (s *Sim) repoJSON(r *repoState) repoJSON {
	api, web := s.apiRoot(), s.webRoot()
	u := api + "/repos/" + r.fullName
	host := strings.TrimPrefix(strings.TrimPrefix(web, "https://"), "http://")
	return repoJSON{
		ID:               r.id,
		NodeID:           nodeID("Repository", r.id),
		Name:             r.name,
		FullName:         r.fullName,
		Private:          true,
		Owner:            s.ownerJSON(r.owner),
		HTMLURL:          web + "/" + r.fullName,
		Description:      nil,
		URL:              u,
		ForksURL:         u + "/forks",
		KeysURL:          u + "/keys{/key_id}",
		CollaboratorsURL: u + "/collaborators{/collaborator}",
		TeamsURL:         u + "/teams",
		HooksURL:         u + "/hooks",
		IssueEventsURL:   u + "/issues/events{/number}",
		EventsURL:        u + "/events",
		AssigneesURL:     u + "/assignees{/user}",
		BranchesURL:      u + "/branches{/branch}",
		TagsURL:          u + "/tags",
		BlobsURL:         u + "/git/blobs{/sha}",
		GitTagsURL:       u + "/git/tags{/sha}",
		GitRefsURL:       u + "/git/refs{/sha}",
		TreesURL:         u + "/git/trees{/sha}",
		StatusesURL:      u + "/statuses/{sha}",
		LanguagesURL:     u + "/languages",
		StargazersURL:    u + "/stargazers",
		ContributorsURL:  u + "/contributors",
		SubscribersURL:   u + "/subscribers",
		SubscriptionURL:  u + "/subscription",
		CommitsURL:       u + "/commits{/sha}",
		GitCommitsURL:    u + "/git/commits{/sha}",
		CommentsURL:      u + "/comments{/number}",
		IssueCommentURL:  u + "/issues/comments{/number}",
		ContentsURL:      u + "/contents/{+path}",
		CompareURL:       u + "/compare/{base}...{head}",
		MergesURL:        u + "/merges",
		ArchiveURL:       u + "/{archive_format}{/ref}",
		DownloadsURL:     u + "/downloads",
		IssuesURL:        u + "/issues{/number}",
		PullsURL:         u + "/pulls{/number}",
		MilestonesURL:    u + "/milestones{/number}",
		NotificationsURL: u + "/notifications{?since,all,participating}",
		LabelsURL:        u + "/labels{/name}",
		ReleasesURL:      u + "/releases{/id}",
		DeploymentsURL:   u + "/deployments",
		CreatedAt:        ts(r.created),
		UpdatedAt:        ts(r.created),
		PushedAt:         ts(r.created),
		GitURL:           "git://" + host + "/" + r.fullName + ".git",
		SSHURL:           "git@" + host + ":" + r.fullName + ".git",
		CloneURL:         web + "/" + r.fullName + ".git",
		SVNURL:           web + "/" + r.fullName,
		HasIssues:        true,
		HasProjects:      true,
		HasDownloads:     true,
		HasWiki:          true,
		AllowForking:     true,
		Topics:           []string{},
		Visibility:       "private",
		DefaultBranch:    "main",
	}
}

// labelsJSONLocked lists a runner's labels in their order. Those that name self-hosted,
// an OS or an architecture are "read-only", the others "custom", as in GitHub's
// generate-jitconfig example, where self-hosted, X64 and macOS are read-only and no-gpu
// custom (components/examples/runner-jitconfig of the REST description).
func (s *Sim) labelsJSONLocked(names []string) []labelJSON {
	out := make([]labelJSON, 0, len(names))
	for _, n := range names {
		typ := "custom"
		if readOnlyLabels[strings.ToLower(n)] {
			typ = "read-only"
		}
		id, ok := s.labelIDs[strings.ToLower(n)]
		if !ok {
			id = s.nextID("label")
			s.labelIDs[strings.ToLower(n)] = id
		}
		out = append(out, labelJSON{ID: id, Name: n, Type: typ})
	}
	return out
}

func (s *Sim) runnerJSONLocked(rs *runnerState) runnerJSON {
	p := rs.public()
	return runnerJSON{
		ID:            rs.id,
		Name:          rs.name,
		OS:            rs.os,
		Status:        p.Status,
		Busy:          p.Busy,
		Ephemeral:     rs.ephemeral,
		RunnerGroupID: rs.groupID(),
		Labels:        s.labelsJSONLocked(rs.labels),
	}
}

func (s *Sim) jobJSONLocked(js *jobState) jobJSON {
	api, web := s.apiRoot(), s.webRoot()
	repoURL := api + "/repos/" + js.run.repo.fullName
	j := jobJSON{
		ID:           js.id,
		RunID:        js.run.id,
		WorkflowName: ptr(js.run.workflowNam),
		HeadBranch:   ptr("main"),
		RunURL:       fmt.Sprintf("%s/actions/runs/%d", repoURL, js.run.id),
		RunAttempt:   1,
		NodeID:       nodeID("CheckRun", js.id),
		HeadSHA:      js.run.headSHA,
		URL:          fmt.Sprintf("%s/actions/jobs/%d", repoURL, js.id),
		HTMLURL:      fmt.Sprintf("%s/%s/actions/runs/%d/job/%d", web, js.run.repo.fullName, js.run.id, js.id),
		Status:       js.status,
		CreatedAt:    ts(js.created),
		StartedAt:    ts(js.started),
		CompletedAt:  tsPtr(js.completed),
		Name:         js.name,
		Steps:        steps(js),
		CheckRunURL:  fmt.Sprintf("%s/check-runs/%d", repoURL, js.id),
		Labels:       slices.Clone(js.labels),
	}
	if js.conclusion != "" {
		j.Conclusion = ptr(js.conclusion)
	}
	if js.runnerID != 0 {
		j.RunnerID = ptr(js.runnerID)
		j.RunnerName = ptr(js.runnerName)
		j.RunnerGroupID = ptr(js.runnerGroupID)
		j.RunnerGroupName = ptr(js.runnerGroupName)
	}
	return j
}

// steps are the job's steps as a runner would report them.
func steps(js *jobState) []stepJSON {
	switch {
	case js.runnerID == 0:
		return []stepJSON{}
	case js.status == "in_progress":
		return []stepJSON{{Name: "Set up job", Status: "in_progress", Number: 1, StartedAt: tsPtr(js.started)}}
	}
	done := js.completed
	return []stepJSON{
		{Name: "Set up job", Status: "completed", Conclusion: ptr("success"), Number: 1, StartedAt: tsPtr(js.started), CompletedAt: tsPtr(js.started)},
		{Name: "Run tests", Status: "completed", Conclusion: ptr(js.conclusion), Number: 2, StartedAt: tsPtr(js.started), CompletedAt: tsPtr(done)},
		{Name: "Complete job", Status: "completed", Conclusion: ptr("success"), Number: 3, StartedAt: tsPtr(done), CompletedAt: tsPtr(done)},
	}
}

// runStatusLocked derives a run's status and conclusion from its jobs.
func (s *Sim) runStatusLocked(run *runState) (status, conclusion string) {
	queued, running, done, waiting := 0, 0, 0, 0
	conclusion = "success"
	for _, id := range run.jobIDs {
		js := s.jobs[id]
		switch js.status {
		case "waiting":
			// A run whose jobs wait for an environment's approval is "waiting" (a status of
			// the workflow-run listing's status parameter in GitHub's REST description).
			waiting++
		case "queued":
			queued++
		case "in_progress":
			running++
		default:
			done++
			switch {
			case js.conclusion == "failure":
				conclusion = "failure"
			case js.conclusion == "cancelled" && conclusion != "failure":
				conclusion = "cancelled"
			}
		}
	}
	switch {
	case len(run.blocked) > 0 && done+running+queued+waiting > 0:
		// Jobs waiting for the jobs they need keep the run going (see runs.go).
		return "in_progress", ""
	case running > 0 || (queued+waiting > 0 && done > 0):
		return "in_progress", ""
	case queued > 0:
		return "queued", ""
	case waiting > 0:
		return "waiting", ""
	}
	return "completed", conclusion
}

func (s *Sim) runJSONLocked(run *runState) runJSON {
	api, web := s.apiRoot(), s.webRoot()
	repoURL := api + "/repos/" + run.repo.fullName
	runURL := fmt.Sprintf("%s/actions/runs/%d", repoURL, run.id)
	status, conclusion := s.runStatusLocked(run)
	repo := s.repoJSON(run.repo)
	out := runJSON{
		ID:                  run.id,
		Name:                run.workflowNam,
		NodeID:              nodeID("WorkflowRun", run.id),
		CheckSuiteID:        run.checkSuite,
		CheckSuiteNodeID:    nodeID("CheckSuite", run.checkSuite),
		HeadBranch:          "main",
		HeadSHA:             run.headSHA,
		Path:                ".github/workflows/ci.yml",
		DisplayTitle:        "CI",
		RunNumber:           run.number,
		Event:               "push",
		Status:              status,
		WorkflowID:          run.repo.workflowID,
		URL:                 runURL,
		HTMLURL:             fmt.Sprintf("%s/%s/actions/runs/%d", web, run.repo.fullName, run.id),
		PullRequests:        []struct{}{},
		CreatedAt:           ts(run.created),
		UpdatedAt:           ts(run.updated),
		Actor:               s.simUser(),
		RunAttempt:          1,
		ReferencedWorkflows: []struct{}{},
		RunStartedAt:        ts(run.created),
		TriggeringActor:     s.simUser(),
		JobsURL:             runURL + "/jobs",
		LogsURL:             runURL + "/logs",
		CheckSuiteURL:       fmt.Sprintf("%s/check-suites/%d", repoURL, run.checkSuite),
		ArtifactsURL:        runURL + "/artifacts",
		CancelURL:           runURL + "/cancel",
		RerunURL:            runURL + "/rerun",
		WorkflowURL:         fmt.Sprintf("%s/actions/workflows/%d", repoURL, run.repo.workflowID),
		HeadCommit: commitJSON{
			ID:        run.headSHA,
			TreeID:    run.treeSHA,
			Message:   "Update CI",
			Timestamp: ts(run.created),
			Author:    gitActorJSON{Name: "Octo Cat", Email: "octocat@github.com"},
			Committer: gitActorJSON{Name: "GitHub", Email: "noreply@github.com"},
		},
		Repository:     repo,
		HeadRepository: repo,
	}
	if conclusion != "" {
		out.Conclusion = ptr(conclusion)
	}
	return out
}

func (s *Sim) installationJSON(in *installState) installationJSON {
	api, web := s.apiRoot(), s.webRoot()
	return installationJSON{
		ID:                  in.id,
		Account:             s.ownerJSON(in.owner),
		RepositorySelection: "all",
		AccessTokensURL:     fmt.Sprintf("%s/app/installations/%d/access_tokens", api, in.id),
		RepositoriesURL:     api + "/installation/repositories",
		HTMLURL:             fmt.Sprintf("%s/organizations/%s/settings/installations/%d", web, in.owner.login, in.id),
		AppID:               in.app.id,
		AppSlug:             in.app.slug(),
		ClientID:            in.app.clientID,
		TargetID:            in.owner.id,
		TargetType:          "Organization",
		Permissions:         installationPermissions,
		Events:              []string{"workflow_job"},
		CreatedAt:           ts(in.created),
		UpdatedAt:           ts(in.created),
		SingleFilePaths:     []string{},
	}
}

func (s *Sim) appJSON(app *simApp, installations int) appJSON {
	web := s.webRoot()
	return appJSON{
		ID:                 app.id,
		Slug:               app.slug(),
		ClientID:           app.clientID,
		NodeID:             nodeID("Integration", app.id),
		Owner:              s.user("garo-dev", 90000000, "Organization"),
		Name:               "Garo (simulated)",
		Description:        ptr("GitHub App of the Garo simulator"),
		ExternalURL:        "https://github.com/garo-dev/garo",
		HTMLURL:            web + "/apps/" + app.slug(),
		CreatedAt:          ts(s.created),
		UpdatedAt:          ts(s.created),
		Permissions:        installationPermissions,
		Events:             []string{"workflow_job"},
		InstallationsCount: installations,
	}
}
