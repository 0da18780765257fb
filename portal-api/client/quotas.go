package client

import (
	"context"
	"net/http"

	portalapi "github.com/garo-dev/garo/portal-api"
)

const quotasPath = apiPrefix + "/quotas"

// ListQuotas returns every quota with what its runners hold now (GET /api/v1/quotas;
// admin scope).
func (c *Client) ListQuotas(ctx context.Context) (*portalapi.QuotaList, error) {
	var l portalapi.QuotaList
	if err := c.getJSON(ctx, "list quotas", quotasPath, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateQuota creates a quota of a team or an agent group (POST /api/v1/quotas; admin
// scope). A quota of the same kind and subject gives IsConflict.
func (c *Client) CreateQuota(ctx context.Context, req portalapi.QuotaRequest) (*portalapi.Quota, error) {
	var q portalapi.Quota
	if err := c.sendJSON(ctx, "create quota of "+req.Kind+" "+req.Subject, http.MethodPost, quotasPath, req, "application/json", "", &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// GetQuota returns one quota (GET /api/v1/quotas/{id}; admin scope).
func (c *Client) GetQuota(ctx context.Context, id string) (*portalapi.Quota, error) {
	s, err := seg("quota id", id)
	if err != nil {
		return nil, err
	}
	var q portalapi.Quota
	if err := c.getJSON(ctx, "get quota "+id, quotasPath+"/"+s, nil, &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// ReplaceQuota sets the limits of a quota (PUT /api/v1/quotas/{id}; admin scope); a
// limit left out of req is no limit.
func (c *Client) ReplaceQuota(ctx context.Context, id string, req portalapi.QuotaRequest) (*portalapi.Quota, error) {
	s, err := seg("quota id", id)
	if err != nil {
		return nil, err
	}
	var q portalapi.Quota
	if err := c.sendJSON(ctx, "replace quota "+id, http.MethodPut, quotasPath+"/"+s, req, "application/json", "", &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// DeleteQuota removes a quota (DELETE /api/v1/quotas/{id}; admin scope).
func (c *Client) DeleteQuota(ctx context.Context, id string) error {
	s, err := seg("quota id", id)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "delete quota "+id, quotasPath+"/"+s, "")
}
