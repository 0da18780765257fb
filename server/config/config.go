// Package config loads garo-server's configuration with viper: defaults, then a YAML file,
// then GARO_* environment variables, then command-line flags, each overriding the last.
// Validate names the offending key of every bad value.
package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/garo-dev/garo/shared/configload"
	"github.com/spf13/pflag"
)

// EnvPrefix is the prefix of environment variables: database.dsn is GARO_DATABASE_DSN.
const EnvPrefix = "GARO"

// Config is the whole configuration of garo-server.
type Config struct {
	Server   Server   `mapstructure:"server" yaml:"server"`
	Database Database `mapstructure:"database" yaml:"database"`
	Auth     Auth     `mapstructure:"auth" yaml:"auth"`
	GitHub   GitHub   `mapstructure:"github" yaml:"github"`
	Agents   Agents   `mapstructure:"agents" yaml:"agents"`
	Jobs     Jobs     `mapstructure:"jobs" yaml:"jobs"`
	// Scheduling orders queued jobs when capacity is short.
	Scheduling Scheduling `mapstructure:"scheduling" yaml:"scheduling"`
	Log        Log        `mapstructure:"log" yaml:"log"`
}

// Scheduling is the order in which queued jobs get runners when a quota or an agent's
// capacity is short: higher policy priority first, then oldest first.
type Scheduling struct {
	// MaxWait bounds how long a job waits behind younger jobs of higher priority: once
	// it has waited MaxWait it goes ahead of every job that has waited less. 0 is no
	// bound (priority always wins). Agents get it in their config.
	MaxWait time.Duration `mapstructure:"max_wait" yaml:"max_wait"`
}

// GitHub is how the server reaches GitHub and receives its webhooks. A GitHub App (app_id
// and a private key) is the first choice; a personal access token (pat) is the fallback
// for small setups.
type GitHub struct {
	// APIURL is GitHub's REST API; set it for GitHub Enterprise Server
	// (https://ghe.example.com/api/v3/). Empty means https://api.github.com/.
	APIURL         string `mapstructure:"api_url" yaml:"api_url"`
	AppID          int64  `mapstructure:"app_id" yaml:"app_id"`
	PrivateKeyFile string `mapstructure:"private_key_file" yaml:"private_key_file"`
	PrivateKey     string `mapstructure:"private_key" yaml:"private_key"`
	PAT            string `mapstructure:"pat" yaml:"pat"`
	// WebhookSecret checks X-Hub-Signature-256; WebhookSecretPrevious is also accepted
	// while a new secret is rolled out.
	WebhookSecret         string `mapstructure:"webhook_secret" yaml:"webhook_secret"`
	WebhookSecretPrevious string `mapstructure:"webhook_secret_previous" yaml:"webhook_secret_previous"`
	WebhookMaxBodyBytes   int64  `mapstructure:"webhook_max_body_bytes" yaml:"webhook_max_body_bytes"`
	// Apps are several GitHub Apps, instead of the single-App keys above (app_id,
	// private_key_file, private_key, webhook_secret, webhook_secret_previous): see AppList.
	Apps []App `mapstructure:"apps" yaml:"apps"`
	// RegistrationTokensOnly makes every runner register with a registration token instead
	// of a just-in-time configuration: for GitHub Enterprise Server versions without JIT.
	RegistrationTokensOnly bool    `mapstructure:"registration_tokens_only" yaml:"registration_tokens_only"`
	Catchup                Catchup `mapstructure:"catchup" yaml:"catchup"`
}

// App is one GitHub App of github.apps: its id, its private key (a file or inline) and the
// secret it signs its webhooks with.
type App struct {
	ID                    int64  `mapstructure:"id" yaml:"id"`
	PrivateKeyFile        string `mapstructure:"private_key_file" yaml:"private_key_file"`
	PrivateKey            string `mapstructure:"private_key" yaml:"private_key"`
	WebhookSecret         string `mapstructure:"webhook_secret" yaml:"webhook_secret"`
	WebhookSecretPrevious string `mapstructure:"webhook_secret_previous" yaml:"webhook_secret_previous"`
}

