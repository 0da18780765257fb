package githubsim

// GitHub's JSON shapes, with GitHub's exact field names. Fields that GitHub's OpenAPI
// description marks required are always present; nullable ones are pointers without
// omitempty so that they encode as null, as GitHub sends them.

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

type userJSON struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	UserViewType      string `json:"user_view_type"`
	SiteAdmin         bool   `json:"site_admin"`
}

type orgJSON struct {
	Login            string  `json:"login"`
	ID               int64   `json:"id"`
	NodeID           string  `json:"node_id"`
	URL              string  `json:"url"`
	ReposURL         string  `json:"repos_url"`
	EventsURL        string  `json:"events_url"`
	HooksURL         string  `json:"hooks_url"`
	IssuesURL        string  `json:"issues_url"`
	MembersURL       string  `json:"members_url"`
	PublicMembersURL string  `json:"public_members_url"`
	AvatarURL        string  `json:"avatar_url"`
	Description      *string `json:"description"`
}

type repoJSON struct {
	ID                       int64     `json:"id"`
	NodeID                   string    `json:"node_id"`
	Name                     string    `json:"name"`
	FullName                 string    `json:"full_name"`
	Private                  bool      `json:"private"`
	Owner                    userJSON  `json:"owner"`
	HTMLURL                  string    `json:"html_url"`
	Description              *string   `json:"description"`
	Fork                     bool      `json:"fork"`
	URL                      string    `json:"url"`
	ForksURL                 string    `json:"forks_url"`
	KeysURL                  string    `json:"keys_url"`
	CollaboratorsURL         string    `json:"collaborators_url"`
	TeamsURL                 string    `json:"teams_url"`
	HooksURL                 string    `json:"hooks_url"`
	IssueEventsURL           string    `json:"issue_events_url"`
	EventsURL                string    `json:"events_url"`
	AssigneesURL             string    `json:"assignees_url"`
	BranchesURL              string    `json:"branches_url"`
	TagsURL                  string    `json:"tags_url"`
	BlobsURL                 string    `json:"blobs_url"`
	GitTagsURL               string    `json:"git_tags_url"`
	GitRefsURL               string    `json:"git_refs_url"`
	TreesURL                 string    `json:"trees_url"`
	StatusesURL              string    `json:"statuses_url"`
	LanguagesURL             string    `json:"languages_url"`
	StargazersURL            string    `json:"stargazers_url"`
	ContributorsURL          string    `json:"contributors_url"`
	SubscribersURL           string    `json:"subscribers_url"`
	SubscriptionURL          string    `json:"subscription_url"`
	CommitsURL               string    `json:"commits_url"`
	GitCommitsURL            string    `json:"git_commits_url"`
	CommentsURL              string    `json:"comments_url"`
	IssueCommentURL          string    `json:"issue_comment_url"`
	ContentsURL              string    `json:"contents_url"`
	CompareURL               string    `json:"compare_url"`
	MergesURL                string    `json:"merges_url"`
	ArchiveURL               string    `json:"archive_url"`
	DownloadsURL             string    `json:"downloads_url"`
	IssuesURL                string    `json:"issues_url"`
	PullsURL                 string    `json:"pulls_url"`
	MilestonesURL            string    `json:"milestones_url"`
	NotificationsURL         string    `json:"notifications_url"`
	LabelsURL                string    `json:"labels_url"`
	ReleasesURL              string    `json:"releases_url"`
	DeploymentsURL           string    `json:"deployments_url"`
	CreatedAt                string    `json:"created_at"`
	UpdatedAt                string    `json:"updated_at"`
	PushedAt                 string    `json:"pushed_at"`
	GitURL                   string    `json:"git_url"`
	SSHURL                   string    `json:"ssh_url"`
	CloneURL                 string    `json:"clone_url"`
	SVNURL                   string    `json:"svn_url"`
	Homepage                 *string   `json:"homepage"`
	Size                     int       `json:"size"`
	StargazersCount          int       `json:"stargazers_count"`
	WatchersCount            int       `json:"watchers_count"`
	Language                 *string   `json:"language"`
	HasIssues                bool      `json:"has_issues"`
	HasProjects              bool      `json:"has_projects"`
	HasDownloads             bool      `json:"has_downloads"`
	HasWiki                  bool      `json:"has_wiki"`
	HasPages                 bool      `json:"has_pages"`
	HasDiscussions           bool      `json:"has_discussions"`
	ForksCount               int       `json:"forks_count"`
	MirrorURL                *string   `json:"mirror_url"`
	Archived                 bool      `json:"archived"`
	Disabled                 bool      `json:"disabled"`
	OpenIssuesCount          int       `json:"open_issues_count"`
	License                  *struct{} `json:"license"`
	AllowForking             bool      `json:"allow_forking"`
	IsTemplate               bool      `json:"is_template"`
	WebCommitSignoffRequired bool      `json:"web_commit_signoff_required"`
	Topics                   []string  `json:"topics"`
	Visibility               string    `json:"visibility"`
	Forks                    int       `json:"forks"`
	OpenIssues               int       `json:"open_issues"`
	Watchers                 int       `json:"watchers"`
	DefaultBranch            string    `json:"default_branch"`
}

type labelJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type runnerJSON struct {
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	OS            string      `json:"os"`
	Status        string      `json:"status"`
	Busy          bool        `json:"busy"`
	Ephemeral     bool        `json:"ephemeral"`
	RunnerGroupID int64       `json:"runner_group_id"`
	Labels        []labelJSON `json:"labels"`
}

type stepJSON struct {
	Name        string  `json:"name"`
	Status      string  `json:"status"`
	Conclusion  *string `json:"conclusion"`
	Number      int     `json:"number"`
	StartedAt   *string `json:"started_at"`
	CompletedAt *string `json:"completed_at"`
}

type jobJSON struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	WorkflowName    *string    `json:"workflow_name"`
	HeadBranch      *string    `json:"head_branch"`
	RunURL          string     `json:"run_url"`
	RunAttempt      int        `json:"run_attempt"`
	NodeID          string     `json:"node_id"`
	HeadSHA         string     `json:"head_sha"`
	URL             string     `json:"url"`
	HTMLURL         string     `json:"html_url"`
	Status          string     `json:"status"`
	Conclusion      *string    `json:"conclusion"`
	CreatedAt       string     `json:"created_at"`
	StartedAt       string     `json:"started_at"`
	CompletedAt     *string    `json:"completed_at"`
	Name            string     `json:"name"`
	Steps           []stepJSON `json:"steps"`
	CheckRunURL     string     `json:"check_run_url"`
	Labels          []string   `json:"labels"`
	RunnerID        *int64     `json:"runner_id"`
	RunnerName      *string    `json:"runner_name"`
	RunnerGroupID   *int64     `json:"runner_group_id"`
	RunnerGroupName *string    `json:"runner_group_name"`
}

type gitActorJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type commitJSON struct {
	ID        string       `json:"id"`
	TreeID    string       `json:"tree_id"`
	Message   string       `json:"message"`
	Timestamp string       `json:"timestamp"`
	Author    gitActorJSON `json:"author"`
	Committer gitActorJSON `json:"committer"`
}

type runJSON struct {
	ID                  int64      `json:"id"`
	Name                string     `json:"name"`
	NodeID              string     `json:"node_id"`
	CheckSuiteID        int64      `json:"check_suite_id"`
	CheckSuiteNodeID    string     `json:"check_suite_node_id"`
	HeadBranch          string     `json:"head_branch"`
	HeadSHA             string     `json:"head_sha"`
	Path                string     `json:"path"`
	DisplayTitle        string     `json:"display_title"`
	RunNumber           int        `json:"run_number"`
	Event               string     `json:"event"`
	Status              string     `json:"status"`
	Conclusion          *string    `json:"conclusion"`
	WorkflowID          int64      `json:"workflow_id"`
	URL                 string     `json:"url"`
	HTMLURL             string     `json:"html_url"`
	PullRequests        []struct{} `json:"pull_requests"`
	CreatedAt           string     `json:"created_at"`
	UpdatedAt           string     `json:"updated_at"`
	Actor               userJSON   `json:"actor"`
	RunAttempt          int        `json:"run_attempt"`
	ReferencedWorkflows []struct{} `json:"referenced_workflows"`
	RunStartedAt        string     `json:"run_started_at"`
	TriggeringActor     userJSON   `json:"triggering_actor"`
	JobsURL             string     `json:"jobs_url"`
	LogsURL             string     `json:"logs_url"`
	CheckSuiteURL       string     `json:"check_suite_url"`
	ArtifactsURL        string     `json:"artifacts_url"`
	CancelURL           string     `json:"cancel_url"`
	RerunURL            string     `json:"rerun_url"`
	PreviousAttemptURL  *string    `json:"previous_attempt_url"`
	WorkflowURL         string     `json:"workflow_url"`
	HeadCommit          commitJSON `json:"head_commit"`
	Repository          repoJSON   `json:"repository"`
	HeadRepository      repoJSON   `json:"head_repository"`
}

