package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// TestMigrationOwnershipPerProvider upgrades a database of schema 0007 that holds agents
// and ownership rows: migration 0009 keeps every row with its owner, gives it the policy
// provider its owner serves, fills agents.serves (memory and no provider serve docker),
// and puts the provider into the primary key, so that a repository and group get one
// owner per provider.
func TestMigrationOwnershipPerProvider(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		var dialector gorm.Dialector
		if b.Driver == DriverSQLite {
			dsn, err := sqliteDSN(b.DSN)
			if err != nil {
				t.Fatal(err)
			}
			dialector = sqlite.Open(dsn)
		} else {
			dialector = postgres.Open(b.DSN)
		}
		db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard, TranslateError: true})
		if err != nil {
			t.Fatal(err)
		}
		sqlDB, _ := db.DB()
		t.Cleanup(func() { _ = sqlDB.Close() })

		// Schema 0007, as a garo-server of before would have left it.
		all, err := loadMigrations(b.Driver)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(fmt.Sprintf(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at %s NOT NULL)`, dialects[b.Driver].Time)).Error; err != nil {
				return err
			}
			for _, m := range all[:7] {
				for _, stmt := range m.Statements {
					if err := tx.Exec(stmt).Error; err != nil {
						return fmt.Errorf("%04d: %w", m.Version, err)
					}
				}
				if err := tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: now}).Error; err != nil {
					return err
				}
			}
			for id, provider := range map[string]string{"d": "docker", "m": "memory", "k": "kubernetes", "o": ""} {
				if err := tx.Exec(`INSERT INTO agents (id, name, agent_group, credential_hash, provider, state, registered_at, last_seen_at)
					VALUES (?, ?, 'default', ?, ?, 'active', ?, ?)`, id, id, "hash-"+id, provider, now, now).Error; err != nil {
					return err
				}
			}
			for repo, agent := range map[string]string{"acme/web": "d", "acme/api": "m", "acme/k8s": "k", "acme/old": "o"} {
				if err := tx.Exec(`INSERT INTO repository_ownership (repo_key, agent_group, agent_id, lease_expires_at, assigned_at)
					VALUES (?, 'default', ?, ?, ?)`, repo, agent, now.Add(time.Minute), now).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("schema 0007: %v", err)
		}

		applied, err := migrate(ctx, db, b.Driver, now)
		if err != nil {
			t.Fatalf("migrate from 0007: %v", err)
		}
		if len(applied) != len(all)-7 || applied[0] != 8 {
			t.Errorf("applied %v, want every migration after 0007", applied)
		}
		st := &Store{db: db, driver: b.Driver, now: func() time.Time { return now }}
		rows, err := st.GroupOwnership(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range rows {
			got = append(got, o.RepoKey+"@"+o.Provider+"="+o.AgentID)
		}
		if want := "acme/api@docker=m acme/k8s@kubernetes=k acme/old@docker=o acme/web@docker=d"; strings.Join(got, " ") != want {
			t.Errorf("ownership after 0009 = %s\nwant %s", strings.Join(got, " "), want)
		}
		for id, want := range map[string][2]string{"d": {"docker", "docker"}, "m": {"memory", "docker"}, "k": {"kubernetes", "kubernetes"}, "o": {"docker", "docker"}} {
			a, err := st.GetAgent(ctx, id)
			if err != nil || a.Provider != want[0] || a.Serves != want[1] {
				t.Errorf("agent %s after 0009 = %+v, %v; want provider %s, serves %s", id, a, err, want[0], want[1])
			}
		}
		// The provider is part of the key: the same repository and group take a
		// kubernetes owner beside the docker one, and not a second docker owner.
		if ok, err := st.ClaimRepo(ctx, Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "kubernetes", AgentID: "k", LeaseExpiresAt: now.Add(time.Minute), AssignedAt: now}, "", now); !ok || err != nil {
			t.Errorf("kubernetes owner beside the docker one = %v, %v", ok, err)
		}
		if ok, err := st.ClaimRepo(ctx, Ownership{RepoKey: "acme/web", AgentGroup: "default", Provider: "docker", AgentID: "m", LeaseExpiresAt: now.Add(time.Minute), AssignedAt: now}, "", now); ok || err != nil {
			t.Errorf("second docker owner = %v, %v; want refused", ok, err)
		}
	})
}
