package githubsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Handlers of the repository routes (installation token or PAT) and of /rate_limit. The
// runner handlers serve the organisation's runner routes too (org_runners.go): a call
// carries either a repository or an organisation.

type runnersJSON struct {
	TotalCount int          `json:"total_count"`
	Runners    []runnerJSON `json:"runners"`
}

func (s *Sim) listRunners(c *call) {
	name := c.r.URL.Query().Get("name")
	s.mu.Lock()
	var all []*runnerState
	for _, rs := range s.scopeRunnersLocked(c) {
		if name == "" || rs.name == name {
			all = append(all, rs)
		}
	}
	from, to := s.page(c, len(all))
	out := runnersJSON{TotalCount: len(all), Runners: []runnerJSON{}}
	for _, rs := range all[from:to] {
		out.Runners = append(out.Runners, s.runnerJSONLocked(rs))
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

type jitConfigJSON struct {
	Runner           runnerJSON `json:"runner"`
	EncodedJITConfig string     `json:"encoded_jit_config"`
}

// jitRequest is the body of both generate-jitconfig routes (repository and organisation:
// the same schema in GitHub's REST description, name, runner_group_id and 1-100 labels
// required, work_folder defaulting to _work).
type jitRequest struct {
	Name          string   `json:"name"`
	RunnerGroupID *int64   `json:"runner_group_id"`
	Labels        []string `json:"labels"`
	WorkFolder    string   `json:"work_folder"`
}

// decodeJITRequest reads and checks a generate-jitconfig body; it answers 400 or 422 itself
// and returns false on a bad one.
func (s *Sim) decodeJITRequest(c *call) (jitRequest, bool) {
	var body jitRequest
	if !s.decodeBody(c, &body) {
		return body, false
	}
	invalid := func(msg string) (jitRequest, bool) {
		s.writeError(c, http.StatusUnprocessableEntity, "Invalid request.\n\n"+msg, c.doc())
		return body, false
	}
	switch {
	case body.Name == "":
		return invalid(`"name" wasn't supplied.`)
	case body.RunnerGroupID == nil:
		return invalid(`"runner_group_id" wasn't supplied.`)
	case len(body.Labels) < 1:
		return invalid(`For 'properties/labels', [] has fewer items than 1.`)
	case len(body.Labels) > 100:
		return invalid(fmt.Sprintf(`For 'properties/labels', %d items is more than 100.`, len(body.Labels)))
	}
	for _, l := range body.Labels {
		if strings.TrimSpace(l) == "" || len(l) > 256 {
			return invalid(fmt.Sprintf("Label %q is not valid.", l))
		}
	}
	if body.WorkFolder == "" {
		body.WorkFolder = "_work"
	}
	return body, true
}

func (s *Sim) generateJITConfig(c *call) {
	if s.refuseRepoRunners(c) {
		return
	}
	body, ok := s.decodeJITRequest(c)
	if !ok {
		return
	}
	if *body.RunnerGroupID != defaultGroupID {
		// A repository's runners all belong to the Default group.
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	s.writeJITRunner(c, runnerScope{repo: c.repo}, body)
}

// writeJITRunner registers the JIT runner of body in sc and answers 201 with its config,
// or 409 when the name is taken there. GitHub's REST description lists 409 "Conflict"
// (a basic-error body) for both generate-jitconfig routes
// (docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository,
// githubspec/data/openapi); the message is GitHub's answer to a taken name as clients quote it,
// "409 - Already exists - A runner with the name … already exists." (the spec of
// ubicloud/ubicloud's GitHub runner, spec/prog/vm/github_runner_spec.rb, which removes the
// runner it finds by that name and registers it again, as garo-server does for a name
// it minted: server/agents/runners.go mintAgain). The registration is made or not as a
// whole: a 409 leaves the runner that has the name as it was.
func (s *Sim) writeJITRunner(c *call, sc runnerScope, body jitRequest) {
	s.mu.Lock()
	rs, ok := s.createRunnerLocked(sc, body.Name, body.Labels, true)
	if !ok {
		s.mu.Unlock()
		s.writeError(c, http.StatusConflict, fmt.Sprintf("Already exists - A runner with the name %s already exists.", body.Name), c.doc())
		return
	}
	out := jitConfigJSON{Runner: s.runnerJSONLocked(rs)}
	s.mu.Unlock()
	out.EncodedJITConfig = s.encodeJITConfig(rs, s.publicRoot(c.r), body.WorkFolder)
	s.log.Info("jit runner registered", "scope", sc.where(), "runner", rs.name, "runner_id", rs.id, "runner_group_id", rs.groupID())
	writeJSON(c.w, http.StatusCreated, out)
}

// createRunnerLocked registers a runner in sc (a repository, or an organisation and
// runner group) with exactly labels (case-insensitive duplicates dropped, the first
// spelling kept); false when the name is taken there.
// GitHub adds nothing to a JIT runner's labels: its generate-jitconfig example asks for
// ["self-hosted","X64","macOS","no-gpu"] and the runner it answers carries those four
// (components/examples/runner-jitconfig of GitHub's REST description). A runner that
// registers itself brings its default labels along (see simRegister).
func (s *Sim) createRunnerLocked(sc runnerScope, name string, labels []string, ephemeral bool) (*runnerState, bool) {
	for _, rs := range s.runners {
		if rs.repo == sc.repo && rs.org == sc.org && strings.EqualFold(rs.name, name) {
			return nil, false
		}
	}
	var kept []string
	for _, l := range labels {
		if !slices.ContainsFunc(kept, func(have string) bool { return strings.EqualFold(have, l) }) {
			kept = append(kept, l)
		}
	}
	rs := &runnerState{
		id:          s.nextID("runner"),
		name:        name,
		runnerScope: sc,
		labels:      kept,
		os:          "unknown", // GitHub's example: "os": "unknown" until the runner connects
		ephemeral:   ephemeral,
		secret:      randomAlnum(40),
		created:     s.opts.Now(),
	}
	s.runners[rs.id] = rs
	s.broadcastLocked()
	return rs, true
}

type runnerApplicationJSON struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	DownloadURL  string `json:"download_url"`
	Filename     string `json:"filename"`
}

// runnerVersion is the actions/runner release the sim offers for download.
const runnerVersion = "2.321.0"

// listRunnerApplications answers GET /repos/{owner}/{repo}/actions/runners/downloads: an
// array of runner-application objects, one per platform, as in GitHub's example
// (components/examples/runner-application-items of the REST description: osx, linux, win
// with x64, arm, arm64; release assets of github.com/actions/runner).
func (s *Sim) listRunnerApplications(c *call) {
	platforms := []struct{ os, arch, ext string }{
		{"osx", "x64", "tar.gz"}, {"osx", "arm64", "tar.gz"},
		{"linux", "x64", "tar.gz"}, {"linux", "arm", "tar.gz"}, {"linux", "arm64", "tar.gz"},
		{"win", "x64", "zip"}, {"win", "arm64", "zip"},
	}
	out := make([]runnerApplicationJSON, 0, len(platforms))
	for _, p := range platforms {
		file := fmt.Sprintf("actions-runner-%s-%s-%s.%s", p.os, p.arch, runnerVersion, p.ext)
		out = append(out, runnerApplicationJSON{
			OS: p.os, Architecture: p.arch, Filename: file,
			DownloadURL: "https://github.com/actions/runner/releases/download/v" + runnerVersion + "/" + file,
		})
	}
	writeJSON(c.w, http.StatusOK, out)
}

type runnerTokenJSON struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// runnerToken is a registration or remove token of a repository or an organisation.
type runnerToken struct {
	runnerScope
	expires time.Time
}

func (s *Sim) createRegistrationToken(c *call) {
	if s.refuseRepoRunners(c) {
		return
	}
	s.createRunnerToken(c, s.regTokens)
}

func (s *Sim) createRemoveToken(c *call) { s.createRunnerToken(c, s.removeTokens) }

func (s *Sim) createRunnerToken(c *call, into map[string]*runnerToken) {
	tok := strings.ToUpper(randomAlnum(29))
	sc := runnerScope{repo: c.repo}
	if c.repo == nil {
		sc = runnerScope{org: c.org}
	}
	s.mu.Lock()
	t := &runnerToken{runnerScope: sc, expires: s.opts.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	into[tok] = t
	s.mu.Unlock()
	writeJSON(c.w, http.StatusCreated, runnerTokenJSON{Token: tok, ExpiresAt: ts(t.expires)})
}

// runnerByParam finds {runner_id} among the runners of the call's repository, or of its
// organisation on an organisation route.
func (s *Sim) runnerByParamLocked(c *call) (*runnerState, bool) {
	id, ok := c.int64Param("runner_id")
	if !ok {
		return nil, false
	}
	rs, ok := s.runners[id]
	if !ok || !rs.inCall(c) {
		return nil, false
	}
	return rs, true
}

func (s *Sim) getRunner(c *call) {
	s.mu.Lock()
	rs, ok := s.runnerByParamLocked(c)
	var out runnerJSON
	if ok {
		out = s.runnerJSONLocked(rs)
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Sim) deleteRunner(c *call) {
	s.mu.Lock()
	rs, ok := s.runnerByParamLocked(c)
	switch {
	case !ok:
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	case rs.jobID != 0:
		s.mu.Unlock()
		// GitHub's message, stray quote included.
		s.writeError(c, http.StatusUnprocessableEntity, fmt.Sprintf(`Bad request - Runner %q is still running a job"`, rs.name), c.doc())
		return
	}
	delete(s.runners, rs.id)
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Info("runner removed", "scope", rs.where(), "runner", rs.name, "runner_id", rs.id)
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) getJob(c *call) {
	id, ok := c.int64Param("job_id")
	s.mu.Lock()
	js, found := s.jobs[id]
	var out jobJSON
	if ok && found && js.run.repo == c.repo {
		out = s.jobJSONLocked(js)
	} else {
		found = false
	}
	s.mu.Unlock()
	if !found {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusOK, out)
}

type runsJSON struct {
	TotalCount   int       `json:"total_count"`
	WorkflowRuns []runJSON `json:"workflow_runs"`
}

// maxRunSearchResults: GitHub's description of GET /repos/{owner}/{repo}/actions/runs
// ("List workflow runs for a repository",
// https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository):
// "This endpoint will return up to 1,000 results for each search when using the following
// parameters: actor, branch, check_suite_id, created, event, head_sha, status".
const maxRunSearchResults = 1000

// listRuns answers "List workflow runs for a repository": newest first; the status
// parameter "Returns workflow runs with the check run status or conclusion that you
// specify" (so status=queued and status=in_progress list the open runs, and a conclusion
// such as success lists completed ones); per_page (default 30, max 100) and page, with the
// Link header of "Using pagination in the REST API"
// (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
func (s *Sim) listRuns(c *call) {
	want := c.r.URL.Query().Get("status")
	s.mu.Lock()
	var all []*runState
	for _, run := range s.runs {
		if run.repo != c.repo {
			continue
		}
		status, conclusion := s.runStatusLocked(run)
		if want == "" || want == status || want == conclusion {
			all = append(all, run)
		}
	}
	slices.SortFunc(all, func(a, b *runState) int { return cmpInt64(b.id, a.id) }) // newest first
	if want != "" && len(all) > maxRunSearchResults {
		all = all[:maxRunSearchResults]
	}
	from, to := s.page(c, len(all))
	out := runsJSON{TotalCount: len(all), WorkflowRuns: []runJSON{}}
	for _, run := range all[from:to] {
		out.WorkflowRuns = append(out.WorkflowRuns, s.runJSONLocked(run))
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Sim) runByParamLocked(c *call) (*runState, bool) {
	id, ok := c.int64Param("run_id")
	if !ok {
		return nil, false
	}
	run, ok := s.runs[id]
	if !ok || run.repo != c.repo {
		return nil, false
	}
	return run, true
}

func (s *Sim) getRun(c *call) {
	s.mu.Lock()
	run, ok := s.runByParamLocked(c)
	var out runJSON
	if ok {
		out = s.runJSONLocked(run)
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	writeJSON(c.w, http.StatusOK, out)
}

type jobsJSON struct {
	TotalCount int       `json:"total_count"`
	Jobs       []jobJSON `json:"jobs"`
}

// listRunJobs answers "List jobs for a workflow run"
// (https://docs.github.com/en/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run):
// the jobs in the order the run created them, paged with per_page/page and the Link
// header. filter is latest (the default: "Returns jobs from the most recent execution of
// the workflow run") or all ("including from old executions"); the sim runs every run
// once (run_attempt 1), so both list the same jobs. The sim refuses another value with 422:
// GitHub's description admits only these two, and Garo sends latest.
func (s *Sim) listRunJobs(c *call) {
	switch c.r.URL.Query().Get("filter") {
	case "", "latest", "all":
	default:
		s.writeError(c, http.StatusUnprocessableEntity, "Invalid request.\n\nfilter must be one of: latest, all", c.doc())
		return
	}
	s.mu.Lock()
	run, ok := s.runByParamLocked(c)
	if !ok {
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	from, to := s.page(c, len(run.jobIDs))
	out := jobsJSON{TotalCount: len(run.jobIDs), Jobs: []jobJSON{}}
	for _, id := range run.jobIDs[from:to] {
		out.Jobs = append(out.Jobs, s.jobJSONLocked(s.jobs[id]))
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

type rateJSON struct {
	Limit     int   `json:"limit"`
	Used      int   `json:"used"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"`
}

type rateLimitJSON struct {
	Resources map[string]rateJSON `json:"resources"`
	Rate      rateJSON            `json:"rate"`
}

// getRateLimit answers GET /rate_limit, which does not count against the limit.
func (s *Sim) getRateLimit(c *call) {
	rs := s.rateSnapshot()
	s.setRateHeaders(c, rs)
	core := rateJSON{Limit: rs.limit, Used: rs.limit - rs.remaining, Remaining: rs.remaining, Reset: rs.reset.Unix()}
	full := func(limit int, window time.Duration) rateJSON {
		return rateJSON{Limit: limit, Remaining: limit, Reset: s.opts.Now().Add(window).Unix()}
	}
	writeJSON(c.w, http.StatusOK, rateLimitJSON{
		Resources: map[string]rateJSON{
			"core":                        core,
			"search":                      full(30, time.Minute),
			"graphql":                     full(5000, time.Hour),
			"integration_manifest":        full(5000, time.Hour),
			"source_import":               full(100, time.Minute),
			"code_scanning_autofix":       full(10, time.Minute),
			"actions_runner_registration": full(10000, time.Hour),
			"scim":                        full(15000, time.Hour),
			"dependency_snapshots":        full(100, time.Minute),
			"code_search":                 full(10, time.Minute),
		},
		Rate: core,
	})
}
