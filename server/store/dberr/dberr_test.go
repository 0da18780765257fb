package dberr_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store/dberr"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestUnavailableOnRealPostgres: a backend terminated under a connection (what a
// PostgreSQL restart does to every one: SQLSTATE 57P01), and a connection refused, are
// the database being away; a statement PostgreSQL refuses is not. A read tried again on
// the pool gets a fresh connection and succeeds (issue 14, finding 4).
func TestUnavailableOnRealPostgres(t *testing.T) {
	b := testdb.Postgres(t)
	ctx := t.Context()
	db := open(t, b.DSN)
	db.SetMaxOpenConns(1)
	var pid int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// The query runs while its backend is terminated (as a restart terminates all).
	failed := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "SELECT pg_sleep(30)")
		failed <- err
	}()
	admin := open(t, b.DSN)
	var ok bool
	for !ok {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			if err := admin.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := <-failed
	if err == nil {
		t.Fatal("a query on a terminated backend succeeded")
	}
	if !dberr.Unavailable(fmt.Errorf("list policies: %w", err)) {
		t.Errorf("terminated backend: Unavailable(%v) = false, want true", err)
	}
	var one int
	// Once more: the pool hands out a fresh connection.
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("retry on a fresh connection = %d, %v", one, err)
	}

	_, err = db.ExecContext(ctx, "SELEC 1")
	if err == nil || dberr.Unavailable(err) {
		t.Errorf("syntax error: Unavailable(%v) = true, want false", err)
	}
	_, err = db.ExecContext(ctx, "SELECT 1/0")
	if err == nil || dberr.Unavailable(err) {
		t.Errorf("division by zero: Unavailable(%v) = true, want false", err)
	}

	refused := open(t, "host=127.0.0.1 port=1 user=postgres dbname=x sslmode=disable connect_timeout=2")
	err = refused.PingContext(ctx)
	if err == nil || !dberr.Unavailable(err) {
		t.Errorf("connection refused: Unavailable(%v) = false, want true", err)
	}
	for _, e := range []error{nil, errors.New("boom"), context.Canceled, sql.ErrNoRows} {
		if dberr.Unavailable(e) {
			t.Errorf("Unavailable(%v) = true", e)
		}
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
