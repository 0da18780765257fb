// Package app assembles garo-agent: its identity (registering when there is no state
// file), the protocol client, the provider, the scheduler, and the loops that keep them
// busy (config and jobs long-polls, scheduler ticks, heartbeats), plus the local status
// endpoint. cmd/garo-agent only parses flags and calls Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/docker"
	"github.com/garo-dev/garo/agent/provider/kubernetes"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/agent/state"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/version"
)

// ErrRevoked is Run's error when the server rejected the agent's credential (401). The agent stopped
// provisioning; it must be registered again (remove the state file and give it a new
// registration token).
var ErrRevoked = errors.New("the server rejected this agent's credential (401): it was revoked or is unknown; " +
	"provisioning stopped. Register the agent again: delete the state file and set a new registration token")

// Options are what tests (and later providers) inject; the zero value is fine.
type Options struct {
	// Provider replaces the one cfg.Provider names.
	Provider provider.Provider
	// HTTPClient talks to the server; nil means a default client.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ready is called once the agent has its identity and the status endpoint listens
	// (addr nil when it is off).
	Ready func(agentID string, status net.Addr)
	// OnConfig observes every new config as it arrives (for latency measurements).
	OnConfig func(protocol.Config)
}

// Default intervals until the server chooses (register or heartbeat answers).
const (
	defaultHeartbeat = 15 * time.Second
	defaultLongPoll  = 30 * time.Second
)

type agent struct {
	cfg       Config
	log       *slog.Logger
	client    *client.Client
	sched     *scheduler.Scheduler
	prov      provider.Provider
	id        state.Identity
	now       func() time.Time
	backoff   backoff.Policy
	heartbeat atomic.Int64 // time.Duration
	longPoll  atomic.Int64 // time.Duration
	lastOK    atomic.Int64 // unix nanos of the last successful server call
	metrics   *metrics
	onConfig  func(protocol.Config)

	firstBeat     chan struct{} // closed once the first heartbeat was tried
	firstBeatOnce sync.Once
}

// Run runs the agent until ctx ends (then it shuts down gracefully, as cfg.Shutdown
// says) or the server rejects its credential (ErrRevoked). It registers first when the
// state file does not exist.
func Run(ctx context.Context, cfg Config, log *slog.Logger, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		var err error
		if opts.HTTPClient, err = httpClient(cfg.Server, log.With("component", "tls")); err != nil {
			return err
		}
	}
	cl, err := client.New(client.Options{
		BaseURL: cfg.Server.URL, HTTPClient: opts.HTTPClient, Timeout: cfg.Server.Timeout,
		Log: log.With("component", "client"), Now: opts.Now,
	})
	if err != nil {
		return err
	}
	a := &agent{cfg: cfg, log: log, client: cl, now: opts.Now, backoff: backoff.Default(), onConfig: opts.OnConfig, firstBeat: make(chan struct{})}
	a.heartbeat.Store(int64(defaultHeartbeat))
	a.longPoll.Store(int64(defaultLongPoll))
	a.prov = opts.Provider
	if a.prov == nil {
		var closeProv func()
		if a.prov, closeProv, err = openProvider(ctx, cfg.Provider, log.With("component", "provider")); err != nil {
			return err
		}
		defer closeProv()
	}
	if a.id, err = a.identity(ctx); err != nil {
		if errors.Is(err, protocol.ErrUnauthorized) {
			return fmt.Errorf("registration token rejected (401): it is unknown, used up or expired: %w", err)
		}
		return err
	}
	a.log = log.With("agent_id", a.id.AgentID)
	cl.SetCredential(a.id.AgentID, a.id.Credential)
	a.metrics = newMetrics()
	a.sched = scheduler.New(scheduler.Options{
		AgentID: a.id.AgentID, Provider: a.prov, Server: cl, Log: a.log.With("component", "scheduler"),
		Now: opts.Now, MaxLifetime: cfg.Scheduler.RunnerMaxLifetime, Interval: cfg.Scheduler.Interval,
		ListTimeout: cfg.Scheduler.ListTimeout, Parallel: cfg.Scheduler.Parallel, OnProvisioned: a.metrics.provisioned,
		CrashBackoff: backoff.Policy{Base: cfg.Scheduler.CrashBackoffBase, Cap: cfg.Scheduler.CrashBackoffMax},
		Journal:      state.Journal{Path: state.JournalPath(cfg.StateFile)},
		Capacity:     cfg.Capacity.limits(), QuotaRetry: cfg.Scheduler.QuotaRetry,
	})
	a.metrics.watch(a.sched, opts.Now)

	var statusAddr net.Addr
	var statusSrv *http.Server
	if cfg.Status.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Status.Listen)
		if err != nil {
			return fmt.Errorf("status.listen: %w", err)
		}
		statusAddr, statusSrv = ln.Addr(), a.statusServer()
		go func() { _ = statusSrv.Serve(ln) }()
		defer func() {
			if err := statusSrv.Close(); err != nil {
				a.log.Warn("close the status endpoint", "err", err)
			}
		}()
		a.log.Info("status endpoint listening", "addr", statusAddr.String())
	}
	if opts.Ready != nil {
		opts.Ready(a.id.AgentID, statusAddr)
	}
	a.log.Info("garo-agent running", "server", client.RedactURL(cfg.Server.URL), "group", a.id.Group,
		"provider", a.prov.Name(), "version", version.Version)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.heartbeats(gctx) })
	g.Go(func() error { return a.pollConfig(gctx) })
	g.Go(func() error { return a.pollJobs(gctx) })
	g.Go(func() error { return a.sched.Run(gctx) })
	err = g.Wait()
	if errors.Is(err, protocol.ErrUnauthorized) {
		a.log.Error("CREDENTIAL REVOKED: the server answered 401; this agent stopped provisioning runners. "+
			"Existing runners were left as they are. Register the agent again with a new registration token.",
			"state_file", cfg.StateFile, "err", err)
		return fmt.Errorf("%w (%v)", ErrRevoked, err)
	}
	if err != nil && ctx.Err() == nil {
		return err
	}
	a.shutdown(ctx)
	return nil
}

