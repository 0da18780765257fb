// Package catchup repairs what webhooks missed. GitHub does not redeliver a failed webhook
// by itself, so one loop lists each App's recent deliveries and asks GitHub to redeliver the
// failed workflow_job ones; another walks the repositories with enabled policies and
// reconciles the job log with GitHub's REST API: queued jobs Garo never heard of are added,
// and jobs Garo thinks queued that GitHub has started or finished are moved on. Both are
// bounded per cycle and stand back when GitHub's rate-limit budget runs low.
package catchup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
)

// GitHub is the part of the GitHub client the loops need: a *githubapp.Client, or
// githubapp.NotConfigured (Mode githubapp.ModeNone), with which only pruning runs.
type GitHub interface {
	Mode() string
	RateLimitFor(owner, repo string) githubapp.RateState
	Apps() []int64
	AppRateLimit(appID int64) githubapp.RateState
	ListDeliveriesPage(ctx context.Context, appID int64, cursor string, perPage int) ([]githubapp.Delivery, string, error)
	Redeliver(ctx context.Context, appID, deliveryID int64) error
	ListOpenJobs(ctx context.Context, owner, repo string, budget int, afterRun int64) (githubapp.OpenJobs, error)
	GetJob(ctx context.Context, owner, repo string, jobID int64) (*githubapp.Job, error)
}

// jobLog is the part of the job service the loops need.
type jobLog interface {
	Apply(ctx context.Context, ev jobs.Event) (string, *store.WorkflowJob, error)
	Rematch(ctx context.Context, repoKey string) (int, error)
}

// Config bounds the loops; see config.Catchup. An interval of 0 turns a loop off.
type Config struct {
	RedeliverInterval time.Duration
	// RedeliverLookback is how far back the first walk goes when no last good time is
	// stored (a first start).
	RedeliverLookback time.Duration
	RedeliverMax      int // redeliveries per cycle
	RedeliverMaxPages int // pages of 100 deliveries read per cycle; default 20
	ReconcileInterval time.Duration
	ReconcileMaxRepos int
	// ReconcileMaxCalls bounds the GitHub requests of a reconcile cycle; default 200.
	ReconcileMaxCalls int
	// ReconcileMaxJobs bounds the single-job lookups (GET job) of a cycle.
	ReconcileMaxJobs      int
	ReconcileMinRemaining int
	// QueuedGrace is how long a job must have been queued in Garo's log before the
	// reconciler asks GitHub about it, so that it does not race the webhooks. Default 1m.
	QueuedGrace time.Duration
	// InProgressCheck is how long a job may be in_progress before the reconciler asks
	// GitHub whether it is done (its completed delivery may be lost). Default 10m.
	InProgressCheck time.Duration
	// JobRetention is how long completed jobs stay in the log; 0 keeps them for ever.
	JobRetention time.Duration
	// PruneBatch bounds one DELETE of old jobs; default 500.
	PruneBatch int
}

// Loops runs the catch-up cycles.
type Loops struct {
	cfg  Config
	gh   GitHub
	st   *store.Store
	jobs jobLog
	log  *slog.Logger
	now  func() time.Time
	// tick returns a channel that fires after d; tests drive it.
	tick func(d time.Duration) <-chan time.Time

	mu      sync.Mutex
	runFrom map[string]int64 // repository key -> run its open-run walk goes on after

	redelivered prometheus.Counter
	reconciled  *prometheus.CounterVec
	skipped     *prometheus.CounterVec
}

// New returns the loops; metrics are registered with reg. Without GitHub credentials (gh
// is githubapp.NotConfigured) only pruning runs.
func New(cfg Config, gh GitHub, st *store.Store, jobs jobLog, log *slog.Logger, reg prometheus.Registerer) *Loops {
	if cfg.QueuedGrace <= 0 {
		cfg.QueuedGrace = time.Minute
	}
	if cfg.InProgressCheck <= 0 {
		cfg.InProgressCheck = 10 * time.Minute
	}
	if cfg.RedeliverMaxPages <= 0 {
		cfg.RedeliverMaxPages = 20
	}
	if cfg.ReconcileMaxCalls <= 0 {
		cfg.ReconcileMaxCalls = 200
	}
	if cfg.PruneBatch <= 0 {
		cfg.PruneBatch = 500
	}
	l := &Loops{
		cfg: cfg, gh: gh, st: st, jobs: jobs, log: log, now: time.Now, tick: time.After,
		runFrom: map[string]int64{},
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_catchup_redeliveries_total",
			Help: "Failed webhook deliveries Garo asked GitHub to redeliver.",
		}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_catchup_reconciled_jobs_total",
			Help: "Jobs the reconciler added to or moved on in the job log, by what it did.",
		}, []string{"change"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_catchup_cycles_skipped_total",
			Help: "Catch-up cycles skipped or cut short, by loop and reason.",
		}, []string{"loop", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(l.redelivered, l.reconciled, l.skipped)
	}
	return l
}

