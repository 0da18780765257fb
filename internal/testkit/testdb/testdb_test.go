package testdb_test

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", the one garo's store uses
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/garo-dev/garo/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestEach checks that Each hands out two working databases that are distinct, empty, and
// really of the kind they claim to be.
func TestEach(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]string{} // DSN -> test that got it
	)
	record := func(t *testing.T, b testdb.Backend) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[b.DSN]; ok {
			t.Fatalf("DSN %q handed to both %s and %s", b.DSN, prev, t.Name())
		}
		seen[b.DSN] = t.Name()
	}

	// Run the suite twice in sequence: each run creates a table, so the second run would see
	// the first one's table if a database were reused.
	var names []string
	for _, run := range []string{"first", "second"} {
		t.Run(run, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, b testdb.Backend) {
				names = append(names, t.Name())
				record(t, b)
				if b.Name != b.Driver {
					t.Errorf("Name %q, Driver %q: want them equal", b.Name, b.Driver)
				}
				switch b.Name {
				case "sqlite":
					checkSQLite(t, b)
				case "postgres":
					checkPostgres(t, b)
				default:
					t.Fatalf("unexpected backend name %q", b.Name)
				}
			})
		})
	}

	if len(names) < 2 {
		t.Fatalf("fn ran %d times: %v", len(names), names)
	}
	for _, n := range names {
		base := n[strings.LastIndex(n, "/")+1:]
		if base != "sqlite" && base != "postgres" {
			t.Errorf("subtest %q: want it named sqlite or postgres", n)
		}
	}
}

// TestEachParallel runs many suites whose subtests call t.Parallel; each creates the same
// table without IF NOT EXISTS, which fails if two of them share a database.
func TestEachParallel(t *testing.T) {
	for i := range 8 {
		t.Run("suite"+string(rune('a'+i)), func(t *testing.T) {
			t.Parallel()
			testdb.Each(t, func(t *testing.T, b testdb.Backend) {
				t.Parallel()
				db := open(t, b)
				if _, err := db.ExecContext(t.Context(), "CREATE TABLE shared_name (id INTEGER PRIMARY KEY)"); err != nil {
					t.Fatalf("create table in %s: %v", b.DSN, err)
				}
			})
		})
	}
}

// TestPostgresDropped checks that a database from Postgres is gone once its test ends, and
// that two calls give two databases.
func TestPostgresDropped(t *testing.T) {
	var a, b testdb.Backend
	t.Run("inner", func(t *testing.T) {
		a = testdb.Postgres(t)
		b = testdb.Postgres(t)
		if a.DSN == b.DSN {
			t.Fatalf("two Postgres calls returned the same DSN %q", a.DSN)
		}
	})
	if t.Skipped() || a.DSN == "" {
		t.Skip("postgres not available (see the inner subtest)")
	}
	probe := testdb.Postgres(t)
	conn, err := pgx.Connect(t.Context(), probe.DSN)
	if err != nil {
		t.Fatalf("connect %s: %v", probe.DSN, err)
	}
	defer func() {
		if err := conn.Close(t.Context()); err != nil {
			t.Errorf("close %s: %v", probe.DSN, err)
		}
	}()
	for _, gone := range []testdb.Backend{a, b} {
		cfg, err := pgx.ParseConfig(gone.DSN)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", cfg.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test ended", cfg.Database)
		}
	}
}

func checkSQLite(t *testing.T, b testdb.Backend) {
	t.Helper()
	if !filepath.IsAbs(b.DSN) {
		t.Errorf("sqlite DSN %q: want an absolute file path", b.DSN)
	}
	if _, err := os.Stat(b.DSN); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sqlite file %s: want it not to exist yet, stat says %v", b.DSN, err)
	}
	entries, err := os.ReadDir(filepath.Dir(b.DSN))
	if err != nil {
		t.Fatalf("sqlite directory: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("sqlite directory %s: want it empty, has %d entries", filepath.Dir(b.DSN), len(entries))
	}

	db := open(t, b)
	var tables int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_master WHERE type = 'table'").Scan(&tables); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if tables != 0 {
		t.Errorf("fresh sqlite database has %d tables", tables)
	}
	writeAndRead(t, db)
	if _, err := os.Stat(b.DSN); err != nil {
		t.Errorf("after writing, sqlite file: %v", err)
	}
}

func checkPostgres(t *testing.T, b testdb.Backend) {
	t.Helper()
	cfg, err := pgx.ParseConfig(b.DSN)
	if err != nil {
		t.Fatalf("parse DSN %q: %v", b.DSN, err)
	}
	if cfg.Host != "127.0.0.1" || cfg.User != "postgres" || !strings.HasPrefix(cfg.Database, "garo_test_") {
		t.Errorf("DSN %q: want host 127.0.0.1, user postgres, database garo_test_<n>", b.DSN)
	}

	db := open(t, b)
	var current, version string
	if err := db.QueryRowContext(t.Context(), "SELECT current_database(), current_setting('server_version_num')").Scan(&current, &version); err != nil {
		t.Fatalf("query: %v", err)
	}
	if current != cfg.Database {
		t.Errorf("connected to database %q, DSN names %q", current, cfg.Database)
	}
	t.Logf("PostgreSQL server_version_num %s, database %s", version, current)

	var tables int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if tables != 0 {
		t.Errorf("fresh postgres database has %d user tables", tables)
	}
	writeAndRead(t, db)
}

// writeAndRead proves the database takes writes: create a table, insert, count.
func writeAndRead(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE marker (id INTEGER PRIMARY KEY, note TEXT NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	for i, note := range []string{"a", "b", "c"} {
		if _, err := db.ExecContext(ctx, "INSERT INTO marker (id, note) VALUES ($1, $2)", i+1, note); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM marker").Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 3 {
		t.Errorf("marker has %d rows, want 3", n)
	}
}

// open opens b with database/sql, closed when the test ends.
func open(t *testing.T, b testdb.Backend) *sql.DB {
	t.Helper()
	driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[b.Driver]
	if driver == "" {
		t.Fatalf("unknown driver %q", b.Driver)
	}
	db, err := sql.Open(driver, b.DSN)
	if err != nil {
		t.Fatalf("open %s: %v", b.DSN, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close %s: %v", b.DSN, err)
		}
	})
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("ping %s: %v", b.DSN, err)
	}
	return db
}
