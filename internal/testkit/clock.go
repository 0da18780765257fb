package testkit

import (
	"sync"
	"time"
)

// Clock is a fake clock: it moves only when a test tells it to (Advance), when code waits
// on it (After), or on every reading when a step is set (Step). Safe for concurrent use; pass
// its methods where code takes a now func() time.Time or an after func(time.Duration).
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	step  time.Duration
	waits []time.Duration
}

// NewClock returns a clock that reads start until it is moved.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time, first moving it by the step, if one is set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Step makes every later reading move the clock by d first (0 stops it), so that
// consecutive readings are distinct and ordered.
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}

// After is time.After on the fake clock: it records the wait, moves the clock by d and
// fires at once with the new time, so code that waits does not wait for real.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// Waits returns the durations passed to After, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
