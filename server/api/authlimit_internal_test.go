package api

import (
	"strconv"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
)

// The bucket refills with time: after Refill one more failure is allowed, and Retry-After
// says how long until then.
func TestAuthLimiterRefills(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	l := newAuthLimiter(AuthLimit{Burst: 2, Refill: 10 * time.Second, MaxClients: 10}, clk.Now, nil)
	l.fail("192.0.2.1", credentialAPIToken, "unknown")
	l.fail("192.0.2.1", credentialAPIToken, "unknown")
	if w := l.wait("192.0.2.1"); w != 10*time.Second {
		t.Fatalf("wait after the burst = %s, want 10s", w)
	}
	if w := l.wait("192.0.2.2"); w != 0 {
		t.Fatalf("another address waits %s", w)
	}
	clk.Advance(4 * time.Second)
	if w := l.wait("192.0.2.1"); w != 6*time.Second {
		t.Fatalf("wait 4s later = %s, want 6s", w)
	}
	clk.Advance(6 * time.Second)
	if w := l.wait("192.0.2.1"); w != 0 {
		t.Fatalf("wait once refilled = %s, want 0", w)
	}
	l.fail("192.0.2.1", credentialAPIToken, "unknown")
	if w := l.wait("192.0.2.1"); w != 10*time.Second {
		t.Fatalf("wait after one more failure = %s, want 10s", w)
	}
	// A full bucket is forgotten: nothing to remember.
	clk.Advance(time.Minute)
	l.wait("192.0.2.9")
	if n := l.tracked(); n != 0 {
		t.Errorf("addresses tracked after every bucket refilled = %d, want 0", n)
	}
}

// Memory is bounded: beyond MaxClients, the address that failed longest ago is forgotten.
func TestAuthLimiterIsBounded(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	l := newAuthLimiter(AuthLimit{Burst: 1, Refill: time.Hour, MaxClients: 100}, clk.Now, nil)
	for i := range 1000 {
		l.fail("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), credentialAgent, "unknown")
		clk.Advance(time.Millisecond)
	}
	if n := l.tracked(); n != 100 {
		t.Fatalf("addresses tracked = %d, want the cap 100", n)
	}
	if w := l.wait("10.0.3.231"); w <= 0 { // the last one
		t.Errorf("the latest address is not limited")
	}
	if w := l.wait("10.0.0.0"); w != 0 { // the first one, forgotten
		t.Errorf("the oldest address is still limited (%s)", w)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":                "192.0.2.1",
		"::ffff:192.0.2.1":         "192.0.2.1",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
		"192.0.2.1:5555":           "192.0.2.1",
		"not an address":           "not an address",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}
