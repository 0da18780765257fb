package client

import (
	"context"
	"net/http"
	"net/url"

	portalapi "github.com/garo-dev/garo/portal-api"
)

const agentsPath = apiPrefix + "/agents"

// AgentQuery filters the agent list. Empty fields are left out.
type AgentQuery struct {
	Group  string
	Status string // active, stale, offline or revoked
}

// ListAgents returns the agents q selects (GET /api/v1/agents; not paginated).
func (c *Client) ListAgents(ctx context.Context, q AgentQuery) (*portalapi.AgentList, error) {
	v := url.Values{}
	if q.Group != "" {
		v.Set("group", q.Group)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	var l portalapi.AgentList
	if err := c.getJSON(ctx, "list agents", agentsPath, v, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetAgent returns one agent (GET /api/v1/agents/{id}).
func (c *Client) GetAgent(ctx context.Context, id string) (*portalapi.Agent, error) {
	s, err := seg("agent id", id)
	if err != nil {
		return nil, err
	}
	var a portalapi.Agent
	if err := c.getJSON(ctx, "get agent "+id, agentsPath+"/"+s, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// RevokeAgent revokes an agent (DELETE /api/v1/agents/{id}): its next call gets 401 and
// its repositories move to the other agents of its group.
func (c *Client) RevokeAgent(ctx context.Context, id string) error {
	s, err := seg("agent id", id)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "revoke agent "+id, agentsPath+"/"+s, "")
}

// DrainAgent asks an agent to drain (PUT /api/v1/agents/{id}/drain): it creates no
// runner, lets busy ones finish, removes idle ones, and its repositories move to other
// agents of its group. Idempotent; it returns the agent as it is then.
func (c *Client) DrainAgent(ctx context.Context, id string) (*portalapi.Agent, error) {
	return c.drainReq(ctx, "drain agent "+id, http.MethodPut, id)
}

// UndrainAgent lifts an agent's drain (DELETE /api/v1/agents/{id}/drain). Idempotent;
// it returns the agent as it is then.
func (c *Client) UndrainAgent(ctx context.Context, id string) (*portalapi.Agent, error) {
	return c.drainReq(ctx, "undrain agent "+id, http.MethodDelete, id)
}

func (c *Client) drainReq(ctx context.Context, op, method, id string) (*portalapi.Agent, error) {
	s, err := seg("agent id", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: method, path: agentsPath + "/" + s + "/drain"})
	if err != nil {
		return nil, err
	}
	var a portalapi.Agent
	if err := decode(op, resp, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func registrationTokensPath(group string) (string, error) {
	s, err := seg("agent group name", group)
	if err != nil {
		return "", err
	}
	return groupsPath + "/" + s + "/registration-tokens", nil
}

// CreateRegistrationToken creates a registration token for group (POST
// /api/v1/agent-groups/{group}/registration-tokens). The returned Token is the secret,
// shown this once; the caller must not log it.
func (c *Client) CreateRegistrationToken(ctx context.Context, group string, req portalapi.RegistrationTokenRequest) (*portalapi.CreatedRegistrationToken, error) {
	p, err := registrationTokensPath(group)
	if err != nil {
		return nil, err
	}
	var t portalapi.CreatedRegistrationToken
	if err := c.sendJSON(ctx, "create registration token for "+group, http.MethodPost, p, req, "application/json", "", &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListRegistrationTokens lists the registration tokens of group, without secrets.
func (c *Client) ListRegistrationTokens(ctx context.Context, group string) (*portalapi.RegistrationTokenList, error) {
	p, err := registrationTokensPath(group)
	if err != nil {
		return nil, err
	}
	var l portalapi.RegistrationTokenList
	if err := c.getJSON(ctx, "list registration tokens of "+group, p, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetRegistrationToken describes one registration token of group.
func (c *Client) GetRegistrationToken(ctx context.Context, group, id string) (*portalapi.RegistrationToken, error) {
	p, err := registrationTokensPath(group)
	if err != nil {
		return nil, err
	}
	s, err := seg("registration token id", id)
	if err != nil {
		return nil, err
	}
	var t portalapi.RegistrationToken
	if err := c.getJSON(ctx, "get registration token "+id, p+"/"+s, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteRegistrationToken deletes a registration token of group; agents that registered
// with it keep their credentials.
func (c *Client) DeleteRegistrationToken(ctx context.Context, group, id string) error {
	p, err := registrationTokensPath(group)
	if err != nil {
		return err
	}
	s, err := seg("registration token id", id)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "delete registration token "+id, p+"/"+s, "")
}
