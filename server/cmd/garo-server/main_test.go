package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestConfigPrintRedacts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "garo.yaml")
	if err := os.WriteFile(file, []byte("database:\n  driver: postgres\n  dsn: postgres://garo:s3cret@db:5432/garo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GARO_AUTH_BOOTSTRAP_ADMIN_TOKEN", "garo_0123456789abcdefghijklmnopqrstuvwxyz")
	out, err := run(t, "config", "print", "--config", file, "--listen", "0.0.0.0:9000")
	if err != nil {
		t.Fatalf("config print: %v\n%s", err, out)
	}
	for _, want := range []string{"listen: 0.0.0.0:9000", "driver: postgres", "postgres://garo:redacted@db:5432/garo", "bootstrap_admin_token: <redacted>"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"s3cret", "abcdefghijklmnop"} {
		if strings.Contains(out, secret) {
			t.Errorf("config print shows a secret %q", secret)
		}
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		env, value, key string
	}{
		{"GARO_DATABASE_DRIVER", "mysql", "database.driver"},
		{"GARO_SERVER_MAX_BODY_BYTES", "lots", "server.max_body_bytes"},
		{"GARO_LOG_LEVEL", "loud", "log.level"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := run(t, "serve")
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("serve with %s=%s: %v, want an error naming %s", tc.env, tc.value, err, tc.key)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "garo-server dev (commit ") {
		t.Fatalf("version = %q, %v", out, err)
	}
}

// healthcheck asks the server at server.listen: 0 on 200, an error otherwise.
func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz", r.URL.Path == "/readyz" && ready.Load():
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		default:
			http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")
	if _, err := run(t, "healthcheck", "--listen", listen); err != nil {
		t.Errorf("healthcheck: %v", err)
	}
	if _, err := run(t, "healthcheck", "--listen", listen, "--ready"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck --ready while not ready: %v", err)
	}
	ready.Store(true)
	if _, err := run(t, "healthcheck", "--listen", listen, "--ready"); err != nil {
		t.Errorf("healthcheck --ready: %v", err)
	}
	srv.Close()
	if _, err := run(t, "healthcheck", "--listen", listen); err == nil {
		t.Error("healthcheck passed with no server")
	}
}
