package client

import (
	"errors"
	"net/http"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// StatusCode returns the HTTP status of the API error in err's chain, or 0 when there is
// none (a network error, a cancelled context, an invalid argument).
func StatusCode(err error) int {
	var apiErr *portalapi.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// IsNotFound reports whether err holds a 404 answer.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err holds a 409 answer: the resource already exists, or is
// still in use.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// IsPreconditionFailed reports whether err holds a 412 answer: the If-Match entity tag
// is stale.
func IsPreconditionFailed(err error) bool { return StatusCode(err) == http.StatusPreconditionFailed }

// IsForbidden reports whether err holds a 403 answer: the token lacks the scope or the
// repository.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsUnauthorized reports whether err holds a 401 answer: the token is missing, unknown,
// expired or revoked.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }
