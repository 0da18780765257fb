package api

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/shared/protocol"
)

const (
	webhookPath     = "/webhooks/github"
	headerRequestID = "X-Request-ID"
	ctxRequestID    = "garo.request_id"
	ctxPrincipal    = "garo.principal"
	ctxAuthFailure  = "garo.auth_failure"
)

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// withRequestID keeps a well-formed X-Request-ID of the caller or makes one, and echoes it.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !requestIDRe.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// accessLog logs one line per request with stable keys; never headers or bodies.
func (s *server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		attrs := []any{
			"method", c.Request().Method, "route", c.Path(), "status", c.Response().Status,
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "request_id", requestID(c),
		}
		attrs = append(attrs, "client_ip", c.RealIP())
		if p := principal(c); p != nil {
			attrs = append(attrs, "token_id", p.TokenID)
		}
		if reason, ok := c.Get(ctxAuthFailure).(string); ok {
			attrs = append(attrs, "auth_failure", reason)
		}
		if a := agentOf(c); a != nil {
			attrs = append(attrs, "agent_id", a.ID)
		}
		level := slog.LevelInfo
		if isRoutine(c.Path()) && c.Response().Status < 400 {
			level = slog.LevelDebug // probes, heartbeats and polls every few seconds would drown the log
		}
		s.log.Log(c.Request().Context(), level, "http request", attrs...)
		return nil
	}
}

// isRoutine reports the routes that every probe or agent calls every few seconds.
func isRoutine(route string) bool {
	switch route {
	case "/healthz", "/readyz", protocol.PathPrefix + "/heartbeat", protocol.PathPrefix + "/config", protocol.PathPrefix + "/jobs":
		return true
	}
	return false
}

// recoverPanic turns a panic in a handler into a 500 and a log line with the stack's value.
func (s *server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic in handler: %v", r)
			}
		}()
		return next(c)
	}
}

// limitBody refuses bodies above the limit: at once when Content-Length says so, and while
// reading otherwise (http.MaxBytesError, answered 413).
func (s *server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == webhookPath {
			return next(c)
		}
		req := c.Request()
		if req.ContentLength > s.maxBody {
			return newError(http.StatusRequestEntityTooLarge, portalapi.CodeTooLarge, "request body is larger than %d bytes", s.maxBody)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.maxBody)
		return next(c)
	}
}

// requireJSON refuses a body whose Content-Type is not one of types.
func requireJSON(types ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ct := c.Request().Header.Get(echo.HeaderContentType)
			mt, _, err := mime.ParseMediaType(ct)
			if err == nil {
				for _, t := range types {
					if mt == t {
						return next(c)
					}
				}
			}
			return newError(http.StatusUnsupportedMediaType, portalapi.CodeUnsupportedMedia,
				"Content-Type must be %v, got %q", types, ct)
		}
	}
}

// require authenticates the bearer token, then checks that it carries scope ("" for any
// valid token).
func (s *server) require(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.authAllowed(c); err != nil {
				return err
			}
			p, err := s.auth.Authenticate(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
			if err != nil {
				s.authFailed(c, credentialAPIToken, err)
				return err
			}
			c.Set(ctxPrincipal, p)
			if scope != "" && !p.Has(scope) {
				return forbidden("token %q lacks the scope %s", p.Name, scope)
			}
			return next(c)
		}
	}
}

func principal(c echo.Context) *auth.Principal {
	p, _ := c.Get(ctxPrincipal).(*auth.Principal)
	return p
}

// Credentials, the values of the credential label of garo_api_auth_failures_total.
const (
	credentialAPIToken     = "api_token"
	credentialAgent        = "agent_credential"
	credentialRegistration = "registration_token"
)

// authAllowed answers 429 (rateLimitedError) when the client's address failed to
// authenticate too often, before its credential is looked at.
func (s *server) authAllowed(c echo.Context) error {
	if wait := s.limiter.wait(c.RealIP()); wait > 0 {
		c.Set(ctxAuthFailure, "rate_limited")
		return &rateLimitedError{wait: wait}
	}
	return nil
}

// authFailed counts err against the client's address when it is a failed authentication
// (auth.Failure; a store error is not the client's), and notes its reason for the access
// log.
func (s *server) authFailed(c echo.Context, credential string, err error) {
	var f *auth.Failure
	if !errors.As(err, &f) {
		return
	}
	s.limiter.fail(c.RealIP(), credential, f.Reason)
	c.Set(ctxAuthFailure, credential+"_"+f.Reason)
}

// rateLimitedError is the answer to an authentication from an address that failed too
// often: 429 with Retry-After.
type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("too many failed authentications from this address: retry in %s", e.retryAfter())
}

// retryAfter rounds the wait up to whole seconds, as Retry-After carries it.
func (e *rateLimitedError) retryAfter() time.Duration {
	return max(time.Second, (e.wait+time.Second-1)/time.Second*time.Second)
}

// ipExtractor decides the client address of a request (echo's RealIP): the connection's
// peer, or, when the peer is one of the trusted proxies, the first address in
// X-Forwarded-For, read from the right, that is not a trusted proxy. Without trusted
// proxies no header is believed: echo would otherwise take X-Forwarded-For and
// X-Real-IP from anyone.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
