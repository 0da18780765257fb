package usage

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/server/store"
)

// Meter exposes the usage of the runner records as Prometheus counters, by owner (the
// repository's owner) and agent group:
//
//	garo_usage_runners_total                 runners minted
//	garo_usage_runner_seconds_total          runner-seconds
//	garo_usage_cpu_seconds_total             CPU-seconds requested
//	garo_usage_memory_byte_seconds_total     byte-seconds of memory requested
//
// They count every runner on record since the first, ended ones and the part of the
// live ones so far, from the store: every replica shows the same totals (aggregate them
// with max, not sum), and a restart does not reset them. Per policy and per owner prefix
// are in /api/v1/usage: a label per repository would be too many series.
//
// One goroutine (Run, or Tick in tests) owns the meter's state; Collect reads the totals
// it last published and never waits on the store.
type Meter struct {
	st  *store.Store
	now func() time.Time
	log *slog.Logger

	// Owned by the goroutine that ticks.
	ended    map[series]totals // rows ended up to the cursor
	cursorAt time.Time
	cursorID string
	shown    map[series]totals // the last totals published, never less than before

	snap atomic.Pointer[map[series]totals]

	runners, seconds, cpu, mem *prometheus.Desc
}

type series struct{ owner, group string }

type totals struct{ runners, seconds, cpuSeconds, memByteSeconds float64 }

// NewMeter returns a meter on st; register it with a prometheus.Registerer, then Run it.
func NewMeter(st *store.Store, now func() time.Time, log *slog.Logger) *Meter {
	if now == nil {
		now = time.Now
	}
	labels := []string{"owner", "agent_group"}
	m := &Meter{
		st: st, now: now, log: log, ended: map[series]totals{}, shown: map[series]totals{},
		runners: prometheus.NewDesc("garo_usage_runners_total", "Runners minted, by repository owner and agent group.", labels, nil),
		seconds: prometheus.NewDesc("garo_usage_runner_seconds_total", "Runner-seconds: from a runner's minting until it no longer counts against quotas.", labels, nil),
		cpu:     prometheus.NewDesc("garo_usage_cpu_seconds_total", "CPU-seconds the runners' policies requested.", labels, nil),
		mem:     prometheus.NewDesc("garo_usage_memory_byte_seconds_total", "Byte-seconds of memory the runners' policies requested.", labels, nil),
	}
	empty := map[series]totals{}
	m.snap.Store(&empty)
	return m
}

// meterPage bounds the rows one query of Tick reads; meterPages the queries of one tick.
const (
	meterPage  = 1000
	meterPages = 20
)

// Tick reads the rows that ended since the last tick and the live ones, and publishes
// the totals.
func (m *Meter) Tick(ctx context.Context) error {
	for range meterPages {
		rows, err := m.st.UsageEndedAfter(ctx, m.cursorAt, m.cursorID, meterPage)
		if err != nil {
			return err
		}
		for i := range rows {
			u := &rows[i]
			k := seriesOf(u)
			t := m.ended[k]
			m.ended[k] = t.plus(u, u.EndedAt.Sub(u.StartedAt).Seconds())
			m.cursorAt, m.cursorID = *u.EndedAt, u.ID
		}
		if len(rows) < meterPage {
			break
		}
	}
	open, err := m.st.OpenUsage(ctx)
	if err != nil {
		return err
	}
	now := m.now()
	next := make(map[series]totals, len(m.ended))
	for k, t := range m.ended {
		next[k] = t
	}
	for i := range open {
		u := &open[i]
		k := seriesOf(u)
		next[k] = next[k].plus(u, max(0, now.Sub(u.StartedAt).Seconds()))
	}
	for k, t := range next {
		// A runner ends a little before the tick that sees it end: never go back.
		s := m.shown[k]
		m.shown[k] = totals{max(s.runners, t.runners), max(s.seconds, t.seconds), max(s.cpuSeconds, t.cpuSeconds), max(s.memByteSeconds, t.memByteSeconds)}
	}
	pub := make(map[series]totals, len(m.shown))
	for k, t := range m.shown {
		pub[k] = t
	}
	m.snap.Store(&pub)
	return nil
}

// Run ticks every interval until ctx ends.
func (m *Meter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("usage meter: reading the runner records failed; the counters stay as they were", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func seriesOf(u *store.RunnerUsage) series {
	owner, _, _ := strings.Cut(u.RepoKey, "/")
	return series{owner: owner, group: u.AgentGroup}
}

func (t totals) plus(u *store.RunnerUsage, secs float64) totals {
	return totals{
		runners: t.runners + 1, seconds: t.seconds + secs,
		cpuSeconds: t.cpuSeconds + secs*float64(u.CPUMilli)/1000, memByteSeconds: t.memByteSeconds + secs*float64(u.MemoryBytes),
	}
}

// Describe is prometheus.Collector's.
func (m *Meter) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.runners
	ch <- m.seconds
	ch <- m.cpu
	ch <- m.mem
}

// Collect is prometheus.Collector's: the totals of the last tick.
func (m *Meter) Collect(ch chan<- prometheus.Metric) {
	for k, t := range *m.snap.Load() {
		ch <- prometheus.MustNewConstMetric(m.runners, prometheus.CounterValue, t.runners, k.owner, k.group)
		ch <- prometheus.MustNewConstMetric(m.seconds, prometheus.CounterValue, t.seconds, k.owner, k.group)
		ch <- prometheus.MustNewConstMetric(m.cpu, prometheus.CounterValue, t.cpuSeconds, k.owner, k.group)
		ch <- prometheus.MustNewConstMetric(m.mem, prometheus.CounterValue, t.memByteSeconds, k.owner, k.group)
	}
}
