// Package backoff computes how long to wait before retrying a call: exponential backoff
// with full jitter, and the wait a server asks for with Retry-After. It only computes
// durations; callers wait themselves, on their own clock, selecting on their context.
package backoff

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of Policy: the first retry waits up to 1 s, later ones never more than 60 s.
const (
	DefaultBase = time.Second
	DefaultCap  = 60 * time.Second
)

// Policy is exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS
// Architecture Blog, 2015): the delay before retry attempt n (0-based) is a uniformly
// random duration in [0, min(Cap, Base*2^n)). Full jitter spreads the retries of many
// clients that failed together, which plain exponential backoff keeps in lock step.
//
// The zero Policy is usable: Base 1 s, Cap 60 s, math/rand/v2 as the random source.
type Policy struct {
	Base time.Duration
	Cap  time.Duration
	// Rand returns a number in [0, 1). Tests pin it; nil means math/rand/v2.Float64,
	// which is safe for concurrent use.
	Rand func() float64
}

// Default returns the policy both the server and the agent use: 1 s doubling up to 60 s.
func Default() Policy { return Policy{Base: DefaultBase, Cap: DefaultCap} }

// Ceiling returns the upper bound of the delay before retry attempt (0-based):
// min(Cap, Base*2^attempt). Negative attempts count as 0.
func (p Policy) Ceiling(attempt int) time.Duration {
	base, ceil := p.Base, p.Cap
	if base <= 0 {
		base = DefaultBase
	}
	if ceil <= 0 {
		ceil = DefaultCap
	}
	if attempt < 0 {
		attempt = 0
	}
	// base*2^attempt overflows int64 quickly; compare in float64 first.
	if f := float64(base) * math.Pow(2, float64(attempt)); f < float64(ceil) {
		return time.Duration(f)
	}
	return ceil
}

// Delay returns the wait before retry attempt (0-based): a uniformly random duration in
// [0, Ceiling(attempt)).
func (p Policy) Delay(attempt int) time.Duration {
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	f := r()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		f = 0 // a broken source must not stretch the wait beyond the ceiling
	}
	return time.Duration(f * float64(p.Ceiling(attempt)))
}

// RetryAfter reads the Retry-After header of a response (RFC 9110 §10.2.3): either a
// number of seconds or an HTTP-date, which is taken relative to now. It reports false
// when the header is missing or unreadable. A date in the past, or "0", means "retry
// now" and yields (0, true).
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Clamp absurd values rather than overflowing time.Duration.
		if secs > int64(math.MaxInt64/int64(time.Second)) {
			secs = int64(math.MaxInt64 / int64(time.Second))
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}
