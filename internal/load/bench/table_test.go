package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkHeartbeat/sqlite-2         	       3	 179123456 ns/op	      5000 runners	 1234 B/op	 12 allocs/op
BenchmarkHeartbeat/postgres-2       	       3	 132000000 ns/op
BenchmarkReconcile/repos=3000-2     	      20	  70400000 ns/op	     15000 runners
PASS
`)
	got := parseBench(out)
	want := map[string]float64{"BenchmarkHeartbeat/sqlite": 179123456, "BenchmarkHeartbeat/postgres": 132000000, "BenchmarkReconcile/repos=3000": 70400000}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
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
