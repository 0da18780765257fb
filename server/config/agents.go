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
}
