package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

// Sentinel errors. Every error of a Client method that has one of these causes wraps it, so
// that callers decide with errors.Is; the wrapped detail (method, URL without query secrets,
// GitHub's message) is for logs.
var (
	// ErrRateLimited: GitHub's budget is spent for longer than Config.MaxRateLimitWait,
	// or it stayed limited after three waits. The error is a *RateLimitError with RetryAt.
	ErrRateLimited = errors.New("github: rate limited")
	// ErrRunnerBusy: GitHub refused to remove a runner that is running a job (422). Keep
	// the runner and try again after its job; never retry blindly.
	ErrRunnerBusy = errors.New("github: runner is busy")
	// ErrNotFound: the runner, job or delivery does not exist (404).
	ErrNotFound = errors.New("github: not found")
	// ErrNotInstalled: the GitHub App is not installed on the repository, or its
	// installation was removed or suspended.
	ErrNotInstalled = errors.New("github: app not installed on repository")
	// ErrUnauthorized: GitHub rejected the credentials (401): a wrong App id or private
	// key, a revoked installation or an expired personal access token.
	ErrUnauthorized = errors.New("github: unauthorized")
	// ErrUnavailable: GitHub answered 5xx or could not be reached, after the retries the
	// client allows itself (idempotent calls only). Worth another try later.
	ErrUnavailable = errors.New("github: unavailable")
)

// RateLimitError reports a rate limit the client did not wait out. It satisfies
// errors.Is(err, ErrRateLimited); errors.As gives RetryAt, the earliest time worth trying.
type RateLimitError struct {
	RetryAt  time.Time
	Resource string // GitHub's rate-limit resource, e.g. "core"
	// Status is GitHub's answer (403 or 429), or 0 when the client did not send the
	// request because the known budget was already spent.
	Status int
}

func (e *RateLimitError) Error() string {
	how := "known budget exhausted, request not sent"
	if e.Status != 0 {
		how = fmt.Sprintf("status %d", e.Status)
	}
	res := e.Resource
	if res == "" {
		res = "core"
	}
	return fmt.Sprintf("github: rate limited (%s, %s); retry at %s", res, how, e.RetryAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// statusOf returns the HTTP status of a go-github or ghinstallation error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode
	}
	return 0
}

// tokenRefreshStatus returns the status of a failed installation token refresh, or 0 when
// err is not one.
func tokenRefreshStatus(err error) int {
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode
	}
	return 0
}

// classify maps an error of go-github (or of the transports under it) to the package's
// sentinels. It is the one place that decides what an error means; the transport is the
// one place that decides what is retried.
func classify(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var rle *RateLimitError
	if errors.As(err, &rle) {
		return rle // drop http.Client's *url.Error around it: the message is self-contained
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// The transport strips the rate headers go-github would act on, so these two should
	// not occur; map them all the same rather than let them escape unclassified.
	var ghrl *github.RateLimitError
	if errors.As(err, &ghrl) {
		return &RateLimitError{RetryAt: ghrl.Rate.Reset.Time, Resource: "core", Status: http.StatusForbidden}
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		at := now.Add(time.Minute)
		if abuse.RetryAfter != nil {
			at = now.Add(*abuse.RetryAfter)
		}
		return &RateLimitError{RetryAt: at, Resource: "core", Status: http.StatusForbidden}
	}
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		// ghinstallation leaves the body of a failed token refresh open for inspection.
		if he.Response.Body != nil {
			_ = he.Response.Body.Close()
		}
		switch code := he.Response.StatusCode; {
		case code == http.StatusUnauthorized:
			return fmt.Errorf("%w: installation token: %w", ErrUnauthorized, err)
		case code == http.StatusForbidden || code == http.StatusNotFound:
			// 404: the installation was deleted; 403: it is suspended.
			return fmt.Errorf("%w: installation token: %w", ErrNotInstalled, err)
		case code >= 500:
			return fmt.Errorf("%w: installation token: %w", ErrUnavailable, err)
		}
		return err
	}
	switch code := statusOf(err); {
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case code >= 500:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case code != 0:
		return err
	}
	if isNetworkError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isNetworkError reports whether err is a failure to exchange with GitHub at all: refused
// or reset connections, timeouts, a connection closed mid-answer.
func isNetworkError(err error) bool {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err // *url.Error is itself a net.Error; judge what it wraps
	}
	var ne net.Error
	return errors.As(inner, &ne) || errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF) ||
		errors.Is(inner, syscall.ECONNRESET) || errors.Is(inner, syscall.ECONNREFUSED)
}
