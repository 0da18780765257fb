package testdb

import (
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/store"
)

// storeConns bounds each test store's connection pool (PostgreSQL; SQLite uses one). It is
// the largest pool a suite here needed, well below the harness server's max_connections.
const storeConns = 30

// Open opens garo-server's store on b, migrated, and closes it when the test ends: the one
// way a test opens a store. A test that needs a second handle on the same database (a
// restart, a second replica) calls Open again with the same Backend.
func Open(t testing.TB, b Backend) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Driver: b.Driver, DSN: b.DSN, MaxOpenConns: storeConns}, testkit.Discard())
	if err != nil {
		t.Fatalf("testdb: open the %s store: %v", b.Name, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("testdb: close the %s store: %v", b.Name, err)
		}
	})
	return st
}

// Fresh returns a new empty database of the same kind as b.
func Fresh(t testing.TB, b Backend) Backend {
	t.Helper()
	if b.Name == "postgres" {
		return Postgres(t)
	}
	return sqlite(t)
}
