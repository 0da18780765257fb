package githubapp

import (
	"slices"
	"strings"
)

// Budget is one rate-limit budget as the transport last saw it: the credential it is
// counted against ("app", "app/<id>" with several Apps, "pat", "installation/<id>"; never a
// secret) and GitHub's X-RateLimit-* figures for one resource.
type Budget struct {
	Credential string
	RateState
}

// RateLimits returns every budget the transport has seen, sorted by credential then
// resource. It is the data behind GET /api/v1/github/rate-limit.
func (c *Client) RateLimits() []Budget { return c.lim.snapshot() }

// RateLimits returns no budgets: without credentials nothing is counted.
func (NotConfigured) RateLimits() []Budget { return nil }

// snapshot copies the known budgets under the lock, sorted.
func (l *limiter) snapshot() []Budget {
	l.mu.Lock()
	out := make([]Budget, 0, len(l.budgets))
	for k, st := range l.budgets {
		out = append(out, Budget{Credential: k.credential, RateState: st})
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b Budget) int {
		if c := strings.Compare(a.Credential, b.Credential); c != 0 {
			return c
		}
		return strings.Compare(a.Resource, b.Resource)
	})
	return out
}
