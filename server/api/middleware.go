package api

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
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
		if p := principal(c); p != nil {
			attrs = append(attrs, "token_id", p.TokenID)
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
			p, err := s.auth.Authenticate(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
			if err != nil {
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
