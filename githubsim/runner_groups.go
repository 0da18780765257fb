package githubsim

import (
	"fmt"
	"net/http"
)

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
func (s *Sim) listRunnerGroups(c *call) {
	base := fmt.Sprintf("%s/orgs/%s/actions/runner-groups/%d", s.apiRoot(), c.org.login, defaultGroupID)
	groups := []runnerGroupJSON{{
		ID: defaultGroupID, Name: defaultGroupName, Visibility: "all", Default: true,
		RunnersURL: base + "/runners", AllowsPublicRepositories: true, SelectedWorkflows: []string{},
	}}
	from, to := s.page(c, len(groups))
	writeJSON(c.w, http.StatusOK, runnerGroupsJSON{TotalCount: len(groups), RunnerGroups: groups[from:to]})
}
