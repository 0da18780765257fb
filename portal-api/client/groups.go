package client

import (
	"context"
	"net/http"

	portalapi "github.com/garo-dev/garo/portal-api"
)

const groupsPath = apiPrefix + "/agent-groups"

// ListAgentGroups returns every agent group (GET /api/v1/agent-groups; not paginated).
func (c *Client) ListAgentGroups(ctx context.Context) (*portalapi.AgentGroupList, error) {
	var l portalapi.AgentGroupList
	if err := c.getJSON(ctx, "list agent groups", groupsPath, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateAgentGroup creates an agent group (POST /api/v1/agent-groups). An existing group
// of the same name gives IsConflict.
func (c *Client) CreateAgentGroup(ctx context.Context, req portalapi.AgentGroupRequest) (*portalapi.AgentGroup, error) {
	var g portalapi.AgentGroup
	if err := c.sendJSON(ctx, "create agent group "+req.Name, http.MethodPost, groupsPath, req, "application/json", "", &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// GetAgentGroup returns one agent group (GET /api/v1/agent-groups/{group}).
func (c *Client) GetAgentGroup(ctx context.Context, name string) (*portalapi.AgentGroup, error) {
	s, err := seg("agent group name", name)
	if err != nil {
		return nil, err
	}
	var g portalapi.AgentGroup
	if err := c.getJSON(ctx, "get agent group "+name, groupsPath+"/"+s, nil, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// DeleteAgentGroup deletes an agent group (DELETE /api/v1/agent-groups/{group}). A group
// that policies still point at gives IsConflict.
func (c *Client) DeleteAgentGroup(ctx context.Context, name string) error {
	s, err := seg("agent group name", name)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "delete agent group "+name, groupsPath+"/"+s, "")
}

// UpdateAgentGroup changes an agent group's description or owner prefixes (PATCH
// /api/v1/agent-groups/{group}); fields of patch left nil stay as they are. Prefixes that
// would leave out a policy naming the group give IsConflict.
func (c *Client) UpdateAgentGroup(ctx context.Context, name string, patch portalapi.AgentGroupPatch) (*portalapi.AgentGroup, error) {
	s, err := seg("agent group name", name)
	if err != nil {
		return nil, err
	}
	var g portalapi.AgentGroup
	if err := c.sendJSON(ctx, "update agent group "+name, http.MethodPatch, groupsPath+"/"+s, patch, portalapi.MergePatchMediaType, "", &g); err != nil {
		return nil, err
	}
	return &g, nil
}
