package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/usage"
)

// getUsage is GET /api/v1/usage: what runners held, by day and owner prefix, policy or
// agent group, as JSON or (format=csv, or Accept: text/csv) CSV. A token with owner
// prefixes sees only the runners of its repositories, and asks only for prefixes
// within its own.
func (s *server) getUsage(c echo.Context) error {
	q := c.QueryParams()
	since, until, errs := usage.ParseDays(q.Get("since"), q.Get("until"), s.usage.Now())
	by := q.Get("by")
	switch by {
	case "", portalapi.UsageByOwnerPrefix, portalapi.UsageByPolicy, portalapi.UsageByAgentGroup:
	default:
		errs = append(errs, portalapi.FieldError{Field: "by", Message: `must be "owner_prefix", "policy" or "agent_group", got "` + by + `"`})
	}
	format := q.Get("format")
	switch format {
	case "", "json", "csv":
	default:
		errs = append(errs, portalapi.FieldError{Field: "format", Message: `must be "json" or "csv", got "` + format + `"`})
	}
	prefixes, perrs := auth.NormalizePrefixes("prefix", q["prefix"])
	errs = append(errs, perrs...)
	if len(errs) > 0 {
		return &portalapi.ValidationError{Fields: errs}
	}
	p := principal(c)
	if len(prefixes) > 0 && !p.CoversPrefixes(prefixes) {
		return forbidden("token %q may not read the usage of %v (owner prefixes %v)", p.Name, prefixes, p.OwnerPrefixes)
	}
	rep, err := s.usage.Report(c.Request().Context(), usage.Filter{
		Since: since, Until: until, By: by, Prefixes: prefixes, Scope: p.OwnerPrefixes,
	})
	if err != nil {
		return err
	}
	if format == "csv" || (format == "" && strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv")) {
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		return portalapi.WriteUsageCSV(c.Response(), rep)
	}
	return c.JSON(http.StatusOK, rep)
}
