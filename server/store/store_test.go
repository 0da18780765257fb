package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newPolicy(owner, repo, name, group string) *store.Policy {
	return &store.Policy{
		ID: fmt.Sprintf("%s-%s-%s", owner, repo, name), Owner: owner, Repo: repo,
		OwnerKey: strings.ToLower(owner), RepoKey: store.RepoKey(owner, repo), Name: name,
		Labels: store.StringList{"self-hosted", "linux"}, MinIdle: 0, MaxRunners: 3, Ephemeral: true,
		IdleGrace: 5 * time.Minute, BootstrapTimeout: 10 * time.Minute, AgentGroup: group, Enabled: true,
		Provider: "docker", RunnerSpec: store.JSONText(`{"image":"runner:1"}`),
	}
}

func TestMigrations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		// The default group is seeded by the first migration.
		g, err := st.GetAgentGroup(t.Context(), "default")
		if err != nil {
			t.Fatalf("default group: %v", err)
		}
		if g.CreatedAt.IsZero() || g.PolicyCount != 0 {
			t.Fatalf("default group = %+v", g)
		}
		st.Close()
		// Opening again applies nothing and keeps the data.
		st2 := testdb.Open(t, b)
		if _, err := st2.GetAgentGroup(t.Context(), "default"); err != nil {
			t.Fatalf("after reopen: %v", err)
		}
	})
}

// TestConcurrentMigrations starts several "replicas" on one empty PostgreSQL database at
// once: the advisory lock must make exactly one of them migrate, and all must start.
func TestConcurrentMigrations(t *testing.T) {
	b := testdb.Postgres(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	stores := make([]*store.Store, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = store.Open(t.Context(), store.Config{Driver: b.Driver, DSN: b.DSN, MaxOpenConns: 2}, testkit.Discard())
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	groups, err := stores[0].ListAgentGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 {
		t.Fatalf("want the default group seeded once, got %d groups", len(groups))
	}
}

func TestPolicyCRUD(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		p := newPolicy("Acme", "Web", "linux-small", "default")
		if err := st.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
		if p.Version != 1 {
			t.Fatalf("version after create = %d", p.Version)
		}
		dup := newPolicy("acme", "web", "linux-small", "default")
		dup.ID = "other"
		if err := st.CreatePolicy(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("duplicate (case-insensitive repository) = %v, want ErrAlreadyExists", err)
		}
		bad := newPolicy("acme", "web", "gpu", "nope")
		if err := st.CreatePolicy(ctx, bad); !errors.Is(err, store.ErrUnknownGroup) {
			t.Fatalf("unknown group = %v, want ErrUnknownGroup", err)
		}

		got, err := st.GetPolicy(ctx, "acme/web", "linux-small", true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Repository() != "Acme/Web" || len(got.Labels) != 2 || got.IdleGrace != 5*time.Minute || string(got.RunnerSpec) != `{"image":"runner:1"}` {
			t.Fatalf("round trip = %+v", got)
		}

		got.MaxRunners = 9
		if err := st.UpdatePolicy(ctx, got, 1); err != nil {
			t.Fatal(err)
		}
		stale := *got
		if err := st.UpdatePolicy(ctx, &stale, 1); !errors.Is(err, store.ErrVersionMismatch) {
			t.Fatalf("update at stale version = %v, want ErrVersionMismatch", err)
		}
		again, _ := st.GetPolicy(ctx, "acme/web", "linux-small", false)
		if again.Version != 2 || again.MaxRunners != 9 || !again.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("after update = version %d max %d created %v (was %v)", again.Version, again.MaxRunners, again.CreatedAt, p.CreatedAt)
		}

		if err := st.DeletePolicy(ctx, again.ID, 1); !errors.Is(err, store.ErrVersionMismatch) {
			t.Fatalf("delete at stale version = %v", err)
		}
		if err := st.DeletePolicy(ctx, again.ID, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetPolicy(ctx, "acme/web", "linux-small", false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get after delete = %v", err)
		}
	})
}

func TestListPolicies(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct{ owner, repo, name, group string }{
			{"acme", "web", "a", "default"}, {"acme", "web", "b", "gpu"}, {"acme", "api", "a", "default"},
			{"acme", "web_x", "a", "default"}, {"other", "web", "a", "default"}, {"acmeco", "z", "a", "gpu"},
		} {
			if err := st.CreatePolicy(ctx, newPolicy(r.owner, r.repo, r.name, r.group)); err != nil {
				t.Fatal(err)
			}
		}
		keys := func(f store.PolicyFilter) []string {
			t.Helper()
			var out []string
			for {
				page, more, err := st.ListPolicies(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range page {
					out = append(out, p.RepoKey+"/"+p.Name)
				}
				if !more {
					return out
				}
				last := page[len(page)-1]
				f.AfterRepoKey, f.AfterName = last.RepoKey, last.Name
			}
		}
		disabled := false
		for _, tc := range []struct {
			name string
			f    store.PolicyFilter
			want string
		}{
			{"all in pages of two", store.PolicyFilter{Limit: 2}, "[acme/api/a acme/web/a acme/web/b acme/web_x/a acmeco/z/a other/web/a]"},
			{"owner", store.PolicyFilter{OwnerKey: "acme", Limit: 1}, "[acme/api/a acme/web/a acme/web/b acme/web_x/a]"},
			{"repository", store.PolicyFilter{RepoKey: "acme/web"}, "[acme/web/a acme/web/b]"},
			{"group", store.PolicyFilter{AgentGroup: "gpu"}, "[acme/web/b acmeco/z/a]"},
			{"disabled", store.PolicyFilter{Enabled: &disabled}, "[]"},
			{"owner prefix is a prefix of owner/name", store.PolicyFilter{OwnerPrefixes: []string{"acme/"}}, "[acme/api/a acme/web/a acme/web/b acme/web_x/a]"},
			{"underscore in a prefix is literal", store.PolicyFilter{OwnerPrefixes: []string{"acme/web_"}}, "[acme/web_x/a]"},
			{"several prefixes", store.PolicyFilter{OwnerPrefixes: []string{"other/", "acmeco/"}, Limit: 1}, "[acmeco/z/a other/web/a]"},
			{"prefix and group", store.PolicyFilter{OwnerPrefixes: []string{"acme"}, AgentGroup: "gpu"}, "[acme/web/b acmeco/z/a]"},
		} {
			if got := fmt.Sprint(keys(tc.f)); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
	})
}

func TestAgentGroups(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu", Description: "GPU hosts"}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu"}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("duplicate group = %v", err)
		}
		if err := st.CreatePolicy(ctx, newPolicy("acme", "web", "a", "gpu")); err != nil {
			t.Fatal(err)
		}
		g, err := st.GetAgentGroup(ctx, "gpu")
		if err != nil || g.PolicyCount != 1 || g.Description != "GPU hosts" {
			t.Fatalf("group = %+v, %v", g, err)
		}
		if err := st.DeleteAgentGroup(ctx, "gpu"); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("delete group in use = %v, want ErrInUse", err)
		}
		if err := st.DeletePolicy(ctx, "acme-web-a", 1); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteAgentGroup(ctx, "gpu"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteAgentGroup(ctx, "gpu"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete missing group = %v", err)
		}
		list, err := st.ListAgentGroups(ctx)
		if err != nil || len(list) != 1 || list[0].Name != "default" {
			t.Fatalf("groups = %+v, %v", list, err)
		}
	})
}

func TestTxRollsBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		boom := errors.New("boom")
		err := st.Tx(ctx, func(tx *store.Store) error {
			if err := tx.CreatePolicy(ctx, newPolicy("acme", "web", "a", "default")); err != nil {
				return err
			}
			if err := tx.Audit(ctx, store.Actor{Name: "t"}, store.Change{Action: "policy.create", ResourceType: "policy", ResourceID: "x"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("tx = %v", err)
		}
		if _, err := st.GetPolicy(ctx, "acme/web", "a", false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("policy survived a rolled-back tx: %v", err)
		}
		events, _, err := st.ListAuditEvents(ctx, store.AuditFilter{})
		if err != nil || len(events) != 0 {
			t.Fatalf("audit events after rollback = %d, %v", len(events), err)
		}
	})
}

func TestTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		past := st.Now().Add(-time.Hour)
		for _, tok := range []*store.APIToken{
			{ID: "1", Name: "admin", Hash: "h1", Scopes: []string{"admin"}},
			{ID: "2", Name: "reader", Hash: "h2", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{"acme/"}},
			{ID: "3", Name: "expired-admin", Hash: "h3", Scopes: []string{"admin"}, ExpiresAt: &past},
		} {
			if err := st.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.CreateToken(ctx, &store.APIToken{ID: "4", Name: "dup", Hash: "h1"}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("duplicate hash = %v", err)
		}
		got, err := st.TokenByHash(ctx, "h2")
		if err != nil || got.ID != "2" || fmt.Sprint(got.OwnerPrefixes) != "[acme/]" || got.HasScope("policies:write") {
			t.Fatalf("token = %+v, %v", got, err)
		}
		if _, err := st.TokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown hash = %v", err)
		}
		if n, err := st.CountAdminTokens(ctx); err != nil || n != 1 {
			t.Fatalf("admin tokens = %d, %v (an expired one must not count)", n, err)
		}
		now := st.Now()
		if err := st.TouchToken(ctx, "2", now); err != nil {
			t.Fatal(err)
		}
		if err := st.TouchToken(ctx, "2", now.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		got, _ = st.GetToken(ctx, "2")
		if got.LastUsedAt == nil || got.LastUsedAt.Sub(now).Abs() > time.Millisecond {
			t.Fatalf("last used = %v, want %v (the second touch within a minute is skipped)", got.LastUsedAt, now)
		}
		if err := st.DeleteToken(ctx, "2"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteToken(ctx, "2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice = %v", err)
		}
	})
}

