package portalapi

import (
	"fmt"
	"strings"
)

// Error codes used in ErrorBody.Error.Code. Clients switch on the code, not the message.
const (
	CodeInvalidRequest     = "invalid_request"     // 400: malformed or invalid body, query or path
	CodeUnauthorized       = "unauthorized"        // 401: missing, unknown, expired or revoked token
	CodeForbidden          = "forbidden"           // 403: token lacks the scope or the repository
	CodeNotFound           = "not_found"           // 404
	CodeMethodNotAllowed   = "method_not_allowed"  // 405
	CodeConflict           = "conflict"            // 409: already exists, or still in use
	CodePreconditionFailed = "precondition_failed" // 412: If-Match does not match
	CodeTooLarge           = "request_too_large"   // 413
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeRateLimited        = "rate_limited" // 429: too many failed authentications from the client's address; Retry-After says when
	CodeUnavailable        = "unavailable"  // 503
	CodeInternal           = "internal"     // 500
)

// ErrorBody is the one error body of the API: {"error":{"code":"...","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries a stable code, a human message and, for validation errors, one
// entry per offending field.
type ErrorDetail struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// FieldError names one invalid field by its JSON path (e.g. "runner.image").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (f FieldError) Error() string { return f.Field + ": " + f.Message }

// APIError is an error answer of the API as the client sees it.
type APIError struct {
	Status int
	ErrorDetail
}

func (e *APIError) Error() string {
	return fmt.Sprintf("garo api: %d %s: %s", e.Status, e.Code, e.Message)
}

// ValidationError lists every invalid field of a request; the server answers it with 400
// and one FieldError per field.
type ValidationError struct {
	Fields []FieldError
}

// Invalid returns a ValidationError for one field.
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid request: " + strings.Join(parts, "; ")
}
