package load

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/self/stat's CPU times (100 on Linux).
const clockTicks = 100

// sampler samples this process's RSS every interval; CPU time is read on demand.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	max    uint64
	last   uint64
}

func startSampler(ctx context.Context, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{cancel: cancel, done: make(chan struct{})}
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
	r := rss()
	s.mu.Lock()
	s.last, s.max = r, max(s.max, r)
	s.mu.Unlock()
}

func (s *sampler) stop() {
	s.cancel()
	<-s.done
	s.sample()
}

// rss returns the largest and the last sample, in bytes.
func (s *sampler) rss() (maxRSS, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.last
}

// cpu is the process's CPU time so far (user + system), 0 where /proc is missing.
func (s *sampler) cpu() time.Duration { return processCPU() }

func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count fields after its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// rss is the process's resident set size in bytes, 0 where /proc is missing.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
