package config

import "time"

// Agents are the intervals the server hands to agents (docs/agents.md).
type Agents struct {
	// HeartbeatInterval is how often agents send a heartbeat; an agent that missed three
	// is shown as stale.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval" yaml:"heartbeat_interval"`
	// LongPollTimeout is the longest the server holds a config or jobs poll.
	LongPollTimeout time.Duration `mapstructure:"long_poll_timeout" yaml:"long_poll_timeout"`
	// OfflineAfter is the silence after which an agent is offline and its repositories
	// move to another agent of its group.
	OfflineAfter time.Duration `mapstructure:"offline_after" yaml:"offline_after"`
	// UnreportedRunnerTimeout is how long a runner whose credentials the server minted
	// may go unreported by every agent before the server removes it from GitHub (its
	// agent died before starting it); 0 turns the sweep off.
	UnreportedRunnerTimeout time.Duration `mapstructure:"unreported_runner_timeout" yaml:"unreported_runner_timeout"`
}

func (a Agents) validate(bad func(key, format string, args ...any), writeTimeout time.Duration) {
	if a.HeartbeatInterval < time.Second || a.HeartbeatInterval > 5*time.Minute {
		bad("agents.heartbeat_interval", "must be between 1s and 5m, got %s", a.HeartbeatInterval)
	}
	// A held poll must be answered before the server's write timeout cuts it off.
	if a.LongPollTimeout < time.Second || a.LongPollTimeout > 5*time.Minute || (writeTimeout > 0 && a.LongPollTimeout > writeTimeout-5*time.Second) {
		bad("agents.long_poll_timeout", "must be between 1s and 5m and at least 5s shorter than server.write_timeout (%s), got %s", writeTimeout, a.LongPollTimeout)
	}
	if a.OfflineAfter <= 3*a.HeartbeatInterval || a.OfflineAfter > 24*time.Hour {
		bad("agents.offline_after", "must be longer than three heartbeat intervals (%s) and at most 24h, got %s", 3*a.HeartbeatInterval, a.OfflineAfter)
	}
	// Shorter than a few heartbeats, a runner that is starting would be taken for a lost one.
	if t := a.UnreportedRunnerTimeout; t != 0 && (t < 4*a.HeartbeatInterval || t < time.Minute || t > 7*24*time.Hour) {
		bad("agents.unreported_runner_timeout", "must be 0 (off) or between max(1m, four heartbeat intervals (%s)) and 168h, got %s", 4*a.HeartbeatInterval, t)
	}
}