// Run runs the loops until ctx ends. A cycle's failure is logged; the loop goes on. With
// several replicas, each cycle of the GitHub loops runs on one replica at a time (an
// advisory lock); the others skip it. Without a GitHub client only pruning runs.
func (l *Loops) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if l.gh.Mode() == githubapp.ModeNone {
		l.log.Info("catch-up with GitHub is off: no GitHub credentials")
	} else if l.cfg.RedeliverInterval > 0 && l.gh.Mode() == "app" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.every(ctx, "redeliver", l.cfg.RedeliverInterval, func(ctx context.Context) (bool, error) {
				more := false
				_, err := l.st.WithLeaderLock(ctx, store.LockRedeliver, func(ctx context.Context) error {
					rep, err := l.RedeliverOnce(ctx)
					more = rep.More()
					return err
				})
				return more, err
			})
		}()
	} else if l.cfg.RedeliverInterval > 0 {
		l.log.Info("webhook redelivery is off: it needs GitHub App mode (github.app_id)")
	}
	if l.gh.Mode() != githubapp.ModeNone && l.cfg.ReconcileInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.every(ctx, "reconcile", l.cfg.ReconcileInterval, func(ctx context.Context) (bool, error) {
				_, err := l.st.WithLeaderLock(ctx, store.LockReconcile, func(ctx context.Context) error {
					_, err := l.ReconcileOnce(ctx)
					return err
				})
				return false, err
			})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.every(ctx, "prune", time.Hour, func(ctx context.Context) (bool, error) {
			_, err := l.PruneOnce(ctx)
			return false, err
		})
	}()
	wg.Wait()
}

// deliveryRetention is how long delivery GUIDs are kept for deduplication: GitHub lets a
// delivery be redelivered for 3 days, so a week is safely past any redelivery.
const deliveryRetention = 7 * 24 * time.Hour

// maxPruneBatches bounds one prune cycle: at most this many batches of old jobs go per
// hour; the rest wait for the next cycle.
const maxPruneBatches = 100

// PruneOnce forgets delivery GUIDs and redelivery asks older than the retention, and
// completed jobs older than JobRetention, in batches of PruneBatch.
func (l *Loops) PruneOnce(ctx context.Context) (int64, error) {
	cutoff := l.now().Add(-deliveryRetention)
	n, err := l.st.PruneDeliveries(ctx, cutoff)
	if n > 0 {
		l.log.Info("pruned old webhook deliveries", "count", n)
	}
	if err != nil {
		return n, err
	}
	if _, err := l.st.PruneRedelivered(ctx, cutoff); err != nil {
		return n, err
	}
	jobs, err := l.PruneJobsOnce(ctx)
	return n + jobs, err
}

// PruneJobsOnce deletes completed jobs older than JobRetention, PruneBatch at a time, at
// most maxPruneBatches batches.
func (l *Loops) PruneJobsOnce(ctx context.Context) (int64, error) {
	if l.cfg.JobRetention <= 0 {
		return 0, nil
	}
	cutoff := l.now().Add(-l.cfg.JobRetention)
	var total int64
	for range maxPruneBatches {
		n, err := l.st.PruneJobs(ctx, cutoff, l.cfg.PruneBatch)
		total += n
		if err != nil || n < int64(l.cfg.PruneBatch) {
			if total > 0 {
				l.log.Info("pruned old jobs from the job log", "count", total, "retention", l.cfg.JobRetention)
			}
			return total, err
		}
	}
	l.log.Info("pruned old jobs from the job log; more next cycle", "count", total, "retention", l.cfg.JobRetention)
	return total, nil
}

// SoonAfter is the pause before the next cycle when one stopped at its bound with work
// left (a redelivery walk after a long outage): the bound per cycle holds, the backlog
// goes in minutes rather than hours, and the rate-limit floor still stands it back.
const SoonAfter = 10 * time.Second

// every runs cycle at once (a starting server catches up on what it missed while it was
// down), then after interval, or after SoonAfter when the cycle reports more to do.
func (l *Loops) every(ctx context.Context, name string, interval time.Duration, cycle func(context.Context) (bool, error)) {
	for {
		more, err := cycle(ctx)
		wait := interval
		if more {
			wait = min(interval, SoonAfter)
		}
		if err != nil && ctx.Err() == nil {
			level := slog.LevelWarn
			if errors.Is(err, githubapp.ErrRateLimited) {
				level = slog.LevelInfo
			}
			l.log.Log(ctx, level, "catch-up cycle failed", "loop", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.tick(wait):
		}
	}
}
