package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Health reports whether the server process is up (GET /healthz).
func (c *Client) Health(ctx context.Context) (*portalapi.Health, error) {
	var h portalapi.Health
	if err := c.getJSON(ctx, "health", "/healthz", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Ready reports whether the server can serve requests (GET /readyz). When the server
// answers 503 it returns the decoded Health (whose Checks say what is wrong) together
// with an error wrapping an *portalapi.APIError with Code portalapi.CodeUnavailable.
func (c *Client) Ready(ctx context.Context) (*portalapi.Health, error) {
	const op = "ready"
	r := request{op: op, method: http.MethodGet, path: "/readyz"}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.status == http.StatusServiceUnavailable && resp.readErr == nil {
		// The 503 body of /readyz is a Health, not an ErrorBody.
		var h portalapi.Health
		if json.Unmarshal(resp.body, &h) == nil && h.Status != "" {
			return &h, c.statusError(r, resp, &portalapi.APIError{
				Status:      resp.status,
				ErrorDetail: portalapi.ErrorDetail{Code: portalapi.CodeUnavailable, Message: notReadyMessage(h)},
			})
		}
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, c.statusError(r, resp, decodeError(resp.status, resp.body))
	}
	if resp.readErr != nil {
		return nil, fmt.Errorf("%s: read response: %w", op, resp.readErr)
	}
	var h portalapi.Health
	if err := decode(op, resp, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func notReadyMessage(h portalapi.Health) string {
	names := make([]string, 0, len(h.Checks))
	for name := range h.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+": "+h.Checks[name])
	}
	msg := "server not ready (" + h.Status + ")"
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return msg
}

// Version returns the build of the server (GET /api/v1/version).
func (c *Client) Version(ctx context.Context) (*portalapi.VersionInfo, error) {
	var v portalapi.VersionInfo
	if err := c.getJSON(ctx, "get server version", apiPrefix+"/version", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// OpenAPISpec returns the OpenAPI description the server serves (GET
// /api/v1/openapi.yaml), as YAML.
func (c *Client) OpenAPISpec(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, request{
		op: "get openapi spec", method: http.MethodGet, path: apiPrefix + "/openapi.yaml",
		// JSON stays acceptable so that an error body can still be negotiated.
		accept: "application/yaml, application/json;q=0.5",
	})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// WhoAmI describes the token the client authenticates with (GET /api/v1/whoami).
func (c *Client) WhoAmI(ctx context.Context) (*portalapi.WhoAmI, error) {
	var w portalapi.WhoAmI
	if err := c.getJSON(ctx, "whoami", apiPrefix+"/whoami", nil, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// GitHubRateLimits returns the GitHub rate-limit budgets the server has seen
// (GET /api/v1/github/rate-limit; agents:read, a token without owner prefixes).
func (c *Client) GitHubRateLimits(ctx context.Context) (*portalapi.GitHubRateLimits, error) {
	var l portalapi.GitHubRateLimits
	if err := c.getJSON(ctx, "read github rate limits", apiPrefix+"/github/rate-limit", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
