package testkit

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually checks its condition.
const pollEvery = 10 * time.Millisecond

// Eventually checks cond every 10 ms until it holds, and fails the test naming what it
// waited for when it does not hold within timeout (or when the test's context ends).
// For conditions on other goroutines or processes that the test cannot be told about.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-t.Context().Done():
			t.Fatalf("the test ended while waiting for %s", what)
		case <-tick.C:
		}
	}
}
