package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/garo-dev/garo/server/config"
)

// FuzzLoad loads any file as garo-server's configuration: an error or a configuration
// that validates, never a panic.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"../../deployments/garo-server.dev.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"server:\n  listen: 127.0.0.1:0\ndatabase:\n  driver: postgres\n  dsn: host=x\n",
		"github:\n  catchup:\n    redeliver_interval: 5s\n",
		"agents:\n  heartbeat_interval: -1s\n  offline_after: 1e9h\n",
		"server: [1, 2]\n", "log: {level: loud}\n", "{", "auth:\n  failure_limit:\n    max: 99999999999999999999\n",
		"server:\n  tls:\n    cert_file: /nonexistent\n", "database: !!binary aGVsbG8=\n", "a: &a [*a]\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "garo-server.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted a configuration that does not validate: %v", verr)
			}
		}
	})
}
