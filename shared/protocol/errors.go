package protocol

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the agent protocol, in the API's one error body
// {"error":{"code","message"}}. The codes it shares with the portal API (unauthorized,
// not_found, invalid_request, conflict, unavailable) have the portal API's values.
const (
	CodeUnauthorized   = "unauthorized"    // 401: the credential or registration token is revoked, unknown or used up
	CodeNotOwner       = "not_owner"       // 403: the agent does not serve that repository
	CodeNotFound       = "not_found"       // 404: no such (enabled) policy
	CodeRunnerBusy     = "runner_busy"     // 409 on remove: GitHub says the runner runs a job
	CodeConflict       = "conflict"        // 409 on credentials: GitHub already has a runner of that name
	CodeInvalidRequest = "invalid_request" // 400: error.fields names what is wrong
	CodeUnavailable    = "unavailable"     // 503: GitHub cannot be reached, or the server has no GitHub credentials; Retry-After says when
	CodeRateLimited    = "rate_limited"    // 429: too many failed authentications from the agent's address; Retry-After says when
	CodeGitHubLimit    = "github_limit"    // 503: GitHub's rate limit; Retry-After says when
	CodeQuotaFull      = "quota_full"      // 409 on credentials: a quota (a team's, an agent group's) has no room for the runner now; try again later
	CodeGitHubError    = "github_error"    // 502: GitHub refused the server (App not installed, bad credentials, unknown repository); retry with backoff
	// CodeGitHubRefused, 422 on credentials: GitHub will not take the policy's runners for a
	// reason retrying does not cure (its runner group may not serve the repository, or the
	// organisation refuses repository-level runners there); the message says what to
	// change. Final for the call: the agent backs the policy off, as after a failed creation.
	CodeGitHubRefused = "github_refused"
)

// Sentinel errors of the protocol, the contract both sides check with errors.Is: the
// server answers an error that wraps one of them with its status and code (Answer), and
// the agent's client turns such an answer back into an *Error that Is it (Sentinel).
var (
	// ErrUnauthorized: 401, the agent credential (or registration token) is revoked,
	// unknown or used up. Terminal: the agent stops provisioning and must be registered
	// again; it never retries a 401.
	ErrUnauthorized = errors.New("agent not authenticated")
	// ErrNotOwner: 403 not_owner, the agent does not serve the repository it named.
	ErrNotOwner = errors.New("agent does not serve the repository")
	// ErrRunnerBusy: 409 runner_busy, GitHub says the runner runs a job: keep it and try
	// again after its job.
	ErrRunnerBusy = errors.New("runner is busy")
	// ErrNotFound: 404, what the call names does not exist (a missing or disabled policy,
	// or a route an older server lacks).
	ErrNotFound = errors.New("not found")
	// ErrQuotaFull: 409 quota_full, a quota that covers the runner (an administrator's
	// limit on a team or an agent group) has no room now: hold the runner back and ask
	// again later; it is no failure of the policy.
	ErrQuotaFull = errors.New("quota full")
)

// answers pairs each sentinel with the answer that carries it.
var answers = []struct {
	err    error
	status int
	code   string
}{
	{ErrUnauthorized, http.StatusUnauthorized, CodeUnauthorized},
	{ErrNotOwner, http.StatusForbidden, CodeNotOwner},
	{ErrRunnerBusy, http.StatusConflict, CodeRunnerBusy},
	{ErrNotFound, http.StatusNotFound, CodeNotFound},
	{ErrQuotaFull, http.StatusConflict, CodeQuotaFull},
}

// Answer returns the status and code the server answers err with when err is (or wraps)
// one of the protocol's sentinels; ok is false otherwise.
func Answer(err error) (status int, code string, ok bool) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return a.status, a.code, true
		}
	}
	return 0, "", false
}

// Sentinel returns the sentinel an error answer stands for, or nil when it stands for
// none. Every 401 is ErrUnauthorized and every 404 ErrNotFound, whatever the code (a
// proxy's answer has none); not_owner and runner_busy count only with their status (and
// runner_busy also with 422, GitHub's status for it).
func Sentinel(status int, code string) error {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusForbidden && code == CodeNotOwner:
		return ErrNotOwner
	case (status == http.StatusConflict || status == http.StatusUnprocessableEntity) && code == CodeRunnerBusy:
		return ErrRunnerBusy
	case status == http.StatusConflict && code == CodeQuotaFull:
		return ErrQuotaFull
	}
	return nil
}

// Error is an error answer of the server. It Is the sentinel its status and code stand
// for (Sentinel), so callers decide with errors.Is and errors.As gives the details.
type Error struct {
	Method, Path string // the call, e.g. POST /agent/v1/runners/remove
	Status       int
	Code         string
	Message      string
}

func (e *Error) Error() string {
	if e.Method == "" && e.Path == "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// Is reports whether target is the sentinel the answer stands for.
func (e *Error) Is(target error) bool {
	s := Sentinel(e.Status, e.Code)
	return s != nil && s == target
}
