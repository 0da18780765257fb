package testkit

import (
	"syscall"
	"testing"
	"time"
)

// CPU measures the CPU time (user + system, all threads: the garbage collector's
// included) that the test process spends, for benchmarks whose wall time is not
// comparable between runs on a shared machine.
type CPU struct{ start time.Duration }

// StartCPU starts measuring; call it right after b.ResetTimer.
func StartCPU() CPU { return CPU{start: processCPU()} }

// Report adds the CPU time per operation since StartCPU as the metric "cpu-ms/op"
// (call it before work that is not part of the operations, e.g. after b.StopTimer).
func (c CPU) Report(b *testing.B) {
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(processCPU()-c.start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
