package testdb

import (
	"context"
	"fmt"
)

// Cluster is a PostgreSQL server started outside a test binary (the load harness's
// command, cmd/garo-load): the same throw-away cluster as Main's, in a temp directory, on
// a free port of 127.0.0.1, removed by Stop (or by its reaper when the process dies).
type Cluster struct {
	srv *server
	n   int
}

// StartCluster starts a cluster; durable keeps fsync, synchronous_commit and
// full_page_writes on, as production runs.
func StartCluster(ctx context.Context, durable bool) (*Cluster, error) {
	srv, err := startServer(ctx, binDir(), durable)
	if err != nil {
		return nil, fmt.Errorf("testdb: start PostgreSQL: %w", err)
	}
	return &Cluster{srv: srv}, nil
}

// NewDatabase creates a fresh empty database and returns it as a Backend.
func (c *Cluster) NewDatabase(ctx context.Context) (Backend, error) {
	c.n++
	name := fmt.Sprintf("garo_load_%d", c.n)
	if err := c.srv.createDatabase(ctx, name); err != nil {
		return Backend{}, fmt.Errorf("testdb: %w", err)
	}
	return Backend{Name: "postgres", Driver: "postgres", DSN: c.srv.dsn(name)}, nil
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop(ctx context.Context) error { return c.srv.stop(ctx) }