func TestAuditEvents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		start := st.Now().Add(-time.Second)
		for i := range 5 {
			c := store.Change{Action: "policy.create", ResourceType: "policy", ResourceID: fmt.Sprintf("acme/web/p%d", i), Repository: "acme/web",
				After: map[string]int{"i": i}}
			actor := store.Actor{Name: "token:a", TokenID: "1"}
			if i%2 == 1 {
				c.Action, c.Repository, actor.Name = "agent_group.create", "", "token:b"
			}
			if err := st.Audit(ctx, actor, c); err != nil {
				t.Fatal(err)
			}
		}
		all, more, err := st.ListAuditEvents(ctx, store.AuditFilter{Limit: 3})
		if err != nil || !more || len(all) != 3 {
			t.Fatalf("first page = %d more=%v %v", len(all), more, err)
		}
		if all[0].ResourceID != "acme/web/p4" || string(all[0].AfterJSON) != `{"i":4}` || len(all[0].BeforeJSON) != 0 {
			t.Fatalf("newest = %+v", all[0])
		}
		rest, more, err := st.ListAuditEvents(ctx, store.AuditFilter{Limit: 3, BeforeID: all[2].ID})
		if err != nil || more || len(rest) != 2 || rest[1].ResourceID != "acme/web/p0" {
			t.Fatalf("second page = %+v more=%v %v", rest, more, err)
		}
		count := func(f store.AuditFilter) int {
			t.Helper()
			ev, _, err := st.ListAuditEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return len(ev)
		}
		for name, tc := range map[string]struct {
			f    store.AuditFilter
			want int
		}{
			"actor":       {store.AuditFilter{Actor: "token:b"}, 2},
			"action":      {store.AuditFilter{Action: "policy.create"}, 3},
			"repository":  {store.AuditFilter{Repository: "acme/web"}, 3},
			"resource":    {store.AuditFilter{ResourceType: "policy", ResourceID: "acme/web/p2"}, 1},
			"since":       {store.AuditFilter{Since: start}, 5},
			"since later": {store.AuditFilter{Since: st.Now().Add(time.Hour)}, 0},
			"until":       {store.AuditFilter{Until: start}, 0},
		} {
			if got := count(tc.f); got != tc.want {
				t.Errorf("%s: %d events, want %d", name, got, tc.want)
			}
		}
	})
}

func TestPingAfterClose(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		st := testdb.Open(t, b)
		if err := st.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		st.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err == nil {
			t.Fatal("ping after close succeeded")
		}
	})
}

// TestLeaderLock: on PostgreSQL, while one holder runs, another skips; on SQLite both run.
func TestLeaderLock(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		a, c := testdb.Open(t, b), testdb.Open(t, b)
		ctx := t.Context()
		var inner bool
		ran, err := a.WithLeaderLock(ctx, store.LockReconcile, func(ctx context.Context) error {
			var err error
			inner, err = c.WithLeaderLock(ctx, store.LockReconcile, func(context.Context) error { return nil })
			return err
		})
		if err != nil || !ran {
			t.Fatalf("outer = %v, %v", ran, err)
		}
		if want := b.Name != "postgres"; inner != want {
			t.Fatalf("inner ran = %v, want %v", inner, want)
		}
		if ran, err := c.WithLeaderLock(ctx, store.LockReconcile, func(context.Context) error { return nil }); err != nil || !ran {
			t.Fatalf("after release = %v, %v", ran, err)
		}
	})
}
