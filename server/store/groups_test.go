package store_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// TestMigrationGroupOwnerPrefixes: groups that existed before 0010 (default and one made
// later) come out of the upgrade serving every owner ([]), so nothing they served is cut
// off; the prefixes then round-trip through create, update and lock.
func TestMigrationGroupOwnerPrefixes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		b = testdb.Fresh(t, b)
		now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		db, err := store.MigrateToForTest(ctx, b.Driver, b.DSN, 9, now)
		if err != nil {
			t.Fatalf("schema 0009: %v", err)
		}
		if err := db.Exec(`INSERT INTO agent_groups (name, description, created_at) VALUES ('gpu', '', ?)`, now).Error; err != nil {
			t.Fatal(err)
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}

		st := testdb.Open(t, b) // applies 0010
		groups, err := st.ListAgentGroups(ctx)
		if err != nil || len(groups) != 2 {
			t.Fatalf("groups after 0010 = %+v, %v", groups, err)
		}
		for _, g := range groups {
			if g.OwnerPrefixes == nil || len(g.OwnerPrefixes) != 0 {
				t.Errorf("group %s after 0010 has owner prefixes %#v, want []", g.Name, g.OwnerPrefixes)
			}
		}

		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "acme", OwnerPrefixes: store.StringList{"acme/", "acme-labs/"}}); err != nil {
			t.Fatal(err)
		}
		g, err := st.GetAgentGroup(ctx, "acme")
		if err != nil || !slices.Equal(g.OwnerPrefixes, []string{"acme/", "acme-labs/"}) {
			t.Fatalf("acme = %+v, %v", g, err)
		}
		err = st.Tx(ctx, func(tx *store.Store) error {
			g, err := tx.LockAgentGroup(ctx, "gpu", true)
			if err != nil {
				return err
			}
			g.Description, g.OwnerPrefixes = "GPU hosts", store.StringList{"beta/"}
			return tx.UpdateAgentGroup(ctx, g)
		})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := st.GetAgentGroup(ctx, "gpu"); err != nil || g.Description != "GPU hosts" || !slices.Equal(g.OwnerPrefixes, []string{"beta/"}) {
			t.Fatalf("gpu after the update = %+v, %v", g, err)
		}
		if err := st.UpdateAgentGroup(ctx, &store.AgentGroup{Name: "nope"}); err == nil {
			t.Fatal("update of an unknown group succeeded")
		}
	})
}

// TestPoliciesOutsideAndRunnerCounts: the queries behind fencing a group and the portal's
// runner counts for a token with owner prefixes; "_" and "%" in a prefix are literal.
func TestPoliciesOutsideAndRunnerCounts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		for _, repo := range [][2]string{{"Acme", "Web"}, {"acme", "a_b"}, {"beta", "www"}, {"acmeXlabs", "x"}} {
			if err := st.CreatePolicy(ctx, newPolicy(repo[0], repo[1], "linux", "default")); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			prefixes []string
			n        int64
			first    string
		}{
			{nil, 0, ""},
			{[]string{"acme/", "beta/"}, 1, "acmeXlabs/x"},
			{[]string{"acme/"}, 2, "acmeXlabs/x"},
			{[]string{"acme_"}, 4, "acme/a_b"},
			{[]string{"ACME"}, 1, "beta/www"},
		} {
			n, first, err := st.PoliciesOutside(ctx, "default", tt.prefixes)
			if err != nil || n != tt.n || first != tt.first {
				t.Errorf("PoliciesOutside(%q) = %d, %q, %v; want %d, %q", tt.prefixes, n, first, err, tt.n, tt.first)
			}
		}

		if err := st.CreateAgent(ctx, newAgent("a", "default")); err != nil {
			t.Fatal(err)
		}
		runner := func(name, repo, state string) store.Runner {
			return store.Runner{Name: name, RepoKey: repo, Policy: "linux", AgentID: "a", State: state, CreatedAt: t0, UpdatedAt: t0}
		}
		if err := store.InsertRunnersForTest(ctx, st, []store.Runner{
			runner("r1", "acme/web", "idle"), runner("r2", "acme/web", "busy"), runner("r3", "beta/www", "idle"),
		}); err != nil {
			t.Fatal(err)
		}
		all, err := st.CountRunners(ctx, []string{"a"}, nil)
		if err != nil || all["a"]["idle"] != 2 || all["a"]["busy"] != 1 {
			t.Fatalf("all runners = %v, %v", all, err)
		}
		acme, err := st.CountRunners(ctx, []string{"a"}, []string{"acme/"})
		if err != nil || acme["a"]["idle"] != 1 || acme["a"]["busy"] != 1 {
			t.Fatalf("runners within acme/ = %v, %v", acme, err)
		}
	})
}

// TestGroupConstraints: groups that existed before 0012 come out with the default (zero)
// constraints; constraints round-trip through create, update and list, and
// PoliciesOfGroup finds the policies that name a group.
func TestGroupConstraints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		b = testdb.Fresh(t, b)
		now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		db, err := store.MigrateToForTest(ctx, b.Driver, b.DSN, 11, now)
		if err != nil {
			t.Fatalf("schema 0011: %v", err)
		}
		if err := db.Exec(`INSERT INTO agent_groups (name, description, owner_prefixes, created_at) VALUES ('gpu', '', '[]', ?)`, now).Error; err != nil {
			t.Fatal(err)
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
		st := testdb.Open(t, b) // applies 0012
		g, err := st.GetAgentGroup(ctx, "gpu")
		if err != nil || !reflect.DeepEqual(g.Constraints, guardrails.Constraints{}) {
			t.Fatalf("gpu after 0012 = %+v, %v", g, err)
		}
		two := 2
		c := guardrails.Constraints{AllowedImages: []string{"ghcr.io/acme/"}, AllowedNetworkModes: []string{"bridge"},
			Ceilings: guardrails.Ceilings{MinIdle: &two, Memory: "4Gi"}}
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "acme", OwnerPrefixes: store.StringList{"acme/"}, Constraints: c}); err != nil {
			t.Fatal(err)
		}
		if g, err := st.GetAgentGroup(ctx, "acme"); err != nil || !reflect.DeepEqual(g.Constraints, c) {
			t.Fatalf("acme = %+v, %v; want constraints %+v", g, err, c)
		}
		g.Constraints = c
		if err := st.UpdateAgentGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		groups, err := st.ListAgentGroups(ctx)
		if err != nil || len(groups) != 3 {
			t.Fatalf("groups = %+v, %v", groups, err)
		}
		for _, g := range groups {
			want := c
			if g.Name == "default" {
				want = guardrails.Constraints{}
			}
			if !reflect.DeepEqual(g.Constraints, want) {
				t.Errorf("group %s: constraints %+v, want %+v", g.Name, g.Constraints, want)
			}
		}
		if err := st.CreatePolicy(ctx, newPolicy("acme", "web", "linux", "gpu")); err != nil {
			t.Fatal(err)
		}
		if ps, err := st.PoliciesOfGroup(ctx, "gpu"); err != nil || len(ps) != 1 || ps[0].RepoKey != "acme/web" {
			t.Fatalf("policies of gpu = %+v, %v", ps, err)
		}
	})
}
