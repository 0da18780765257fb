package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/garo-dev/garo/shared/protocol"
)

// EffectiveMinIdle is the policy's min_idle at now: the MinIdle of the first schedule
// window that contains now (in the window's time zone), else the policy's own MinIdle.
//
// A window runs on each of its Days (mon..sun, case-insensitive; none means every day)
// from Start to End ("HH:MM", End "24:00" allowed). When End is not after Start the
// window runs past midnight into the next day (18:00–08:00); Start equal to End is a
// whole day. TimeZone is an IANA name ("" is UTC). Windows that cannot be read are
// skipped and reported in the error, so that a typo never stops the scheduler.
func EffectiveMinIdle(p protocol.Policy, now time.Time) (int, error) {
	var errs []error
	for i, w := range p.Schedule {
		in, err := w.Contains(now)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy %s of %s: schedule[%d]: %w", p.Name, p.Repository, i, err))
			continue
		}
		if in {
			return max(w.MinIdle, 0), errors.Join(errs...)
		}
	}
	return max(p.MinIdle, 0), errors.Join(errs...)
}
