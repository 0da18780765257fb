package client

import (
	"context"
	"net/url"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// UsageFilter selects a usage report; empty fields take the server's defaults (the
// last seven days, by owner prefix).
type UsageFilter struct {
	Since, Until string // YYYY-MM-DD
	By           string // portalapi.UsageBy*
	Prefixes     []string
}

func (f UsageFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"since": f.Since, "until": f.Until, "by": f.By} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, p := range f.Prefixes {
		q.Add("prefix", p)
	}
	return q
}

// Usage returns what runners held, by day (GET /api/v1/usage; scope policies:read).
func (c *Client) Usage(ctx context.Context, f UsageFilter) (*portalapi.UsageReport, error) {
	var r portalapi.UsageReport
	if err := c.getJSON(ctx, "get usage", apiPrefix+"/usage", f.query(), &r); err != nil {
		return nil, err
	}
	return &r, nil
}
