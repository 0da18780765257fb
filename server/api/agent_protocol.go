package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

const ctxAgent = "garo.agent"

// agentRoutes registers the agent protocol (see shared/protocol). It is not part of the
// portal's openapi.yaml: agents are its only clients, and shared/protocol is its contract.
func (s *server) agentRoutes(e *echo.Echo) {
	jsonBody := requireJSON(echo.MIMEApplicationJSON)
	g := e.Group(protocol.PathPrefix, s.requireClientCert)
	g.POST("/register", s.agentRegister, jsonBody)
	g.POST("/heartbeat", s.agentHeartbeat, s.requireAgent, jsonBody)
	g.GET("/config", s.agentConfig, s.requireAgent)
	g.GET("/jobs", s.agentJobs, s.requireAgent)
	g.POST("/runners/credentials", s.agentCredentials, s.requireAgent, jsonBody)
	g.POST("/runners/remove", s.agentRemoveRunner, s.requireAgent, jsonBody)
	g.POST("/unregister", s.agentUnregister, s.requireAgent)
}

// requireClientCert refuses an agent call without a verified client certificate when
// the server requires one (server.tls.require_agent_client_cert). A certificate of
// another CA never gets here: the TLS handshake refused it already.
func (s *server) requireClientCert(next echo.HandlerFunc) echo.HandlerFunc {
	if !s.agentCert {
		return next
	}
	return func(c echo.Context) error {
		if st := c.Request().TLS; st == nil || len(st.VerifiedChains) == 0 {
			return forbidden("this server requires a client certificate on %s: give the agent server.cert_file and server.key_file, "+
				"a certificate of the CA in the server's server.tls.client_ca_file", protocol.PathPrefix)
		}
		return next(c)
	}
}

// requireAgent authenticates the agent credential; the service records that the agent
// was seen.
func (s *server) requireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.authAllowed(c); err != nil {
			return err
		}
		a, err := s.agents.Authenticate(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
		if err != nil {
			s.authFailed(c, credentialAgent, err)
			return err
		}
		if err := checkClientKey(a, clientKey(c.Request())); err != nil {
			return err
		}
		c.Set(ctxAgent, a)
		return next(c)
	}
}

// clientKey is the hex SHA-256 of the public key of the request's verified client
// certificate, or "" when it came without one.
func clientKey(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// checkClientKey refuses a call of an agent bound to a client certificate's key at
// registration that does not present a certificate on that key. A renewed certificate
// on the same key passes; a new key needs a new registration.
func checkClientKey(a *store.Agent, got string) error {
	switch {
	case a.ClientKeySHA256 == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.ClientKeySHA256)) == 1:
		return nil
	case got == "":
		return forbidden("agent %s registered with a client certificate and must present one on the same key "+
			"(server.cert_file and server.key_file)", a.ID)
	}
	return forbidden("agent %s presented a client certificate on another key than the one it registered with: "+
		"renew its certificate on the same key, or register the agent again", a.ID)
}

func agentOf(c echo.Context) *store.Agent {
	a, _ := c.Get(ctxAgent).(*store.Agent)
	return a
}

