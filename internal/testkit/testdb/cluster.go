package testdb

import (
	"context"
	"fmt"
	"path/filepath"
)

// Cluster is a throwaway PostgreSQL server for a program outside `go test` (the chaos
// suite, internal/chaos; the load harness, internal/load): the same server the suites use,
// in a temp directory, on a free port of 127.0.0.1, restartable on that port, removed by
// Stop (or by its reaper when the process dies).
type Cluster struct {
	s *server
	n int
}

// StartCluster starts PostgreSQL from GARO_PG_BIN (default Debian's postgresql-15);
// durable keeps fsync, synchronous_commit and full_page_writes on, as production runs.
func StartCluster(ctx context.Context, durable bool) (*Cluster, error) {
	s, err := startServer(ctx, binDir(), durable)
	if err != nil {
		return nil, fmt.Errorf("testdb: start PostgreSQL: %w", err)
	}
	return &Cluster{s: s}, nil
}

// DSN is the connection string of database name.
func (c *Cluster) DSN(name string) string { return c.s.dsn(name) }

// CreateDatabase creates an empty database.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.s.createDatabase(ctx, name)
}

// NewDatabase creates a fresh empty database and returns it as a Backend.
func (c *Cluster) NewDatabase(ctx context.Context) (Backend, error) {
	c.n++
	name := fmt.Sprintf("garo_load_%d", c.n)
	if err := c.s.createDatabase(ctx, name); err != nil {
		return Backend{}, fmt.Errorf("testdb: %w", err)
	}
	return Backend{Name: "postgres", Driver: "postgres", DSN: c.s.dsn(name)}, nil
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
func (c *Cluster) Stop(ctx context.Context) error { return c.s.stop(ctx) }
