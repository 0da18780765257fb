package app_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/garo-dev/garo/agent/app"
)

// FuzzLoad loads any file as garo-agent's configuration: an error or a configuration
// that validates, never a panic.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"server:\n  url: https://garo.example.com\nprovider:\n  type: docker\n",
		"server:\n  url: http://127.0.0.1:8080\n  allow_insecure_http: true\nprovider:\n  type: docker\n  docker:\n    pull_policy: never\n    stop_timeout: 5s\nscheduler:\n  interval: 250ms\n",
		"provider:\n  type: memory\nscheduler:\n  parallel: -3\n", "server: {url: '::'}\n", "{", "shutdown:\n  timeout: 1e99h\n",
		"provider:\n  type: kubernetes\n", "status:\n  listen: 0.0.0.0:99999\n", "a: &a [*a]\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "garo-agent.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := app.Load(path, nil)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted a configuration that does not validate: %v", verr)
			}
		}
	})
}
