package app

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/version"
)

// metrics are the agent's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	provisioning *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		provisioning: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "garo_agent_provisioning_seconds",
			Help:    "Time from deciding to create a runner until its instance runs (credentials and provider create).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"repo", "policy"}),
	}
	m.reg.MustRegister(m.provisioning, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) provisioned(k scheduler.Key, d time.Duration) {
	m.provisioning.WithLabelValues(k.Repository, k.Policy).Observe(d.Seconds())
}

// watch registers the gauges read from the scheduler at scrape time.
// They read the scheduler's published snapshot: a scrape never waits on the provider.
func (m *metrics) watch(s *scheduler.Scheduler, now func() time.Time) {
	m.reg.MustRegister(&schedCollector{s: s, now: now})
}

var (
	runnersDesc = prometheus.NewDesc("garo_agent_runners", "Runners of the agent by policy and state.",
		[]string{"repo", "policy", "state"}, nil)
	queueDesc = prometheus.NewDesc("garo_agent_queue_length", "Jobs waiting for capacity (at max_runners) per policy.",
		[]string{"repo", "policy"}, nil)
	providerUpDesc = prometheus.NewDesc("garo_agent_provider_up",
		"1 when the provider (the Docker engine) answered the scheduler's last listing, 0 when it failed or before the first.", nil, nil)
	providerLastOKDesc = prometheus.NewDesc("garo_agent_provider_last_ok_timestamp_seconds",
		"Unix time of the scheduler's last successful listing of the provider's instances (0 before the first).", nil, nil)
	backoffDesc = prometheus.NewDesc("garo_agent_policy_backoff_seconds",
		"Seconds until the policy tries a runner again after its runners failed before taking a job (or creations failed); 0 when it is not held back.",
		[]string{"repo", "policy"}, nil)
	snapshotAgeDesc = prometheus.NewDesc("garo_agent_scheduler_snapshot_age_seconds",
		"Age of the scheduler's published state (its last tick) that heartbeats, /healthz and these metrics report.", nil, nil)
)

var allStates = []protocol.RunnerState{
	protocol.RunnerCreating, protocol.RunnerBooting, protocol.RunnerIdle,
	protocol.RunnerBusy, protocol.RunnerFinished, protocol.RunnerFailed,
}

type schedCollector struct {
	s   *scheduler.Scheduler
	now func() time.Time
}

func (c *schedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runnersDesc
	ch <- queueDesc
	ch <- providerUpDesc
	ch <- providerLastOKDesc
	ch <- backoffDesc
	ch <- snapshotAgeDesc
}

func (c *schedCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.Health()
	up, lastOK := 0.0, 0.0
	if h.OK {
		up = 1
	}
	if !h.LastOK.IsZero() {
		lastOK = float64(h.LastOK.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(providerUpDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(providerLastOKDesc, prometheus.GaugeValue, lastOK)
	ch <- prometheus.MustNewConstMetric(snapshotAgeDesc, prometheus.GaugeValue, h.SnapshotAge.Seconds())
	runners, queues := c.s.Snapshot()
	holds, now := c.s.Holds(), c.now()
	for k := range holds {
		if runners[k] == nil {
			runners[k] = map[protocol.RunnerState]int{}
		}
	}
	for k := range queues {
		if runners[k] == nil {
			runners[k] = map[protocol.RunnerState]int{}
		}
	}
	for k, byState := range runners {
		for _, st := range allStates { // every state, zeros included, so that series do not vanish
			ch <- prometheus.MustNewConstMetric(runnersDesc, prometheus.GaugeValue, float64(byState[st]), k.Repository, k.Policy, string(st))
		}
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(queues[k]), k.Repository, k.Policy)
		wait := max(0, holds[k].Until.Sub(now)).Seconds()
		ch <- prometheus.MustNewConstMetric(backoffDesc, prometheus.GaugeValue, wait, k.Repository, k.Policy)
	}
}

// statusServer serves /healthz and /metrics. It is local: bind it to loopback or a pod
// IP, never to the outside.
func (a *agent) statusServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"status": "ok", "agent_id": a.id.AgentID, "version": version.Version}
		if t := a.lastOK.Load(); t != 0 {
			body["last_server_contact"] = time.Unix(0, t).UTC().Format(time.RFC3339)
		}
		// The provider's state is reported, not judged: an engine that is down does not
		// make the agent unhealthy (a restart would not help); alert on
		// garo_agent_provider_up instead. All of it comes from the scheduler's snapshot,
		// whose age says how current it is: the answer never waits on the provider.
		h := a.sched.Health()
		if !h.SnapshotAt.IsZero() {
			body["scheduler_snapshot_at"] = h.SnapshotAt.UTC().Format(time.RFC3339Nano)
			body["scheduler_snapshot_age_seconds"] = h.SnapshotAge.Seconds()
		}
		switch {
		case h.OK:
			body["provider"] = "ok"
		case h.Err != nil:
			body["provider"], body["provider_error"] = "unavailable", h.Err.Error()
			body["provider_failing_since"] = h.FailingSince.UTC().Format(time.RFC3339)
		default:
			body["provider"] = "starting"
		}
		status := http.StatusOK
		if err := a.sched.Fatal(); err != nil {
			body["status"], status = "revoked", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
}
