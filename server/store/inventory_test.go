package store_test

import (
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestReplaceRunnersWritesOnlyTheDifference: a second heartbeat that reports one runner
// unchanged, one changed and one new, and leaves one out, ends with exactly the reported
// rows: the unchanged one not written at all (its updated_at is still the first
// heartbeat's), the changed one rewritten, the new one added, the left-out one gone. The
// rows RunnersOf scans by hand are the rows GetRunner reads, column for column.
func TestReplaceRunnersWritesOnlyTheDifference(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if err := st.CreateAgent(ctx, newAgent("a1", "default")); err != nil {
			t.Fatal(err)
		}
		// Nanoseconds, as an agent sends them: PostgreSQL keeps microseconds.
		since := t0.Add(1234567 * time.Nanosecond)
		replace := func(at time.Time, rs ...store.Runner) {
			t.Helper()
			for i := range rs {
				rs[i].UpdatedAt = at
			}
			if err := st.Tx(ctx, func(tx *store.Store) error {
				refused, err := tx.ReplaceRunners(ctx, "a1", rs)
				if len(refused) > 0 {
					t.Errorf("refused %v", refused)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		keep := store.Runner{Name: "keep", RepoKey: "acme/web", Policy: "linux", ProviderID: "c1", RunnerID: 7, State: "busy", JobID: 42, CreatedAt: since, RunningSince: &since}
		change := store.Runner{Name: "change", RepoKey: "acme/web", Policy: "linux", State: "booting", CreatedAt: since}
		drop := store.Runner{Name: "drop", RepoKey: "acme/web", Policy: "linux", State: "idle", CreatedAt: since}
		replace(t0, keep, change, drop)

		t1 := t0.Add(15 * time.Second)
		changed := change
		changed.State, changed.ProviderID = "idle", "c2"
		added := store.Runner{Name: "new", RepoKey: "acme/web", Policy: "linux", State: "creating", CreatedAt: t1}
		replace(t1, keep, changed, added)

		got, err := st.RunnersOf(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got["drop"].Name != "" {
			t.Fatalf("rows after the second heartbeat: %v; want keep, change, new", got)
		}
		k, err := st.GetRunner(ctx, "keep")
		if err != nil {
			t.Fatal(err)
		}
		if !k.UpdatedAt.Equal(t0) || k.State != "busy" || k.JobID != 42 || k.RunnerID != 7 || k.ProviderID != "c1" || k.RunningSince == nil {
			t.Errorf("unchanged runner after the second heartbeat: %+v; want it unwritten, updated_at %s", k, t0)
		}
		c, err := st.GetRunner(ctx, "change")
		if err != nil {
			t.Fatal(err)
		}
		if c.State != "idle" || c.ProviderID != "c2" || !c.UpdatedAt.Equal(t1) {
			t.Errorf("changed runner: %+v; want idle, c2, updated_at %s", c, t1)
		}
		n, err := st.GetRunner(ctx, "new")
		if err != nil || n.State != "creating" || n.AgentID != "a1" {
			t.Errorf("new runner: %+v, %v", n, err)
		}
		for name, r := range got {
			want, err := st.GetRunner(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !sameRow(r, *want) {
				t.Errorf("RunnersOf[%s] = %+v; GetRunner reads %+v", name, r, *want)
			}
		}
		// An empty report removes them all.
		replace(t1.Add(time.Second))
		if got, err := st.RunnersOf(ctx, "a1"); err != nil || len(got) != 0 {
			t.Errorf("rows after an empty heartbeat: %v, %v", got, err)
		}
	})
}

// sameRow compares two rows of runners, times by instant.
func sameRow(a, b store.Runner) bool {
	times := a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		(a.RunningSince == nil) == (b.RunningSince == nil) && (a.RunningSince == nil || a.RunningSince.Equal(*b.RunningSince))
	a.CreatedAt, a.UpdatedAt, a.RunningSince = b.CreatedAt, b.UpdatedAt, b.RunningSince
	return times && a == b
}

// TestReplaceRunnersOfRevision: every ReplaceRunnersOf that writes a row of the agent moves
// its runner revision by one, and one that writes nothing leaves it (and returns the rows
// it was given); the rows it returns are what RunnersOf reads afterwards.
func TestReplaceRunnersOfRevision(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if err := st.CreateAgent(ctx, newAgent("a1", "default")); err != nil {
			t.Fatal(err)
		}
		rev := func() int64 {
			t.Helper()
			n, err := st.RunnersRev(ctx, "a1")
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		replace := func(rs ...store.Runner) store.Replaced {
			t.Helper()
			var res store.Replaced
			if err := st.Tx(ctx, func(tx *store.Store) error {
				old, err := tx.RunnersOf(ctx, "a1")
				if err != nil {
					return err
				}
				res, err = tx.ReplaceRunnersOf(ctx, "a1", old, rs)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			got, err := st.RunnersOf(ctx, "a1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(res.Rows) {
				t.Fatalf("returned rows %v; RunnersOf reads %v", res.Rows, got)
			}
			for name, r := range got {
				if !sameRow(r, res.Rows[name]) {
					t.Errorf("returned row %s = %+v; RunnersOf reads %+v", name, res.Rows[name], r)
				}
			}
			return res
		}
		r1 := store.Runner{Name: "r1", RepoKey: "acme/web", Policy: "linux", State: "idle", CreatedAt: t0, UpdatedAt: t0}
		r2 := store.Runner{Name: "r2", RepoKey: "acme/web", Policy: "linux", State: "busy", JobID: 3, CreatedAt: t0, UpdatedAt: t0}
		if got := rev(); got != 0 {
			t.Fatalf("revision of a new agent = %d", got)
		}
		steps := []struct {
			name  string
			rs    []store.Runner
			wrote bool
			rev   int64
		}{
			{"first report", []store.Runner{r1, r2}, true, 1},
			{"the same again", []store.Runner{r1, r2}, false, 1},
			{"one changed", []store.Runner{r1, func() store.Runner { r := r2; r.State, r.JobID = "idle", 0; return r }()}, true, 2},
			{"one gone", []store.Runner{r1}, true, 3},
			{"unchanged", []store.Runner{r1}, false, 3},
		}
		for _, s := range steps {
			if res := replace(s.rs...); res.Wrote != s.wrote {
				t.Errorf("%s: wrote = %v, want %v", s.name, res.Wrote, s.wrote)
			}
			if got := rev(); got != s.rev {
				t.Errorf("%s: revision %d, want %d", s.name, got, s.rev)
			}
		}
	})
}
