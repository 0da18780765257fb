package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// policyRef reads and checks {owner}/{repo}[/{name}] of the path and the token's right to
// touch that repository.
func policyRef(c echo.Context, withName bool) (policy.Ref, error) {
	ref := policy.Ref{Owner: c.Param("owner"), Repo: c.Param("repo"), Name: c.Param("name")}
	var errs []portalapi.FieldError
	if err := policy.ValidateOwner(ref.Owner); err != nil {
		errs = append(errs, portalapi.FieldError{Field: "owner", Message: err.Error()})
	}
	if err := policy.ValidateRepoName(ref.Repo); err != nil {
		errs = append(errs, portalapi.FieldError{Field: "repo", Message: err.Error()})
	}
	if withName {
		if err := policy.ValidateName(ref.Name); err != nil {
			errs = append(errs, portalapi.FieldError{Field: "name", Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return ref, &portalapi.ValidationError{Fields: errs}
	}
	if p := principal(c); !p.CoversRepo(ref.Owner + "/" + ref.Repo) {
		return ref, forbidden("token %q may not touch repository %s/%s (owner prefixes %v)", p.Name, ref.Owner, ref.Repo, p.OwnerPrefixes)
	}
	return ref, nil
}

// writePolicy answers with a policy, its serving status and its ETag.
func (s *server) writePolicy(c echo.Context, status int, p *portalapi.Policy) error {
	items := []portalapi.Policy{*p}
	if err := s.agents.ExplainPolicies(c.Request().Context(), items); err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etag(p.Version))
	return c.JSON(status, items[0])
}

func etag(version int64) string { return strconv.Quote(strconv.FormatInt(version, 10)) }

// parseIfMatch reads If-Match: "*", or entity tags that hold a policy version ("3", W/"3";
// a bare 3 is accepted too). A tag that is no version can never match.
func parseIfMatch(c echo.Context) policy.Precondition {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" {
		return policy.Precondition{}
	}
	pre := policy.Precondition{Set: true}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			pre.Any = true
			continue
		}
		tag = strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)
		if v, err := strconv.ParseInt(tag, 10, 64); err == nil {
			pre.Versions = append(pre.Versions, v)
		}
	}
	return pre
}

func (s *server) listPolicies(c echo.Context) error {
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	q.Owner, q.Repository = c.QueryParam("owner"), c.QueryParam("repository")
	if q.Owner != "" {
		if err := policy.ValidateOwner(q.Owner); err != nil {
			return portalapi.Invalid("owner", "%v", err)
		}
	}
	if q.Repository != "" {
		if _, _, err := policy.ParseRepository(q.Repository); err != nil {
			return portalapi.Invalid("repository", "%v", err)
		}
	}
	return s.answerList(c, q)
}

func (s *server) listRepoPolicies(c echo.Context) error {
	ref, err := policyRef(c, false)
	if err != nil {
		return err
	}
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	q.Repository = ref.Owner + "/" + ref.Repo
	return s.answerList(c, q)
}

func (s *server) answerList(c echo.Context, q policy.ListQuery) error {
	q.OwnerPrefixes = principal(c).OwnerPrefixes
	list, err := s.policies.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if err := s.agents.ExplainPolicies(c.Request().Context(), list.Items); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// listQuery reads the query parameters shared by the policy lists.
func listQuery(c echo.Context) (policy.ListQuery, error) {
	q := policy.ListQuery{AgentGroup: c.QueryParam("agent_group"), Cursor: c.QueryParam("cursor")}
	var err error
	if q.Limit, err = limitParam(c); err != nil {
		return q, err
	}
	if v := c.QueryParam("enabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, portalapi.Invalid("enabled", "must be true or false, got %q", v)
		}
		q.Enabled = &b
	}
	return q, nil
}

// limitParam reads ?limit= (1-500, default 100).
func limitParam(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, portalapi.Invalid("limit", "must be a whole number from 1 to 500, got %q", v)
	}
	return n, nil
}

func (s *server) getPolicy(c echo.Context) error {
	ref, err := policyRef(c, true)
	if err != nil {
		return err
	}
	p, err := s.policies.Get(c.Request().Context(), ref)
	if err != nil {
		return policyNotFound(err, ref)
	}
	return s.writePolicy(c, http.StatusOK, p)
}

func (s *server) createPolicy(c echo.Context) error {
	ref, err := policyRef(c, false)
	if err != nil {
		return err
	}
	var req portalapi.PolicyRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	p, err := s.policies.Create(c.Request().Context(), principal(c).Actor(requestID(c)), ref, req)
	if err != nil {
		return err
	}
	s.agents.PolicyChanged(c.Request().Context(), store.RepoKey(ref.Owner, ref.Repo), p.AgentGroup)
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/repos/%s/%s/policies/%s", ref.Owner, ref.Repo, p.Name))
	return s.writePolicy(c, http.StatusCreated, p)
}

func (s *server) replacePolicy(c echo.Context) error {
	ref, err := policyRef(c, true)
	if err != nil {
		return err
	}
	var req portalapi.PolicyRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	p, err := s.policies.Replace(c.Request().Context(), principal(c).Actor(requestID(c)), ref, req, parseIfMatch(c))
	if err != nil {
		return policyNotFound(err, ref)
	}
	s.agents.PolicyChanged(c.Request().Context(), store.RepoKey(ref.Owner, ref.Repo), p.AgentGroup)
	return s.writePolicy(c, http.StatusOK, p)
}

func (s *server) patchPolicy(c echo.Context) error {
	ref, err := policyRef(c, true)
	if err != nil {
		return err
	}
	patch, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return fmt.Errorf("read patch: %w", err)
	}
	p, err := s.policies.Patch(c.Request().Context(), principal(c).Actor(requestID(c)), ref, patch, parseIfMatch(c))
	if err != nil {
		return policyNotFound(err, ref)
	}
	s.agents.PolicyChanged(c.Request().Context(), store.RepoKey(ref.Owner, ref.Repo), p.AgentGroup)
	return s.writePolicy(c, http.StatusOK, p)
}

func (s *server) deletePolicy(c echo.Context) error {
	ref, err := policyRef(c, true)
	if err != nil {
		return err
	}
	if err := s.policies.Delete(c.Request().Context(), principal(c).Actor(requestID(c)), ref, parseIfMatch(c)); err != nil {
		return policyNotFound(err, ref)
	}
	s.agents.PolicyChanged(c.Request().Context(), store.RepoKey(ref.Owner, ref.Repo))
	return c.NoContent(http.StatusNoContent)
}

// policyNotFound words a store not-found for the client.
func policyNotFound(err error, ref policy.Ref) error {
	if isNotFound(err) {
		return notFoundError("policy %q of repository %s/%s not found", ref.Name, ref.Owner, ref.Repo)
	}
	return err
}
