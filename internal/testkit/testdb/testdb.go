// Package testdb runs a test suite against SQLite and against a real PostgreSQL server
// that the harness starts itself, once per test binary.
//
// Use it from a package's tests:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
//
//	func TestStore(t *testing.T) {
//		testdb.Each(t, func(t *testing.T, b testdb.Backend) {
//			t.Parallel() // allowed
//			st, err := store.Open(t.Context(), store.Config{Driver: b.Driver, DSN: b.DSN}, log)
//			...
//		})
//	}
//
// PostgreSQL comes from Debian's postgresql-15 binaries in /usr/lib/postgresql/15/bin, or the
// directory named by GARO_PG_BIN. When they are missing the postgres half of every suite is
// skipped loudly, or fails when CI=true, so that CI can never pass without it.
package testdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Backend is one database to run a suite against.
type Backend struct {
	Name   string // "sqlite" or "postgres"
	Driver string // "sqlite" or "postgres" (the value of garo's database.driver config key)
	DSN    string // sqlite: a file path in a fresh t.TempDir(); postgres: a DSN "host=127.0.0.1 port=N user=postgres dbname=<fresh> sslmode=disable"
}

// state is the PostgreSQL server of this test binary. Main writes it before m.Run and only
// reads it afterwards, so tests (which all start inside m.Run) read it without locking.
var state struct {
	mainCalled bool
	srv        *server // nil unless PostgreSQL is running
	missing    error   // the binaries are not installed
	startErr   error   // the binaries are installed but the server did not come up
}

// dbCounter numbers the databases of this test binary (each binary has its own server).
var dbCounter atomic.Int64

// Main starts PostgreSQL once for the test binary (if the binaries exist), runs m.Run, stops
// PostgreSQL, and exits. Call from TestMain.
//
// When a test panics or the binary is killed, m.Run never returns; a small reaper process
// (see server.go) then stops PostgreSQL and removes its directory.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// Main is the test binary's main function: there is no caller context to inherit.
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+10*time.Second)
	srv, err := startServer(ctx, binDir(), durableFromEnv())
	cancel()
	state.mainCalled = true
	switch {
	case err == nil:
		state.srv = srv
	case srv == nil && isMissing(err):
		state.missing = err
		outcome := "SKIPPED"
		if inCI() {
			outcome = "FAILED (CI=true)"
		}
		fmt.Fprintf(os.Stderr, "\n!!! testdb: %v: the postgres half of every suite in this package will be %s !!!\n\n", err, outcome)
	default:
		state.startErr = err
		fmt.Fprintf(os.Stderr, "\n!!! testdb: PostgreSQL did not start; every postgres subtest will fail:\n%v\n\n", err)
	}

	code := m.Run()

	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: stop PostgreSQL: %v\n", err)
		}
	}
	return code
}

// Each runs fn as subtests named "sqlite" and "postgres", each with a brand-new empty database.
// fn may call t.Parallel.
func Each(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, sqlite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Postgres(t))
	})
}

// EachB is Each for benchmarks: sub-benchmarks "sqlite" and "postgres", each with a
// brand-new empty database.
func EachB(b *testing.B, fn func(b *testing.B, be Backend)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) {
		fn(b, sqlite(b))
	})
	b.Run("postgres", func(b *testing.B) {
		fn(b, Postgres(b))
	})
}

// sqlite returns a path for a SQLite database file that does not exist yet, in a directory
// of its own that the test removes when it ends.
func sqlite(t testing.TB) Backend {
	t.Helper()
	return Backend{Name: "sqlite", Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "garo.db")}
}

// Postgres returns a fresh empty PostgreSQL database (DSN) for tests that need two connections
// to one database (e.g. two server replicas); it skips/fails like Each does. The database is
// dropped when the test ends.
func Postgres(t testing.TB) Backend {
	t.Helper()
	switch {
	case !state.mainCalled:
		t.Fatalf("testdb: Main was not called; add func TestMain(m *testing.M) { testdb.Main(m) } to this package")
	case state.missing != nil && inCI():
		t.Fatalf("testdb: %v; CI=true, so the postgres half of this suite must run: install postgresql-15 (apt-get install postgresql-15) or point GARO_PG_BIN at the PostgreSQL bin directory", state.missing)
	case state.missing != nil:
		t.Skipf("SKIPPED: %v; the postgres half of this suite did not run (install postgresql-15 or set GARO_PG_BIN)", state.missing)
	case state.startErr != nil:
		t.Fatalf("testdb: PostgreSQL did not start: %v", state.startErr)
	}

	name := "garo_test_" + strconv.FormatInt(dbCounter.Add(1), 10)
	// t.Context is cancelled before cleanups run, so the drop gets its own bounded context.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := state.srv.createDatabase(ctx, name); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := state.srv.dropDatabase(ctx, name); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	return Backend{Name: "postgres", Driver: "postgres", DSN: state.srv.dsn(name)}
}

// inCI reports whether the environment says this is a CI run (CI=true), where a missing
// PostgreSQL is an error instead of a skip.
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// durableFromEnv reports whether GARO_PG_FSYNC=on asks for a durable PostgreSQL (fsync
// on), as the load harness's measurements want; tests default to fsync off.
func durableFromEnv() bool { return os.Getenv("GARO_PG_FSYNC") == "on" }

// binDir is where the PostgreSQL binaries live.
func binDir() string {
	if dir := os.Getenv("GARO_PG_BIN"); dir != "" {
		return dir
	}
	return defaultBinDir
}
