package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestClaimRedelivery: a GUID is claimed once per failed attempt, by one of many
// concurrent replicas, at most maxAsks times.
func TestClaimRedelivery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		var mu sync.Mutex
		claims := 0
		var wg sync.WaitGroup
		for range 4 { // four replicas, each its own handle
			st := testdb.Open(t, b)
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := st.ClaimRedelivery(ctx, "guid-1", 100, 3)
				if err != nil {
					t.Error(err)
				}
				if n > 0 {
					mu.Lock()
					claims++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if claims != 1 {
			t.Fatalf("%d replicas claimed attempt 100, want 1", claims)
		}
		st := testdb.Open(t, b)
		for _, c := range []struct {
			attempt int64
			want    int
		}{{100, 0}, {99, 0}, {101, 2}, {101, 0}, {102, 3}, {103, 0}} {
			if n, err := st.ClaimRedelivery(ctx, "guid-1", c.attempt, 3); err != nil || n != c.want {
				t.Fatalf("claim attempt %d = %d, %v; want %d", c.attempt, n, err, c.want)
			}
		}
		if n, err := st.PruneRedelivered(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("prune = %d, %v", n, err)
		}
	})
}

// TestCatchupProgress: progress is saved and read back (replace on save).
func TestCatchupProgress(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		p, err := st.GetProgress(ctx, store.ProgressRedeliver)
		if err != nil || p.LastGoodAt != nil || p.Name != store.ProgressRedeliver {
			t.Fatalf("fresh progress = %+v, %v", p, err)
		}
		good := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		p.LastGoodAt, p.PageCursor = &good, "v1_42"
		if err := st.SaveProgress(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.PageCursor = "v1_7"
		if err := st.SaveProgress(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := testdb.Open(t, b).GetProgress(ctx, store.ProgressRedeliver)
		if err != nil || got.PageCursor != "v1_7" || got.LastGoodAt == nil || !got.LastGoodAt.Equal(good) {
			t.Fatalf("progress after restart = %+v, %v", got, err)
		}
	})
}
