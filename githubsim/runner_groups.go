package githubsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// RunnerGroup is an organisation runner group a test adds with AddRunnerGroup.
// Visibility is "all" (every repository of the organisation), "selected" (only
// Repositories, by full name) or "private" (private repositories only), as in
// "Create a self-hosted runner group for an organization"
// (https://docs.github.com/rest/actions/self-hosted-runner-groups#create-a-self-hosted-runner-group-for-an-organization).
// The sim's repositories are all private, so "private" admits every one of them.
type RunnerGroup struct {
	ID           int64
	Name         string
	Visibility   string
	Repositories []string
}

type runnerGroupState struct {
	id         int64
	name       string
	visibility string
	repos      []string // lower-case full names, for "selected"
}

// admits reports whether the group may serve repo (full name).
func (g *runnerGroupState) admits(repo string) bool {
	if g.visibility != "selected" {
		return true
	}
	return slices.Contains(g.repos, strings.ToLower(repo))
}

// AddRunnerGroup adds a runner group to org (which must own a repository already) and
// returns it with its id. It panics on an unknown organisation or visibility.
func (s *Sim) AddRunnerGroup(org, name, visibility string, repos ...string) RunnerGroup {
	switch visibility {
	case "all", "selected", "private":
	default:
		panic(fmt.Sprintf("githubsim: runner group visibility %q is not all, selected or private", visibility))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.owners[strings.ToLower(org)]
	if !ok {
		panic(fmt.Sprintf("githubsim: no organisation %q", org))
	}
	g := &runnerGroupState{id: s.nextID("runner_group"), name: name, visibility: visibility}
	for _, r := range repos {
		g.repos = append(g.repos, strings.ToLower(r))
	}
	o.groups = append(o.groups, g)
	return RunnerGroup{ID: g.id, Name: name, Visibility: visibility, Repositories: repos}
}

// runnerGroupJSON is one entry of "List self-hosted runner groups for an organization"
// (GET /orgs/{org}/actions/runner-groups,
// https://docs.github.com/rest/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization).
// visibility is all, selected or private.
type runnerGroupJSON struct {
	ID                       int64    `json:"id"`
	Name                     string   `json:"name"`
	Visibility               string   `json:"visibility"`
	Default                  bool     `json:"default"`
	SelectedRepositoriesURL  string   `json:"selected_repositories_url,omitempty"`
	RunnersURL               string   `json:"runners_url"`
	Inherited                bool     `json:"inherited"`
	AllowsPublicRepositories bool     `json:"allows_public_repositories"`
	RestrictedToWorkflows    bool     `json:"restricted_to_workflows"`
	SelectedWorkflows        []string `json:"selected_workflows"`
}

type runnerGroupsJSON struct {
	TotalCount   int               `json:"total_count"`
	RunnerGroups []runnerGroupJSON `json:"runner_groups"`
}

// listRunnerGroups serves the organisation's groups. Every organisation has the Default
// group, visible to all its repositories ("Managing access to self-hosted runners using
// groups": new runners go to the Default group unless another is named).
// visible_to_repository ("Only return runner groups that are allowed to be used by this
// repository", same page) keeps the groups that admit that repository of the organisation.
func (s *Sim) listRunnerGroups(c *call) {
	root := fmt.Sprintf("%s/orgs/%s/actions/runner-groups/", s.apiRoot(), c.org.login)
	visibleTo := c.r.URL.Query().Get("visible_to_repository")
	groups := []runnerGroupJSON{{
		ID: defaultGroupID, Name: defaultGroupName, Visibility: "all", Default: true,
		RunnersURL: fmt.Sprintf("%s%d/runners", root, defaultGroupID), AllowsPublicRepositories: true, SelectedWorkflows: []string{},
	}}
	s.mu.Lock()
	for _, g := range c.org.groups {
		if visibleTo != "" && !g.admits(c.org.login+"/"+visibleTo) {
			continue
		}
		j := runnerGroupJSON{
			ID: g.id, Name: g.name, Visibility: g.visibility,
			RunnersURL: fmt.Sprintf("%s%d/runners", root, g.id), SelectedWorkflows: []string{},
		}
		if g.visibility == "selected" {
			j.SelectedRepositoriesURL = fmt.Sprintf("%s%d/repositories", root, g.id)
		}
		groups = append(groups, j)
	}
	s.mu.Unlock()
	from, to := s.page(c, len(groups))
	writeJSON(c.w, http.StatusOK, runnerGroupsJSON{TotalCount: len(groups), RunnerGroups: groups[from:to]})
}
