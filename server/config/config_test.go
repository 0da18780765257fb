package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/garo-dev/garo/server/config"
)

// writeFile writes a YAML configuration file into a fresh temporary folder.
func writeFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "garo.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a flag set with garo-server's flags registered and args parsed.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("garo-server", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %v: %v", args, err)
	}
	return fs
}

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	if err := config.Defaults().Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v, want nil", err)
	}
}

func TestLoadWithoutFileOrFlagsIsDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := config.Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load(\"\", nil) =\n%+v\nwant the defaults\n%+v", got, want)
	}
}

func TestLoadUnsetFlagsKeepDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load("", flags(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := config.Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load with unset flags =\n%+v\nwant the defaults\n%+v", got, want)
	}
}

func TestLoadEmptyFileIsDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load(writeFile(t, ""), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := config.Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load(empty file) =\n%+v\nwant the defaults\n%+v", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(path, nil)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file %s", err, path)
	}
}

// TestLoadPrecedence checks each layer against the ones below it on one key, log.level:
// defaults < file < GARO_* environment < flags that were set.
func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string   // log.level in the file, "" for none
		env  string   // GARO_LOG_LEVEL, "" for unset
		args []string // command line
		want string
	}{
		{name: "default", want: "info"},
		{name: "file over default", file: "warn", want: "warn"},
		{name: "env over default", env: "error", want: "error"},
		{name: "env over file", file: "warn", env: "error", want: "error"},
		{name: "flag over file", file: "warn", args: []string{"--log-level=debug"}, want: "debug"},
		{name: "flag over env", env: "error", args: []string{"--log-level=debug"}, want: "debug"},
		{name: "flag over env and file", file: "warn", env: "error", args: []string{"--log-level", "debug"}, want: "debug"},
		{name: "flag set to its default value still wins", file: "warn", env: "error", args: []string{"--log-level=info"}, want: "info"},
		{name: "unset flag does not override file", file: "warn", args: []string{"--log-format=json"}, want: "warn"},
		{name: "unset flag does not override env", env: "error", args: []string{"--listen=127.0.0.1:1"}, want: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: t.Setenv.
			path := ""
			if tt.file != "" {
				path = writeFile(t, "log:\n  level: "+tt.file+"\n")
			}
			if tt.env != "" {
				t.Setenv("GARO_LOG_LEVEL", tt.env)
			}
			got, err := config.Load(path, flags(t, tt.args...))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.Log.Level != tt.want {
				t.Errorf("log.level = %q, want %q", got.Log.Level, tt.want)
			}
		})
	}
}

// TestLoadLayersAllKinds mixes every layer and every kind of value (string, duration,
// integer) in one load, so that each key comes from the layer it should.
func TestLoadLayersAllKinds(t *testing.T) {
	path := writeFile(t, `
server:
  listen: "127.0.0.1:9001"
  read_timeout: 45s
  max_body_bytes: 4096
database:
  sqlite_path: /file/garo.db
  max_open_conns: 7
  conn_max_lifetime: 1h
log:
  level: warn
  format: json
`)
	t.Setenv("GARO_SERVER_LISTEN", "127.0.0.1:9002")
	t.Setenv("GARO_SERVER_WRITE_TIMEOUT", "90s")
	t.Setenv("GARO_SERVER_MAX_BODY_BYTES", "8192")
	t.Setenv("GARO_DATABASE_MAX_OPEN_CONNS", "9")
	t.Setenv("GARO_LOG_LEVEL", "error")
	t.Setenv("GARO_AUTH_BOOTSTRAP_ADMIN_TOKEN", strings.Repeat("x", 32))
	fs := flags(t, "--listen=127.0.0.1:9003")

	got, err := config.Load(path, fs)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Defaults()
	want.Server.Listen = "127.0.0.1:9003"                   // flag > env > file
	want.Server.ReadTimeout = 45 * time.Second              // file
	want.Server.WriteTimeout = 90 * time.Second             // env over default
	want.Server.MaxBodyBytes = 8192                         // env over file
	want.Database.SQLitePath = "/file/garo.db"              // file; the unset flag does not override it
	want.Database.MaxOpenConns = 9                          // env over file
	want.Database.ConnMaxLifetime = time.Hour               // file
	want.Log.Level = "error"                                // env over file; unset flag
	want.Log.Format = "json"                                // file
	want.Auth.BootstrapAdminToken = strings.Repeat("x", 32) // env only
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadPostgresDSNFromEnv(t *testing.T) {
	const dsn = "postgres://garo:s3cret@db:5432/garo?sslmode=disable"
	t.Setenv("GARO_DATABASE_DSN", dsn)
	got, err := config.Load("", flags(t, "--database-driver=postgres"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Database.Driver != "postgres" || got.Database.DSN != dsn {
		t.Errorf("database = %+v, want driver postgres with dsn %q", got.Database, dsn)
	}
}

func TestLoadRefusesUnknownKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, key string
	}{
		{"misspelt leaf", "server:\n  lisen: 127.0.0.1:80\n", "server.lisen"},
		{"misspelt section", "databse:\n  driver: sqlite\n", "databse.driver"},
		{"unknown section", "metrics:\n  port: 9090\n", "metrics.port"},
		{"unknown top-level scalar", "debug: true\n", "debug"},
		{"unknown next to known keys", "log:\n  level: info\n  colour: true\n", "log.colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(writeFile(t, tt.yaml), nil)
			if err == nil {
				t.Fatalf("Load accepted unknown key %s", tt.key)
			}
			if !strings.Contains(err.Error(), tt.key+": unknown key") {
				t.Errorf("error %q does not name the unknown key %s", err, tt.key)
			}
		})
	}
}

