package catchup

import "time"

// SetClock replaces the loops' clock (tests).
func SetClock(l *Loops, now func() time.Time) { l.now = now }
