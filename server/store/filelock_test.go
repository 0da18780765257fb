package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/store"
)

// Two garo-servers on one SQLite file are refused: the second Exclusive store gets
// ErrLocked in one sentence naming the file, also within one process (flock is per open
// file description). A store that is not Exclusive (admin-token create beside a running
// server) still opens, and the lock goes with Close. testdb.Open opens no Exclusive
// store, so this test calls store.Open itself.
func TestExclusiveSQLiteLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "garo.db")
	open := func(exclusive bool) (*store.Store, error) {
		return store.Open(t.Context(), store.Config{Driver: store.DriverSQLite, DSN: path, Exclusive: exclusive}, testkit.Discard())
	}
	first, err := open(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() }) // closed below already; a second Close is harmless
	info, err := os.Stat(path + ".lock")
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v; want mode 0600", info, err)
	}

	second, err := open(true)
	if err == nil {
		_ = second.Close()
		t.Fatal("a second exclusive store opened the same SQLite file")
	}
	msg := err.Error()
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(msg, path) || !strings.Contains(msg, "run one garo-server per SQLite file") ||
		strings.Contains(msg, "\n") || strings.Count(msg, ". ") > 0 || !strings.Contains(msg, "process ") {
		t.Errorf("second open: %q, want one sentence naming the file, its holder and what to do", msg)
	}

	// A command beside the server (admin-token create) is not refused.
	side, err := open(false)
	if err != nil {
		t.Fatalf("a non-exclusive store beside the server: %v", err)
	}
	if err := side.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := side.Close(); err != nil {
		t.Fatal(err)
	}

	// Closed, the lock is released: the next server starts.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := open(true)
	if err != nil {
		t.Fatalf("exclusive open after the first store closed: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}
