package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func (s *server) listGroups(c echo.Context) error {
	list, err := s.groups.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getGroup(c echo.Context) error {
	g, err := s.groups.Get(c.Request().Context(), principal(c), c.Param("group"))
	if isNotFound(err) {
		return notFoundError("agent group %q not found", c.Param("group"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

func (s *server) createGroup(c echo.Context) error {
	var req portalapi.AgentGroupRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	g, err := s.groups.Create(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), req)
	if errors.Is(err, store.ErrAlreadyExists) {
		return newError(http.StatusConflict, portalapi.CodeConflict, "agent group %q already exists", req.Name)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/agent-groups/"+g.Name)
	return c.JSON(http.StatusCreated, g)
}

func (s *server) patchGroup(c echo.Context) error {
	var patch portalapi.AgentGroupPatch
	if err := jsonbody.Decode(c.Request().Body, &patch); err != nil {
		return err
	}
	name := c.Param("group")
	g, err := s.groups.Update(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), name, patch)
	if isNotFound(err) {
		return notFoundError("agent group %q not found", name)
	}
	if err != nil {
		return err
	}
	if patch.Constraints != nil {
		s.agents.GroupChanged(c.Request().Context(), name)
	}
	return c.JSON(http.StatusOK, g)
}

func (s *server) deleteGroup(c echo.Context) error {
	name := c.Param("group")
	err := s.groups.Delete(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), name)
	switch {
	case isNotFound(err):
		return notFoundError("agent group %q not found", name)
	case errors.Is(err, store.ErrInUse):
		return newError(http.StatusConflict, portalapi.CodeConflict, "agent group %q is still used by policies or by agents that are not revoked: move or delete the policies and revoke the agents first", name)
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *server) listTokens(c echo.Context) error {
	list, err := s.tokens.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getToken(c echo.Context) error {
	t, err := s.tokens.Get(c.Request().Context(), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("token %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *server) createToken(c echo.Context) error {
	var req portalapi.TokenRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	t, err := s.tokens.Create(c.Request().Context(), principal(c).Actor(requestID(c)), req)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/tokens/"+t.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, t)
}

func (s *server) deleteToken(c echo.Context) error {
	err := s.tokens.Delete(c.Request().Context(), principal(c).Actor(requestID(c)), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("token %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *server) listAuditEvents(c echo.Context) error {
	f := store.AuditFilter{
		Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), ResourceType: c.QueryParam("resource_type"),
		ResourceID: c.QueryParam("resource_id"), Repository: c.QueryParam("repository"),
	}
	var err error
	if f.Limit, err = limitParam(c); err != nil {
		return err
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.QueryParam(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				return portalapi.Invalid(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", v)
			}
		}
	}
	if v := c.QueryParam("cursor"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeID < 1 {
			return portalapi.Invalid("cursor", "is not a cursor this server handed out")
		}
	}
	rows, more, err := s.store.ListAuditEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := portalapi.AuditEventList{Items: make([]portalapi.AuditEvent, 0, len(rows))}
	for _, e := range rows {
		out.Items = append(out.Items, portalapi.AuditEvent{
			ID: e.ID, Time: e.At.UTC(), Actor: e.Actor, ActorTokenID: e.ActorTokenID, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Repository: e.Repository,
			RequestID: e.RequestID, Before: []byte(e.BeforeJSON), After: []byte(e.AfterJSON),
		})
	}
	if more {
		out.NextCursor = fmt.Sprint(rows[len(rows)-1].ID)
	}
	return c.JSON(http.StatusOK, out)
}
