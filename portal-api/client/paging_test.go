package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// pager serves pages of policy names keyed by cursor and records the queries it got.
type pager struct {
	mu      sync.Mutex
	pages   map[string]page // cursor -> page
	queries []url.Values
	paths   []string
}

type page struct {
	names  []string
	next   string
	status int // 0 means 200
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.queries = append(p.queries, r.URL.Query())
	p.paths = append(p.paths, r.URL.Path)
	pg, ok := p.pages[r.URL.Query().Get("cursor")]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"invalid_request","message":"bad cursor"}}`)
		return
	}
	if pg.status != 0 {
		w.WriteHeader(pg.status)
		fmt.Fprint(w, `{"error":{"code":"internal","message":"boom"}}`)
		return
	}
	items := make([]string, 0, len(pg.names))
	for i, n := range pg.names {
		if strings.HasSuffix(r.URL.Path, "/audit-events") {
			items = append(items, fmt.Sprintf(`{"id":%d,"resource_id":%q,"time":"2026-01-02T03:04:05Z"}`, i, n))
		} else {
			items = append(items, fmt.Sprintf(`{"name":%q,"repository":"acme/web","idle_grace":"5m","bootstrap_timeout":"10m"}`, n))
		}
	}
	fmt.Fprintf(w, `{"items":[%s],"next_cursor":%q}`, strings.Join(items, ","), pg.next)
}

func newPager(t *testing.T, pages map[string]page) (*pager, *client.Client) {
	t.Helper()
	p := &pager{pages: pages}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

var threePages = map[string]page{
	"":       {names: []string{"a", "b"}, next: "c+1/=="},
	"c+1/==": {names: []string{"c"}, next: "c2"},
	"c2":     {names: []string{"d", "e"}},
}

func collect(t *testing.T, seq func(yield func(portalapi.Policy, error) bool)) ([]string, error) {
	t.Helper()
	var names []string
	for p, err := range seq {
		if err != nil {
			return names, err
		}
		names = append(names, p.Name)
	}
	return names, nil
}

func TestAllPoliciesFollowsCursors(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, threePages)
	names, err := collect(t, c.AllPolicies(t.Context(), client.ListPoliciesOptions{Owner: "acme", Enabled: boolp(true), Limit: 2}))
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, strings.Join(names, ","), "a,b,c,d,e")
	wantEq(t, len(p.queries), 3)
	for i, wantCursor := range []string{"", "c+1/==", "c2"} {
		q := p.queries[i]
		wantEq(t, p.paths[i], "/api/v1/policies")
		wantEq(t, q.Get("cursor"), wantCursor)
		// Filters are kept on every page.
		wantEq(t, q.Get("owner"), "acme")
		wantEq(t, q.Get("enabled"), "true")
		wantEq(t, q.Get("limit"), "2")
	}
}

func TestAllRepoPoliciesStartsAtCursor(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, threePages)
	names, err := collect(t, c.AllRepoPolicies(t.Context(), "acme/web", client.ListPoliciesOptions{Cursor: "c+1/=="}))
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, strings.Join(names, ","), "c,d,e")
	wantEq(t, len(p.paths), 2)
	wantEq(t, p.paths[0], "/api/v1/repos/acme/web/policies")
}

func TestAllPoliciesStopsOnBreak(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, threePages)
	var names []string
	for pol, err := range c.AllPolicies(t.Context(), client.ListPoliciesOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, pol.Name)
		if pol.Name == "b" {
			break
		}
	}
	wantEq(t, strings.Join(names, ","), "a,b")
	wantEq(t, len(p.queries), 1) // the second page was never fetched
}

func TestAllPoliciesYieldsErrorOnce(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, map[string]page{
		"":   {names: []string{"a"}, next: "c1"},
		"c1": {status: http.StatusInternalServerError},
	})
	var names []string
	var errs []error
	for pol, err := range c.AllPolicies(t.Context(), client.ListPoliciesOptions{}) {
		if err != nil {
			errs = append(errs, err)
			continue // the iterator must stop by itself
		}
		names = append(names, pol.Name)
	}
	wantEq(t, strings.Join(names, ","), "a")
	wantEq(t, len(errs), 1)
	wantEq(t, client.StatusCode(errs[0]), 500)
	wantEq(t, len(p.queries), 2)
}

func TestAllPoliciesDetectsCursorLoop(t *testing.T) {
	t.Parallel()
	_, c := newPager(t, map[string]page{
		"":   {names: []string{"a"}, next: "c1"},
		"c1": {names: []string{"b"}, next: "c2"},
		"c2": {names: []string{"c"}, next: "c1"},
	})
	names, err := collect(t, c.AllPolicies(t.Context(), client.ListPoliciesOptions{}))
	if err == nil || !strings.Contains(err.Error(), "repeated page cursor") {
		t.Fatalf("err = %v, want a repeated cursor error", err)
	}
	wantEq(t, strings.Join(names, ","), "a,b,c")
}

func TestAllPoliciesCancelled(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, threePages)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got error
	for pol, err := range c.AllPolicies(ctx, client.ListPoliciesOptions{}) {
		if err != nil {
			got = err
			break
		}
		if pol.Name == "b" {
			cancel()
		}
	}
	if got != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", got)
	}
	wantEq(t, len(p.queries), 1)
}

func TestAllAuditEvents(t *testing.T) {
	t.Parallel()
	p, c := newPager(t, threePages)
	var ids []string
	for ev, err := range c.AllAuditEvents(t.Context(), client.AuditQuery{Action: "policy.delete"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ResourceID)
	}
	wantEq(t, strings.Join(ids, ","), "a,b,c,d,e")
	wantEq(t, len(p.queries), 3)
	for i, q := range p.queries {
		wantEq(t, p.paths[i], "/api/v1/audit-events")
		wantEq(t, q.Get("action"), "policy.delete")
	}
}
