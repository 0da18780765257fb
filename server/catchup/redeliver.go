package catchup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/store"
)

// maxAsksPerDelivery stops asking for a delivery that keeps failing: something is wrong on
// our side and an operator has to look (the log says which).
const maxAsksPerDelivery = 3

// deliveryWindow is how far back GitHub lets a delivery be redelivered: "You can redeliver
// webhook deliveries that occurred in the past 3 days" (GitHub docs, "Redelivering
// webhooks", https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks;
// GitHub Enterprise Server 3.16 and later say 7 days: 3 is safe for both).
const deliveryWindow = 72 * time.Hour

// walkOverlap re-reads a little before the last good time: deliveries are listed by id,
// and delivered_at of neighbours may be out of order by a moment. The claims make a
// second look harmless.
const walkOverlap = time.Minute

// deliveriesPerPage is GitHub's maximum page size of the deliveries listing.
const deliveriesPerPage = 100

// RedeliverReport says what one redelivery cycle did: summed over the Apps, with each
// App's own report in PerApp.
type RedeliverReport struct {
	Listed, Failed, Redelivered, Pages int
	// WalkDone: every App's walk reached its last good time; LastGood is the new one (the
	// earliest of the Apps').
	WalkDone bool
	LastGood time.Time
	// Skipped says why the cycle did nothing: set when every App stood back.
	Skipped string
	PerApp  map[int64]RedeliverReport
	more    bool
}

// More reports whether some App has more of its walk to do and was not held back.
func (r RedeliverReport) More() bool { return r.more }

// RedeliverOnce runs one redelivery cycle for each App in turn (each has its own webhook,
// deliveries and rate-limit budget): see redeliverApp. An App's failure does not stop the
// others; the errors are joined.
func (l *Loops) RedeliverOnce(ctx context.Context) (RedeliverReport, error) {
	rep := RedeliverReport{WalkDone: true, PerApp: map[int64]RedeliverReport{}}
	var errs []error
	apps := l.gh.Apps()
	skipped := 0
	for _, app := range apps {
		r, err := l.redeliverApp(ctx, app)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %d: %w", app, err))
		}
		rep.PerApp[app] = r
		rep.Listed, rep.Failed, rep.Redelivered, rep.Pages = rep.Listed+r.Listed, rep.Failed+r.Failed, rep.Redelivered+r.Redelivered, rep.Pages+r.Pages
		rep.WalkDone = rep.WalkDone && r.WalkDone
		if r.WalkDone && (rep.LastGood.IsZero() || r.LastGood.Before(rep.LastGood)) {
			rep.LastGood = r.LastGood
		}
		if r.Skipped != "" {
			skipped++
			if rep.Skipped == "" {
				rep.Skipped = r.Skipped
			}
		}
		rep.more = rep.more || (err == nil && !r.WalkDone && r.Skipped == "")
	}
	if skipped < len(apps) {
		rep.Skipped = ""
	}
	return rep, errors.Join(errs...)
}

