// Package api is garo-server's HTTP API (echo): the portal and garoctl routes under
// /api/v1, health and readiness, and the agent protocol under protocol.PathPrefix.
// Handlers are thin: they bind and check the request, call a service, and map errors to
// the one error body of portal-api.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/groups"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/usage"
)

// Deps are the services the API serves, all built by the composition root (server/app);
// the API builds none itself. Every field is required.
type Deps struct {
	// Store answers readiness (Ping) and the audit trail.
	Store *store.Store
	Log   *slog.Logger
	// MaxBodyBytes limits request bodies (but the webhook's, which applies its own).
	MaxBodyBytes int64
	Version      portalapi.VersionInfo
	// Auth authenticates portal and garoctl tokens.
	Auth     *auth.Authenticator
	Policies *policy.Service
	Groups   *groups.Service
	// Quotas serves the admin routes of quotas (team and agent-group limits).
	Quotas *quotas.Service
	// Usage reports what runners held (/api/v1/usage); nil: usage.NewService on Store.
	Usage  *usage.Service
	Tokens *auth.Tokens
	Jobs   *jobs.Query
	// Agents serves the agent protocol under protocol.PathPrefix and the portal's agent
	// routes.
	Agents *agents.Service
	// GitHub is the GitHub client, whose rate-limit budgets GET /api/v1/github/rate-limit
	// shows.
	GitHub GitHubBudgets
	// Webhook receives GitHub's deliveries at POST /webhooks/github.
	Webhook http.Handler
	// Metrics serves /metrics (Prometheus text format).
	Metrics http.Handler
	// RequireAgentClientCert refuses agent protocol calls that came without a verified
	// client certificate (server.tls.require_agent_client_cert). The listener verifies a
	// certificate when one is given; this is where one is required, since the portal API
	// shares the port and TLS client authentication is per connection. Optional.
	RequireAgentClientCert bool

	// Optional.

	// AuthLimit bounds failed authentications per client address; nil is
	// DefaultAuthLimit, a zero AuthLimit turns the limit off (failures are still counted).
	AuthLimit *AuthLimit
	// TrustedProxies are the networks of the reverse proxies whose X-Forwarded-For names
	// the client; empty: the client is the connection's peer, and the header is ignored.
	TrustedProxies []netip.Prefix
	// Registry registers the API's own metrics (garo_api_*); nil registers them nowhere.
	Registry prometheus.Registerer
	// Console serves the web console (server/console) under /ui/; nil serves none.
	Console http.Handler
}

