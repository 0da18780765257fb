package store_test

import (
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

// TestMigrationRunnerProofAndBootstrap: 0011 marks a database that has tokens as
// bootstrapped (so that a deleted bootstrap token is never adopted again after the
// upgrade), and turns the runners agents hold into the server's records of them (so that
// those agents may still remove them).
func TestMigrationRunnerProofAndBootstrap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		b = testdb.Fresh(t, b)
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		db, err := store.MigrateToForTest(ctx, b.Driver, b.DSN, 9, now)
		if err != nil {
			t.Fatalf("schema 0009: %v", err)
		}
		for _, stmt := range []string{
			`INSERT INTO api_tokens (id, name, hash, scopes, owner_prefixes, created_by, created_at) VALUES ('t1', 'ops', 'h1', '["admin"]', '[]', 'x', ?)`,
			`INSERT INTO agents (id, name, agent_group, credential_hash, provider, state, registered_at, last_seen_at) VALUES ('a1', 'a1', 'default', 'ha', 'docker', 'active', ?, ?)`,
			`INSERT INTO runners (name, repo_key, policy, agent_id, provider_id, runner_id, state, job_id, reason, created_at, updated_at) VALUES ('r1', 'acme/web', 'linux', 'a1', 'c1', 42, 'idle', 0, '', ?, ?)`,
		} {
			args := []any{now}
			if countPlaceholders(stmt) == 2 {
				args = append(args, now)
			}
			if err := db.Exec(stmt, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}

		st := testdb.Open(t, b) // applies 0010 (when present) and 0011
		if _, err := st.GetState(ctx, store.StateAdminBootstrap); err != nil {
			t.Errorf("a database with tokens is not marked bootstrapped after 0011: %v", err)
		}
		m, err := st.GetMinted(ctx, "r1")
		if err != nil || m.AgentID != "a1" || m.RepoKey != "acme/web" || m.RunnerID != 42 || m.ReportedAt == nil {
			t.Errorf("record of the held runner r1 after 0011: %+v, %v", m, err)
		}

		// A database without tokens is not: its first start bootstraps.
		empty := testdb.Open(t, testdb.Fresh(t, b))
		if _, err := empty.GetState(ctx, store.StateAdminBootstrap); err == nil {
			t.Error("a fresh database is marked bootstrapped")
		}
	})
}

func countPlaceholders(s string) int {
	n := 0
	for _, c := range s {
		if c == '?' {
			n++
		}
	}
	return n
}