// TestLoadRefusesInvalidValue gives one bad value per case and expects exactly one
// problem, naming its key.
func TestLoadRefusesInvalidValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, key string
	}{
		{"unknown driver", "database:\n  driver: mysql\n", "database.driver"},
		{"empty driver", "database:\n  driver: \"\"\n", "database.driver"},
		{"postgres without dsn", "database:\n  driver: postgres\n", "database.dsn"},
		{"sqlite without path", "database:\n  sqlite_path: \"\"\n", "database.sqlite_path"},
		{"max_open_conns zero", "database:\n  max_open_conns: 0\n", "database.max_open_conns"},
		{"max_open_conns above 1000", "database:\n  max_open_conns: 1001\n", "database.max_open_conns"},
		{"max_open_conns not a number", "database:\n  max_open_conns: many\n", "database.max_open_conns"},
		{"negative conn_max_lifetime", "database:\n  conn_max_lifetime: -1m\n", "database.conn_max_lifetime"},
		{"listen without port", "server:\n  listen: localhost\n", "server.listen"},
		{"listen as bare port number", "server:\n  listen: 8080\n", "server.listen"},
		{"read_timeout not a duration", "server:\n  read_timeout: soon\n", "server.read_timeout"},
		{"write_timeout above 1h", "server:\n  write_timeout: 61m\n", "server.write_timeout"},
		{"idle_timeout negative", "server:\n  idle_timeout: -1s\n", "server.idle_timeout"},
		{"shutdown_timeout zero", "server:\n  shutdown_timeout: 0s\n", "server.shutdown_timeout"},
		{"max_body_bytes below 1024", "server:\n  max_body_bytes: 1023\n", "server.max_body_bytes"},
		{"max_body_bytes above 64 MiB", "server:\n  max_body_bytes: 67108865\n", "server.max_body_bytes"},
		{"max_body_bytes with unit", "server:\n  max_body_bytes: 1MB\n", "server.max_body_bytes"},
		{"max_wait negative", "scheduling:\n  max_wait: -1s\n", "scheduling.max_wait"},
		{"max_wait above 24h", "scheduling:\n  max_wait: 25h\n", "scheduling.max_wait"},
		{"log level", "log:\n  level: verbose\n", "log.level"},
		{"log format", "log:\n  format: xml\n", "log.format"},
		{"short bootstrap token", "auth:\n  bootstrap_admin_token: " + strings.Repeat("x", 31) + "\n", "auth.bootstrap_admin_token"},
		{"no token and no token file", "auth:\n  admin_token_file: \"\"\n", "auth.admin_token_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(writeFile(t, tt.yaml), nil)
			if err == nil {
				t.Fatalf("Load accepted %q", tt.yaml)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.key+": ") {
				t.Errorf("error %q does not start with the key %s", msg, tt.key)
			}
			if n := strings.Count(msg, "\n") + 1; n != 1 {
				t.Errorf("error reports %d problems, want 1: %q", n, msg)
			}
		})
	}
}