// check names every missing dependency.
func (d Deps) check() error {
	var errs []error
	for name, missing := range map[string]bool{
		"Store": d.Store == nil, "Log": d.Log == nil, "MaxBodyBytes": d.MaxBodyBytes <= 0,
		"Auth": d.Auth == nil, "Policies": d.Policies == nil, "Groups": d.Groups == nil, "Quotas": d.Quotas == nil,
		"Tokens": d.Tokens == nil, "Jobs": d.Jobs == nil, "Agents": d.Agents == nil,
		"GitHub": d.GitHub == nil, "Webhook": d.Webhook == nil, "Metrics": d.Metrics == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("api.Deps.%s is not set", name))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

type server struct {
	store    *store.Store
	log      *slog.Logger
	maxBody  int64
	version  portalapi.VersionInfo
	auth     *auth.Authenticator
	policies *policy.Service
	groups   *groups.Service
	quotas   *quotas.Service
	usage    *usage.Service
	tokens   *auth.Tokens
	jobs     *jobs.Query
	agents   *agents.Service
	github   GitHubBudgets
	limiter  *authLimiter
	// agentCert: agent calls need a verified client certificate.
	agentCert bool
}

// New returns the HTTP handler of the API on the services of d, or an error naming what
// d lacks.
func New(d Deps) (*echo.Echo, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s := &server{
		store: d.Store, log: d.Log, maxBody: d.MaxBodyBytes, version: d.Version,
		auth: d.Auth, policies: d.Policies, groups: d.Groups, quotas: d.Quotas, tokens: d.Tokens, jobs: d.Jobs,
		agents: d.Agents, github: d.GitHub, agentCert: d.RequireAgentClientCert, usage: d.Usage,
	}
	if s.usage == nil {
		s.usage = usage.NewService(d.Store, nil)
	}
	limit := DefaultAuthLimit
	if d.AuthLimit != nil {
		limit = *d.AuthLimit
	}
	s.limiter = newAuthLimiter(limit, nil, d.Registry)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(d.TrustedProxies)
	e.HTTPErrorHandler = s.errorHandler
	e.Use(withRequestID, s.accessLog, s.recoverPanic, s.limitBody, retryRead)
	s.routes(e, d)
	return e, nil
}

func (s *server) routes(e *echo.Echo, d Deps) {
	jsonBody := requireJSON(echo.MIMEApplicationJSON)
	patchBody := requireJSON(echo.MIMEApplicationJSON, portalapi.MergePatchMediaType)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(d.Metrics))
	// The webhook handler applies its own, larger body limit (GitHub's 25 MB): limitBody
	// skips this route.
	e.POST(webhookPath, echo.WrapHandler(d.Webhook))

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
	v1.GET("/runners", s.listRunners, read)
	v1.GET("/usage", s.getUsage, read)
	v1.GET("/repos/:owner/:repo/runners", s.listRepoRunners, read)

	agentsRead, agentsWrite := s.require(portalapi.ScopeAgentsRead), s.require(portalapi.ScopeAgentsWrite)
	v1.GET("/agent-groups", s.listGroups, agentsRead)
	v1.POST("/agent-groups", s.createGroup, agentsWrite, jsonBody)
	v1.GET("/agent-groups/:group", s.getGroup, agentsRead)
	v1.PATCH("/agent-groups/:group", s.patchGroup, agentsWrite, patchBody)
	v1.DELETE("/agent-groups/:group", s.deleteGroup, agentsWrite)

	admin := s.require(portalapi.ScopeAdmin)
	v1.GET("/tokens", s.listTokens, admin)
	v1.POST("/tokens", s.createToken, admin, jsonBody)
	v1.GET("/tokens/:id", s.getToken, admin)
	v1.DELETE("/tokens/:id", s.deleteToken, admin)
	v1.GET("/audit-events", s.listAuditEvents, admin)
	v1.GET("/quotas", s.listQuotas, admin)
	v1.POST("/quotas", s.createQuota, admin, jsonBody)
	v1.GET("/quotas/:id", s.getQuota, admin)
	v1.PUT("/quotas/:id", s.replaceQuota, admin, jsonBody)
	v1.DELETE("/quotas/:id", s.deleteQuota, admin)

	v1.GET("/agents", s.listAgents, agentsRead)
	v1.GET("/agents/:id", s.getAgent, agentsRead)
	v1.DELETE("/agents/:id", s.revokeAgent, agentsWrite)
	v1.PUT("/agents/:id/drain", s.drainAgent, agentsWrite)
	v1.DELETE("/agents/:id/drain", s.undrainAgent, agentsWrite)
	v1.GET("/github/rate-limit", s.getGitHubRateLimits, agentsRead)
	v1.GET("/agent-groups/:group/registration-tokens", s.listRegistrationTokens, agentsRead)
	v1.POST("/agent-groups/:group/registration-tokens", s.createRegistrationToken, agentsWrite, jsonBody)
	v1.GET("/agent-groups/:group/registration-tokens/:id", s.getRegistrationToken, agentsRead)
	v1.DELETE("/agent-groups/:group/registration-tokens/:id", s.deleteRegistrationToken, agentsWrite)

	s.agentRoutes(e)

	if d.Console != nil {
		// "/ui*": /ui (redirected) and everything under /ui/; a catch-all, so not an
		// operation of openapi.yaml (the console is files, not API).
		e.GET("/ui*", echo.WrapHandler(d.Console))
		e.HEAD("/ui*", echo.WrapHandler(d.Console))
	}
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