type installationJSON struct {
	ID                     int64             `json:"id"`
	Account                userJSON          `json:"account"`
	RepositorySelection    string            `json:"repository_selection"`
	AccessTokensURL        string            `json:"access_tokens_url"`
	RepositoriesURL        string            `json:"repositories_url"`
	HTMLURL                string            `json:"html_url"`
	AppID                  int64             `json:"app_id"`
	AppSlug                string            `json:"app_slug"`
	ClientID               string            `json:"client_id"`
	TargetID               int64             `json:"target_id"`
	TargetType             string            `json:"target_type"`
	Permissions            map[string]string `json:"permissions"`
	Events                 []string          `json:"events"`
	CreatedAt              string            `json:"created_at"`
	UpdatedAt              string            `json:"updated_at"`
	SingleFileName         *string           `json:"single_file_name"`
	HasMultipleSingleFiles bool              `json:"has_multiple_single_files"`
	SingleFilePaths        []string          `json:"single_file_paths"`
	SuspendedBy            *userJSON         `json:"suspended_by"`
	SuspendedAt            *string           `json:"suspended_at"`
}

type appJSON struct {
	ID                 int64             `json:"id"`
	Slug               string            `json:"slug"`
	ClientID           string            `json:"client_id"`
	NodeID             string            `json:"node_id"`
	Owner              userJSON          `json:"owner"`
	Name               string            `json:"name"`
	Description        *string           `json:"description"`
	ExternalURL        string            `json:"external_url"`
	HTMLURL            string            `json:"html_url"`
	CreatedAt          string            `json:"created_at"`
	UpdatedAt          string            `json:"updated_at"`
	Permissions        map[string]string `json:"permissions"`
	Events             []string          `json:"events"`
	InstallationsCount int               `json:"installations_count"`
}

// workflowJobEvent is the payload of a workflow_job webhook.
type workflowJobEvent struct {
	Action       string           `json:"action"`
	WorkflowJob  jobJSON          `json:"workflow_job"`
	Repository   repoJSON         `json:"repository"`
	Organization *orgJSON         `json:"organization,omitempty"`
	Sender       userJSON         `json:"sender"`
	Installation installationLite `json:"installation"`
}

type installationLite struct {
	ID     int64  `json:"id"`
	NodeID string `json:"node_id"`
}

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

// labelsJSONLocked lists a runner's labels: the read-only defaults, then the custom ones.
func (s *Sim) labelsJSONLocked(names []string) []labelJSON {
	out := make([]labelJSON, 0, len(names))
	for _, n := range names {
		typ := "custom"
		if slices.ContainsFunc(defaultLabels, func(d string) bool { return strings.EqualFold(d, n) }) {
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
		RunnerGroupID: defaultGroupID,
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
		j.RunnerGroupID = ptr(int64(defaultGroupID))
		j.RunnerGroupName = ptr(defaultGroupName)
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
	queued, running, done := 0, 0, 0
	conclusion = "success"
	for _, id := range run.jobIDs {
		js := s.jobs[id]
		switch js.status {
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
	case running > 0 || (queued > 0 && done > 0):
		return "in_progress", ""
	case queued > 0:
		return "queued", ""
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
		AppID:               s.opts.AppID,
		AppSlug:             appSlug,
		ClientID:            s.clientID,
		TargetID:            in.owner.id,
		TargetType:          "Organization",
		Permissions:         installationPermissions,
		Events:              []string{"workflow_job"},
		CreatedAt:           ts(in.created),
		UpdatedAt:           ts(in.created),
		SingleFilePaths:     []string{},
	}
}

func (s *Sim) appJSON(installations int) appJSON {
	web := s.webRoot()
	return appJSON{
		ID:                 s.opts.AppID,
		Slug:               appSlug,
		ClientID:           s.clientID,
		NodeID:             nodeID("Integration", s.opts.AppID),
		Owner:              s.user("garo-dev", 90000000, "Organization"),
		Name:               "Garo (simulated)",
		Description:        ptr("GitHub App of the Garo simulator"),
		ExternalURL:        "https://github.com/garo-dev/garo",
		HTMLURL:            web + "/apps/" + appSlug,
		CreatedAt:          ts(s.created),
		UpdatedAt:          ts(s.created),
		Permissions:        installationPermissions,
		Events:             []string{"workflow_job"},
		InstallationsCount: installations,
	}
}
