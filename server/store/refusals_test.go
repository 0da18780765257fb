package store_test

import (
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// TestPolicyRefusals: a refusal holds for the policy's version it was recorded at; a
// newer one replaces it; a changed policy, a clear and a deleted policy drop it.
func TestPolicyRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		p := newPolicy("acme", "web", "linux", "default")
		q := newPolicy("acme", "api", "linux", "default")
		if err := st.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := st.CreatePolicy(ctx, q); err != nil {
			t.Fatal(err)
		}
		versions := func() map[string]int64 { return map[string]int64{p.ID: p.Version, q.ID: q.Version} }
		if got, err := st.RefusalsOf(ctx, versions()); err != nil || len(got) != 0 {
			t.Fatalf("refusals before any: %v, %v", got, err)
		}
		if err := st.RecordRefusal(ctx, p, "first"); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordRefusal(ctx, p, `runner group "gpu" does not allow repository acme/web`); err != nil {
			t.Fatal(err)
		}
		got, err := st.RefusalsOf(ctx, versions())
		if err != nil || len(got) != 1 || got[p.ID].Reason != `runner group "gpu" does not allow repository acme/web` || got[p.ID].RefusedAt.IsZero() {
			t.Fatalf("refusals = %+v, %v; want the newer reason of %s only", got, err, p.ID)
		}

		// A changed policy is not held to the old refusal.
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		if got, err := st.RefusalsOf(ctx, versions()); err != nil || len(got) != 0 {
			t.Fatalf("refusals after the policy changed: %+v, %v; want none", got, err)
		}
		if err := st.RecordRefusal(ctx, p, "again"); err != nil {
			t.Fatal(err)
		}
		if err := st.ClearRefusal(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := st.RefusalsOf(ctx, versions()); err != nil || len(got) != 0 {
			t.Fatalf("refusals after a clear: %+v, %v; want none", got, err)
		}

		if err := st.RecordRefusal(ctx, q, "refused"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePolicy(ctx, q.ID, q.Version); err != nil {
			t.Fatal(err)
		}
		if got, err := st.RefusalsOf(ctx, map[string]int64{q.ID: q.Version}); err != nil || len(got) != 0 {
			t.Fatalf("refusals of a deleted policy: %+v, %v; want none", got, err)
		}
	})
}
