package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/garo-dev/garo/internal/demo"
	"github.com/garo-dev/garo/internal/stats"
)

// dockerFigures runs the demo (package demo) on the local Docker engine twice: one job
// beside plain create + start runs of the same image, and a burst whose first wave is set
// beside as many plain runs at once.
func dockerFigures(ctx context.Context, o Options, t *Table) {
	const single, wave = "webhook → container running, one job, vs plain create + start", "burst's first wave → all running, vs as many plain runs at once"
	if o.StubRunner == "" || o.StubDockerfile == "" {
		t.Missing(single, "×", "≤ 1.05", "no stub runner given")
		t.Missing(wave, "×", "≤ 1.1", "no stub runner given")
		return
	}
	bin, err1 := os.ReadFile(o.StubRunner)
	df, err2 := os.ReadFile(o.StubDockerfile)
	if err1 != nil || err2 != nil {
		t.Missing(single, "×", "≤ 1.05", fmt.Sprintf("stub runner: %v %v", err1, err2))
		t.Missing(wave, "×", "≤ 1.1", "")
		return
	}
	run := func(name string, jobs, maxRunners, plain int) (*demo.Summary, error) {
		dir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Out, "--- demo %s: %d jobs, max_runners %d, %d plain runs\n", name, jobs, maxRunners, plain)
		return demo.Run(ctx, demo.Options{Jobs: jobs, MaxRunners: maxRunners, Plain: plain, Work: time.Second,
			StubRunner: bin, StubDockerfile: df, Dir: dir, Out: o.Out})
	}
	if s, err := run("single", 1, 1, 5); err != nil {
		t.Missing(single, "×", "≤ 1.05", err.Error())
	} else {
		g, p := stats.Percentile(s.WebhookToRunning, .5), stats.Percentile(s.Plain, .5)
		t.Add(Figure{Name: single, Unit: "×", Measured: ratio(g, p), Target: "≤ 1.05",
			Anchor: fmt.Sprintf("plain create + start %.0f ms (p50 of %d)", ms(p), len(s.Plain)),
			Note:   fmt.Sprintf("garo %.0f ms", ms(g))})
	}
	if s, err := run("burst", 8, 4, 1); err != nil {
		t.Missing(wave, "×", "≤ 1.1", err.Error())
	} else {
		g, p := stats.Percentile(s.FirstWaveToRunning, 1), stats.Percentile(s.PlainParallel, 1)
		t.Add(Figure{Name: wave, Unit: "×", Measured: ratio(g, p), Target: "≤ 1.1",
			Anchor: fmt.Sprintf("%d plain runs at once: slowest %.0f ms", len(s.PlainParallel), ms(p)),
			Note:   fmt.Sprintf("garo's first %d: slowest %.0f ms", len(s.FirstWaveToRunning), ms(g))})
	}
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
