package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkHeartbeat/sqlite-2         	       3	 179123456 ns/op	      5000 runners	 1234 B/op	 12 allocs/op
BenchmarkHeartbeat/postgres-2       	       3	 132000000 ns/op
BenchmarkReconcile/repos=3000-2     	      20	  70400000 ns/op	        21.50 cpu-ms/op	     15000 runners
PASS
`)
	got := parseBench(out)
	nan := math.NaN()
	want := map[string]benchResult{"BenchmarkHeartbeat/sqlite": {179123456, nan}, "BenchmarkHeartbeat/postgres": {132000000, nan},
		"BenchmarkReconcile/repos=3000": {70400000, 21.5}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for k, v := range want {
		if !same(got[k].ns, v.ns) || !same(got[k].cpuMS, v.cpuMS) {
			t.Errorf("%s: got %+v, want %+v", k, got[k], v)
		}
	}
}

func TestTablePrintsEveryFigure(t *testing.T) {
	var tb Table
	tb.Add(Figure{Name: "a", Unit: "ms", Measured: 12.345, Target: "≤ 20", Anchor: "x"})
	tb.Missing("b", "ms", "≤ 1", "no engine")
	var buf bytes.Buffer
	tb.Print(&buf)
	s := buf.String()
	for _, want := range []string{"| a | ms | 12.3 | ≤ 20 | x |", "| b | ms | — | ≤ 1 | — | no engine |"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
