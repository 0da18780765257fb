package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestMigrationOwnershipPerProvider upgrades a database of schema 0007 that holds agents
// and ownership rows, with Open as a new garo-server does: migration 0009 keeps every row
// with its owner, gives it the policy provider its owner serves, fills agents.serves
// (memory and no provider serve docker), and puts the provider into the primary key, so
// that a repository and group get one owner per provider.
func TestMigrationOwnershipPerProvider(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		b = testdb.Fresh(t, b)
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		db, err := store.MigrateToForTest(ctx, b.Driver, b.DSN, 7, now)
		if err != nil {
			t.Fatalf("schema 0007: %v", err)
		}
		for id, provider := range map[string]string{"d": "docker", "m": "memory", "k": "kubernetes", "o": ""} {
			if err := db.Exec(`INSERT INTO agents (id, name, agent_group, credential_hash, provider, state, registered_at, last_seen_at)
				VALUES (?, ?, 'default', ?, ?, 'active', ?, ?)`, id, id, "hash-"+id, provider, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		for repo, agent := range map[string]string{"acme/web": "d", "acme/api": "m", "acme/k8s": "k", "acme/old": "o"} {
			if err := db.Exec(`INSERT INTO repository_ownership (repo_key, agent_group, agent_id, lease_expires_at, assigned_at)
				VALUES (?, 'default', ?, ?, ?)`, repo, agent, now.Add(time.Minute), now).Error; err != nil {
				t.Fatal(err)
			}
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}

		st := testdb.Open(t, b) // applies 0008 and 0009
		rows, err := st.GroupOwnership(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range rows {
			got = append(got, o.RepoKey+"@"+o.Provider+"="+o.AgentID)
		}
		if want := "acme/api@docker=m acme/k8s@kubernetes=k acme/old@docker=o acme/web@docker=d"; strings.Join(got, " ") != want {
			t.Errorf("ownership after 0009 = %s\nwant %s", strings.Join(got, " "), want)
		}
		for id, want := range map[string][2]string{"d": {"docker", "docker"}, "m": {"memory", "docker"}, "k": {"kubernetes", "kubernetes"}, "o": {"docker", "docker"}} {
			a, err := st.GetAgent(ctx, id)
			if err != nil || a.Provider != want[0] || a.Serves != want[1] {
				t.Errorf("agent %s after 0009 = %+v, %v; want provider %s, serves %s", id, a, err, want[0], want[1])
			}
		}
		// The provider is part of the key: the same repository and group take a
		// kubernetes owner beside the docker one, and not a second docker owner.
		own := func(provider, agent string) store.Ownership {
			return store.Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: provider, AgentID: agent, LeaseExpiresAt: now.Add(time.Minute), AssignedAt: now}
		}
		if ok, err := st.ClaimRepo(ctx, own("kubernetes", "k"), "", now); !ok || err != nil {
			t.Errorf("kubernetes owner beside the docker one = %v, %v", ok, err)
		}
		if ok, err := st.ClaimRepo(ctx, own("docker", "m"), "", now); ok || err != nil {
			t.Errorf("second docker owner = %v, %v; want refused", ok, err)
		}
	})
}

// TestOwnershipSettledPerProvider: a group is settled when every (repository, provider)
// that some live agent of the group can serve has a live owner. A kubernetes policy
// without a Kubernetes agent leaves it settled (there is nobody to assign it to, so polls
// do not take the group's lock for it); a Kubernetes agent coming makes it unsettled, as
// does an owner that now serves another provider.
func TestOwnershipSettledPerProvider(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		at, since := t0.Add(time.Second), t0.Add(-time.Minute)
		settled := func() bool {
			t.Helper()
			ok, err := st.OwnershipSettled(ctx, "default", at, since)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := st.CreatePolicy(ctx, newPolicy("acme", "web", "linux", "default")); err != nil {
			t.Fatal(err)
		}
		k8s := newPolicy("acme", "web", "k8s", "default")
		k8s.Provider = "kubernetes"
		if err := st.CreatePolicy(ctx, k8s); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAgent(ctx, newAgent("d", "default")); err != nil {
			t.Fatal(err)
		}
		if settled() {
			t.Fatal("settled although the docker policy's repository has no owner")
		}
		own := store.Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "docker", AgentID: "d", LeaseExpiresAt: t0.Add(time.Minute), AssignedAt: t0}
		if ok, err := st.ClaimRepo(ctx, own, "", t0); !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if !settled() {
			t.Error("not settled although only the kubernetes policy, which no agent serves, lacks an owner")
		}
		k := newAgent("k", "default")
		k.Provider, k.Serves = "kubernetes", "kubernetes"
		if err := st.CreateAgent(ctx, k); err != nil {
			t.Fatal(err)
		}
		if settled() {
			t.Error("settled although a Kubernetes agent could own the kubernetes policy's repository")
		}
		own.Provider, own.AgentID = "kubernetes", "k"
		if ok, err := st.ClaimRepo(ctx, own, "", t0); !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if !settled() {
			t.Error("not settled with an owner of each provider")
		}
		if _, err := st.ReportAgent(ctx, "k", store.AgentReport{State: store.AgentActive, Provider: "docker", Serves: "docker", At: t0}); err != nil {
			t.Fatal(err)
		}
		if settled() {
			t.Error("settled although the kubernetes owner now serves docker")
		}
	})
}