// redeliverApp walks the deliveries of App app back from the newest to the stored last
// good time (on a first start: RedeliverLookback ago; never beyond GitHub's 3-day
// window), at most RedeliverMaxPages pages and RedeliverMax redeliveries per cycle,
// resuming where the last cycle stopped (the stored cursor). Each workflow_job delivery
// whose newest attempt failed and that Garo has not recorded is redelivered once per
// failure: the replica claims its GUID in the database first, so replicas and restarts
// never ask twice. When the walk is done the newest delivery seen becomes the last good
// time. It stands back while the App's own budget is low.
func (l *Loops) redeliverApp(ctx context.Context, app int64) (RedeliverReport, error) {
	var rep RedeliverReport
	if reason := l.budgetLow(l.gh.AppRateLimit(app)); reason != "" {
		l.skipped.WithLabelValues("redeliver", "budget_low").Inc()
		l.log.Info("redelivery cycle skipped", "app_id", app, "reason", reason)
		rep.Skipped = reason
		return rep, nil
	}
	p, err := l.progress(ctx, app)
	if err != nil {
		return rep, err
	}
	now := l.now()
	if p.WalkUntil == nil { // a new walk
		until := now.Add(-l.cfg.RedeliverLookback)
		if p.LastGoodAt != nil {
			until = p.LastGoodAt.Add(-walkOverlap)
		}
		if floor := now.Add(-deliveryWindow); until.Before(floor) {
			l.log.Warn("the last good time is beyond GitHub's redelivery window: older failed deliveries are left to reconciliation",
				"last_good", until, "window", deliveryWindow)
			until = floor
		}
		p.WalkUntil, p.PageCursor, p.WalkTop = &until, "", nil
	}
	seen := map[string]bool{} // GUIDs whose newest attempt this cycle has looked at
	for rep.Pages < l.cfg.RedeliverMaxPages {
		page, next, err := l.gh.ListDeliveriesPage(ctx, app, p.PageCursor, deliveriesPerPage)
		if err != nil {
			if errors.Is(err, githubapp.ErrRateLimited) {
				l.skipped.WithLabelValues("redeliver", "rate_limited").Inc()
			}
			return rep, errors.Join(err, l.st.SaveProgress(ctx, p))
		}
		rep.Pages++
		if p.WalkTop == nil && len(page) > 0 {
			top := page[0].DeliveredAt
			p.WalkTop = &top
		}
		reached := len(page) == 0 || next == ""
		for _, d := range page {
			if !d.DeliveredAt.After(*p.WalkUntil) {
				reached = true
				break
			}
			rep.Listed++
			if d.Event != "workflow_job" || seen[d.GUID] {
				continue
			}
			seen[d.GUID] = true // the newest attempt decides (listed newest first)
			if d.StatusCode >= 200 && d.StatusCode < 300 {
				continue
			}
			if rep.Redelivered >= l.cfg.RedeliverMax {
				// Stop inside this page: the next cycle reads it again (claims skip what
				// was asked for already).
				l.skipped.WithLabelValues("redeliver", "max_per_cycle").Inc()
				return rep, l.st.SaveProgress(ctx, p)
			}
			asked, err := l.redeliverOne(ctx, app, d)
			if err != nil {
				return rep, errors.Join(err, l.st.SaveProgress(ctx, p))
			}
			if asked {
				rep.Failed++
				rep.Redelivered++
			}
		}
		if reached {
			from := *p.WalkUntil
			if p.WalkTop != nil {
				p.LastGoodAt = p.WalkTop
			} else if p.LastGoodAt == nil {
				p.LastGoodAt = &from
			}
			p.WalkUntil, p.WalkTop, p.PageCursor = nil, nil, ""
			rep.WalkDone, rep.LastGood = true, *p.LastGoodAt
			if err := l.st.SaveProgress(ctx, p); err != nil {
				return rep, err
			}
			if rep.Redelivered > 0 || rep.Pages > 1 {
				l.log.Info("webhook deliveries examined back to the last good time", "app_id", app,
					"from", from, "to", rep.LastGood, "pages", rep.Pages, "redelivered", rep.Redelivered)
			}
			return rep, nil
		}
		p.PageCursor = next
	}
	l.skipped.WithLabelValues("redeliver", "max_pages").Inc()
	l.log.Info("redelivery walk goes on next cycle", "app_id", app, "back_to", *p.WalkUntil, "pages", rep.Pages, "redelivered", rep.Redelivered)
	return rep, l.st.SaveProgress(ctx, p)
}

// progress returns where App app's walk stands. Each App has its own row
// (store.ProgressRedeliverApp); a row not saved yet starts from the last good time of the
// single-App row of earlier versions (store.ProgressRedeliver), so an upgrade walks on from
// where it stood rather than RedeliverLookback back.
func (l *Loops) progress(ctx context.Context, app int64) (store.CatchupProgress, error) {
	p, err := l.st.GetProgress(ctx, store.ProgressRedeliverApp(app))
	if err != nil || p.LastGoodAt != nil || p.WalkUntil != nil {
		return p, err
	}
	old, err := l.st.GetProgress(ctx, store.ProgressRedeliver)
	if err != nil {
		return p, err
	}
	p.LastGoodAt = old.LastGoodAt
	return p, nil
}

// redeliverOne asks App app for one failed delivery unless Garo recorded it or another
// replica (or an earlier cycle) claimed this failure; it reports whether it asked.
func (l *Loops) redeliverOne(ctx context.Context, app int64, d githubapp.Delivery) (bool, error) {
	// Committed but answered too late for GitHub (or the answer was lost): nothing to do.
	if _, err := l.st.GetDelivery(ctx, d.GUID); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	n, err := l.st.ClaimRedelivery(ctx, d.GUID, d.ID, maxAsksPerDelivery)
	if err != nil || n == 0 {
		return false, err
	}
	if err := l.gh.Redeliver(ctx, app, d.ID); err != nil {
		if errors.Is(err, githubapp.ErrRateLimited) {
			l.skipped.WithLabelValues("redeliver", "rate_limited").Inc()
			return false, err
		}
		l.log.Warn("redelivery failed", "app_id", app, "delivery_id", d.GUID, "err", err)
		return false, nil
	}
	if n == maxAsksPerDelivery {
		l.log.Warn("a webhook delivery keeps failing: this is the last redelivery Garo asks for", "app_id", app, "delivery_id", d.GUID, "asks", n)
	}
	l.redelivered.Inc()
	l.log.Info("asked GitHub to redeliver a failed webhook", "app_id", app, "delivery_id", d.GUID, "attempt", n, "status", d.StatusCode)
	return true, nil
}
