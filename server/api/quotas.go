package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/store"
)

func (s *server) listQuotas(c echo.Context) error {
	list, err := s.quotas.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getQuota(c echo.Context) error {
	q, err := s.quotas.Get(c.Request().Context(), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("quota %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, q)
}

func (s *server) createQuota(c echo.Context) error {
	var req portalapi.QuotaRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	q, err := s.quotas.Create(c.Request().Context(), principal(c).Actor(requestID(c)), req)
	if errors.Is(err, store.ErrAlreadyExists) {
		return newError(http.StatusConflict, portalapi.CodeConflict, "a quota of %s %q exists already: change it with PUT", req.Kind, req.Subject)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/quotas/"+q.ID)
	return c.JSON(http.StatusCreated, q)
}

func (s *server) replaceQuota(c echo.Context) error {
	var req portalapi.QuotaRequest
	if err := jsonbody.Decode(c.Request().Body, &req); err != nil {
		return err
	}
	q, err := s.quotas.Replace(c.Request().Context(), principal(c).Actor(requestID(c)), c.Param("id"), req)
	if isNotFound(err) {
		return notFoundError("quota %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, q)
}

func (s *server) deleteQuota(c echo.Context) error {
	err := s.quotas.Delete(c.Request().Context(), principal(c).Actor(requestID(c)), c.Param("id"))
	if isNotFound(err) {
		return notFoundError("quota %q not found", c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
