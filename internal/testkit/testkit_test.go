package testkit_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := testkit.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %s, want %s", got, start)
	}
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Fatalf("after Advance: %s", got)
	}
	fired := <-c.After(5 * time.Second)
	if want := start.Add(time.Minute + 5*time.Second); !fired.Equal(want) || !c.Now().Equal(want) {
		t.Fatalf("After fired %s, Now %s, want %s", fired, c.Now(), want)
	}
	if got := c.Waits(); !slices.Equal(got, []time.Duration{5 * time.Second}) {
		t.Fatalf("Waits = %v", got)
	}
	c.Step(time.Second)
	a, b := c.Now(), c.Now()
	if b.Sub(a) != time.Second {
		t.Fatalf("stepped readings %s, %s", a, b)
	}
}

func TestLogsAreSafeToReadWhileWritten(t *testing.T) {
	t.Parallel()
	log, text := testkit.TextLogs()
	jlog, js := testkit.JSONLogs()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			log.Debug("tick", "n", i)
			jlog.Info("tick", "repo", "acme/api")
			_ = text.String()
		})
	}
	wg.Wait()
	if got := strings.Count(text.String(), "level=DEBUG msg=tick"); got != 4 {
		t.Errorf("text logs hold %d debug records:\n%s", got, text)
	}
	if got := strings.Count(js.String(), `"repo":"acme/api"`); got != 4 {
		t.Errorf("JSON logs hold %d records:\n%s", got, js)
	}
	testkit.Discard().Error("nobody reads this")
}

func TestEventually(t *testing.T) {
	t.Parallel()
	n := 0
	testkit.Eventually(t, time.Second, "three checks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond checked %d times", n)
	}
	// A condition that never holds fails the test, naming what it waited for.
	ft := &fatalT{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testkit.Eventually(ft, 30*time.Millisecond, "a miracle", func() bool { return false })
	}()
	<-done
	if !strings.Contains(ft.msg, "timed out after 30ms waiting for a miracle") {
		t.Fatalf("failure message %q", ft.msg)
	}
}

// fatalT records Fatalf instead of failing the test, and ends the goroutine as Fatalf does.
type fatalT struct {
	*testing.T
	msg string
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
