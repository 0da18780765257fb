package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/garo-dev/garo/internal/testkit/stack/hub"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
)

// hubStopTimeout bounds how long a hub child may take to stop after its stdin closed,
// before it is killed.
const hubStopTimeout = 30 * time.Second

// HubConfig is what the hub of a run needs: the server's database and agent intervals and
// the repositories installed on the simulator's App (load/repo-0 … load/repo-<Repos-1>).
type HubConfig struct {
	Dir       string
	Driver    string
	DSN       string
	Repos     int
	Heartbeat time.Duration
	LongPoll  time.Duration
	// Pprof, when set, is a loopback address where the hub serves net/http/pprof.
	Pprof string
	// GitHubRateLimit is the simulator's budget of REST calls per hour, per installation
	// and App JWT (hub.Options.RateLimit); 0 is GitHub's 5,000 in one shared window.
	GitHubRateLimit int
}

// HubInfo is what a running hub tells the load generator: the hub subcommand prints it as
// one JSON line on its standard output.
type HubInfo struct {
	ServerURL     string `json:"server_url"`
	SimURL        string `json:"sim_url"`
	AdminToken    string `json:"admin_token"`
	WebhookSecret string `json:"webhook_secret"`
	PID           int    `json:"pid"`
	PprofURL      string `json:"pprof_url,omitempty"`
}

// repoName is the i-th repository of a run.
func repoName(i int) string { return fmt.Sprintf("load/repo-%d", i) }

// startHub starts the simulator and garo-server in this process, configured for a load run.
func startHub(ctx context.Context, c HubConfig) (*hub.Hub, string, error) {
	repos := make([]string, c.Repos)
	for i := range repos {
		repos[i] = repoName(i)
	}
	secret := randomHex(16)
	h, err := hub.Start(ctx, hub.Options{
		Dir: c.Dir, Repositories: repos, WebhookSecret: secret, RateLimit: c.GitHubRateLimit,
		Server: func(cfg *config.Config) {
			if c.Driver == "postgres" {
				cfg.Database.Driver, cfg.Database.DSN = "postgres", c.DSN
			}
			cfg.Agents.HeartbeatInterval = c.Heartbeat
			cfg.Agents.LongPollTimeout = c.LongPoll
			cfg.Agents.OfflineAfter = 10 * c.Heartbeat
			// Our jobs are not in the simulator: the catch-up loops would close them.
			cfg.GitHub.Catchup.RedeliverInterval = 0
			cfg.GitHub.Catchup.ReconcileInterval = 0
			cfg.Log.Level = "warn"
		},
	})
	if err != nil {
		return nil, "", fmt.Errorf("load: %w", err)
	}
	return h, secret, nil
}

func (c HubConfig) args() []string {
	a := []string{"--dir", c.Dir, "--driver", c.Driver, "--repos", strconv.Itoa(c.Repos),
		"--heartbeat", c.Heartbeat.String(), "--long-poll", c.LongPoll.String()}
	if c.DSN != "" {
		a = append(a, "--dsn", c.DSN)
	}
	if c.Pprof != "" {
		a = append(a, "--pprof", c.Pprof)
	}
	if c.GitHubRateLimit > 0 {
		a = append(a, "--github-rate-limit", strconv.Itoa(c.GitHubRateLimit))
	}
	return a
}

