package catchup

import "time"

// SetClock replaces the loops' clock (tests).
func SetClock(l *Loops, now func() time.Time) { l.now = now }

// SetTick replaces the loops' timer (tests).
func SetTick(l *Loops, tick func(time.Duration) <-chan time.Time) { l.tick = tick }
