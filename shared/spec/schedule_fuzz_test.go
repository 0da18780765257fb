package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/shared/spec"
)

// FuzzScheduleWindow parses any window: no panic, Validate and Contains agree on what
// is valid, and a window from Start to the same End is a whole day.
func FuzzScheduleWindow(f *testing.F) {
	for _, s := range []struct {
		days, start, end, tz string
		minIdle              int
	}{
		{"mon,tue,wed,thu,fri", "08:00", "18:00", "Europe/Berlin", 2},
		{"", "18:00", "08:00", "", 0},
		{"sat,sun", "00:00", "24:00", "America/New_York", 1},
		{"monday", "9:30", "17:05", "UTC", 3},
		{"mo", "25:00", "08:60", "Mars/Base", -1},
		{"fri", "12:00", "12:00", "Asia/Kolkata", 0},
		{"", " 07:00 ", "24:00", "Local", 0},
		{"", "-1:00", "+2:00", "", 0},
	} {
		f.Add(s.days, s.start, s.end, s.tz, s.minIdle, int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, days, start, end, tz string, minIdle int, unix int64) {
		w := spec.ScheduleWindow{Start: start, End: end, TimeZone: tz, MinIdle: minIdle}
		if days != "" {
			w.Days = strings.Split(days, ",")
		}
		now := time.Unix(unix%(1<<40), 0)
		verr := w.Validate()
		in, cerr := w.Contains(now)
		if (verr == nil) != (cerr == nil) {
			t.Fatalf("%+v: Validate %v but Contains %v", w, verr, cerr)
		}
		if verr != nil {
			return
		}
		if strings.TrimSpace(start) == strings.TrimSpace(end) && len(w.Days) == 0 && !in {
			t.Fatalf("%+v: a window from a time to the same time is a whole day, but %s is not in it", w, now)
		}
	})
}