// openProvider builds the provider cfg.Type names, and the function that releases it
// when the agent stops. Each provider package validates its section, builds its client,
// checks it (Docker: the engine answers) and words its errors.
func openProvider(ctx context.Context, cfg Provider, log *slog.Logger) (provider.Provider, func(), error) {
	switch cfg.Type {
	case ProviderMemory:
		p, closeP, err := memory.Open(ctx, cfg.Memory, log)
		if err != nil {
			return nil, nil, err
		}
		return p, closeP, nil
	case ProviderDocker:
		p, closeP, err := docker.Open(ctx, cfg.Docker, log)
		if err != nil {
			return nil, nil, err
		}
		return p, closeP, nil
	case ProviderKubernetes:
		p, closeP, err := kubernetes.Open(ctx, cfg.Kubernetes, log)
		if err != nil {
			return nil, nil, err
		}
		return p, closeP, nil
	}
	return nil, nil, fmt.Errorf("provider.type %q is not available: use %s", cfg.Type, providerChoices)
}

// identity loads the state file, or registers and writes it.
func (a *agent) identity(ctx context.Context) (state.Identity, error) {
	id, err := state.Load(a.cfg.StateFile)
	switch {
	case err == nil:
		if !id.SameServer(a.cfg.Server.URL) {
			return id, fmt.Errorf("state file %s belongs to the server at %s, not %s: remove it to register with this server",
				a.cfg.StateFile, client.RedactURL(id.ServerURL), client.RedactURL(a.cfg.Server.URL))
		}
		a.log.Info("identity loaded from the state file", "agent_id", id.AgentID, "group", id.Group, "state_file", a.cfg.StateFile)
		return id, nil
	case !errors.Is(err, state.ErrNotFound):
		return id, err
	case a.cfg.RegistrationToken == "":
		return id, fmt.Errorf("no state file at %s and no registration token: set GARO_AGENT_REGISTRATION_TOKEN "+
			"(from POST /api/v1/agent-groups/{group}/registration-tokens) for the first start", a.cfg.StateFile)
	}
	resp, err := a.client.Register(ctx, protocol.RegisterRequest{
		Token: a.cfg.RegistrationToken, Name: a.cfg.Name, Version: version.Version, Provider: a.prov.Name(),
		Capacity: a.cfg.Capacity.wire(),
	})
	if err != nil {
		return id, err
	}
	id = state.Identity{
		AgentID: resp.AgentID, Credential: resp.Credential, ServerURL: a.cfg.Server.URL, Group: resp.Group,
		Name: a.cfg.Name, RegisteredAt: a.now().UTC(),
	}
	if err := state.Save(a.cfg.StateFile, id); err != nil {
		return id, fmt.Errorf("registered as agent %s but could not keep its identity: %w", id.AgentID, err)
	}
	a.setIntervals(resp.Intervals)
	a.log.Info("registered; the registration token is no longer needed", "agent_id", id.AgentID, "group", id.Group,
		"state_file", a.cfg.StateFile)
	return id, nil
}

func (a *agent) setIntervals(iv protocol.Intervals) {
	if d := iv.Heartbeat.D(); d >= 50*time.Millisecond { // a floor against a hot loop
		a.heartbeat.Store(int64(d))
	}
	if d := iv.LongPoll.D(); d > 0 {
		a.longPoll.Store(int64(d))
	}
}

func (a *agent) contact() { a.lastOK.Store(a.now().UnixNano()) }