func TestLoadRefusesInvalidValueFromEnv(t *testing.T) {
	tests := []struct {
		env, value, key string
	}{
		{"GARO_DATABASE_DRIVER", "oracle", "database.driver"},
		{"GARO_SERVER_LISTEN", "nowhere", "server.listen"},
		{"GARO_SERVER_READ_TIMEOUT", "thirty seconds", "server.read_timeout"},
		{"GARO_SERVER_MAX_BODY_BYTES", "1MiB", "server.max_body_bytes"},
		{"GARO_LOG_LEVEL", "trace", "log.level"},
		{"GARO_LOG_FORMAT", "logfmt", "log.format"},
		{"GARO_AUTH_BOOTSTRAP_ADMIN_TOKEN", "garo_short", "auth.bootstrap_admin_token"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			_, err := config.Load("", nil)
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tt.env, tt.value)
			}
			if !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("error %q does not start with the key %s", err, tt.key)
			}
		})
	}
}

func TestLoadRefusesInvalidFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		key  string
	}{
		{[]string{"--listen=:http:"}, "server.listen"},
		{[]string{"--database-driver=mongo"}, "database.driver"},
		{[]string{"--sqlite-path="}, "database.sqlite_path"},
		{[]string{"--log-level=loud"}, "log.level"},
		{[]string{"--log-format=yaml"}, "log.format"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := config.Load("", flags(t, tt.args...))
			if err == nil {
				t.Fatalf("Load accepted %v", tt.args)
			}
			if !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("error %q does not start with the key %s", err, tt.key)
			}
		})
	}
}

func TestLoadReportsEveryInvalidValue(t *testing.T) {
	t.Parallel()
	_, err := config.Load(writeFile(t, `
server:
  listen: nowhere
  max_body_bytes: 10
database:
  driver: postgres
log:
  level: loud
  format: xml
`), nil)
	if err == nil {
		t.Fatal("Load accepted five bad values")
	}
	for _, key := range []string{"server.listen", "server.max_body_bytes", "database.dsn", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestLoadAcceptsBoundaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		check      func(config.Config) bool
	}{
		{"bootstrap token of 32 characters", "auth:\n  bootstrap_admin_token: " + strings.Repeat("t", 32) + "\n  admin_token_file: \"\"\n",
			func(c config.Config) bool { return c.Auth.BootstrapAdminToken == strings.Repeat("t", 32) }},
		{"max_body_bytes 1024", "server:\n  max_body_bytes: 1024\n",
			func(c config.Config) bool { return c.Server.MaxBodyBytes == 1024 }},
		{"max_body_bytes 64 MiB", "server:\n  max_body_bytes: 67108864\n",
			func(c config.Config) bool { return c.Server.MaxBodyBytes == 64<<20 }},
		{"timeouts of 1h", "server:\n  read_timeout: 1h\n  write_timeout: 60m\n",
			func(c config.Config) bool {
				return c.Server.ReadTimeout == time.Hour && c.Server.WriteTimeout == time.Hour
			}},
		{"conn_max_lifetime zero", "database:\n  conn_max_lifetime: 0s\n",
			func(c config.Config) bool { return c.Database.ConnMaxLifetime == 0 }},
		{"log level in capitals", "log:\n  level: DEBUG\n",
			func(c config.Config) bool { return c.Log.Level == "DEBUG" }},
		{"postgres with dsn", "database:\n  driver: postgres\n  dsn: host=db user=garo\n",
			func(c config.Config) bool {
				return c.Database.Driver == "postgres" && c.Database.DSN == "host=db user=garo"
			}},
		{"ipv6 listen", "server:\n  listen: \"[::1]:8080\"\n",
			func(c config.Config) bool { return c.Server.Listen == "[::1]:8080" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(writeFile(t, tt.yaml), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("Load(%q) = %+v", tt.yaml, c)
			}
		})
	}
}

