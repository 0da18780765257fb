package store_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newAgent(id, group string) *store.Agent {
	return &store.Agent{ID: id, Name: id, AgentGroup: group, CredentialHash: "hash-" + id, Provider: "docker", Serves: "docker", State: store.AgentActive, RegisteredAt: t0, LastSeenAt: t0}
}

// TestOwnershipRows: one owner per repository and group; a claim of a free repository is
// an insert that loses to a concurrent one; a move is a compare-and-swap on an expired
// lease; leases renew; an agent's rows go with it.
func TestOwnershipRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		for _, id := range []string{"a", "b"} {
			if err := st.CreateAgent(ctx, newAgent(id, "default")); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.CreateAgent(ctx, newAgent("c", "nope")); !errors.Is(err, store.ErrUnknownGroup) {
			t.Fatalf("agent of an unknown group = %v", err)
		}
		own := func(agent string, lease time.Time) store.Ownership {
			return store.Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "docker", AgentID: agent, LeaseExpiresAt: lease, AssignedAt: t0}
		}

		// Concurrent claims of a free repository: exactly one takes.
		var took atomic.Int32
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b", "a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.ClaimRepo(ctx, own(id, t0.Add(time.Minute)), "", t0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					took.Add(1)
				}
			}()
		}
		wg.Wait()
		if took.Load() != 1 {
			t.Fatalf("%d claims took a free repository, want 1", took.Load())
		}
		o, err := st.Owner(ctx, "acme/web", "default", "docker")
		if err != nil {
			t.Fatal(err)
		}
		// Ownership is per provider: the same repository and group has an owner of
		// each, and the docker owner is not the kubernetes one.
		k := newAgent("k", "default")
		k.Provider, k.Serves = "kubernetes", "kubernetes"
		if err := st.CreateAgent(ctx, k); err != nil {
			t.Fatal(err)
		}
		kown := store.Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "kubernetes", AgentID: "k", LeaseExpiresAt: t0.Add(time.Hour), AssignedAt: t0}
		if ok, err := st.ClaimRepo(ctx, kown, "", t0); !ok || err != nil {
			t.Fatalf("claim for another provider = %v, %v", ok, err)
		}
		if ko, err := st.Owner(ctx, "acme/web", "default", "kubernetes"); err != nil || ko.AgentID != "k" {
			t.Fatalf("kubernetes owner = %+v, %v", ko, err)
		}
		if again, _ := st.Owner(ctx, "acme/web", "default", "docker"); again.AgentID != o.AgentID {
			t.Fatalf("docker owner changed to %s", again.AgentID)
		}
		if err := st.ReleaseRepo(ctx, "acme/web", "default", "kubernetes"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Owner(ctx, "acme/web", "default", "kubernetes"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("kubernetes owner after release = %v", err)
		}
		other := map[string]string{"a": "b", "b": "a"}[o.AgentID]

		// A move needs the named previous owner and an expired lease.
		if ok, _ := st.ClaimRepo(ctx, own(other, t0.Add(2*time.Minute)), o.AgentID, t0.Add(30*time.Second)); ok {
			t.Fatal("a live lease was taken")
		}
		if ok, _ := st.ClaimRepo(ctx, own(other, t0.Add(2*time.Minute)), other, t0.Add(2*time.Minute)); ok {
			t.Fatal("a move from the wrong previous owner took")
		}
		if err := st.RenewLeases(ctx, o.AgentID, t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// RenewLeasesOwned renews too, and returns what the agent owns, as OwnedRepos does.
		for _, id := range []string{o.AgentID, "nobody"} {
			want, err := st.OwnedRepos(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := st.RenewLeasesOwned(ctx, id, t0.Add(3*time.Minute))
			if err != nil || !slices.Equal(keys, want) || len(want) != map[string]int{o.AgentID: 1}[id] {
				t.Fatalf("renewed leases of %s = %v, %v; owned %v", id, keys, err, want)
			}
		}
		if ok, _ := st.ClaimRepo(ctx, own(other, t0.Add(4*time.Minute)), o.AgentID, t0.Add(2*time.Minute)); ok {
			t.Fatal("a renewed lease was taken")
		}
		if ok, err := st.ClaimRepo(ctx, own(other, t0.Add(5*time.Minute)), o.AgentID, t0.Add(3*time.Minute)); !ok || err != nil {
			t.Fatalf("moving an expired lease = %v, %v", ok, err)
		}
		if rows, _ := st.OwnedBy(ctx, []string{other}, t0.Add(4*time.Minute)); len(rows) != 1 {
			t.Fatalf("owned by %s = %+v", other, rows)
		}
		if rows, _ := st.OwnedBy(ctx, []string{other}, t0.Add(6*time.Minute)); len(rows) != 0 {
			t.Fatalf("expired leases listed: %+v", rows)
		}
		released, err := st.ReleaseAgent(ctx, other)
		if err != nil || len(released) != 1 || released[0] != "acme/web" {
			t.Fatalf("released = %v, %v", released, err)
		}
		if _, err := st.Owner(ctx, "acme/web", "default", "docker"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("owner after release = %v", err)
		}
	})
}

// TestDeleteGroupWithAgents: a group with an agent that is not revoked cannot be deleted;
// once its agents are revoked, it goes with them, their runners and its registration
// tokens.
func TestDeleteGroupWithAgents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAgent(ctx, newAgent("g1", "gpu")); err != nil {
			t.Fatal(err)
		}
		tok := &store.RegistrationToken{ID: "t1", AgentGroup: "gpu", Hash: "h1", ExpiresAt: t0.Add(time.Hour), UsesLeft: 1, CreatedBy: "x", CreatedAt: t0}
		if err := st.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := st.Tx(ctx, func(tx *store.Store) error {
			_, err := tx.ReplaceRunners(ctx, "g1", []store.Runner{{Name: "r1", RepoKey: "acme/ml", Policy: "cuda", State: "idle", CreatedAt: t0, UpdatedAt: t0}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		del := func() error {
			return st.Tx(ctx, func(tx *store.Store) error { return tx.DeleteAgentGroup(ctx, "gpu") })
		}
		if err := del(); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("delete a group with a live agent = %v", err)
		}
		if ok, err := st.RevokeAgent(ctx, "g1", t0); !ok || err != nil {
			t.Fatalf("revoke = %v, %v", ok, err)
		}
		if ok, _ := st.RevokeAgent(ctx, "g1", t0); ok {
			t.Fatal("revoked twice")
		}
		if err := del(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetAgent(ctx, "g1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("agent after its group = %v", err)
		}
		if _, err := st.GetRunner(ctx, "r1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("runner after its group = %v", err)
		}
		if _, err := st.ConsumeRegistrationToken(ctx, "h1", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token after its group = %v", err)
		}
	})
}
