package scheduler

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/garo-dev/garo/shared/backoff"
)

// Backoff is a policy's crash-loop state. Failures counts its runners that failed in a
// row before taking a job (exited, vanished, not online within bootstrap_timeout, not
// created by the provider); a failure while the policy is held back (before Until) is
// the same evidence again and does not count. While Failures > 0 the policy makes none
// before Until, and then one runner at a time (a probe: one made since the first failure
// that has not taken a job yet holds the next back; runners from before keep serving);
// a runner of it that takes a job, or exits cleanly after one, ends this.
type Backoff struct {
	Failures int
	Since    time.Time // the first failure counted; runners made since then are probes
	Until    time.Time
	Reason   string // the last failure
}

// Defaults of the crash-loop back-off.
const (
	DefaultCrashBackoffBase = 5 * time.Second
	DefaultCrashBackoffCap  = 5 * time.Minute
)

// Failed returns b after one more failure at now, for reason: counted (and the hold
// renewed) only when the policy is not held back already. The delay before the next try
// is between half and all of p.Ceiling(failures-1), the fraction drawn from seed and
// the count.
func (b Backoff) Failed(now time.Time, reason string, p backoff.Policy, seed string) Backoff {
	if now.Before(b.Until) {
		return b
	}
	if p.Base <= 0 {
		p.Base = DefaultCrashBackoffBase
	}
	if p.Cap <= 0 {
		p.Cap = DefaultCrashBackoffCap
	}
	if b.Failures == 0 {
		b.Since = now
	}
	b.Failures++
	ceil := p.Ceiling(b.Failures - 1)
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s/%d", seed, b.Failures)
	frac := float64(h.Sum64()>>11) / (1 << 53) // [0, 1)
	b.Until = now.Add(ceil/2 + time.Duration(frac*float64(ceil/2)))
	b.Reason = reason
	return b
}

// crashReason says why a crash-looping policy is held back.
func crashReason(b Backoff) string {
	runners := "a runner"
	if b.Failures > 1 {
		runners = fmt.Sprintf("%d runners in a row", b.Failures)
	}
	return fmt.Sprintf("backing off: %s of the policy failed before taking a job (the last, %s)", runners, b.Reason)
}