// Catchup tunes the loops that repair what webhooks missed. An interval of 0 turns a loop off.
type Catchup struct {
	RedeliverInterval     time.Duration `mapstructure:"redeliver_interval" yaml:"redeliver_interval"`
	RedeliverLookback     time.Duration `mapstructure:"redeliver_lookback" yaml:"redeliver_lookback"`
	RedeliverMax          int           `mapstructure:"redeliver_max" yaml:"redeliver_max"`
	RedeliverMaxPages     int           `mapstructure:"redeliver_max_pages" yaml:"redeliver_max_pages"`
	ReconcileInterval     time.Duration `mapstructure:"reconcile_interval" yaml:"reconcile_interval"`
	ReconcileMaxRepos     int           `mapstructure:"reconcile_max_repos" yaml:"reconcile_max_repos"`
	ReconcileMaxCalls     int           `mapstructure:"reconcile_max_calls" yaml:"reconcile_max_calls"`
	ReconcileMaxJobs      int           `mapstructure:"reconcile_max_jobs" yaml:"reconcile_max_jobs"`
	ReconcileMinRemaining int           `mapstructure:"reconcile_min_remaining" yaml:"reconcile_min_remaining"`
	InProgressCheck       time.Duration `mapstructure:"in_progress_check" yaml:"in_progress_check"`
}

// Jobs is the job log's upkeep.
type Jobs struct {
	// Retention is how long completed jobs stay in the log; 0 keeps them for ever.
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
}

// Server is the HTTP listener.
type Server struct {
	Listen string `mapstructure:"listen" yaml:"listen"`
	// TrustedProxies are the reverse proxies (addresses or CIDR networks) whose
	// X-Forwarded-For names the client; empty: the client is the connection's peer.
	TrustedProxies  []string      `mapstructure:"trusted_proxies" yaml:"trusted_proxies"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout" yaml:"read_timeout"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout" yaml:"write_timeout"`
	IdleTimeout     time.Duration `mapstructure:"idle_timeout" yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" yaml:"shutdown_timeout"`
	MaxBodyBytes    int64         `mapstructure:"max_body_bytes" yaml:"max_body_bytes"`
	TLS             TLS           `mapstructure:"tls" yaml:"tls"`
}

// Database says which store to use.
type Database struct {
	Driver          string        `mapstructure:"driver" yaml:"driver"`
	SQLitePath      string        `mapstructure:"sqlite_path" yaml:"sqlite_path"`
	DSN             string        `mapstructure:"dsn" yaml:"dsn"`
	MaxOpenConns    int           `mapstructure:"max_open_conns" yaml:"max_open_conns"`
	ConnMaxLifetime time.Duration `mapstructure:"conn_max_lifetime" yaml:"conn_max_lifetime"`
}

// Auth is the bootstrap of the first admin token.
type Auth struct {
	// BootstrapAdminToken, when set, is stored (hashed) as the admin token on a first start.
	BootstrapAdminToken string `mapstructure:"bootstrap_admin_token" yaml:"bootstrap_admin_token"`
	// AdminTokenFile receives a generated admin token (mode 0600) on a first start when
	// BootstrapAdminToken is empty.
	AdminTokenFile string `mapstructure:"admin_token_file" yaml:"admin_token_file"`
	// FailureLimit bounds failed authentications per client address.
	FailureLimit FailureLimit `mapstructure:"failure_limit" yaml:"failure_limit"`
}

// Log is the logger's setup.
type Log struct {
	Level  string `mapstructure:"level" yaml:"level"`
	Format string `mapstructure:"format" yaml:"format"`
}

