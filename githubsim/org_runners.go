package githubsim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Organisation runners: runners registered in an organisation's runner group rather than
// on one repository ("Adding a self-hosted runner to an organization",
// https://docs.github.com/en/actions/how-tos/manage-runners/self-hosted-runners/add-runners),
// and the organisation's setting for repository-level runners.

// runnerScope is where a runner (or a registration token) belongs: a repository, or an
// organisation and one of its runner groups.
type runnerScope struct {
	repo  *repoState        // a repository runner
	org   *ownerState       // an organisation runner (repo is nil)
	group *runnerGroupState // an organisation runner's group; nil is the Default group
}

// where names the scope: owner/repo or the organisation's login.
func (sc runnerScope) where() string {
	if sc.repo != nil {
		return sc.repo.fullName
	}
	return sc.org.login
}

// groupID and groupName are the runner group: a repository's runners are all in the
// Default group (id 1), as GitHub's runner objects say (runner_group_id 1).
func (sc runnerScope) groupID() int64 {
	if sc.group == nil {
		return defaultGroupID
	}
	return sc.group.id
}

func (sc runnerScope) groupName() string {
	if sc.group == nil {
		return defaultGroupName
	}
	return sc.group.name
}

// inCall reports whether the runner belongs to the call's repository, or on an
// organisation route to the organisation itself (not to one of its repositories: GitHub
// lists and removes repository runners and organisation runners through their own routes).
func (sc runnerScope) inCall(c *call) bool {
	if c.repo != nil {
		return sc.repo == c.repo
	}
	return sc.repo == nil && sc.org == c.org
}

// scopeRunnersLocked are the runners of the call's repository or organisation, by id.
func (s *Sim) scopeRunnersLocked(c *call) []*runnerState {
	var out []*runnerState
	for _, rs := range s.runners {
		if rs.inCall(c) {
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, func(a, b *runnerState) int { return cmpInt64(a.id, b.id) })
	return out
}

// OrgRunners returns the runners registered on organisation org (not those of its
// repositories), by id.
func (s *Sim) OrgRunners(org string) []Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Runner
	for _, rs := range s.runners {
		if rs.repo == nil && strings.EqualFold(rs.org.login, org) {
			out = append(out, rs.public())
		}
	}
	slices.SortFunc(out, func(a, b Runner) int { return cmpInt64(a.ID, b.ID) })
	return out
}

