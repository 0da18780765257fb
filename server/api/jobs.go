package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// jobFilter reads the query parameters shared by the job lists.
func jobFilter(c echo.Context) (jobs.ListFilter, error) {
	f := jobs.ListFilter{State: c.QueryParam("state"), Policy: c.QueryParam("policy"), Cursor: c.QueryParam("cursor")}
	if f.State != "" && !jobs.ValidState(f.State) {
		return f, portalapi.Invalid("state", "must be one of queued, waiting, unmatched, in_progress, completed, got %q", f.State)
	}
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, portalapi.Invalid("since", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", v)
		}
		f.Since = t
	}
	var err error
	f.Limit, err = limitParam(c)
	f.OwnerPrefixes = principal(c).OwnerPrefixes
	return f, err
}

func (s *server) listRepoJobs(c echo.Context) error {
	ref, err := policyRef(c, false)
	if err != nil {
		return err
	}
	f, err := jobFilter(c)
	if err != nil {
		return err
	}
	f.RepoKey = store.RepoKey(ref.Owner, ref.Repo)
	list, err := s.jobs.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if err := s.agents.ExplainJobs(c.Request().Context(), list.Items); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) listJobs(c echo.Context) error {
	f, err := jobFilter(c)
	if err != nil {
		return err
	}
	if owner := c.QueryParam("owner"); owner != "" {
		if err := policy.ValidateOwner(owner); err != nil {
			return portalapi.Invalid("owner", "%v", err)
		}
		f.OwnerKey = strings.ToLower(owner)
	}
	list, err := s.jobs.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if err := s.agents.ExplainJobs(c.Request().Context(), list.Items); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getJob(c echo.Context) error {
	ref, err := policyRef(c, false)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("job_id"), 10, 64)
	if err != nil || id < 1 {
		return portalapi.Invalid("job_id", "must be a GitHub job id (a positive number), got %q", c.Param("job_id"))
	}
	job, err := s.jobs.Get(c.Request().Context(), store.RepoKey(ref.Owner, ref.Repo), id)
	if isNotFound(err) {
		return notFoundError("job %d of repository %s/%s not found", id, ref.Owner, ref.Repo)
	}
	if err != nil {
		return err
	}
	items := []portalapi.Job{*job}
	if err := s.agents.ExplainJobs(c.Request().Context(), items); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items[0])
}