// Defaults returns the documented defaults (docs/configuration.md).
func Defaults() Config {
	return Config{
		Server: Server{
			Listen: "127.0.0.1:8080", ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
			IdleTimeout: 120 * time.Second, ShutdownTimeout: 20 * time.Second, MaxBodyBytes: 1 << 20,
			TLS: TLS{ReloadInterval: 5 * time.Second},
		},
		Database: Database{Driver: "sqlite", SQLitePath: "garo-data/garo.db", MaxOpenConns: 20, ConnMaxLifetime: 30 * time.Minute},
		Auth:     Auth{AdminTokenFile: "garo-data/admin.token", FailureLimit: defaultFailureLimit},
		GitHub: GitHub{
			WebhookMaxBodyBytes: 25 << 20,
			Catchup: Catchup{
				RedeliverInterval: 5 * time.Minute, RedeliverLookback: time.Hour, RedeliverMax: 200, RedeliverMaxPages: 20,
				ReconcileInterval: 2 * time.Minute, ReconcileMaxRepos: 100, ReconcileMaxCalls: 200, ReconcileMaxJobs: 100,
				ReconcileMinRemaining: 500, InProgressCheck: 10 * time.Minute,
			},
		},
		Jobs:       Jobs{Retention: 30 * 24 * time.Hour},
		Scheduling: Scheduling{MaxWait: 30 * time.Minute},
		Agents: Agents{
			HeartbeatInterval: 15 * time.Second, LongPollTimeout: 30 * time.Second, OfflineAfter: 3 * time.Minute,
			UnreportedRunnerTimeout: 30 * time.Minute,
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// Load builds the configuration from defaults, the file at path (optional: "" reads none),
// the environment and the flags that were set in fs (may be nil). It validates the result.
func Load(path string, fs *pflag.FlagSet) (Config, error) {
	c := Defaults()
	err := configload.Load(&c, configload.Options{EnvPrefix: EnvPrefix, File: path, Flags: fs, FlagKeys: flagKeys, IgnoreEnv: ignoredEnv})
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every value and names the key of each bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "must be host:port, got %q", c.Server.Listen)
	}
	for key, d := range map[string]time.Duration{
		"server.read_timeout": c.Server.ReadTimeout, "server.write_timeout": c.Server.WriteTimeout,
		"server.idle_timeout": c.Server.IdleTimeout, "server.shutdown_timeout": c.Server.ShutdownTimeout,
	} {
		if d <= 0 || d > time.Hour {
			bad(key, "must be between 1ns and 1h, got %s", d)
		}
	}
	if c.Server.MaxBodyBytes < 1024 || c.Server.MaxBodyBytes > 64<<20 {
		bad("server.max_body_bytes", "must be between 1024 and 67108864, got %d", c.Server.MaxBodyBytes)
	}
	c.Server.TLS.validate(bad)
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.SQLitePath == "" {
			bad("database.sqlite_path", "must be set when database.driver is sqlite")
		}
	case "postgres":
		if c.Database.DSN == "" {
			bad("database.dsn", "must be set when database.driver is postgres")
		}
	default:
		bad("database.driver", `must be "sqlite" or "postgres", got %q`, c.Database.Driver)
	}
	if c.Database.MaxOpenConns < 1 || c.Database.MaxOpenConns > 1000 {
		bad("database.max_open_conns", "must be between 1 and 1000, got %d", c.Database.MaxOpenConns)
	}
	if c.Database.ConnMaxLifetime < 0 {
		bad("database.conn_max_lifetime", "must not be negative, got %s", c.Database.ConnMaxLifetime)
	}
	if t := c.Auth.BootstrapAdminToken; t != "" && len(t) < 32 {
		bad("auth.bootstrap_admin_token", "must be at least 32 characters long")
	}
	if c.Auth.BootstrapAdminToken == "" && c.Auth.AdminTokenFile == "" {
		bad("auth.admin_token_file", "must be set when auth.bootstrap_admin_token is empty")
	}
	c.GitHub.validate(bad)
	if w := c.Scheduling.MaxWait; w < 0 || w > 24*time.Hour {
		bad("scheduling.max_wait", "must be between 0 (no bound) and 24h, got %s", w)
	}
	if r := c.Jobs.Retention; r != 0 && r < 24*time.Hour {
		bad("jobs.retention", "must be 0 (keep for ever) or at least 24h, got %s", r)
	}
	c.validateFailureLimit(bad)
	c.Agents.validate(bad, c.Server.WriteTimeout)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", `must be one of debug, info, warn, error, got %q`, c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", `must be "text" or "json", got %q`, c.Log.Format)
	}
	// Keys in a stable order, whatever order the checks ran in.
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// Redacted returns c with every secret replaced by "<redacted>" (empty ones stay empty).
func (c Config) Redacted() Config {
	if c.Database.DSN != "" {
		c.Database.DSN = redactDSN(c.Database.DSN)
	}
	if c.GitHub.APIURL != "" {
		c.GitHub.APIURL = redactURL(c.GitHub.APIURL)
	}
	secrets := []*string{
		&c.Auth.BootstrapAdminToken, &c.GitHub.PrivateKey, &c.GitHub.PAT,
		&c.GitHub.WebhookSecret, &c.GitHub.WebhookSecretPrevious,
	}
	c.GitHub.Apps = slices.Clone(c.GitHub.Apps) // leave the caller's list alone
	for i := range c.GitHub.Apps {
		a := &c.GitHub.Apps[i]
		secrets = append(secrets, &a.PrivateKey, &a.WebhookSecret, &a.WebhookSecretPrevious)
	}
	for _, secret := range secrets {
		if *secret != "" {
			*secret = "<redacted>"
		}
	}
	return c
}
