package testdb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Cluster is a throwaway PostgreSQL server for a program outside `go test` (the chaos
// suite, internal/chaos): the same server the suites use, started on a free port of
// 127.0.0.1, restartable on that port. Stop removes it.
type Cluster struct {
	s *server
}

// StartCluster starts PostgreSQL from GARO_PG_BIN (default Debian's postgresql-15).
func StartCluster(ctx context.Context) (*Cluster, error) {
	s, err := startServer(ctx, binDir())
	if err != nil {
		return nil, fmt.Errorf("testdb: %w", err)
	}
	return &Cluster{s: s}, nil
}

// DSN is the connection string of database name.
func (c *Cluster) DSN(name string) string { return c.s.dsn(name) }

// CreateDatabase creates an empty database.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.s.createDatabase(ctx, name)
}

// PID is the postmaster's process id.
func (c *Cluster) PID() int { return c.s.postmaster.Process.Pid }

// Restart stops the server as `pg_ctl restart -m fast` does (every session is ended
// with SQLSTATE 57P01) and starts it again on the same port; it returns once the server
// accepts connections.
func (c *Cluster) Restart(ctx context.Context) error {
	s := c.s
	pgctl := s.command(filepath.Join(s.bin, "pg_ctl"), "stop", "-D", s.data, "-m", "fast", "-w", "-t", "20")
	if out, err := pgctl.CombinedOutput(); err != nil {
		return fmt.Errorf("testdb: pg_ctl stop: %w: %s", err, out)
	}
	select {
	case <-s.exited:
	case <-ctx.Done():
		return fmt.Errorf("testdb: postmaster did not exit: %w", ctx.Err())
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.launchOn(ctx, s.port); err != nil {
		return fmt.Errorf("testdb: restart: %w", err)
	}
	return nil
}

// Stop stops the server and removes its files.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(c.s.stop(ctx))
}
