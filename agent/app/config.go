package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/agent/provider/docker"
	"github.com/garo-dev/garo/agent/provider/kubernetes"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/configload"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
)

// EnvPrefix is the prefix of environment variables: server.url is GARO_AGENT_SERVER_URL,
// registration_token is GARO_AGENT_REGISTRATION_TOKEN.
const EnvPrefix = "GARO_AGENT"

// Config is garo-agent's configuration.
type Config struct {
	Server Server `mapstructure:"server" yaml:"server"`
	// RegistrationToken is exchanged for the agent's identity on the first start; once
	// the state file exists it may be removed. Secret: prefer the environment variable.
	RegistrationToken string `mapstructure:"registration_token" yaml:"registration_token"`
	// Name is how the agent shows in the portal; empty means the host name.
	Name string `mapstructure:"name" yaml:"name"`
	// StateFile keeps the agent's identity (mode 0600).
	StateFile string    `mapstructure:"state_file" yaml:"state_file"`
	Provider  Provider  `mapstructure:"provider" yaml:"provider"`
	Scheduler Scheduler `mapstructure:"scheduler" yaml:"scheduler"`
	// Capacity is what the agent may hold at once; the server hears it in heartbeats.
	Capacity Capacity `mapstructure:"capacity" yaml:"capacity"`
	Status   Status   `mapstructure:"status" yaml:"status"`
	Shutdown Shutdown `mapstructure:"shutdown" yaml:"shutdown"`
	Log      Log      `mapstructure:"log" yaml:"log"`
}

// Server is how the agent reaches garo-server. HTTPS_PROXY and NO_PROXY (and HTTP_PROXY
// for an http:// URL) are honoured as by every Go program.
type Server struct {
	URL     string        `mapstructure:"url" yaml:"url"`
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"` // one ordinary call
	// CAFile is a PEM bundle of the CAs the agent trusts for the server's certificate,
	// instead of the system's (a private CA). Empty: the system's, or SSL_CERT_FILE.
	CAFile string `mapstructure:"ca_file" yaml:"ca_file"`
	// CertFile and KeyFile are the agent's client certificate and key (PEM), for a server
	// that requires one (mTLS). Re-read when they change, for new connections.
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file"`
	// AllowInsecureHTTP lets URL be http:// on a host that is not loopback.
	AllowInsecureHTTP bool `mapstructure:"allow_insecure_http" yaml:"allow_insecure_http"`
}

// Provider says where runners run. Type has no default: "docker" (one container per
// runner on a Docker engine, agent/provider/docker) or "memory" (runners in the agent's
// own process that play a runner against the GitHub simulator: for tests and demos
// only). Each provider package owns its section, its defaults and its validation; only
// the section of the chosen type is validated and used.
type Provider struct {
	Type   string        `mapstructure:"type" yaml:"type"`
	Memory memory.Config `mapstructure:"memory" yaml:"memory"`
	Docker docker.Config `mapstructure:"docker" yaml:"docker"`
	// Kubernetes is provider.kubernetes (agent/provider/kubernetes): one Pod per runner.
	Kubernetes kubernetes.Config `mapstructure:"kubernetes" yaml:"kubernetes"`
}

// Provider types.
const (
	ProviderDocker     = "docker"
	ProviderKubernetes = "kubernetes"
	ProviderMemory     = "memory"
)

// providerChoices names the values of provider.type, for messages.
const providerChoices = `"docker" (runners as containers on a Docker engine), "kubernetes" (runners as Pods in a namespace) or "memory" (in-process runners against the GitHub simulator, for tests and demos)`

// Scheduler tunes the scheduler.
type Scheduler struct {
	Interval time.Duration `mapstructure:"interval" yaml:"interval"` // between ticks when nothing happens
	Parallel int           `mapstructure:"parallel" yaml:"parallel"` // creations and removals at once
	// RunnerMaxLifetime is the expiry label of new runners; one past it is removed
	// unless busy. 0 means none.
	RunnerMaxLifetime time.Duration `mapstructure:"runner_max_lifetime" yaml:"runner_max_lifetime"`
	// ListTimeout bounds one listing of the provider's instances; one that does not
	// answer in time marks the provider unavailable (heartbeats go on regardless).
	ListTimeout time.Duration `mapstructure:"list_timeout" yaml:"list_timeout"`
	// CrashBackoffBase and CrashBackoffMax pace a policy whose runners fail before
	// taking a job: the first failure holds it back for about the base, each next one
	// in a row for twice as long, up to the max, until a runner of it takes a job.
	CrashBackoffBase time.Duration `mapstructure:"crash_backoff_base" yaml:"crash_backoff_base"`
	CrashBackoffMax  time.Duration `mapstructure:"crash_backoff_max" yaml:"crash_backoff_max"`
	// QuotaRetry is how long a policy whose runner a quota of the server held back
	// waits before it asks again.
	QuotaRetry time.Duration `mapstructure:"quota_retry" yaml:"quota_retry"`
}

