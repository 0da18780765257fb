package client

import (
	"context"
	"net/http"

	portalapi "github.com/garo-dev/garo/portal-api"
)

const tokensPath = apiPrefix + "/tokens"

// ListTokens returns every API token, without secrets (GET /api/v1/tokens; admin scope).
func (c *Client) ListTokens(ctx context.Context) (*portalapi.TokenList, error) {
	var l portalapi.TokenList
	if err := c.getJSON(ctx, "list tokens", tokensPath, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateToken creates an API token (POST /api/v1/tokens; admin scope). The returned
// CreatedToken.Secret is shown this once; the caller must not log it.
func (c *Client) CreateToken(ctx context.Context, req portalapi.TokenRequest) (*portalapi.CreatedToken, error) {
	var t portalapi.CreatedToken
	if err := c.sendJSON(ctx, "create token "+req.Name, http.MethodPost, tokensPath, req, "application/json", "", &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// GetToken describes one API token (GET /api/v1/tokens/{id}; admin scope).
func (c *Client) GetToken(ctx context.Context, id string) (*portalapi.Token, error) {
	s, err := seg("token id", id)
	if err != nil {
		return nil, err
	}
	var t portalapi.Token
	if err := c.getJSON(ctx, "get token "+id, tokensPath+"/"+s, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteToken revokes an API token (DELETE /api/v1/tokens/{id}; admin scope). Deleting
// the last admin token gives IsConflict.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	s, err := seg("token id", id)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "delete token "+id, tokensPath+"/"+s, "")
}
