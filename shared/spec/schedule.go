package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScheduleWindow overrides a policy's min_idle during a recurring window, e.g. 0 outside
// working hours. It runs on each of its Days (mon..sun, case-insensitive; none means
// every day) from Start to End ("HH:MM"; End "24:00" allowed) in TimeZone (an IANA name,
// "" for UTC). When End is not after Start the window runs past midnight into the next
// day (18:00–08:00); Start equal to End is a whole day.
type ScheduleWindow struct {
	Days     []string `json:"days,omitempty"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	TimeZone string   `json:"time_zone,omitempty"`
	MinIdle  int      `json:"min_idle"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// window is a ScheduleWindow read and checked.
type window struct {
	loc        *time.Location
	start, end time.Duration
	days       map[time.Weekday]bool
}

func (w ScheduleWindow) parse() (window, error) {
	out := window{loc: time.UTC, days: map[time.Weekday]bool{}}
	var errs []error
	if w.TimeZone != "" {
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			errs = append(errs, fmt.Errorf("time_zone %q: not an IANA time zone", w.TimeZone))
		} else {
			out.loc = loc
		}
	}
	var err error
	if out.start, err = clock(w.Start, false); err != nil {
		errs = append(errs, fmt.Errorf("start: %w", err))
	}
	if out.end, err = clock(w.End, true); err != nil {
		errs = append(errs, fmt.Errorf("end: %w", err))
	}
	for _, d := range w.Days {
		name := strings.ToLower(strings.TrimSpace(d))
		wd, ok := weekdays[name[:min(3, len(name))]] // "mon" and "monday" alike
		if !ok || len(name) < 3 {
			errs = append(errs, fmt.Errorf("day %q: want mon, tue, wed, thu, fri, sat or sun", d))
			continue
		}
		out.days[wd] = true
	}
	if w.MinIdle < 0 {
		errs = append(errs, fmt.Errorf("min_idle: must not be negative, got %d", w.MinIdle))
	}
	return out, errors.Join(errs...)
}

// Validate reports what is wrong with w, if anything.
func (w ScheduleWindow) Validate() error {
	_, err := w.parse()
	return err
}

// Contains reports whether now falls in the window.
func (w ScheduleWindow) Contains(now time.Time) (bool, error) {
	p, err := w.parse()
	if err != nil {
		return false, err
	}
	on := func(d time.Weekday) bool { return len(p.days) == 0 || p.days[d] }
	t := now.In(p.loc)
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if p.start < p.end {
		return on(t.Weekday()) && tod >= p.start && tod < p.end, nil
	}
	// Past midnight: today's part from start, or yesterday's window still running.
	yesterday := (t.Weekday() + 6) % 7
	return (on(t.Weekday()) && tod >= p.start) || (on(yesterday) && tod < p.end), nil
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
