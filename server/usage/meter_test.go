package usage_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/usage"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// The meter counts ended runners whole and live ones so far, by owner and group, and its
// counters never go back, also when a live runner's end is recorded a little before the
// tick that sees it.
func TestMeter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		ctx := t.Context()
		t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		clk := testkit.NewClock(t0.Add(10 * time.Minute))
		for _, u := range []store.RunnerUsage{
			{Name: "a", RepoKey: "acme/web", Policy: "p", AgentGroup: "default", CPUMilli: 2000, MemoryBytes: 1 << 30, StartedAt: t0},
			{Name: "b", RepoKey: "acme/api", Policy: "p", AgentGroup: "default", CPUMilli: 1000, StartedAt: t0.Add(5 * time.Minute)},
		} {
			if err := st.StartUsage(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.EndUsage(ctx, []string{"a"}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		m := usage.NewMeter(st, clk.Now, testkit.Discard())
		reg := prometheus.NewRegistry()
		reg.MustRegister(m)
		read := func() map[string]float64 {
			t.Helper()
			if err := m.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]float64{}
			for _, f := range fams {
				for _, mt := range f.GetMetric() {
					if len(mt.GetLabel()) != 2 || mt.GetLabel()[0].GetValue() != "default" || mt.GetLabel()[1].GetValue() != "acme" {
						t.Fatalf("labels %v", mt.GetLabel())
					}
					out[f.GetName()] = mt.GetCounter().GetValue()
				}
			}
			return out
		}
		// a: 60 s ended; b: 300 s so far.
		got := read()
		want := map[string]float64{
			"garo_usage_runners_total": 2, "garo_usage_runner_seconds_total": 360,
			"garo_usage_cpu_seconds_total": 60*2 + 300, "garo_usage_memory_byte_seconds_total": 60 * (1 << 30),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
			}
		}
		// b's end is recorded 10 s before the time of the tick that showed it live (the
		// clock of another replica): the counter stays at what it showed.
		clk.Advance(time.Minute)
		if err := st.EndUsage(ctx, []string{"b"}, t0.Add(9*time.Minute+50*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := read(); got["garo_usage_runner_seconds_total"] != 360 || got["garo_usage_runners_total"] != 2 {
			t.Errorf("after b ended: %v, want the counters kept", got)
		}
	})
}
