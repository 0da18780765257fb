package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/store"
)

func (s *server) listAgents(c echo.Context) error {
	f := agents.ListFilter{Group: c.QueryParam("group"), Status: c.QueryParam("status"), Viewer: principal(c)}
	if f.Status != "" && !agents.ValidStatus(f.Status) {
		return portalapi.Invalid("status", "must be one of active, stale, offline, revoked, got %q", f.Status)
	}
	list, err := s.agents.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getAgent(c echo.Context) error {
	a, err := s.agents.Get(c.Request().Context(), principal(c), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("agent %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// revokeAgent revokes an agent: its next call gets 401 and its repositories move.
func (s *server) revokeAgent(c echo.Context) error {
	err := s.agents.Revoke(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("agent %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// drainAgent (PUT) asks an agent to drain; undrainAgent (DELETE) lifts that. Both answer
// the agent as it is then, and are idempotent.
func (s *server) drainAgent(c echo.Context) error {
	return s.setDrain(c, s.agents.Drain)
}

func (s *server) undrainAgent(c echo.Context) error {
	return s.setDrain(c, s.agents.Undrain)
}

func (s *server) setDrain(c echo.Context, change func(context.Context, *auth.Principal, store.Actor, string) (*portalapi.Agent, error)) error {
	a, err := change(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), c.Param("id"))
	switch {
	case isNotFound(err):
		return notFoundError("agent %q not found", c.Param("id"))
	case errors.Is(err, agents.ErrAgentRevoked):
		return newError(http.StatusConflict, portalapi.CodeConflict, "%s", err.Error())
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (s *server) listRegistrationTokens(c echo.Context) error {
	list, err := s.agents.ListRegistrationTokens(c.Request().Context(), principal(c), c.Param("group"))
	if isNotFound(err) {
		return notFoundError("agent group %q not found", c.Param("group"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) createRegistrationToken(c echo.Context) error {
	var req portalapi.RegistrationTokenRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	group := c.Param("group")
	t, err := s.agents.CreateRegistrationToken(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), group, req)
	if isNotFound(err) {
		return notFoundError("agent group %q not found", group)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/agent-groups/"+group+"/registration-tokens/"+t.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, t)
}

func (s *server) getRegistrationToken(c echo.Context) error {
	t, err := s.agents.GetRegistrationToken(c.Request().Context(), principal(c), c.Param("group"), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("registration token %q of agent group %q not found", c.Param("id"), c.Param("group"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *server) deleteRegistrationToken(c echo.Context) error {
	err := s.agents.DeleteRegistrationToken(c.Request().Context(), principal(c), principal(c).Actor(requestID(c)), c.Param("group"), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("registration token %q of agent group %q not found", c.Param("id"), c.Param("group"))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
