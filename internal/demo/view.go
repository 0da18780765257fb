package demo

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// view is the demo's terminal output: event lines that scroll, and below them one status
// line. On a terminal (live) the status line is redrawn in place; otherwise it is printed
// as a line of its own when it changed, at most every statusEvery, so that a log file
// stays readable.
type view struct {
	mu         sync.Mutex
	w          io.Writer
	live       bool
	statusNow  string // the current status line
	shown      bool   // live: the status line is on screen
	lastPrint  time.Time
	lastStatus string // not live: the status line last printed
}

const statusEvery = 2 * time.Second

// eraseLine returns the cursor to the start of the line and clears it.
const eraseLine = "\r\x1b[K"

func newView(w io.Writer, live bool) *view { return &view{w: w, live: live} }

// linef prints a line that is not part of the burst's time line.
func (v *view) linef(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.printLocked(fmt.Sprintf(format, args...))
}

// event prints one event of the burst, stamped with the time since the burst began.
func (v *view) event(at time.Duration, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.printLocked(fmt.Sprintf("%7.2fs  ", at.Seconds()) + fmt.Sprintf(format, args...))
}

func (v *view) printLocked(line string) {
	if v.live && v.shown {
		fmt.Fprint(v.w, eraseLine)
	}
	fmt.Fprintln(v.w, line)
	if v.live && v.statusNow != "" {
		fmt.Fprint(v.w, v.statusNow)
		v.shown = true
	} else {
		v.shown = false
	}
}

// status replaces the status line.
func (v *view) status(line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.statusNow = line
	if v.live {
		fmt.Fprint(v.w, eraseLine+line)
		v.shown = true
		return
	}
	if line != v.lastStatus && time.Since(v.lastPrint) >= statusEvery {
		fmt.Fprintln(v.w, line)
		v.lastStatus, v.lastPrint = line, time.Now()
	}
}

// clear removes the status line, before the summary.
func (v *view) clear() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live && v.shown {
		fmt.Fprint(v.w, eraseLine)
	}
	v.statusNow, v.shown = "", false
}
