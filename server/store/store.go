// Package store is garo-server's persistence: GORM models, embedded numbered migrations,
// and the queries of the services. SQLite (pure Go, no cgo) is the embedded default for a
// single node; PostgreSQL is the production store and the only one for several replicas.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Drivers accepted in Config.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Sentinel errors of the store. Callers check them with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrInUse           = errors.New("still in use")
	ErrVersionMismatch = errors.New("version mismatch")
	ErrUnknownGroup    = errors.New("unknown agent group")
)

// Config says which database to open.
type Config struct {
	Driver string // DriverSQLite or DriverPostgres
	// DSN is a file path for SQLite and a libpq DSN or URL for PostgreSQL.
	DSN             string
	MaxOpenConns    int
	ConnMaxLifetime time.Duration
	// Exclusive (SQLite) takes an advisory lock on "<DSN>.lock" for the store's life, so
	// that a second garo-server on the same file is refused at start (ErrLocked). The
	// server sets it; a short-lived command beside a running server (admin-token create)
	// does not.
	Exclusive bool
}

// Store is a handle on the database. Inside Tx it is bound to one transaction.
type Store struct {
	db     *gorm.DB
	driver string
	now    func() time.Time
	lock   *os.File // the SQLite lock file of an Exclusive store; nil otherwise and inside Tx
}

// Open connects to the database and applies the migrations it lacks.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	var (
		dialector gorm.Dialector
		lock      *os.File
	)
	switch cfg.Driver {
	case DriverSQLite:
		dsn, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		if cfg.Exclusive && cfg.DSN != ":memory:" {
			if lock, err = lockSQLite(cfg.DSN); err != nil {
				return nil, err
			}
		}
		dialector = sqlite.Open(dsn)
	case DriverPostgres:
		dialector = postgres.Open(cfg.DSN)
	default:
		return nil, fmt.Errorf("unknown database driver %q (want %q or %q)", cfg.Driver, DriverSQLite, DriverPostgres)
	}
	// Microseconds: PostgreSQL keeps no more, and both stores must read back what was written.
	now := func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:         logger.Discard,
		NowFunc:        now,
		TranslateError: true,
		PrepareStmt:    false,
	})
	if err != nil {
		closeLock(lock)
		return nil, fmt.Errorf("open %s database: %w", cfg.Driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		closeLock(lock)
		return nil, fmt.Errorf("open %s database: %w", cfg.Driver, err)
	}
	if cfg.Driver == DriverSQLite {
		// One connection: SQLite has one writer, and a single connection turns lock
		// contention into queueing in the pool instead of SQLITE_BUSY errors.
		sqlDB.SetMaxOpenConns(1)
	} else if cfg.MaxOpenConns > 0 {
		sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
		sqlDB.SetMaxIdleConns(cfg.MaxOpenConns)
	}
	if cfg.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	}
	s := &Store{db: db, driver: cfg.Driver, now: now, lock: lock}
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		closeLock(lock)
		return nil, err
	}
	applied, err := migrate(ctx, db, cfg.Driver, now())
	if err != nil {
		_ = sqlDB.Close()
		closeLock(lock)
		return nil, fmt.Errorf("migrate %s database: %w", cfg.Driver, err)
	}
	if len(applied) > 0 {
		log.Info("database migrated", "driver", cfg.Driver, "applied", applied)
	}
	return s, nil
}

// sqliteDSN turns a file path into a DSN with the pragmas Garo relies on, creating the
// file's folder.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("sqlite: empty database path")
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("sqlite: create folder for %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode(), nil
}

// Driver names the database behind s.
func (s *Store) Driver() string { return s.driver }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.driver, err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.driver, err)
	}
	return nil
}

// Close closes the connection pool, then releases the SQLite lock of an Exclusive store.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	err = sqlDB.Close()
	// The lock goes after the database is closed (its WAL folded back), never before.
	closeLock(s.lock)
	s.lock = nil
	return err
}

// closeLock releases the SQLite lock (closing its file releases the flock).
func closeLock(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

// Tx runs fn in one transaction: everything fn writes is committed together or not at all.
// fn must use the Store it is given, never s, or it would wait on itself on SQLite.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, driver: s.driver, now: s.now})
	})
}

// Now is the store's clock (UTC).
func (s *Store) Now() time.Time { return s.now() }

// conn returns the handle bound to ctx.
func (s *Store) conn(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// isForeignKey reports a foreign-key violation. SQLite reports ON DELETE RESTRICT as a
// trigger constraint (extended code 1811), which gorm does not translate.
func isForeignKey(err error) bool {
	return errors.Is(err, gorm.ErrForeignKeyViolated) || strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// notFound maps gorm's record-not-found to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}
