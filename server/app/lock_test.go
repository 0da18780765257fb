package app_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/app"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/server/store"
)

// A second garo-server on the SQLite file of a running one stops at start with one
// sentence, and the first keeps serving; admin-token create beside it still works.
func TestSecondServerOnOneSQLiteFileIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "garo.db")
	cfg.Auth.AdminTokenFile = filepath.Join(dir, "admin.token")
	_, _, stop := start(t, cfg)
	defer mustStop(t, stop)

	err := app.Run(t.Context(), cfg, testkit.Discard(), nil)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), cfg.Database.SQLitePath+" is in use by another garo-server") {
		t.Fatalf("second server = %v, want it refused (store.ErrLocked)", err)
	}
	if _, _, err := app.MintAdminToken(t.Context(), cfg, "ops-recovery", testkit.Discard()); err != nil {
		t.Errorf("admin-token create beside the running server: %v", err)
	}
}
