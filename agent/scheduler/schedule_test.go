package scheduler_test

import (
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/protocol"
)

func TestEffectiveMinIdle(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	work := protocol.ScheduleWindow{Days: []string{"mon", "tue", "wed", "thu", "Friday"}, Start: "08:00", End: "18:00", TimeZone: "Europe/Berlin", MinIdle: 4}
	night := protocol.ScheduleWindow{Days: []string{"fri"}, Start: "22:00", End: "06:00", TimeZone: "UTC", MinIdle: 0}
	p := policy("small", 1, 10)
	p.Schedule = []protocol.ScheduleWindow{work, night}
	at := func(loc *time.Location, day, hour, minute int) time.Time {
		return time.Date(2025, 3, day, hour, minute, 0, 0, loc) // 3 March 2025 is a Monday
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"monday 09:00 in Berlin", at(berlin, 3, 9, 0), 4},
		{"monday 08:00 in Berlin, start is inclusive", at(berlin, 3, 8, 0), 4},
		{"monday 18:00 in Berlin, end is exclusive", at(berlin, 3, 18, 0), 1},
		{"monday 07:30 UTC is 08:30 in Berlin", at(time.UTC, 3, 7, 30), 4},
		{"monday 17:30 UTC is 18:30 in Berlin", at(time.UTC, 3, 17, 30), 1},
		{"saturday 10:00 in Berlin", at(berlin, 8, 10, 0), 1},
		{"friday 23:00 UTC, overnight window", at(time.UTC, 7, 23, 0), 0},
		{"saturday 05:59 UTC, overnight window still on", at(time.UTC, 8, 5, 59), 0},
		{"saturday 06:00 UTC, overnight window over", at(time.UTC, 8, 6, 0), 1},
		{"thursday 23:00 UTC, not a window day", at(time.UTC, 6, 23, 0), 1},
	} {
		got, err := scheduler.EffectiveMinIdle(p, tc.now)
		if err != nil || got != tc.want {
			t.Errorf("%s: min idle %d (%v), want %d", tc.name, got, err, tc.want)
		}
	}
	// Summer time: 08:00 in Berlin is 06:00 UTC in July.
	if got, _ := scheduler.EffectiveMinIdle(p, time.Date(2025, 7, 7, 6, 30, 0, 0, time.UTC)); got != 4 {
		t.Errorf("July monday 06:30 UTC = 08:30 CEST: min idle %d, want 4", got)
	}
}

func TestScheduleWindowEdgesAndErrors(t *testing.T) {
	t.Parallel()
	p := policy("small", 2, 10)
	p.Schedule = []protocol.ScheduleWindow{
		{Start: "25:00", End: "26:00", MinIdle: 9},                           // unreadable: skipped, reported
		{Days: []string{"funday"}, Start: "00:00", End: "24:00", MinIdle: 9}, // unreadable
		{TimeZone: "Mars/Olympus", Start: "00:00", End: "24:00", MinIdle: 9}, // unreadable
		{Start: "00:00", End: "24:00", MinIdle: 5},                           // every day, all day
	}
	got, err := scheduler.EffectiveMinIdle(p, t0)
	if got != 5 || err == nil {
		t.Fatalf("min idle %d, err %v: want 5 and the three bad windows reported", got, err)
	}
	p.Schedule = []protocol.ScheduleWindow{{Start: "10:00", End: "10:00", MinIdle: 0}} // whole day from 10:00
	for _, h := range []int{10, 23, 0, 9} {
		if got, _ := scheduler.EffectiveMinIdle(p, time.Date(2025, 3, 3, h, 0, 0, 0, time.UTC)); got != 0 {
			t.Errorf("%02d:00 in a 24 h window: %d", h, got)
		}
	}
	// A schedule window reaches Reconcile: min idle 0 at night creates nothing.
	p = policy("small", 2, 10)
	p.Schedule = []protocol.ScheduleWindow{{Start: "20:00", End: "07:00", MinIdle: 0}}
	in := input(config(p), jobs(), nil, nil)
	in.Now = time.Date(2025, 3, 3, 23, 0, 0, 0, time.UTC)
	if n := len(scheduler.Reconcile(in).Creates); n != 0 {
		t.Errorf("night: %d creates", n)
	}
	in.Now = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	if n := len(scheduler.Reconcile(in).Creates); n != 2 {
		t.Errorf("day: %d creates, want 2", n)
	}
}
