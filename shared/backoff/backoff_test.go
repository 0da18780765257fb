package backoff_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/garo-dev/garo/shared/backoff"
)

func TestCeilingDoublesUpToCap(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Base: time.Second, Cap: 60 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		if got := p.Ceiling(i); got != w*time.Second {
			t.Errorf("Ceiling(%d) = %v, want %v", i, got, w*time.Second)
		}
	}
	if got := p.Ceiling(1000); got != 60*time.Second {
		t.Errorf("Ceiling(1000) = %v, want the cap (no overflow)", got)
	}
	if got := p.Ceiling(-3); got != time.Second {
		t.Errorf("Ceiling(-3) = %v, want the base", got)
	}
}

func TestZeroPolicyUsesDefaults(t *testing.T) {
	t.Parallel()
	var p backoff.Policy
	if got := p.Ceiling(0); got != backoff.DefaultBase {
		t.Errorf("zero policy Ceiling(0) = %v, want %v", got, backoff.DefaultBase)
	}
	if got := p.Ceiling(30); got != backoff.DefaultCap {
		t.Errorf("zero policy Ceiling(30) = %v, want %v", got, backoff.DefaultCap)
	}
	if d := backoff.Default(); d.Base != time.Second || d.Cap != time.Minute {
		t.Errorf("Default() = %+v, want 1s/60s", d)
	}
}

func TestDelayIsFullJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rand    float64
		attempt int
		want    time.Duration
	}{
		{"zero draw waits nothing", 0, 3, 0},
		{"half draw waits half the ceiling", 0.5, 3, 4 * time.Second},
		{"capped", 0.5, 20, 30 * time.Second},
		{"almost one stays below the ceiling", 0.999, 0, 999 * time.Millisecond},
		{"broken source is clamped", 7, 2, 0},
		{"negative source is clamped", -1, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := backoff.Policy{Base: time.Second, Cap: time.Minute, Rand: func() float64 { return tt.rand }}
			if got := p.Delay(tt.attempt); got != tt.want {
				t.Errorf("Delay(%d) with rand %v = %v, want %v", tt.attempt, tt.rand, got, tt.want)
			}
		})
	}
}

func TestDelayWithRealRandomnessStaysInRange(t *testing.T) {
	t.Parallel()
	p := backoff.Default()
	distinct := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := p.Delay(2)
		if d < 0 || d >= 4*time.Second {
			t.Fatalf("Delay(2) = %v, want within [0, 4s)", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 100 {
		t.Errorf("200 delays gave only %d distinct values; jitter is missing", len(distinct))
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"seconds", "120", 2 * time.Minute, true},
		{"seconds with spaces", " 7 ", 7 * time.Second, true},
		{"zero", "0", 0, true},
		{"negative", "-5", 0, false},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"http date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"garbage", "soon", 0, false},
		{"huge", "99999999999999999", time.Duration(1<<63 - 1).Truncate(time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, ok := backoff.RetryAfter(h, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
