// Package api is garo-server's HTTP API (echo): the portal and garoctl routes under
// /api/v1, health and readiness, and the agent protocol under protocol.PathPrefix.
// Handlers are thin: they bind and check the request, call a service, and map errors to
// the one error body of portal-api.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/groups"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// Deps are what the API needs from the rest of the server.
type Deps struct {
	Store        *store.Store
	Log          *slog.Logger
	MaxBodyBytes int64
	Version      portalapi.VersionInfo
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	// Webhook receives GitHub's deliveries at POST /webhooks/github.
	Webhook http.Handler
	// Metrics serves /metrics (Prometheus text format).
	Metrics http.Handler
	// Agents serves the agent protocol under protocol.PathPrefix and the portal's agent
	// routes. nil builds one on Store with the default intervals, an in-process notifier
	// and no GitHub client (no runner credentials).
	Agents *agents.Service
}

type server struct {
	store    *store.Store
	log      *slog.Logger
	maxBody  int64
	version  portalapi.VersionInfo
	now      func() time.Time
	auth     *auth.Authenticator
	policies *policy.Service
	groups   *groups.Service
	tokens   *auth.Tokens
	jobs     *jobs.Query
	agents   *agents.Service
}

// New returns the HTTP handler of the API.
func New(d Deps) *echo.Echo {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	s := &server{
		store: d.Store, log: d.Log, maxBody: d.MaxBodyBytes, version: d.Version, now: now,
		auth:     auth.NewAuthenticator(d.Store, now),
		policies: policy.NewService(d.Store),
		groups:   groups.NewService(d.Store),
		tokens:   auth.NewTokens(d.Store),
		jobs:     jobs.NewQuery(d.Store),
		agents:   d.Agents,
	}
	if s.agents == nil {
		s.agents = agents.New(d.Store, agents.Config{Now: d.Now}, nil, nil, d.Log, nil)
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(withRequestID, s.accessLog, s.recoverPanic, s.limitBody)
	s.routes(e, d)
	return e
}

func (s *server) routes(e *echo.Echo, d Deps) {
	jsonBody := requireJSON(echo.MIMEApplicationJSON)
	patchBody := requireJSON(echo.MIMEApplicationJSON, portalapi.MergePatchMediaType)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	metrics := d.Metrics
	if metrics == nil {
		metrics = http.NotFoundHandler()
	}
	e.GET("/metrics", echo.WrapHandler(metrics))
	// The webhook handler applies its own, larger body limit (GitHub's 25 MB): limitBody
	// skips this route.
	webhook := d.Webhook
	if webhook == nil {
		webhook = http.NotFoundHandler()
	}
	e.POST(webhookPath, echo.WrapHandler(webhook))

	v1 := e.Group("/api/v1")
	v1.GET("/version", s.getVersion)
	v1.GET("/openapi.yaml", s.getOpenAPI)
	v1.GET("/whoami", s.whoami, s.require(""))

	read, write := s.require(portalapi.ScopePoliciesRead), s.require(portalapi.ScopePoliciesWrite)
	v1.GET("/policies", s.listPolicies, read)
	v1.GET("/repos/:owner/:repo/policies", s.listRepoPolicies, read)
	v1.POST("/repos/:owner/:repo/policies", s.createPolicy, write, jsonBody)
	v1.GET("/repos/:owner/:repo/policies/:name", s.getPolicy, read)
	v1.PUT("/repos/:owner/:repo/policies/:name", s.replacePolicy, write, jsonBody)
	v1.PATCH("/repos/:owner/:repo/policies/:name", s.patchPolicy, write, patchBody)
	v1.DELETE("/repos/:owner/:repo/policies/:name", s.deletePolicy, write)

	v1.GET("/jobs", s.listJobs, read)
	v1.GET("/repos/:owner/:repo/jobs", s.listRepoJobs, read)
	v1.GET("/repos/:owner/:repo/jobs/:job_id", s.getJob, read)

	agentsRead, agentsWrite := s.require(portalapi.ScopeAgentsRead), s.require(portalapi.ScopeAgentsWrite)
	v1.GET("/agent-groups", s.listGroups, agentsRead)
	v1.POST("/agent-groups", s.createGroup, agentsWrite, jsonBody)
	v1.GET("/agent-groups/:group", s.getGroup, agentsRead)
	v1.DELETE("/agent-groups/:group", s.deleteGroup, agentsWrite)

	admin := s.require(portalapi.ScopeAdmin)
	v1.GET("/tokens", s.listTokens, admin)
	v1.POST("/tokens", s.createToken, admin, jsonBody)
	v1.GET("/tokens/:id", s.getToken, admin)
	v1.DELETE("/tokens/:id", s.deleteToken, admin)
	v1.GET("/audit-events", s.listAuditEvents, admin)

	v1.GET("/agents", s.listAgents, agentsRead)
	v1.GET("/agents/:id", s.getAgent, agentsRead)
	v1.DELETE("/agents/:id", s.revokeAgent, agentsWrite)
	v1.GET("/agent-groups/:group/registration-tokens", s.listRegistrationTokens, agentsRead)
	v1.POST("/agent-groups/:group/registration-tokens", s.createRegistrationToken, agentsWrite, jsonBody)
	v1.GET("/agent-groups/:group/registration-tokens/:id", s.getRegistrationToken, agentsRead)
	v1.DELETE("/agent-groups/:group/registration-tokens/:id", s.deleteRegistrationToken, agentsWrite)

	s.agentRoutes(e)
}

func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, portalapi.Health{Status: "ok"})
}

// readyz answers 503 while the database does not answer, so a load balancer stops sending
// traffic to this replica.
func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return c.JSON(http.StatusServiceUnavailable, portalapi.Health{
			Status: "unavailable", Checks: map[string]string{"database": "unreachable"},
		})
	}
	return c.JSON(http.StatusOK, portalapi.Health{Status: "ok", Checks: map[string]string{"database": "ok"}})
}

func (s *server) getVersion(c echo.Context) error {
	return c.JSON(http.StatusOK, s.version)
}

func (s *server) getOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", portalapi.OpenAPISpec)
}

func (s *server) whoami(c echo.Context) error {
	p := principal(c)
	return c.JSON(http.StatusOK, portalapi.WhoAmI{
		TokenID: p.TokenID, Name: p.Name, Scopes: nonNil(p.Scopes), OwnerPrefixes: nonNil(p.OwnerPrefixes),
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
