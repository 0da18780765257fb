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

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
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
	if err := os.WriteFile(file, []byte("database:\n  driver: postgres\n  dsn: postgres://garo:s3cret@db:5432/garo?sslmode=verify-full&sslkey=/etc/garo/client.key&sslpassword=k3yp4ss\n"+
		"github:\n  api_url: https://x-access-token:ghp_l34kedT0ken@ghe.example.com/api/v3/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GARO_AUTH_BOOTSTRAP_ADMIN_TOKEN", "garo_0123456789abcdefghijklmnopqrstuvwxyz")
	out, err := run(t, "config", "print", "--config", file, "--listen", "0.0.0.0:9000")
	if err != nil {
		t.Fatalf("config print: %v\n%s", err, out)
	}
	for _, want := range []string{"listen: 0.0.0.0:9000", "driver: postgres", "postgres://garo:redacted@db:5432/garo?", "sslpassword=redacted", "sslmode=verify-full",
		"bootstrap_admin_token: <redacted>", "api_url: https://redacted@ghe.example.com/api/v3/"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"s3cret", "abcdefghijklmnop", "k3yp4ss", "ghp_l34kedT0ken", "x-access-token"} {
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

// healthcheck speaks TLS to a server with server.tls.cert_file, whose certificate names
// another host than the loopback address it dials.
func TestHealthcheckTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "https://")
	if _, err := run(t, "healthcheck", "--listen", listen); err == nil {
		t.Fatal("plain HTTP to a TLS server passed")
	}
	t.Setenv("GARO_SERVER_TLS_CERT_FILE", "server.pem") // read by serve only
	t.Setenv("GARO_SERVER_TLS_KEY_FILE", "server-key.pem")
	if _, err := run(t, "healthcheck", "--listen", listen); err != nil {
		t.Fatalf("healthcheck over TLS: %v", err)
	}
}

// admin-token create mints an admin token on the configured database, on purpose: the
// way back once every admin token expired or was deleted.
func TestAdminTokenCreate(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "garo.db")
	t.Setenv("GARO_DATABASE_SQLITE_PATH", db)
	t.Setenv("GARO_AUTH_ADMIN_TOKEN_FILE", filepath.Join(dir, "admin.token"))
	file := filepath.Join(dir, "recovered.token")
	out, err := run(t, "admin-token", "create", "--name", "ops-recovery", "--file", file)
	if err != nil || !strings.Contains(out, "written to "+file) {
		t.Fatalf("admin-token create: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	secret := strings.TrimSpace(string(raw))
	if strings.Contains(out, secret) {
		t.Error("the secret was printed though --file was given")
	}
	st, err := store.Open(t.Context(), store.Config{Driver: store.DriverSQLite, DSN: db}, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	p, err := auth.NewAuthenticator(st, nil).Authenticate(t.Context(), "Bearer "+secret)
	if err != nil || p.Name != "ops-recovery" || !p.Has("admin") {
		t.Fatalf("the minted token: %+v, %v", p, err)
	}
	if _, err := run(t, "admin-token", "create", "--file", file); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("admin-token create onto an existing file: %v", err)
	}
}

// A GARO_* variable that names no key is reported at start (config print: on standard
// error), never with its value; the agent's variables and garoctl's are not reported;
// GARO_STRICT_ENV=1 refuses it, as the file's unknown keys are refused.
func TestUnknownEnvironmentVariable(t *testing.T) {
	t.Setenv("GARO_DATABASE_DNS", "postgres://garo:s3cret@db/garo")
	t.Setenv("GARO_LOG_LEVL", "debug")
	t.Setenv("GARO_AGENT_SERVER_URL", "http://127.0.0.1:8080")
	t.Setenv("GARO_TOKEN", "garo_SECRETSECRET")
	out, err := run(t, "config", "print")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"garo-server: warning: GARO_DATABASE_DNS: names no configuration key (did you mean GARO_DATABASE_DSN?)",
		"garo-server: warning: GARO_LOG_LEVL: names no configuration key (did you mean GARO_LOG_LEVEL?)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"s3cret", "SECRET", "GARO_AGENT_SERVER_URL", "GARO_TOKEN"} {
		if strings.Contains(out, not) {
			t.Errorf("config print shows %q:\n%s", not, out)
		}
	}
	t.Setenv("GARO_STRICT_ENV", "1")
	_, err = run(t, "serve")
	if err == nil || !strings.Contains(err.Error(), "GARO_DATABASE_DNS: names no configuration key") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("serve with GARO_STRICT_ENV=1: %v, want the variable refused", err)
	}
}
