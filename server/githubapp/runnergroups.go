package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
)

// ErrGroupDenied means that an organisation runner group may not serve a repository: it
// does not exist, its visibility leaves the repository out, or the repository is public
// and the group does not allow public repositories. The error text names the group and
// the repository; it is the reason a job shows while it waits.
var ErrGroupDenied = errors.New("github: runner group does not serve the repository")

// groupTTL is how long a runner group's id and access settings are reused before
// GET /orgs/{org}/actions/runner-groups is asked again. A name the organisation does not
// have is remembered for groupMissTTL only, so that a group created to fix the refusal
// is found soon, while a policy naming a missing group still lists the groups at most
// once per groupMissTTL.
const (
	groupTTL     = 5 * time.Minute
	groupMissTTL = 30 * time.Second
)

// maxGroupEntries bounds the cache: past it, expired entries go first, then any.
const maxGroupEntries = 4096

// maxGroupPages bounds the walk through an organisation's runner groups (100 a page).
const maxGroupPages = 20

// RunnerGroup is an organisation runner group as Garo uses it. Visibility is "all",
// "selected" or "private" (GitHub's REST description of "List self-hosted runner groups
// for an organization").
type RunnerGroup struct {
	ID                       int64
	Name                     string
	Visibility               string
	AllowsPublicRepositories bool
}

type groupEntry struct {
	g       RunnerGroup
	found   bool
	expires time.Time
}

// groupCache holds runner groups by lower-cased org and name.
type groupCache struct {
	mu sync.Mutex
	m  map[string]groupEntry
}

func groupKey(org, name string) string { return strings.ToLower(org) + "\x00" + strings.ToLower(name) }

func (gc *groupCache) get(key string, now time.Time) (groupEntry, bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	e, ok := gc.m[key]
	if !ok || now.After(e.expires) {
		return groupEntry{}, false
	}
	return e, true
}

func (gc *groupCache) put(key string, e groupEntry, now time.Time) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.m == nil {
		gc.m = map[string]groupEntry{}
	}
	if _, ok := gc.m[key]; !ok && len(gc.m) >= maxGroupEntries {
		gc.evictLocked(now)
	}
	gc.m[key] = e
}

// evictLocked makes room: entries expired by now go, and if none had, one at random (map
// order), which costs at most one more listing of its organisation.
func (gc *groupCache) evictLocked(now time.Time) {
	n := len(gc.m)
	for k, e := range gc.m {
		if now.After(e.expires) {
			delete(gc.m, k)
		}
	}
	if len(gc.m) < n {
		return
	}
	for k := range gc.m {
		delete(gc.m, k)
		return
	}
}

func (gc *groupCache) len() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return len(gc.m)
}

// Forget drops the cached group, e.g. after GitHub answered 404 or 422 for its id.
func (gc *groupCache) forget(org, name string) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	delete(gc.m, groupKey(org, name))
}

// ResolveRunnerGroup returns the runner group of owner (an organisation) named name
// (GitHub compares group names without regard to case), cached for groupTTL, and checks
// that it may serve owner/repo; public says whether the repository is public. A group
// that does not exist or may not serve the repository is ErrGroupDenied, whose text says
// why.
func (c *Client) ResolveRunnerGroup(ctx context.Context, owner, repo, name string, public bool) (RunnerGroup, error) {
	g, err := c.lookupGroup(ctx, owner, repo, name)
	if err != nil {
		return RunnerGroup{}, err
	}
	// Visibility (REST description of the runner group): "all" serves every repository of
	// the organisation, "private" only its private ones, "selected" the repositories
	// chosen. allows_public_repositories must be true for a public repository.
	switch {
	case public && !g.AllowsPublicRepositories:
		return g, groupDenied("runner group %q does not allow public repository %s/%s (allows_public_repositories is false)", g.Name, owner, repo)
	case g.Visibility == "private" && public:
		return g, groupDenied("runner group %q serves only private repositories, not %s/%s", g.Name, owner, repo)
	case g.Visibility == "selected":
		ok, err := c.groupVisibleTo(ctx, owner, repo, g.ID)
		if err != nil {
			return g, err
		}
		if !ok {
			return g, groupDenied("runner group %q does not allow repository %s/%s (it is not among the group's selected repositories; add it to the group's repository access in the organisation's settings, or choose another runner_group)", g.Name, owner, repo)
		}
	}
	return g, nil
}

