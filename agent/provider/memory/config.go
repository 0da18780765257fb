package memory

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Config is the memory provider's configuration: the provider.memory section of
// garo-agent's configuration (agent/app embeds it). The memory provider is for tests and
// demos against the GitHub simulator only: its runners play a runner in the agent's own
// process (SimRunner) and exit 2 with a real GitHub JIT configuration.
type Config struct {
	// JobDuration is how long a memory runner works on its job.
	JobDuration time.Duration `mapstructure:"job_duration" yaml:"job_duration"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{JobDuration: time.Second} }

// Validate checks every value and names the key of each bad one (provider.memory.<key>).
func (c Config) Validate() error {
	if c.JobDuration < 0 {
		return fmt.Errorf("provider.memory.job_duration: must not be negative, got %s", c.JobDuration)
	}
	return nil
}

// Open builds the memory provider of cfg for garo-agent: runners that play a runner
// against the GitHub simulator (SimRunner). close stops the runners that are left.
func Open(_ context.Context, cfg Config, log *slog.Logger) (*Provider, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	p := New(SimRunner(nil, cfg.JobDuration))
	log.Warn("provider.type is memory: runners play a runner against the GitHub simulator in this process; " +
		"it is for tests and demos, not for GitHub")
	return p, p.Close, nil
}
