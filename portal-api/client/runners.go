package client

import (
	"context"
	"net/url"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// RunnerQuery filters the runner lists. Empty fields are left out.
type RunnerQuery struct {
	Repository string // owner/name; only for ListRunners
	Policy     string
	Agent      string // agent id
	AgentGroup string
	State      string // creating, booting, idle, busy, finished or failed
}

func (q RunnerQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"repository": q.Repository, "policy": q.Policy, "agent": q.Agent, "agent_group": q.AgentGroup, "state": q.State} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// ListRunners returns the runners q selects across repositories (GET /api/v1/runners),
// as far as the token's owner prefixes reach.
func (c *Client) ListRunners(ctx context.Context, q RunnerQuery) (*portalapi.RunnerList, error) {
	var l portalapi.RunnerList
	if err := c.getJSON(ctx, "list runners", apiPrefix+"/runners", q.values(), &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ListRepoRunners returns the runners of one repository (GET /api/v1/repos/{owner}/{repo}/runners).
func (c *Client) ListRepoRunners(ctx context.Context, repository string, q RunnerQuery) (*portalapi.RunnerList, error) {
	p, err := repoBase(repository)
	if err != nil {
		return nil, err
	}
	q.Repository = ""
	var l portalapi.RunnerList
	if err := c.getJSON(ctx, "list runners of "+repository, p+"/runners", q.values(), &l); err != nil {
		return nil, err
	}
	return &l, nil
}
