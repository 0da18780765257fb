package app_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/app"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/logging"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestRunServesAndStops starts the whole server as garo-server serve does, on each store:
// first start writes the admin token file (0600) and the token works; a second start on the
// same database writes no new token; cancelling the context shuts it down cleanly.
func TestRunServesAndStops(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		dir := t.TempDir()
		cfg := config.Defaults()
		cfg.Server.Listen = "127.0.0.1:0"
		cfg.Database.Driver = b.Driver
		if b.Driver == "sqlite" {
			cfg.Database.SQLitePath = b.DSN
		} else {
			cfg.Database.DSN = b.DSN
		}
		cfg.Auth.AdminTokenFile = filepath.Join(dir, "admin.token")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}

		addr, tokenFile, stop := start(t, cfg)
		if tokenFile != cfg.Auth.AdminTokenFile {
			t.Fatalf("token file = %q, want %q", tokenFile, cfg.Auth.AdminTokenFile)
		}
		info, err := os.Stat(tokenFile)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode = %v, %v", info, err)
		}
		raw, _ := os.ReadFile(tokenFile)
		c, err := client.New("http://"+addr.String(), strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		who, err := c.WhoAmI(t.Context())
		if err != nil || who.Name != "bootstrap-admin" {
			t.Fatalf("whoami with the generated token = %+v, %v", who, err)
		}
		if err := stop(); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if _, err := c.Health(t.Context()); err == nil {
			t.Fatal("server still answers after shutdown")
		}

		// A second start keeps the first admin token and writes none.
		os.Remove(tokenFile)
		addr, tokenFile, stop = start(t, cfg)
		defer mustStop(t, stop)
		if tokenFile != "" {
			t.Fatalf("second start wrote a token file %q", tokenFile)
		}
		c, _ = client.New("http://"+addr.String(), strings.TrimSpace(string(raw)))
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatalf("first token after restart: %v", err)
		}
	})
}

// start runs app.Run in the background and returns where it listens, the token file it
// wrote, and a stop function that returns Run's error.
func start(t *testing.T, cfg config.Config) (net.Addr, string, func() error) {
	t.Helper()
	log, err := logging.New(os.Stderr, "warn", "text")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	type started struct {
		addr net.Addr
		file string
	}
	ready := make(chan started, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, log, func(a net.Addr, f string) { ready <- started{a, f} })
	}()
	select {
	case s := <-ready:
		stopped := false
		return s.addr, s.file, func() error {
			if stopped {
				return nil
			}
			stopped = true
			cancel()
			return <-done
		}
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30s")
	}
	return nil, "", nil
}

// mustStop calls stop and fails the test if the server did not shut down cleanly; for a
// defer.
func mustStop(t *testing.T, stop func() error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestFreshDatabaseAdoptsTokenFile: a server started on a new database next to an existing
// admin token file stores that token instead of overwriting the file.
func TestFreshDatabaseAdoptsTokenFile(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "first.db")
	cfg.Auth.AdminTokenFile = filepath.Join(dir, "admin.token")
	_, _, stop := start(t, cfg)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(cfg.Auth.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}

	cfg.Database.SQLitePath = filepath.Join(dir, "second.db")
	addr, tokenFile, stop := start(t, cfg)
	defer mustStop(t, stop)
	again, _ := os.ReadFile(cfg.Auth.AdminTokenFile)
	if tokenFile != cfg.Auth.AdminTokenFile || string(again) != string(first) {
		t.Fatalf("token file %q rewritten: %q -> %q", tokenFile, first, again)
	}
	c, _ := client.New("http://"+addr.String(), strings.TrimSpace(string(first)))
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatalf("the adopted token does not work: %v", err)
	}
}
