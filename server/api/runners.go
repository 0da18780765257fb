package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// runnerFilter reads the filters both runner listings share.
func runnerFilter(c echo.Context) (agents.RunnerFilter, error) {
	f := agents.RunnerFilter{
		Policy: c.QueryParam("policy"), Agent: c.QueryParam("agent"), Group: c.QueryParam("agent_group"),
		State: c.QueryParam("state"), OwnerPrefixes: principal(c).OwnerPrefixes,
	}
	if f.State != "" && !agents.ValidRunnerState(f.State) {
		return f, portalapi.Invalid("state", "must be one of creating, booting, idle, busy, finished, failed, got %q", f.State)
	}
	if f.Policy != "" {
		if err := policy.ValidateName(f.Policy); err != nil {
			return f, portalapi.Invalid("policy", "%s", err.Error())
		}
	}
	return f, nil
}

// listRunners is GET /api/v1/runners: every runner the token's owner prefixes reach.
func (s *server) listRunners(c echo.Context) error {
	f, err := runnerFilter(c)
	if err != nil {
		return err
	}
	if repo := c.QueryParam("repository"); repo != "" {
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || policy.ValidateOwner(owner) != nil || policy.ValidateRepoName(name) != nil {
			return portalapi.Invalid("repository", "must be owner/name, got %q", repo)
		}
		if p := principal(c); !p.CoversRepo(repo) {
			return forbidden("token %q may not read repository %s (owner prefixes %v)", p.Name, repo, p.OwnerPrefixes)
		}
		f.RepoKey = store.RepoKey(owner, name)
	}
	return s.writeRunners(c, f)
}

// listRepoRunners is GET /api/v1/repos/{owner}/{repo}/runners.
func (s *server) listRepoRunners(c echo.Context) error {
	ref, err := policyRef(c, false)
	if err != nil {
		return err
	}
	f, err := runnerFilter(c)
	if err != nil {
		return err
	}
	f.RepoKey = store.RepoKey(ref.Owner, ref.Repo)
	return s.writeRunners(c, f)
}

func (s *server) writeRunners(c echo.Context, f agents.RunnerFilter) error {
	list, err := s.agents.ListRunners(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}
