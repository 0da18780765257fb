// Package catchup repairs what webhooks missed. GitHub does not redeliver a failed webhook
// by itself, so one loop lists the App's recent deliveries and asks GitHub to redeliver the
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
	AppRateLimit() githubapp.RateState
	ListDeliveries(ctx context.Context, since time.Time, limit int) ([]githubapp.Delivery, error)
	Redeliver(ctx context.Context, deliveryID int64) error
	ListOpenJobs(ctx context.Context, owner, repo string, budget int) (githubapp.OpenJobs, error)
	GetJob(ctx context.Context, owner, repo string, jobID int64) (*githubapp.Job, error)
}

// jobLog is the part of the job service the loops need.
type jobLog interface {
	Apply(ctx context.Context, ev jobs.Event) (string, *store.WorkflowJob, error)
	Rematch(ctx context.Context, repoKey string) (int, error)
}

// Config bounds the loops; see config.Catchup. An interval of 0 turns a loop off.
type Config struct {
	RedeliverInterval     time.Duration
	RedeliverLookback     time.Duration
	RedeliverMax          int
	ReconcileInterval     time.Duration
	ReconcileMaxRepos     int
	ReconcileMaxJobs      int
	ReconcileMinRemaining int
	// QueuedGrace is how long a job must have been queued in Garo's log before the
	// reconciler asks GitHub about it, so that it does not race the webhooks. Default 1m.
	QueuedGrace time.Duration
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

	mu          sync.Mutex
	asked       map[string]int // delivery GUID -> redeliveries asked for
	repoOffset  int            // where the next reconcile cycle starts, for fairness
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
	l := &Loops{
		cfg: cfg, gh: gh, st: st, jobs: jobs, log: log, now: time.Now, tick: time.After,
		asked: map[string]int{},
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
			l.every(ctx, "redeliver", l.cfg.RedeliverInterval, func(ctx context.Context) error {
				_, err := l.st.WithLeaderLock(ctx, store.LockRedeliver, func(ctx context.Context) error {
					_, err := l.RedeliverOnce(ctx)
					return err
				})
				return err
			})
		}()
	} else if l.cfg.RedeliverInterval > 0 {
		l.log.Info("webhook redelivery is off: it needs GitHub App mode (github.app_id)")
	}
	if l.gh.Mode() != githubapp.ModeNone && l.cfg.ReconcileInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.every(ctx, "reconcile", l.cfg.ReconcileInterval, func(ctx context.Context) error {
				_, err := l.st.WithLeaderLock(ctx, store.LockReconcile, func(ctx context.Context) error {
					_, err := l.ReconcileOnce(ctx)
					return err
				})
				return err
			})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.every(ctx, "prune", time.Hour, func(ctx context.Context) error {
			_, err := l.PruneOnce(ctx)
			return err
		})
	}()
	wg.Wait()
}

// deliveryRetention is how long delivery GUIDs are kept for deduplication: GitHub lets a
// delivery be redelivered for 3 days, so a week is safely past any redelivery.
const deliveryRetention = 7 * 24 * time.Hour

// PruneOnce forgets delivery GUIDs older than the retention.
func (l *Loops) PruneOnce(ctx context.Context) (int64, error) {
	n, err := l.st.PruneDeliveries(ctx, l.now().Add(-deliveryRetention))
	if n > 0 {
		l.log.Info("pruned old webhook deliveries", "count", n)
	}
	return n, err
}

func (l *Loops) every(ctx context.Context, name string, interval time.Duration, cycle func(context.Context) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.tick(interval):
		}
		if err := cycle(ctx); err != nil && ctx.Err() == nil {
			level := slog.LevelWarn
			if errors.Is(err, githubapp.ErrRateLimited) {
				level = slog.LevelInfo
			}
			l.log.Log(ctx, level, "catch-up cycle failed", "loop", name, "err", err)
		}
	}
}