func (s *server) agentRegister(c echo.Context) error {
	var req protocol.RegisterRequest
	if err := s.authAllowed(c); err != nil {
		return err
	}
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	out, err := s.agents.RegisterWithClientKey(c.Request().Context(), req, clientKey(c.Request()))
	if err != nil {
		s.authFailed(c, credentialRegistration, err)
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

func (s *server) agentHeartbeat(c echo.Context) error {
	var req protocol.HeartbeatRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	out, err := s.agents.Heartbeat(c.Request().Context(), agentOf(c), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *server) agentConfig(c echo.Context) error {
	wait, have, err := s.pollParams(c)
	if err != nil {
		return err
	}
	cfg, changed, err := s.agents.WaitConfig(c.Request().Context(), agentOf(c), have, wait)
	if err != nil {
		return err
	}
	if !changed {
		return notModified(c, have)
	}
	c.Response().Header().Set("ETag", strconv.Quote(cfg.Version))
	return c.JSON(http.StatusOK, cfg)
}

func (s *server) agentJobs(c echo.Context) error {
	wait, have, err := s.pollParams(c)
	if err != nil {
		return err
	}
	snap, changed, err := s.agents.WaitJobs(c.Request().Context(), agentOf(c), have, wait)
	if err != nil {
		return err
	}
	if !changed {
		return notModified(c, have)
	}
	c.Response().Header().Set("ETag", strconv.Quote(snap.Version))
	return c.JSON(http.StatusOK, snap)
}

func notModified(c echo.Context, version string) error {
	c.Response().Header().Set("ETag", strconv.Quote(version))
	return c.NoContent(http.StatusNotModified)
}

// pollParams reads ?wait= (a duration; default and ceiling the server's long-poll
// interval, longer waits are cut to it) and If-None-Match (the version the agent has).
func (s *server) pollParams(c echo.Context) (time.Duration, string, error) {
	limit := s.agents.LongPoll()
	wait := limit
	if v := c.QueryParam("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, "", portalapi.Invalid("wait", "must be a duration such as 30s (at most %s), got %q", limit, v)
		}
		wait = min(d, limit)
	}
	have := strings.TrimSpace(c.Request().Header.Get("If-None-Match"))
	have = strings.Trim(strings.TrimPrefix(have, "W/"), `"`)
	return wait, have, nil
}

func (s *server) agentCredentials(c echo.Context) error {
	var req protocol.CredentialsRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	out, err := s.agents.Credentials(c.Request().Context(), agentOf(c), req)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

func (s *server) agentRemoveRunner(c echo.Context) error {
	var req protocol.RemoveRunnerRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	if err := s.agents.RemoveRunner(c.Request().Context(), agentOf(c), req); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *server) agentUnregister(c echo.Context) error {
	if err := s.agents.Unregister(c.Request().Context(), agentOf(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// classifyAgent maps the errors of the agent protocol (its sentinels, shared/protocol)
// and of GitHub behind it. The messages of GitHub errors name the call and GitHub's
// answer, never a credential.
func classifyAgent(err error) (errorAnswer, bool) {
	if status, code, ok := protocol.Answer(err); ok {
		msg := err.Error()
		if code == protocol.CodeRunnerBusy {
			msg += ": keep the runner and try again after its job"
		}
		return errorAnswer{status: status, code: code, msg: msg}, true
	}
	var rle *githubapp.RateLimitError
	var refusal *githubapp.RefusalError
	switch {
	case errors.As(err, &refusal):
		// A runner group that may not serve the repository, or repository-level runners
		// refused: final (a 4xx), with the reason alone, which the agent shows as the
		// policy's back-off reason.
		return errorAnswer{status: http.StatusUnprocessableEntity, code: protocol.CodeGitHubRefused, msg: refusal.Reason}, true
	case errors.Is(err, githubapp.ErrRunnerExists):
		return errorAnswer{status: http.StatusConflict, code: protocol.CodeConflict, msg: err.Error() + ": use another runner name"}, true
	case errors.As(err, &rle):
		wait := max(time.Until(rle.RetryAt), time.Second)
		return errorAnswer{status: http.StatusServiceUnavailable, code: protocol.CodeGitHubLimit, msg: err.Error(), retryAfter: wait}, true
	case errors.Is(err, githubapp.ErrNotConfigured):
		return errorAnswer{status: http.StatusServiceUnavailable, code: protocol.CodeUnavailable, msg: err.Error(), retryAfter: time.Minute}, true
	case errors.Is(err, githubapp.ErrUnavailable):
		return errorAnswer{status: http.StatusServiceUnavailable, code: protocol.CodeUnavailable, msg: err.Error()}, true
	case errors.Is(err, githubapp.ErrNotInstalled), errors.Is(err, githubapp.ErrUnauthorized), errors.Is(err, githubapp.ErrNotFound):
		return errorAnswer{status: http.StatusBadGateway, code: protocol.CodeGitHubError, msg: err.Error()}, true
	}
	return errorAnswer{}, false
}
