package docker

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// Config is the Docker provider's configuration: the provider.docker section of
// garo-agent's configuration (agent/app embeds it), with its documented defaults in
// DefaultConfig. Validate names each bad value by its key, provider.docker.<key>.
type Config struct {
	// Host is the engine's address, such as unix:///var/run/docker.sock or
	// tcp://10.0.0.5:2376; empty means DOCKER_HOST, else the local socket. TLS settings
	// come from DOCKER_CERT_PATH and DOCKER_TLS_VERIFY as for the docker CLI.
	Host string `mapstructure:"host" yaml:"host"`
	// PullPolicy is when the runner image is pulled: never, if-missing or always.
	PullPolicy PullPolicy `mapstructure:"pull_policy" yaml:"pull_policy"`
	// StopTimeout is how long a runner may stop after SIGTERM before SIGKILL.
	StopTimeout time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout"`
	// LogTailLines is how many last log lines of a failed container go into the agent's
	// log and the runner's state reason.
	LogTailLines int `mapstructure:"log_tail_lines" yaml:"log_tail_lines"`
	// RegistryAuthFile is a Docker client config file (~/.docker/config.json, as `docker
	// login` writes it) whose inline "auths" the provider pulls private images with
	// (LoadRegistryAuth). Empty: pulls carry no credentials.
	RegistryAuthFile string `mapstructure:"registry_auth_file" yaml:"registry_auth_file"`
	// NetworkMode is the network of runners whose policy names none
	// (runner.docker.network_mode): bridge (default), host, none or a network name.
	NetworkMode string `mapstructure:"network_mode" yaml:"network_mode"`
	// AllowedBindPaths are the host directories (absolute, clean) that a policy's
	// runner.docker.volumes may mount, each with everything below it; empty allows named
	// volumes only.
	AllowedBindPaths []string `mapstructure:"allowed_bind_paths" yaml:"allowed_bind_paths"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{PullPolicy: PullIfMissing, StopTimeout: 10 * time.Second, LogTailLines: 20, NetworkMode: DefaultNetworkMode}
}

// withDefaults fills the zero fields of c from DefaultConfig, so that a Config literal
// names only what it changes.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.PullPolicy == "" {
		c.PullPolicy = d.PullPolicy
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = d.StopTimeout
	}
	if c.LogTailLines == 0 {
		c.LogTailLines = d.LogTailLines
	}
	if c.NetworkMode == "" {
		c.NetworkMode = d.NetworkMode
	}
	return c
}

// networkName is what a Docker network name may look like (bridge, host, none included).
var networkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Validate checks every value and names the key of each bad one (provider.docker.<key>).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("provider.docker.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Host != "" {
		if u, err := client.ParseHostURL(c.Host); err != nil || (u.Scheme != "unix" && u.Scheme != "tcp" && u.Scheme != "npipe") {
			bad("host", "must be empty (DOCKER_HOST, else the local socket) or an engine address "+
				"such as unix:///var/run/docker.sock or tcp://host:2376, got %q", c.Host)
		}
	}
	switch c.PullPolicy {
	case PullNever, PullIfMissing, PullAlways:
	default:
		bad("pull_policy", "must be one of never, if-missing, always, got %q", c.PullPolicy)
	}
	if c.StopTimeout < time.Second || c.StopTimeout > 10*time.Minute {
		bad("stop_timeout", "must be between 1s and 10m, got %s", c.StopTimeout)
	}
	if c.LogTailLines < 1 || c.LogTailLines > 1000 {
		bad("log_tail_lines", "must be between 1 and 1000, got %d", c.LogTailLines)
	}
	if !networkName.MatchString(c.NetworkMode) {
		bad("network_mode", "must be bridge, host, none or a network name, got %q", c.NetworkMode)
	}
	for _, b := range c.AllowedBindPaths {
		if !strings.HasPrefix(b, "/") || path.Clean(b) != b || b == "/" {
			bad("allowed_bind_paths", "each must be an absolute, clean host path other than /, got %q", b)
		}
	}
	return errors.Join(errs...)
}