// SetRepositoryRunners sets organisation org's policy for repository-level self-hosted
// runners: "all" (the default), "selected" (only repos, by full name) or "none".
// Organisation owners "can choose which repositories are allowed to create
// repository-level self-hosted runners" ("Adding self-hosted runners", and "Disabling
// or limiting GitHub Actions for your organization": Runners, with All repositories,
// Selected repositories, Disabled); the REST form of the setting is enabled_repositories
// all/selected/none of "Set self-hosted runners settings for an organization"
// (PUT /orgs/{org}/actions/permissions/self-hosted-runners), which the sim does not serve.
// A repository left out gets GitHub's refusal from generate-jitconfig and
// registration-token (refuseRepoRunners); runners registered before stay. It panics on
// an unknown organisation or setting, as a test set-up error.
func (s *Sim) SetRepositoryRunners(org, enabled string, repos ...string) {
	switch enabled {
	case "all", "selected", "none":
	default:
		panic(fmt.Sprintf("githubsim: repository runners setting %q is not all, selected or none", enabled))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.owners[strings.ToLower(org)]
	if !ok {
		panic(fmt.Sprintf("githubsim: no organisation %q", org))
	}
	o.repoRunners, o.repoRunnersFor = enabled, nil
	for _, r := range repos {
		o.repoRunnersFor = append(o.repoRunnersFor, strings.ToLower(r))
	}
}

// refuseRepoRunners answers 403 when the call's repository may not have repository-level
// runners (SetRepositoryRunners) and returns true. GitHub refuses generate-jitconfig with
// 403 there (runs-on/runs-on#417: "403s when registering ... via the POST
// /repos/{owner}/{repo}/actions/runners/generate-jitconfig api" for a repository whose
// self-hosted runners the organisation had disabled); its REST description does not list
// 403 for the route, so the fidelity scenario does not drive this answer. The body is
// GitHub's basic error; its message says why.
func (s *Sim) refuseRepoRunners(c *call) bool {
	s.mu.Lock()
	o := c.repo.owner
	refused := o.repoRunners == "none" || (o.repoRunners == "selected" && !slices.Contains(o.repoRunnersFor, strings.ToLower(c.repo.fullName)))
	s.mu.Unlock()
	if refused {
		s.writeError(c, http.StatusForbidden, "Repository level self-hosted runners are disabled on this repository", c.doc())
	}
	return refused
}

// generateOrgJITConfig answers POST /orgs/{org}/actions/runners/generate-jitconfig
// ("Create configuration for a just-in-time runner for an organization"): the body of
// the repository route, runner_group_id naming one of the organisation's groups (the
// Default group is 1). An unknown group is 404, as the repository route answers for a
// group other than Default; a taken name is 409 (the description's 404, 409 and 422).
func (s *Sim) generateOrgJITConfig(c *call) {
	body, ok := s.decodeJITRequest(c)
	if !ok {
		return
	}
	sc := runnerScope{org: c.org}
	if id := *body.RunnerGroupID; id != defaultGroupID {
		s.mu.Lock()
		i := slices.IndexFunc(c.org.groups, func(g *runnerGroupState) bool { return g.id == id })
		if i >= 0 {
			sc.group = c.org.groups[i]
		}
		s.mu.Unlock()
		if sc.group == nil {
			s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
			return
		}
	}
	s.writeJITRunner(c, sc, body)
}

// createOrgRegistrationToken answers POST /orgs/{org}/actions/runners/registration-token
// ("Create a registration token for an organization"): a runner registering with it
// joins the organisation, in the group config.sh --runnergroup names (simRegister).
func (s *Sim) createOrgRegistrationToken(c *call) { s.createRunnerToken(c, s.regTokens) }

// groupNamedLocked finds the organisation's runner group called name, ignoring case; the
// Default group is nil.
func (o *ownerState) groupNamedLocked(name string) (*runnerGroupState, bool) {
	if strings.EqualFold(name, defaultGroupName) {
		return nil, true
	}
	for _, g := range o.groups {
		if strings.EqualFold(g.name, name) {
			return g, true
		}
	}
	return nil, false
}

type groupReposJSON struct {
	TotalCount   int        `json:"total_count"`
	Repositories []repoJSON `json:"repositories"`
}

// listGroupRepositories answers GET /orgs/{org}/actions/runner-groups/{runner_group_id}/repositories
// ("List repository access to a self-hosted runner group in an organization": "Lists the
// repositories with access to a self-hosted runner group"; total_count and
// minimal-repository items, paged). The sim lists the selected repositories of a
// "selected" group and none for another visibility, whose access is not a list; an
// unknown group is 404.
func (s *Sim) listGroupRepositories(c *call) {
	id, ok := c.int64Param("runner_group_id")
	s.mu.Lock()
	var g *runnerGroupState
	for _, have := range c.org.groups {
		if ok && have.id == id {
			g = have
		}
	}
	if g == nil && (!ok || id != defaultGroupID) {
		s.mu.Unlock()
		s.writeError(c, http.StatusNotFound, "Not Found", c.doc())
		return
	}
	var repos []*repoState
	if g != nil && g.visibility == "selected" {
		for _, name := range g.repos {
			if r, ok := s.repoLocked(name); ok && r.owner == c.org {
				repos = append(repos, r)
			}
		}
	}
	slices.SortFunc(repos, func(a, b *repoState) int { return cmpInt64(a.id, b.id) })
	s.mu.Unlock()
	from, to := s.page(c, len(repos))
	out := groupReposJSON{TotalCount: len(repos), Repositories: []repoJSON{}}
	for _, r := range repos[from:to] {
		out.Repositories = append(out.Repositories, s.repoJSON(r))
	}
	writeJSON(c.w, http.StatusOK, out)
}

// QueueJobInGroup is QueueJob for a job whose runs-on names runner group group, with
// labels (none for runs-on: {group: NAME} alone). GitHub's queued workflow_job says
// nothing of the group: runner_group_id and runner_group_name are null until a runner
// takes the job (github/docs#12083), and a job that names only a group arrives with no
// labels (terraform-aws-github-runner#3643: "labels are then empty in the webhook
// workflow_job event"). Only runners of the group take it (matchJobLocked).
func (s *Sim) QueueJobInGroup(ctx context.Context, repo, group string, labels []string) (Job, error) {
	if group == "" {
		return Job{}, fmt.Errorf("queue job on %s: a runner group is required", repo)
	}
	js, err := s.createJobIn(repo, group, labels, false)
	if err != nil {
		return Job{}, err
	}
	return s.announceJob(ctx, js, repo)
}
