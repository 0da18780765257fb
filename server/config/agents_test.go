package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/server/config"
)

func TestAgentIntervals(t *testing.T) {
	t.Parallel()
	c, err := config.Load(writeFile(t, "agents:\n  heartbeat_interval: 2s\n  long_poll_timeout: 5s\n  offline_after: 10s\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agents != (config.Agents{HeartbeatInterval: 2 * time.Second, LongPollTimeout: 5 * time.Second, OfflineAfter: 10 * time.Second, UnreportedRunnerTimeout: 30 * time.Minute}) {
		t.Fatalf("agents = %+v", c.Agents)
	}
	if off, err := config.Load(writeFile(t, "agents:\n  unreported_runner_timeout: 0s\n"), nil); err != nil || off.Agents.UnreportedRunnerTimeout != 0 {
		t.Fatalf("unreported_runner_timeout 0 (off): %v, %v", off.Agents, err)
	}
	for _, tt := range []struct{ name, yaml, key string }{
		{"heartbeat below 1s", "agents:\n  heartbeat_interval: 500ms\n", "agents.heartbeat_interval"},
		{"long poll zero", "agents:\n  long_poll_timeout: 0s\n", "agents.long_poll_timeout"},
		{"long poll beyond the write timeout", "server:\n  write_timeout: 30s\n", "agents.long_poll_timeout"},
		{"offline within three heartbeats", "agents:\n  offline_after: 45s\n", "agents.offline_after"},
		{"offline not a duration", "agents:\n  offline_after: 180\n", "agents.offline_after"},
		{"unreported timeout within four heartbeats", "agents:\n  unreported_runner_timeout: 59s\n", "agents.unreported_runner_timeout"},
		{"unreported timeout beyond a week", "agents:\n  unreported_runner_timeout: 169h\n", "agents.unreported_runner_timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(writeFile(t, tt.yaml), nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Fatalf("Load(%q) = %v, want an error about %s", tt.yaml, err, tt.key)
			}
		})
	}
}
