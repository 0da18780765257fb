package load_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/load"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// TestMain is also the hub's child process of TestSmallLoad: the test binary run again
// with "hub" and the hub's flags, as garo-load runs itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hub" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := load.ServeHub(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testdb.Main(m)
}

// TestSmallLoad runs a small load on both backends and checks that every job of ours was
// matched, offered to its owning agent, had credentials minted and completed, and that
// a policy change reached its agent, and that the hub's figures are those of its own
// process. The figures are printed, never compared with a target (make bench does that).
func TestSmallLoad(t *testing.T) {
	testdb.Each(t, func(t *testing.T, be testdb.Backend) {
		o := load.Defaults()
		o.Dir, o.Driver = t.TempDir(), be.Driver
		if be.Driver == "postgres" {
			o.DSN = be.DSN
		}
		o.Agents, o.Repos, o.Policies, o.Rate, o.Duration, o.Work = 5, 20, 40, 20, 3*time.Second, 200*time.Millisecond
		o.Heartbeat, o.PolicyChanges = time.Second, 2
		o.HubCommand = []string{os.Args[0], "hub"}
		res, err := load.Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		res.Print(&buf)
		t.Logf("figure: load %s\n%s", be.Name, buf.String())
		if res.Jobs < 40 {
			t.Errorf("jobs sent %d, want at least 40 in 3s at 20/s", res.Jobs)
		}
		if res.Answered != res.Jobs || res.Offered != res.Jobs || res.Minted != res.Jobs || res.Completed != res.Jobs {
			t.Errorf("jobs %d: answered %d, offered %d, minted %d, completed %d; want all", res.Jobs, res.Answered, res.Offered, res.Minted, res.Completed)
		}
		if res.Removals != res.Jobs {
			t.Errorf("removals %d, want %d", res.Removals, res.Jobs)
		}
		if len(res.PolicyChange) != 2 {
			t.Errorf("policy changes seen %d, want 2", len(res.PolicyChange))
		}
		if len(res.Failures) > 0 {
			t.Errorf("failures: %v %v", res.Failures, res.LastErrors)
		}
		if len(res.Heartbeats) == 0 || res.RSSMax == 0 || res.RSSPeak < res.RSSMax {
			t.Errorf("heartbeats %d, hub RSS max %d, peak %d: want some, peak ≥ max", len(res.Heartbeats), res.RSSMax, res.RSSPeak)
		}
		if res.HubPID == os.Getpid() || res.HubPID == 0 {
			t.Errorf("hub pid %d, test %d: want a child of its own", res.HubPID, os.Getpid())
		}
		if res.GitHubCalls < res.Minted {
			t.Errorf("GitHub calls %d for %d jobs minted: want at least one each (a JIT config)", res.GitHubCalls, res.Minted)
		}
		if res.CPU <= 0 || res.LoadCPU <= 0 {
			t.Errorf("CPU: hub %.3f, load generator %.3f cores; want both measured", res.CPU, res.LoadCPU)
		}
	})
}