// A duration without a unit must not quietly become nanoseconds: "read_timeout: 30" would
// otherwise give a server whose every read times out after 30ns. The decode error itself
// asks for a duration "such as \"30s\"", and the portal API refuses unit-less durations.
func TestLoadRefusesDurationWithoutUnit(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{"server:\n  read_timeout: 30\n", "server:\n  read_timeout: \"30\"\n"} {
		c, err := config.Load(writeFile(t, yaml), nil)
		if err == nil {
			t.Errorf("Load(%q) accepted a duration without unit: server.read_timeout = %s", yaml, c.Server.ReadTimeout)
			continue
		}
		if !strings.Contains(err.Error(), "server.read_timeout") {
			t.Errorf("error %q does not name server.read_timeout", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	const token = "garo_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI"
	tests := []struct {
		name       string
		dsn, token string
		wantDSN    string
		wantToken  string
		secrets    []string // must not appear anywhere in the redacted config
	}{
		{name: "empty stays empty"},
		{name: "URL with password", dsn: "postgres://garo:s3cret@db:5432/garo?sslmode=disable",
			wantDSN: "postgres://garo:redacted@db:5432/garo?sslmode=disable", secrets: []string{"s3cret"}},
		{name: "postgresql URL", dsn: "postgresql://garo:s3cret@db/garo",
			wantDSN: "postgresql://garo:redacted@db/garo", secrets: []string{"s3cret"}},
		{name: "URL without password unchanged", dsn: "postgres://garo@db/garo",
			wantDSN: "postgres://garo@db/garo"},
		{name: "URL with password in the query", dsn: "postgres://garo@db/garo?password=s3cret&sslmode=require",
			secrets: []string{"s3cret"}},
		{name: "unparsable URL", dsn: "postgres://garo:s3%zzcret@db/garo",
			wantDSN: "<redacted>", secrets: []string{"s3%zzcret"}},
		{name: "key=value", dsn: "host=db user=garo password=s3cret dbname=garo",
			wantDSN: "host=db user=garo password=<redacted> dbname=garo", secrets: []string{"s3cret"}},
		{name: "key = value with spaces and capitals", dsn: "host=db PASSWORD = s3cret dbname=garo",
			wantDSN: "host=db PASSWORD = <redacted> dbname=garo", secrets: []string{"s3cret"}},
		{name: "quoted key=value with spaces", dsn: `host=db password='s3 cr\'et' dbname=garo`,
			wantDSN: "host=db password=<redacted> dbname=garo", secrets: []string{"s3", `cr\'et`}},
		{name: "URL with sslpassword", dsn: "postgres://garo@db/garo?sslmode=verify-full&sslcert=/etc/garo/client.crt&sslkey=/etc/garo/client.key&sslpassword=k3yp4ss",
			wantDSN: "postgres://garo@db/garo?sslcert=%2Fetc%2Fgaro%2Fclient.crt&sslkey=%2Fetc%2Fgaro%2Fclient.key&sslmode=verify-full&sslpassword=redacted",
			secrets: []string{"k3yp4ss"}},
		{name: "URL with password and sslpassword", dsn: "postgresql://garo:s3cret@db/garo?sslpassword=k3yp4ss&password=s3cond",
			wantDSN: "postgresql://garo:redacted@db/garo?password=redacted&sslpassword=redacted", secrets: []string{"s3cret", "k3yp4ss", "s3cond"}},
		{name: "key=value with sslpassword", dsn: "host=db user=garo sslmode=verify-full sslkey=/etc/garo/client.key sslpassword='k3y p4ss' password=s3cret",
			wantDSN: "host=db user=garo sslmode=verify-full sslkey=/etc/garo/client.key sslpassword=<redacted> password=<redacted>",
			secrets: []string{"k3y", "p4ss", "s3cret"}},
		{name: "key=value without password unchanged", dsn: "host=db user=garo dbname=garo",
			wantDSN: "host=db user=garo dbname=garo"},
		{name: "bootstrap token", token: token, wantToken: "<redacted>", secrets: []string{token}},
		{name: "both", dsn: "host=db password=s3cret", token: token,
			wantDSN: "host=db password=<redacted>", wantToken: "<redacted>", secrets: []string{"s3cret", token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config.Defaults()
			c.Database.DSN = tt.dsn
			c.Auth.BootstrapAdminToken = tt.token
			r := c.Redacted()

			if tt.wantDSN != "" || tt.dsn == "" {
				if r.Database.DSN != tt.wantDSN {
					t.Errorf("DSN = %q, want %q", r.Database.DSN, tt.wantDSN)
				}
			}
			if r.Auth.BootstrapAdminToken != tt.wantToken {
				t.Errorf("bootstrap token = %q, want %q", r.Auth.BootstrapAdminToken, tt.wantToken)
			}
			all := r.Database.DSN + " " + r.Auth.BootstrapAdminToken
			for _, s := range tt.secrets {
				if strings.Contains(all, s) {
					t.Errorf("redacted config still holds %q: %+v", s, r)
				}
			}
			// The rest is untouched, and so is the original.
			r.Database.DSN, r.Auth.BootstrapAdminToken = tt.dsn, tt.token
			if !reflect.DeepEqual(r, c) {
				t.Errorf("Redacted changed more than the secrets:\n%+v\nwant\n%+v", r, c)
			}
			if c.Database.DSN != tt.dsn || c.Auth.BootstrapAdminToken != tt.token {
				t.Errorf("Redacted changed its receiver")
			}
		})
	}
}

func TestRedactedQueryPasswordKeepsOtherParameters(t *testing.T) {
	t.Parallel()
	c := config.Defaults()
	c.Database.DSN = "postgres://garo@db/garo?password=s3cret&sslmode=require"
	got := c.Redacted().Database.DSN
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "password=redacted") || !strings.Contains(got, "sslmode=require") {
		t.Errorf("DSN = %q, want the password replaced and sslmode kept", got)
	}
}

// github.api_url may carry credentials (a token as the user, or in the query); serve
// refuses them, and config print must not show them either.
func TestRedactedAPIURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, secret string }{
		{"", "", ""},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/", ""},
		{"https://x-access-token:ghp_l34kedT0ken@ghe.example.com/api/v3/", "https://redacted@ghe.example.com/api/v3/", "ghp_l34kedT0ken"},
		{"https://ghp_l34kedT0ken@ghe.example.com/api/v3/", "https://redacted@ghe.example.com/api/v3/", "ghp_l34kedT0ken"},
		{"https://admin:hunter2hunter2@ghe.example.com/", "https://redacted@ghe.example.com/", "hunter2hunter2"},
		{"https://ghe.example.com/api/v3/?access_token=ghp_l34kedT0ken", "https://ghe.example.com/api/v3/?access_token=redacted", "ghp_l34kedT0ken"},
		{"https://admin:hun%zzter2@ghe.example.com/", "<redacted>", "hun%zzter2"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			c := config.Defaults()
			c.GitHub.APIURL = tc.in
			got := c.Redacted().GitHub.APIURL
			if got != tc.want || (tc.secret != "" && strings.Contains(got, tc.secret)) {
				t.Errorf("api_url %q redacted = %q, want %q", tc.in, got, tc.want)
			}
			if c.GitHub.APIURL != tc.in {
				t.Errorf("Redacted changed its receiver")
			}
		})
	}
}