// ServeHub is the hub subcommand (`garo-load hub --dir D --driver sqlite|postgres [--dsn
// DSN] --repos N --heartbeat 15s --long-poll 25s [--pprof 127.0.0.1:6060]
// [--github-rate-limit N]`): it starts the
// simulator and garo-server, prints their HubInfo as one JSON line on stdout and serves
// until stdin closes or ctx ends (garo-load's ctx ends at SIGTERM), then stops them.
func ServeHub(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var c HubConfig
	fs := flag.NewFlagSet("garo-load hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Dir, "dir", "", "the hub's directory (SQLite database, keys)")
	fs.StringVar(&c.Driver, "driver", "sqlite", "sqlite or postgres")
	fs.StringVar(&c.DSN, "dsn", "", "the PostgreSQL database with --driver postgres")
	fs.IntVar(&c.Repos, "repos", 1, "repositories load/repo-0 … installed on the simulator's App")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 5*time.Second, "agents.heartbeat_interval")
	fs.DurationVar(&c.LongPoll, "long-poll", 25*time.Second, "agents.long_poll_timeout")
	fs.StringVar(&c.Pprof, "pprof", "", "serve net/http/pprof on this loopback address")
	fs.IntVar(&c.GitHubRateLimit, "github-rate-limit", 0, "the simulator's REST calls per hour per installation (0: GitHub's 5,000, one window)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Dir == "" {
		return errors.New("hub: --dir is required")
	}
	h, secret, err := startHub(ctx, c)
	if err != nil {
		return err
	}
	defer h.Close()
	info := HubInfo{ServerURL: h.ServerURL, SimURL: h.SimURL, AdminToken: h.AdminToken, WebhookSecret: secret, PID: os.Getpid()}
	if c.Pprof != "" {
		stopPprof, addr, err := servePprof(c.Pprof)
		if err != nil {
			return err
		}
		defer stopPprof()
		info.PprofURL = "http://" + addr + "/debug/pprof/"
	}
	line, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-ctx.Done():
	case <-closed:
	}
	return nil
}

// servePprof serves net/http/pprof on addr, which must be a loopback address.
func servePprof(addr string) (stop func(), bound string, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("hub: --pprof: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, "", fmt.Errorf("hub: --pprof %s: want a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("hub: --pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() { _ = srv.Close(); <-done }, ln.Addr().String(), nil
}

// hubProcess is the hub of a run as the load generator sees it, in a child process or in
// this one.
type hubProcess struct {
	HubInfo
	portal *client.Client
	close  func()
}

// openHub starts the run's hub: in a child process running command (argv, the hub's flags
// appended), or in this process when command is empty.
func openHub(ctx context.Context, c HubConfig, command []string, logs io.Writer) (*hubProcess, error) {
	if len(command) == 0 {
		h, secret, err := startHub(ctx, c)
		if err != nil {
			return nil, err
		}
		return &hubProcess{HubInfo: HubInfo{ServerURL: h.ServerURL, SimURL: h.SimURL, AdminToken: h.AdminToken,
			WebhookSecret: secret, PID: os.Getpid()}, portal: h.Portal, close: h.Close}, nil
	}
	// Not CommandContext: the child is stopped by closing its stdin, and killed only when it
	// does not stop in time.
	cmd := exec.Command(command[0], append(append([]string{}, command[1:]...), c.args()...)...) //nolint:gosec // our own binary
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("load: hub: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("load: hub: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load: hub: %w", err)
	}
	exited := make(chan error, 1)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = stdin.Close()
			t := time.NewTimer(hubStopTimeout)
			defer t.Stop()
			var err error
			select {
			case err = <-exited:
			case <-t.C:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-exited
				err = fmt.Errorf("killed after %s: %w", hubStopTimeout, err)
			}
			if err != nil {
				fmt.Fprintf(logs, "load: the hub (pid %d) stopped with an error: %v\n", cmd.Process.Pid, err)
			}
		})
	}
	lines := make(chan []byte, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadBytes('\n')
		if err == nil {
			lines <- line
		}
		_, _ = io.Copy(io.Discard, r)
		exited <- cmd.Wait()
	}()
	wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p := &hubProcess{close: stop}
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &p.HubInfo); err != nil {
			stop()
			return nil, fmt.Errorf("load: hub said %q: %w", line, err)
		}
	case err := <-exited:
		exited <- nil // for stop: the error is this one's
		stop()
		return nil, fmt.Errorf("load: hub exited before it was up: %w", err)
	case <-wait.Done():
		stop()
		return nil, fmt.Errorf("load: hub not up: %w", context.Cause(wait))
	}
	p.portal, err = client.New(p.ServerURL, p.AdminToken)
	if err != nil {
		stop()
		return nil, fmt.Errorf("load: portal client: %w", err)
	}
	return p, nil
}