// heartbeats reports at once and then every heartbeat interval ±10 %. A heartbeat that
// fails is not repeated as such: the next one carries the state of then, which is what
// the server wants (each replaces the last).
func (a *agent) heartbeats(ctx context.Context) error {
	for {
		iv := time.Duration(a.heartbeat.Load())
		hctx, cancel := context.WithTimeout(ctx, iv)
		resp, err := a.client.Heartbeat(hctx, a.report())
		cancel()
		a.firstBeatOnce.Do(func() { close(a.firstBeat) })
		switch {
		case err == nil:
			a.contact()
			a.setIntervals(resp.Intervals)
			a.sched.SetDraining(resp.Drain)
			if len(resp.Ignored) > 0 {
				a.log.Warn("the server ignored entries of the heartbeat", "count", len(resp.Ignored), "entries", resp.Ignored)
			}
		case errors.Is(err, protocol.ErrUnauthorized):
			return err
		case ctx.Err() == nil:
			a.log.Warn("heartbeat failed; the next one reports the state of then", "err", err)
		}
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(iv))
		if err := sleep(ctx, iv+jitter); err != nil {
			return nil
		}
	}
}

// report is the heartbeat: the scheduler's snapshot and the agent's provider kind.
func (a *agent) report() protocol.HeartbeatRequest {
	hb := a.sched.Heartbeat()
	hb.Provider = a.prov.Name()
	hb.Capacity = a.cfg.Capacity.wire()
	return hb
}

func (a *agent) pollConfig(ctx context.Context) error {
	return a.poll(ctx, "config", func(ctx context.Context, have string) (string, error) {
		cfg, changed, err := a.client.Config(ctx, have, time.Duration(a.longPoll.Load()))
		if err != nil || !changed || cfg.Version == have {
			return have, err
		}
		a.log.Info("config", "version", cfg.Version, "repositories", len(cfg.Repositories), "policies", len(cfg.Policies))
		a.sched.SetConfig(cfg)
		if a.onConfig != nil {
			a.onConfig(cfg)
		}
		return cfg.Version, nil
	})
}

func (a *agent) pollJobs(ctx context.Context) error {
	return a.poll(ctx, "jobs", func(ctx context.Context, have string) (string, error) {
		jobs, changed, err := a.client.Jobs(ctx, have, time.Duration(a.longPoll.Load()))
		if err != nil || !changed || jobs.Version == have {
			return have, err
		}
		a.log.Debug("jobs", "version", jobs.Version, "open", len(jobs.Jobs))
		a.sched.SetJobs(jobs)
		return jobs.Version, nil
	})
}

// poll runs one long-poll loop. The client retries what may pass; what comes back here
// failed for good (a 4xx), and is tried again after a backoff, never in a hot loop.
func (a *agent) poll(ctx context.Context, what string, once func(context.Context, string) (string, error)) error {
	// The first heartbeat tells the server the provider of this run (it may differ from
	// the registration's, with the same state file): polls wait for it to be tried, so
	// that the first config holds only policies of this provider.
	select {
	case <-a.firstBeat:
	case <-ctx.Done():
		return nil
	}
	have, failures := "", 0
	for {
		next, err := once(ctx, have)
		switch {
		case err == nil:
			a.contact()
			have, failures = next, 0
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, protocol.ErrUnauthorized):
			return err
		}
		wait := max(a.backoff.Delay(failures), time.Second)
		failures++
		a.log.Warn(what+" poll failed", "err", err, "retry_in", wait.Round(time.Millisecond))
		if err := sleep(ctx, wait); err != nil {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown drains (removes the runners that are not busy) and unregisters, best effort
// and within cfg.Shutdown.Timeout, on a context of its own since ctx has ended.
func (a *agent) shutdown(ctx context.Context) {
	sd := a.cfg.Shutdown
	if !sd.Drain && !sd.Unregister {
		a.log.Info("stopped; runners left as they are for the next start to adopt")
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sd.Timeout)
	defer cancel()
	if sd.Drain {
		a.sched.SetDraining(true)
		if _, err := a.client.Heartbeat(sctx, a.report()); err != nil {
			a.log.Warn("draining heartbeat failed", "err", err)
		}
		for {
			if err := a.sched.Tick(sctx); err != nil {
				a.log.Warn("drain tick failed", "err", err)
			}
			a.sched.Wait()
			left := 0
			for _, r := range a.sched.Records() {
				if r.State != protocol.RunnerBusy {
					left++
				}
			}
			if left == 0 || sleep(sctx, 200*time.Millisecond) != nil {
				a.log.Info("drained", "runners_not_busy_left", left, "busy", len(a.sched.Records())-left)
				break
			}
		}
	}
	if sd.Unregister {
		if err := a.client.Unregister(sctx); err != nil {
			a.log.Warn("unregister failed; the server will see the agent go offline", "err", err)
			return
		}
		a.log.Info("unregistered; a restart comes back as the same agent")
	}
}