// The failure limit and the trusted proxies: documented defaults, the environment, and
// validation naming the key.
func TestFailureLimitAndTrustedProxies(t *testing.T) {
	d := config.Defaults()
	if l := d.Auth.FailureLimit; l.Burst != 20 || l.Refill != 3*time.Second || l.MaxClients != 10000 || len(d.Server.TrustedProxies) != 0 {
		t.Fatalf("defaults = %+v, trusted %v", l, d.Server.TrustedProxies)
	}
	t.Setenv("GARO_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.10 ,2001:db8::/32")
	t.Setenv("GARO_AUTH_FAILURE_LIMIT_BURST", "5")
	t.Setenv("GARO_AUTH_FAILURE_LIMIT_REFILL", "1m")
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	prefixes, err := c.Server.TrustedProxyPrefixes()
	if err != nil || fmt.Sprint(prefixes) != "[10.0.0.0/8 192.0.2.10/32 2001:db8::/32]" {
		t.Errorf("trusted proxies = %v, %v", prefixes, err)
	}
	if l := c.Auth.FailureLimit; l.Burst != 5 || l.Refill != time.Minute {
		t.Errorf("failure limit = %+v", l)
	}
	for _, tc := range []struct{ env, value, key string }{
		{"GARO_SERVER_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal", "server.trusted_proxies"},
		{"GARO_AUTH_FAILURE_LIMIT_BURST", "-1", "auth.failure_limit.burst"},
		{"GARO_AUTH_FAILURE_LIMIT_REFILL", "0s", "auth.failure_limit.refill"},
		{"GARO_AUTH_FAILURE_LIMIT_MAX_CLIENTS", "0", "auth.failure_limit.max_clients"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			if _, err := config.Load("", nil); err == nil || !strings.Contains(err.Error(), tc.key+":") {
				t.Errorf("%s=%s: %v, want an error naming %s", tc.env, tc.value, err, tc.key)
			}
		})
	}
	t.Setenv("GARO_AUTH_FAILURE_LIMIT_BURST", "0")
	t.Setenv("GARO_AUTH_FAILURE_LIMIT_REFILL", "0s")
	if _, err := config.Load("", nil); err != nil {
		t.Errorf("burst 0 (off) with refill 0s: %v", err)
	}
}