// ForgetRunnerGroup drops owner's group name from the cache: GitHub refused its id (404
// or 422), so the next mint resolves the name again.
func (c *Client) ForgetRunnerGroup(owner, name string) { c.groups.forget(owner, name) }

func (c *Client) lookupGroup(ctx context.Context, owner, repo, name string) (RunnerGroup, error) {
	key := groupKey(owner, name)
	if e, ok := c.groups.get(key, c.now()); ok {
		if !e.found {
			return RunnerGroup{}, groupDenied("organisation %s has no runner group %q (runner_group names a group of the organisation's Actions runner groups)", owner, name)
		}
		return e.g, nil
	}
	groups, err := c.listGroupsOnce(ctx, owner, repo, "")
	if err != nil {
		return RunnerGroup{}, err
	}
	now := c.now()
	for _, g := range groups {
		c.groups.put(groupKey(owner, g.Name), groupEntry{g: g, found: true, expires: now.Add(groupTTL)}, now)
	}
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) {
			return g, nil
		}
	}
	c.groups.put(key, groupEntry{expires: now.Add(groupMissTTL)}, now)
	return RunnerGroup{}, groupDenied("organisation %s has no runner group %q (runner_group names a group of the organisation's Actions runner groups)", owner, name)
}

// groupVisibleTo reports whether group id is among the groups GitHub lists for repo with
// visible_to_repository ("Only return runner groups that are allowed to be used by this
// repository", List self-hosted runner groups for an organization). The answer is cached
// like the groups: for groupTTL when the group admits repo, for groupMissTTL when not.
func (c *Client) groupVisibleTo(ctx context.Context, owner, repo string, id int64) (bool, error) {
	key := fmt.Sprintf("%s\x00%d\x00%s", strings.ToLower(owner), id, strings.ToLower(repo))
	if e, ok := c.groups.get(key, c.now()); ok {
		return e.found, nil
	}
	groups, err := c.listGroupsOnce(ctx, owner, repo, repo)
	if err != nil {
		return false, err
	}
	visible := false
	for _, g := range groups {
		if g.ID == id {
			visible = true
		}
	}
	now := c.now()
	ttl := groupTTL
	if !visible {
		ttl = groupMissTTL
	}
	c.groups.put(key, groupEntry{found: visible, expires: now.Add(ttl)}, now)
	return visible, nil
}

// listGroupsOnce is listGroups shared by concurrent callers asking the same question: a
// burst of mints with a cold cache lists an organisation's groups once, not once a mint.
func (c *Client) listGroupsOnce(ctx context.Context, owner, repo, visibleTo string) ([]RunnerGroup, error) {
	key := strings.ToLower(owner) + "\x00" + strings.ToLower(visibleTo)
	v, err, _ := c.listings.Do(key, func() (any, error) { return c.listGroups(ctx, owner, repo, visibleTo) })
	if err != nil {
		return nil, err
	}
	return v.([]RunnerGroup), nil
}

// listGroups walks GET /orgs/{org}/actions/runner-groups (at most maxGroupPages pages),
// as the installation of owner/repo.
func (c *Client) listGroups(ctx context.Context, owner, repo, visibleTo string) ([]RunnerGroup, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("list runner groups of %s: %w", owner, err)
	}
	opts := &github.ListOrgRunnerGroupOptions{ListOptions: github.ListOptions{PerPage: 100}, VisibleToRepository: visibleTo}
	var out []RunnerGroup
	for range maxGroupPages {
		page, resp, err := gh.Actions.ListOrganizationRunnerGroups(ctx, owner, opts)
		if err != nil {
			if statusOf(err) == http.StatusNotFound {
				// A user account (no organisation) or an App without the organisation
				// permission "Self-hosted runners" gets 404.
				err = fmt.Errorf("%w (is %s an organisation, and does the App have the organisation permission \"Self-hosted runners: read and write\"?)", err, owner)
			}
			return nil, fmt.Errorf("list runner groups of %s (page %d): %w", owner, max(opts.Page, 1), c.done(owner, repo, id, err))
		}
		for _, g := range page.RunnerGroups {
			out = append(out, RunnerGroup{ID: g.GetID(), Name: g.GetName(), Visibility: g.GetVisibility(), AllowsPublicRepositories: g.GetAllowsPublicRepositories()})
		}
		if resp.NextPage == 0 || resp.NextPage == opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list runner groups of %s: more than %d pages", owner, maxGroupPages)
}
