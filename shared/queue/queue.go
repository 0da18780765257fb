// Package queue is the order in which queued jobs get runners when capacity is short,
// the same on the server (quotas) and in the agent (its capacity): a job that has waited
// max_wait goes ahead of every job that has waited less, oldest first; then higher
// priority first; then oldest first. So no job waits behind a younger one for longer
// than max_wait, whatever the priorities (no starvation), and without a bound (0) the
// priority always wins.
package queue

import (
	"cmp"
	"time"
)

// Entry is one queued job as the order needs it.
type Entry struct {
	ID         int64
	Priority   int
	ReceivedAt time.Time
}

// Aged reports whether e has waited maxWait at now (never with maxWait 0).
func Aged(e Entry, now time.Time, maxWait time.Duration) bool {
	return maxWait > 0 && now.Sub(e.ReceivedAt) >= maxWait
}

// Compare orders a before b (negative) when a gets a runner first at now.
func Compare(a, b Entry, now time.Time, maxWait time.Duration) int {
	aa, ba := Aged(a, now, maxWait), Aged(b, now, maxWait)
	switch {
	case aa && !ba:
		return -1
	case ba && !aa:
		return 1
	case !aa:
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
	}
	return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.ID, b.ID))
}
