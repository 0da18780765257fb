package scheduler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/garo-dev/garo/shared/protocol"
)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

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
		in, err := windowContains(w, now)
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

func windowContains(w protocol.ScheduleWindow, now time.Time) (bool, error) {
	loc := time.UTC
	if w.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(w.TimeZone); err != nil {
			return false, fmt.Errorf("time_zone %q: %w", w.TimeZone, err)
		}
	}
	start, err := clock(w.Start, false)
	if err != nil {
		return false, fmt.Errorf("start: %w", err)
	}
	end, err := clock(w.End, true)
	if err != nil {
		return false, fmt.Errorf("end: %w", err)
	}
	days := map[time.Weekday]bool{}
	for _, d := range w.Days {
		name := strings.ToLower(strings.TrimSpace(d))
		wd, ok := weekdays[name[:min(3, len(name))]] // "mon" and "monday" alike
		if !ok || len(name) < 3 {
			return false, fmt.Errorf("day %q: want mon, tue, wed, thu, fri, sat or sun", d)
		}
		days[wd] = true
	}
	on := func(d time.Weekday) bool { return len(days) == 0 || days[d] }
	t := now.In(loc)
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if start < end {
		return on(t.Weekday()) && tod >= start && tod < end, nil
	}
	// Past midnight: today's part from start, or yesterday's window still running.
	yesterday := (t.Weekday() + 6) % 7
	return (on(t.Weekday()) && tod >= start) || (on(yesterday) && tod < end), nil
}

// clock reads "HH:MM" as the time since midnight; "24:00" only when allow24.
func clock(s string, allow24 bool) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || err1 != nil || err2 != nil || len(m) != 2 || mm < 0 || mm > 59 || hh < 0:
		return 0, fmt.Errorf("%q: want HH:MM", s)
	case hh == 24 && mm == 0 && allow24:
	case hh > 23:
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}
