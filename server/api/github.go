package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
)

// GitHubBudgets is the part of the GitHub client that the rate-limit route reads: a
// *githubapp.Client, or githubapp.NotConfigured.
type GitHubBudgets interface {
	Mode() string
	RateLimits() []githubapp.Budget
}

// getGitHubRateLimits is GET /api/v1/github/rate-limit: every budget the GitHub client
// has seen. The budgets are the server's, shared by every owner (an installation's calls
// are those of every repository it covers, of whatever team), so a token confined to
// owner prefixes is refused: it would learn the installations of other owners and how
// busy they are.
func (s *server) getGitHubRateLimits(c echo.Context) error {
	if p := principal(c); p.Prefixed() {
		return forbidden("token %q (owner prefixes %v) may not read GitHub's rate-limit budgets: they are shared by every owner, so only a token without owner prefixes may", p.Name, p.OwnerPrefixes)
	}
	budgets := s.github.RateLimits()
	out := portalapi.GitHubRateLimits{Mode: s.github.Mode(), Budgets: make([]portalapi.GitHubBudget, 0, len(budgets))}
	for _, b := range budgets {
		g := portalapi.GitHubBudget{
			Credential: b.Credential, Resource: b.Resource, Limit: b.Limit, Remaining: b.Remaining,
			Used: max(b.Limit-b.Remaining, 0),
		}
		if !b.Reset.IsZero() {
			r := b.Reset.UTC()
			g.ResetAt = &r
		}
		out.Budgets = append(out.Budgets, g)
	}
	return c.JSON(http.StatusOK, out)
}