// Capacity is what the agent's runners may hold at once: most runners, and the CPU and
// memory their policies request in total (quantities as a runner spec's: "16", "64Gi").
// 0 and "" are no limit. When it is short, queued jobs get runners by policy priority,
// then oldest first (the server's scheduling.max_wait bounds the wait).
type Capacity struct {
	MaxRunners int    `mapstructure:"max_runners" yaml:"max_runners"`
	CPU        string `mapstructure:"cpu" yaml:"cpu"`
	Memory     string `mapstructure:"memory" yaml:"memory"`
}

// limits reads c for the scheduler; Validate has checked it.
func (c Capacity) limits() scheduler.Capacity {
	out := scheduler.Capacity{MaxRunners: c.MaxRunners}
	if c.CPU != "" {
		out.CPUMilli, _ = guardrails.MilliCPU(c.CPU)
	}
	if c.Memory != "" {
		out.MemoryBytes, _ = guardrails.MemoryBytes(c.Memory)
	}
	return out
}

// wire is c as the agent reports it (nil when it sets no limit).
func (c Capacity) wire() *protocol.Capacity {
	if c == (Capacity{}) {
		return nil
	}
	return &protocol.Capacity{MaxRunners: c.MaxRunners, CPU: c.CPU, Memory: c.Memory}
}

// Status is the local status endpoint (/healthz, /metrics); empty Listen turns it off.
type Status struct {
	Listen string `mapstructure:"listen" yaml:"listen"`
}

// Shutdown is what happens on SIGINT or SIGTERM.
type Shutdown struct {
	// Drain removes the runners that are not busy before the agent leaves (busy ones
	// finish their jobs; a restarted agent adopts what is left).
	Drain bool `mapstructure:"drain" yaml:"drain"`
	// Unregister tells the server that the agent leaves, so that its repositories move
	// at once rather than after the offline timeout. The identity stays valid: a
	// restart comes back as the same agent.
	Unregister bool          `mapstructure:"unregister" yaml:"unregister"`
	Timeout    time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// Log is the logger's setup.
type Log struct {
	Level  string `mapstructure:"level" yaml:"level"`
	Format string `mapstructure:"format" yaml:"format"`
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		Server:    Server{Timeout: 30 * time.Second},
		StateFile: "garo-agent-state.json",
		Provider:  Provider{Memory: memory.DefaultConfig(), Docker: docker.DefaultConfig(), Kubernetes: kubernetes.DefaultConfig()},
		Scheduler: Scheduler{Interval: 2 * time.Second, Parallel: 8, RunnerMaxLifetime: 24 * time.Hour, ListTimeout: 30 * time.Second, CrashBackoffBase: 5 * time.Second, CrashBackoffMax: 5 * time.Minute, QuotaRetry: 5 * time.Second},
		Status:    Status{Listen: "127.0.0.1:9102"},
		Shutdown:  Shutdown{Drain: true, Unregister: true, Timeout: 30 * time.Second},
		Log:       Log{Level: "info", Format: "text"},
	}
}

// flagKeys maps the flags of RegisterFlags to keys. The registration token has no flag on
// purpose: command lines are visible to every user of the host.
var flagKeys = map[string]string{
	"server-url":    "server.url",
	"state-file":    "state_file",
	"name":          "name",
	"provider":      "provider.type",
	"status-listen": "status.listen",
	"log-level":     "log.level",
	"log-format":    "log.format",
}

// RegisterFlags adds garo-agent's configuration flags to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String("server-url", d.Server.URL, "garo-server's URL (server.url)")
	fs.String("state-file", d.StateFile, "file that keeps the agent's identity (state_file)")
	fs.String("name", d.Name, "the agent's name in the portal; default: the host name (name)")
	fs.String("provider", d.Provider.Type, `where runners run, required: "docker", "kubernetes", or "memory" for tests and demos (provider.type)`)
	fs.String("status-listen", d.Status.Listen, `host:port of /healthz and /metrics, "" for none (status.listen)`)
	fs.String("log-level", d.Log.Level, "debug, info, warn or error (log.level)")
	fs.String("log-format", d.Log.Format, `"text" or "json" (log.format)`)
}

