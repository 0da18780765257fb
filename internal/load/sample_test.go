package load

import (
	"os"
	"testing"
)

// TestProcessMemory reads this process's VmRSS and VmHWM: both set, the peak at least the
// current size; a process that does not exist is an error.
func TestProcessMemory(t *testing.T) {
	t.Parallel()
	rss, hwm, err := ProcessMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || hwm < rss {
		t.Fatalf("VmRSS %d, VmHWM %d: want a resident size of at least 1 MiB and a peak no smaller", rss, hwm)
	}
	if _, _, err := ProcessMemory(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
