package load

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const clockTicks = 100

// sampler samples a process's RSS every interval; CPU time is read on demand.
type sampler struct {
	pid    string // "self" or a number
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	max    uint64
	last   uint64
}

func startSampler(ctx context.Context, pid int, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{pid: strconv.Itoa(pid), cancel: cancel, done: make(chan struct{})}
	if pid == os.Getpid() {
		s.pid = "self"
	}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	r, _ := memory(s.pid)
	s.mu.Lock()
	s.last, s.max = r, max(s.max, r)
	s.mu.Unlock()
}

func (s *sampler) stop() {
	s.cancel()
	<-s.done
	s.sample()
}

// rss returns the largest and the last sample, and the process's peak RSS so far (the
// kernel's high-water mark, setup included, which the kernel updates lazily: never below
// the largest sample), in bytes.
func (s *sampler) rss() (maxRSS, last, peak uint64) {
	_, peak = memory(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.last, max(peak, s.max)
}

// cpu is the process's CPU time so far (user + system), 0 where /proc is missing.
func (s *sampler) cpu() time.Duration {
	st, _ := procStat(s.pid)
	return st.cpu
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	st, _ := procStat("self")
	return st.cpu
}

// stat is what procStat reads of /proc/<pid>/stat.
type stat struct {
	ppid     int
	cpu      time.Duration // user + system
	children time.Duration // of the children it waited for (cutime + cstime)
}

func procStat(pid string) (stat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return stat{}, false
	}
	// The command name (field 2) may hold spaces: count fields after its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return stat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	return stat{
		ppid:     int(n(1)),           // field 4
		cpu:      tick(n(11) + n(12)), // fields 14, 15
		children: tick(n(13) + n(14)), // fields 16, 17
	}, true
}

// treeCPU is the CPU time of process pid and its children (a PostgreSQL postmaster and its
// backends), those that exited included; 0 when pid is 0 or /proc is missing.
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	root, ok := procStat(strconv.Itoa(pid))
	if !ok {
		return 0
	}
	total := root.cpu + root.children
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return total
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if st, ok := procStat(e.Name()); ok && st.ppid == pid {
			total += st.cpu
		}
	}
	return total
}

// memory is ProcessMemory of pid ("self" or a number), 0 where /proc is missing.
func memory(pid string) (rss, hwm uint64) {
	rss, hwm, _ = processMemory(pid)
	return rss, hwm
}

// ProcessMemory is the resident set size of process pid and its high-water mark (VmRSS
// and VmHWM of /proc/<pid>/status), in bytes.
func ProcessMemory(pid int) (rss, hwm uint64, err error) { return processMemory(strconv.Itoa(pid)) }

func processMemory(pid string) (rss, hwm uint64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("process memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("process memory: %s of %s: %w", k, pid, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("process memory: no VmRSS in /proc/%s/status", pid)
	}
	return rss, hwm, nil
}
