package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestViewLive(t *testing.T) {
	var b bytes.Buffer
	v := newView(&b, true)
	v.status("s1")
	v.event(1500*time.Millisecond, "job %d", 7)
	v.status("s2")
	v.clear()
	v.linef("done")
	want := eraseLine + "s1" + eraseLine + "   1.50s  job 7\n" + "s1" + eraseLine + "s2" + eraseLine + "done\n"
	if b.String() != want {
		t.Errorf("live output\n%q\nwant\n%q", b.String(), want)
	}
}

func TestViewNotLive(t *testing.T) {
	var b bytes.Buffer
	v := newView(&b, false)
	v.status("s1")
	v.status("s2") // within statusEvery: not printed
	v.event(0, "e")
	v.status("s1") // unchanged since printed, and too soon
	v.clear()
	if got, want := b.String(), "s1\n   0.00s  e\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Error("escape sequences without a terminal")
	}
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		n, max int
		want   string
	}{{0, 3, "[...]"}, {2, 3, "[##.]"}, {3, 3, "[###]"}} {
		if got := bar(tc.n, tc.max); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.n, tc.max, got, tc.want)
		}
	}
}
