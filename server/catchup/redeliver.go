package catchup

import (
	"context"
	"errors"
	"sort"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/store"
)

// maxAsksPerDelivery stops asking for a delivery that keeps failing: something is wrong on
// our side and an operator has to look (the log says which).
const maxAsksPerDelivery = 3

// RedeliverReport says what one redelivery cycle did.
type RedeliverReport struct {
	Listed, Failed, Redelivered int
}

// RedeliverOnce lists the App's deliveries of the lookback window and asks GitHub to
// redeliver each workflow_job delivery whose every attempt failed and which Garo has not
// recorded, at most RedeliverMax per cycle.
func (l *Loops) RedeliverOnce(ctx context.Context) (RedeliverReport, error) {
	var rep RedeliverReport
	if reason := l.budgetLow(l.gh.AppRateLimit()); reason != "" {
		l.skipped.WithLabelValues("redeliver", "budget_low").Inc()
		l.log.Info("redelivery cycle skipped", "reason", reason)
		return rep, nil
	}
	since := l.now().Add(-l.cfg.RedeliverLookback)
	list, err := l.gh.ListDeliveries(ctx, since, 10*l.cfg.RedeliverMax)
	if err != nil {
		if errors.Is(err, githubapp.ErrRateLimited) {
			l.skipped.WithLabelValues("redeliver", "rate_limited").Inc()
		}
		return rep, err
	}
	rep.Listed = len(list)
	// All attempts of a delivery share its GUID; it succeeded if any attempt did.
	byGUID := map[string][]githubapp.Delivery{}
	for _, d := range list {
		if d.Event == "workflow_job" {
			byGUID[d.GUID] = append(byGUID[d.GUID], d)
		}
	}
	var failed []githubapp.Delivery
	for guid, attempts := range byGUID {
		ok := false
		newest := attempts[0]
		for _, a := range attempts {
			ok = ok || (a.StatusCode >= 200 && a.StatusCode < 300)
			if a.DeliveredAt.After(newest.DeliveredAt) {
				newest = a
			}
		}
		if ok {
			continue
		}
		// Committed but answered too late for GitHub (or the answer was lost): nothing to do.
		if _, err := l.st.GetDelivery(ctx, guid); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return rep, err
		}
		failed = append(failed, newest)
	}
	rep.Failed = len(failed)
	sort.Slice(failed, func(i, j int) bool { return failed[i].DeliveredAt.Before(failed[j].DeliveredAt) })
	for _, d := range failed {
		if rep.Redelivered >= l.cfg.RedeliverMax {
			l.skipped.WithLabelValues("redeliver", "max_per_cycle").Inc()
			break
		}
		l.mu.Lock()
		n := l.asked[d.GUID]
		l.mu.Unlock()
		if n >= maxAsksPerDelivery {
			continue
		}
		if err := l.gh.Redeliver(ctx, d.ID); err != nil {
			if errors.Is(err, githubapp.ErrRateLimited) {
				l.skipped.WithLabelValues("redeliver", "rate_limited").Inc()
				return rep, err
			}
			l.log.Warn("redelivery failed", "delivery_id", d.GUID, "err", err)
			continue
		}
		l.mu.Lock()
		l.asked[d.GUID] = n + 1
		l.mu.Unlock()
		rep.Redelivered++
		l.redelivered.Inc()
		l.log.Info("asked GitHub to redeliver a failed webhook", "delivery_id", d.GUID, "attempt", n+1, "status", d.StatusCode)
	}
	l.forgetOld(byGUID)
	return rep, nil
}

// forgetOld drops the ask counts of deliveries that left the lookback window.
func (l *Loops) forgetOld(seen map[string][]githubapp.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for guid := range l.asked {
		if _, ok := seen[guid]; !ok {
			delete(l.asked, guid)
		}
	}
}
