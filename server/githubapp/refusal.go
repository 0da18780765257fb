package githubapp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// ErrRepoRunnersRefused means that GitHub refused (403) to register a repository-level
// runner: the organisation allows repository-level self-hosted runners for selected
// repositories only, or not at all ("Organization owners can choose which repositories are
// allowed to create repository-level self-hosted runners", "Adding self-hosted runners",
// docs.github.com), or the App lacks the repository permission "Administration: read and
// write". Retrying does not help until someone changes a setting.
var ErrRepoRunnersRefused = errors.New("github: repository-level runner registration refused")

// RefusalError is a refusal to register a runner that retrying does not cure: a runner
// group that may not serve the repository (ErrGroupDenied) or a repository where GitHub
// refuses repository-level runners (ErrRepoRunnersRefused). Reason is the sentence to
// show in the portal: it names the repository, the group or setting, and what to change;
// Error adds GitHub's answer for the log.
type RefusalError struct {
	Reason string
	Kind   error // ErrGroupDenied or ErrRepoRunnersRefused
	Err    error // GitHub's answer; nil when Garo decided from the group's settings
}

func (e *RefusalError) Error() string {
	if e.Err == nil {
		return e.Kind.Error() + ": " + e.Reason
	}
	return e.Kind.Error() + ": " + e.Reason + ": " + e.Err.Error()
}

// Unwrap makes errors.Is see the kind and GitHub's answer.
func (e *RefusalError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func groupDenied(format string, args ...any) error {
	return &RefusalError{Reason: fmt.Sprintf(format, args...), Kind: ErrGroupDenied}
}

// repoRunnersRefused turns GitHub's 403 to a repository-level registration
// (generate-jitconfig, registration-token) into a RefusalError; other errors pass. GitHub
// answers "Resource not accessible by integration" when the App lacks a permission
// ("Troubleshooting REST API errors", docs.github.com); any other 403 on these routes is
// the organisation's setting for repository-level runners (runs-on/runs-on#417: a 403
// from generate-jitconfig for a repository whose self-hosted runners were disabled).
// Rate limits never get here: the transport turns them into a RateLimitError first.
func repoRunnersRefused(owner, repo string, err error) error {
	if statusOf(err) != http.StatusForbidden {
		return err
	}
	msg := ""
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		msg = er.Message
	}
	reason := fmt.Sprintf("GitHub refused to register a repository-level runner on %s/%s (403): the organisation %s allows "+
		"repository-level self-hosted runners for selected repositories only, or not at all (organisation settings, Actions, "+
		"General, Runners); register this policy's runners in an organisation runner group instead "+
		`(registration_level "organization" and runner_group), or ask an organisation owner to allow repository-level runners here`,
		owner, repo, owner)
	if strings.Contains(strings.ToLower(msg), "resource not accessible by integration") {
		reason = fmt.Sprintf("GitHub refused to register a runner on %s/%s (403 Resource not accessible by integration): "+
			`the GitHub App lacks the repository permission "Administration: read and write" (docs/github.md)`, owner, repo)
	}
	return &RefusalError{Reason: reason, Kind: ErrRepoRunnersRefused, Err: err}
}