// Load builds the configuration from defaults, the YAML file at path ("" for none),
// GARO_AGENT_* environment variables and the flags set in fs (may be nil), each
// overriding the last, and validates it.
func Load(path string, fs *pflag.FlagSet) (Config, error) {
	c := Defaults()
	err := configload.Load(&c, configload.Options{EnvPrefix: EnvPrefix, File: path, Flags: fs, FlagKeys: flagKeys, IgnoreEnv: ignoredEnv})
	if err != nil {
		return Config{}, err
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	return c, c.Validate()
}

// Validate checks every value and names the key of each bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.Server.validate(bad)
	if c.Server.Timeout < time.Second || c.Server.Timeout > 10*time.Minute {
		bad("server.timeout", "must be between 1s and 10m, got %s", c.Server.Timeout)
	}
	if c.StateFile == "" {
		bad("state_file", "must be set")
	}
	switch c.Provider.Type {
	case "":
		bad("provider.type", "must be set (GARO_AGENT_PROVIDER_TYPE or --provider) to %s", providerChoices)
	case ProviderMemory:
		if err := c.Provider.Memory.Validate(); err != nil {
			errs = append(errs, err)
		}
	case ProviderDocker:
		if err := c.Provider.Docker.Validate(); err != nil {
			errs = append(errs, err)
		}
	case ProviderKubernetes:
		if err := c.Provider.Kubernetes.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		bad("provider.type", "must be %s, got %q", providerChoices, c.Provider.Type)
	}
	if c.Scheduler.Interval < 100*time.Millisecond || c.Scheduler.Interval > 5*time.Minute {
		bad("scheduler.interval", "must be between 100ms and 5m, got %s", c.Scheduler.Interval)
	}
	if c.Scheduler.Parallel < 1 || c.Scheduler.Parallel > 256 {
		bad("scheduler.parallel", "must be between 1 and 256, got %d", c.Scheduler.Parallel)
	}
	if c.Scheduler.RunnerMaxLifetime < 0 || (c.Scheduler.RunnerMaxLifetime > 0 && c.Scheduler.RunnerMaxLifetime < time.Minute) {
		bad("scheduler.runner_max_lifetime", "must be 0 (none) or at least 1m, got %s", c.Scheduler.RunnerMaxLifetime)
	}
	if c.Scheduler.ListTimeout < 100*time.Millisecond || c.Scheduler.ListTimeout > 10*time.Minute {
		bad("scheduler.list_timeout", "must be between 100ms and 10m, got %s", c.Scheduler.ListTimeout)
	}
	if c.Scheduler.CrashBackoffBase < 100*time.Millisecond || c.Scheduler.CrashBackoffBase > time.Hour {
		bad("scheduler.crash_backoff_base", "must be between 100ms and 1h, got %s", c.Scheduler.CrashBackoffBase)
	}
	if c.Scheduler.CrashBackoffMax < c.Scheduler.CrashBackoffBase || c.Scheduler.CrashBackoffMax > 24*time.Hour {
		bad("scheduler.crash_backoff_max", "must be at least scheduler.crash_backoff_base (%s) and at most 24h, got %s",
			c.Scheduler.CrashBackoffBase, c.Scheduler.CrashBackoffMax)
	}
	if c.Scheduler.QuotaRetry < 100*time.Millisecond || c.Scheduler.QuotaRetry > 5*time.Minute {
		bad("scheduler.quota_retry", "must be between 100ms and 5m, got %s", c.Scheduler.QuotaRetry)
	}
	if c.Capacity.MaxRunners < 0 || c.Capacity.MaxRunners > 100000 {
		bad("capacity.max_runners", "must be between 0 (no limit) and 100000, got %d", c.Capacity.MaxRunners)
	}
	if c.Capacity.CPU != "" {
		if _, err := guardrails.MilliCPU(c.Capacity.CPU); err != nil {
			bad("capacity.cpu", "%v (as a runner spec's: \"16\", \"500m\")", err)
		}
	}
	if c.Capacity.Memory != "" {
		if _, err := guardrails.MemoryBytes(c.Capacity.Memory); err != nil {
			bad("capacity.memory", "%v (as a runner spec's: \"64Gi\", \"512Mi\")", err)
		}
	}
	if c.Status.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Status.Listen); err != nil {
			bad("status.listen", "must be host:port or empty, got %q", c.Status.Listen)
		}
	}
	if c.Shutdown.Timeout < 0 || c.Shutdown.Timeout > time.Hour {
		bad("shutdown.timeout", "must be between 0 and 1h, got %s", c.Shutdown.Timeout)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", `must be "text" or "json", got %q`, c.Log.Format)
	}
	return errors.Join(errs...)
}

// Redacted is c with its secrets replaced, for printing.
func (c Config) Redacted() Config {
	if c.RegistrationToken != "" {
		c.RegistrationToken = "[redacted]"
	}
	c.Server.URL = client.RedactURL(c.Server.URL)
	return c
}
