package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// micro is a go test benchmark and the table rows it gives.
type micro struct {
	pkg, pattern string
	rows         []microRow
}

type microRow struct {
	sub    string // the sub-benchmark's name, e.g. "BenchmarkHeartbeat/postgres"
	name   string
	target string
	note   string
}

var micros = []micro{
	{pkg: "./server/agents/", pattern: "^BenchmarkHeartbeat$", rows: []microRow{
		{sub: "BenchmarkHeartbeat/postgres/steady", name: "heartbeat of an agent with 5,000 runners (postgres)", target: "≤ 20", note: "server time, whole inventory reported, unchanged; PostgreSQL fsync on"},
		{sub: "BenchmarkHeartbeat/postgres/churn", name: "… with 50 of them replaced (postgres)", target: "≤ 20", note: "server time, 50 gone and 50 new runners"},
		{sub: "BenchmarkHeartbeat/sqlite/steady", name: "heartbeat of an agent with 5,000 runners (sqlite)", target: "≤ 20", note: "server time, unchanged"},
		{sub: "BenchmarkHeartbeat/sqlite/churn", name: "… with 50 of them replaced (sqlite)", target: "≤ 20", note: "server time, 50 gone and 50 new runners"},
	}},
	{pkg: "./agent/scheduler/", pattern: "^BenchmarkReconcile$/repos=3000", rows: []microRow{
		{sub: "BenchmarkReconcile/repos=3000", name: "scheduler tick, 3,000 repositories", target: "≤ 20", note: "one Reconcile, 15,000 runners"},
	}},
}

// microBenchmarks runs the micro-benchmarks with go test in o.Repo (PostgreSQL fsync on)
// and adds their ms/op.
func microBenchmarks(ctx context.Context, o Options, sc scale, t *Table) {
	for _, m := range micros {
		if o.Repo == "" {
			for _, r := range m.rows {
				t.Missing(r.name, "ms", r.target, "no checkout to run go test in")
			}
			continue
		}
		fmt.Fprintf(o.Out, "--- go test -bench %s %s\n", m.pattern, m.pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", m.pattern, "-benchtime", sc.benchtime, m.pkg)
		cmd.Dir = o.Repo
		cmd.Env = append(os.Environ(), "GARO_PG_FSYNC=on")
		out, err := cmd.CombinedOutput()
		_, _ = o.Out.Write(out) // the bench output echoed; a failed write loses only that
		got := parseBench(out)
		for _, r := range m.rows {
			res, ok := got[r.sub]
			switch {
			case ok:
				// Wall time on a shared machine varies with its load; the CPU time per
				// operation much less (it counts the garbage collector's too).
				note := r.note
				if !math.IsNaN(res.cpuMS) {
					note = fmt.Sprintf("%s; CPU %.1f ms/op", note, res.cpuMS)
				}
				t.Add(Figure{Name: r.name, Unit: "ms", Measured: res.ns / 1e6, Target: r.target, Note: note})
			case err != nil:
				t.Missing(r.name, "ms", r.target, fmt.Sprintf("go test failed: %v", err))
			default:
				t.Missing(r.name, "ms", r.target, "not in go test's output")
			}
		}
	}
}

// benchResult is one benchmark's figures per operation: ns/op, and the process's CPU
// time (testkit.CPU's cpu-ms/op), NaN when it does not report it.
type benchResult struct {
	ns, cpuMS float64
}

// parseBench reads go test -bench output: the figures of each benchmark, by name without
// the -GOMAXPROCS suffix.
func parseBench(out []byte) map[string]benchResult {
	got := map[string]benchResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if j := strings.LastIndexByte(name, '-'); j > 0 {
			if _, err := strconv.Atoi(name[j+1:]); err == nil {
				name = name[:j]
			}
		}
		r := benchResult{ns: math.NaN(), cpuMS: math.NaN()}
		for i := 2; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.ns = v
			case "cpu-ms/op":
				r.cpuMS = v
			}
		}
		if !math.IsNaN(r.ns) {
			got[name] = r
		}
	}
	return got
}
