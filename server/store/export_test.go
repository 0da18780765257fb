package store

import (
	"context"
	"fmt"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// MigrateToForTest opens the database dsn and applies the migrations up to version,
// recorded as migrate records them, so that a test can fill a database of an older schema
// and upgrade it with Open. The caller closes the returned handle.
func MigrateToForTest(ctx context.Context, driver, dsn string, version int, now time.Time) (*gorm.DB, error) {
	var dialector gorm.Dialector
	if driver == DriverSQLite {
		d, err := sqliteDSN(dsn)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(d)
	} else {
		dialector = postgres.Open(dsn)
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard, TranslateError: true})
	if err != nil {
		return nil, err
	}
	all, err := loadMigrations(driver)
	if err != nil {
		return nil, err
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		create := fmt.Sprintf(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at %s NOT NULL)`, dialects[driver].Time)
		if err := tx.Exec(create).Error; err != nil {
			return err
		}
		for _, m := range all {
			if m.Version > version {
				break
			}
			for _, stmt := range m.Statements {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("migration %04d: %w", m.Version, err)
				}
			}
			if err := tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: now}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return db, err
}
