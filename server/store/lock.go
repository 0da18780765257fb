package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Advisory lock keys of cluster-wide loops.
const (
	LockRedeliver  int64 = 0x6761726f01
	LockReconcile  int64 = 0x6761726f02
	LockUnreported int64 = 0x6761726f03
)

// WithLeaderLock runs fn only when this process takes the advisory lock key: with several
// replicas on one PostgreSQL, one of them runs a cycle of a cluster-wide loop and the
// others skip it. On SQLite (a single node) fn always runs. It reports whether fn ran.
func (s *Store) WithLeaderLock(ctx context.Context, key int64, fn func(context.Context) error) (bool, error) {
	if s.driver != DriverPostgres {
		return true, fn(ctx)
	}
	ran := false
	// Session locks belong to a connection: hold one for the lock's lifetime.
	err := s.db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		var got bool
		if err := conn.Raw("SELECT pg_try_advisory_lock(?)", key).Scan(&got).Error; err != nil {
			return fmt.Errorf("take advisory lock %x: %w", key, err)
		}
		if !got {
			return nil
		}
		defer conn.WithContext(context.WithoutCancel(ctx)).Exec("SELECT pg_advisory_unlock(?)", key)
		ran = true
		return fn(ctx)
	})
	return ran, err
}
