package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/store/dberr"
)

// apiError is an error with its HTTP answer already decided.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *apiError {
	return newError(http.StatusForbidden, portalapi.CodeForbidden, format, args...)
}

func notFoundError(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, portalapi.CodeNotFound, format, args...)
}

// errorHandler answers every error with the one error body of the API. It is echo's
// HTTPErrorHandler, so it also covers echo's own 404, 405 and 413.
func (s *server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	body := s.classify(err, c)
	switch body.status {
	case http.StatusUnauthorized:
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="garo"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		retry := "5"
		if body.retryAfter > 0 {
			retry = strconv.FormatInt(int64((body.retryAfter+time.Second-1)/time.Second), 10)
		}
		c.Response().Header().Set("Retry-After", retry)
	}
	detail := portalapi.ErrorDetail{Code: body.code, Message: body.msg, Fields: body.fields}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(body.status)
	} else {
		werr = c.JSON(body.status, portalapi.ErrorBody{Error: detail})
	}
	if werr != nil {
		s.log.Debug("write error response", "err", werr, "request_id", requestID(c))
	}
}

type errorAnswer struct {
	status     int
	code       string
	msg        string
	fields     []portalapi.FieldError
	retryAfter time.Duration // of a 503 or 429; 0 means the default
}

// classify maps an error from a handler or a service to its answer. Anything it does not
// know is a 500 whose details go to the log, not to the client.
func (s *server) classify(err error, c echo.Context) errorAnswer {
	var (
		ae       *apiError
		verr     *portalapi.ValidationError
		ferr     portalapi.FieldError
		herr     *echo.HTTPError
		maxBytes *http.MaxBytesError
		limited  *rateLimitedError
	)
	if answer, ok := classifyAgent(err); ok {
		return answer
	}
	switch {
	case errors.As(err, &limited):
		return errorAnswer{status: http.StatusTooManyRequests, code: portalapi.CodeRateLimited, msg: limited.Error(), retryAfter: limited.retryAfter()}
	case errors.As(err, &ae):
		return errorAnswer{status: ae.status, code: ae.code, msg: ae.msg}
	case errors.As(err, &verr):
		return errorAnswer{status: http.StatusBadRequest, code: portalapi.CodeInvalidRequest, msg: verr.Error(), fields: verr.Fields}
	case errors.As(err, &ferr):
		return errorAnswer{status: http.StatusBadRequest, code: portalapi.CodeInvalidRequest, msg: "invalid request: " + ferr.Error(), fields: []portalapi.FieldError{ferr}}
	case errors.As(err, &maxBytes):
		return errorAnswer{status: http.StatusRequestEntityTooLarge, code: portalapi.CodeTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", maxBytes.Limit)}
	case errors.Is(err, auth.ErrForbidden):
		return errorAnswer{status: http.StatusForbidden, code: portalapi.CodeForbidden, msg: err.Error()}
	case errors.Is(err, auth.ErrUnauthenticated):
		return errorAnswer{status: http.StatusUnauthorized, code: portalapi.CodeUnauthorized, msg: err.Error()}
	case errors.Is(err, policy.ErrPreconditionFailed):
		return errorAnswer{status: http.StatusPreconditionFailed, code: portalapi.CodePreconditionFailed, msg: err.Error() + ": If-Match does not match; fetch the policy again"}
	case errors.Is(err, store.ErrNotFound):
		return errorAnswer{status: http.StatusNotFound, code: portalapi.CodeNotFound, msg: err.Error()}
	case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrVersionMismatch):
		return errorAnswer{status: http.StatusConflict, code: portalapi.CodeConflict, msg: err.Error()}
	case errors.As(err, &herr):
		return s.classifyEcho(herr, c)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		// The client went away mid-request, and what failed next may say so only
		// indirectly: database/sql rolls a transaction back when its context ends, and the
		// next statement in it fails with sql.ErrTxDone (seen under load, issue 15).
		c.Request().Context().Err() != nil:
		return errorAnswer{status: http.StatusServiceUnavailable, code: portalapi.CodeUnavailable, msg: "the request was cancelled or timed out"}
	}
	// By the error itself first: a restart of the database is often over before a ping
	// could tell (issue 14, finding 4); the ping is for what the error does not say.
	if dberr.Unavailable(err) || s.databaseDown(c) {
		s.log.Warn("request failed: database unreachable", "err", err, "request_id", requestID(c),
			"method", c.Request().Method, "route", c.Path())
		return errorAnswer{status: http.StatusServiceUnavailable, code: portalapi.CodeUnavailable,
			msg: "the database is unreachable; retry later"}
	}
	s.log.Error("request failed", "err", err, "request_id", requestID(c),
		"method", c.Request().Method, "route", c.Path())
	return errorAnswer{status: http.StatusInternalServerError, code: portalapi.CodeInternal,
		msg: "internal error; the server log has the details under request_id " + requestID(c)}
}

// databaseDown tells an outage (answered 503, retry later) from a bug (500) when a
// request failed for a reason classify does not know.
func (s *server) databaseDown(c echo.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), time.Second)
	defer cancel()
	return s.store.Ping(ctx) != nil
}

func (s *server) classifyEcho(herr *echo.HTTPError, c echo.Context) errorAnswer {
	msg := http.StatusText(herr.Code)
	if m, ok := herr.Message.(string); ok && m != "" {
		msg = m
	}
	switch herr.Code {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no route %s %s", c.Request().Method, c.Request().URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("%s is not allowed on %s", c.Request().Method, c.Request().URL.Path)
	}
	code := map[int]string{
		http.StatusNotFound:              portalapi.CodeNotFound,
		http.StatusMethodNotAllowed:      portalapi.CodeMethodNotAllowed,
		http.StatusRequestEntityTooLarge: portalapi.CodeTooLarge,
		http.StatusUnsupportedMediaType:  portalapi.CodeUnsupportedMedia,
		http.StatusUnauthorized:          portalapi.CodeUnauthorized,
		http.StatusForbidden:             portalapi.CodeForbidden,
		http.StatusServiceUnavailable:    portalapi.CodeUnavailable,
	}[herr.Code]
	if code == "" {
		if herr.Code >= 500 {
			s.log.Error("request failed", "err", herr)
			return errorAnswer{status: http.StatusInternalServerError, code: portalapi.CodeInternal, msg: "internal error"}
		}
		code = portalapi.CodeInvalidRequest
	}
	return errorAnswer{status: herr.Code, code: code, msg: msg}
}

// retryRead runs a read (GET or HEAD) once more when it failed because the database went
// away under it (a restart, a terminated backend): the pool hands the second attempt
// another connection, checked before use, so a blip of the database costs the caller
// nothing. A write is never repeated here: its caller retries on the 503.
func retryRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		m := c.Request().Method
		if err == nil || (m != http.MethodGet && m != http.MethodHead) || c.Response().Committed || !dberr.Unavailable(err) {
			return err
		}
		if c.Request().Context().Err() != nil {
			return err
		}
		return next(c)
	}
}
