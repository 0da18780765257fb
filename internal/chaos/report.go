package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is the end table of a run.
type Report struct {
	Jobs, Completed, Failed, Lost, RunTwice int
	PeakRunners, MaxRunners                 int
	PeakContainers                          int // exited ones not yet removed too
	PeakAt                                  time.Duration
	PeakStates                              string
	OrphanContainers, OrphanRegistrations   int
	Duration, Settling                      time.Duration
	Samples, SampleErrors                   int
	Faults                                  []FaultResult
	// OutageWorst is the longest time from the replicas' return to a runner taking a job
	// queued during the outage (0: no outage in the schedule).
	OutageWorst time.Duration
	OutageJobs  int
	// OutageLogged is the time from the return until the server's job log listed every
	// job queued during the outage (0: not within 5 minutes).
	OutageLogged time.Duration
	// OutageFirst is the time from the return to the first job taken by a runner after
	// it (any job: the queue is served oldest first), Garo's own recovery; OutageBacklog
	// the jobs queued before the outage and not taken yet at the return, which the jobs
	// queued during it wait behind when there are more than max_runners of them.
	OutageFirst   time.Duration
	OutageBacklog int
	Logs          []LogRate
	RSS           map[string]int64 // peak, bytes, by process
}

// FaultResult is one fault: how long it lasted and how long until a job started after it.
type FaultResult struct {
	Kind     string
	At       time.Duration
	Lasted   time.Duration
	Recovery time.Duration // -1: no job was waiting
	Note     string
}

// LogRate is one message of one process's log.
type LogRate struct {
	Proc, Msg string
	Lines     int
	PerSecond float64 // over the run
	PeakSec   int     // most lines in one second
}

func (e *env) report(tr *tracker, faults []*faultRun, t0, jobsDone, settled time.Time) *Report {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := &Report{Jobs: len(tr.jobs), PeakRunners: tr.peak, PeakContainers: tr.peakAll, PeakAt: tr.peakAt.Sub(t0), PeakStates: tr.peakStates, MaxRunners: e.o.MaxRunners,
		Duration: jobsDone.Sub(t0), Settling: settled.Sub(jobsDone), Samples: tr.samples, SampleErrors: tr.sampleErr,
		RSS: map[string]int64{}}
	outageEnd := tr.outageBack
	r.OutageLogged = tr.outageLogged
	for _, j := range tr.jobs {
		switch {
		case !j.done:
			r.Lost++
		case j.conclusion == "success":
			r.Completed++
		default:
			r.Failed++
		}
		if len(j.runners) > 1 {
			r.RunTwice++
		}
		if !j.outage && !outageEnd.IsZero() && j.queued.Before(outageEnd) && (j.started.IsZero() || j.started.After(outageEnd)) {
			r.OutageBacklog++
		}
		if !outageEnd.IsZero() && !j.started.IsZero() && !j.started.Before(outageEnd) && (r.OutageFirst == 0 || j.started.Sub(outageEnd) < r.OutageFirst) {
			r.OutageFirst = j.started.Sub(outageEnd)
		}
		if j.outage {
			r.OutageJobs++
			if !j.started.IsZero() {
				r.OutageWorst = max(r.OutageWorst, j.started.Sub(outageEnd))
			} else {
				r.OutageWorst = max(r.OutageWorst, settled.Sub(outageEnd))
			}
		}
	}
	for _, f := range faults {
		fr := FaultResult{Kind: f.Kind, At: f.start.Sub(t0), Lasted: f.end.Sub(f.start), Recovery: -1, Note: f.note}
		var next time.Time
		for _, j := range tr.jobs {
			if !j.started.IsZero() && !j.started.Before(f.end) && (next.IsZero() || j.started.Before(next)) {
				next = j.started
			}
		}
		if !next.IsZero() {
			fr.Recovery = next.Sub(f.end)
		}
		r.Faults = append(r.Faults, fr)
	}
	for _, p := range e.procs() {
		r.RSS[p.name] = p.rss()
		r.Logs = append(r.Logs, logRates(p.name, p.log, settled.Sub(t0))...)
	}
	slices.SortFunc(r.Logs, func(a, b LogRate) int { return b.Lines - a.Lines })
	return r
}

// logRates counts a text log's lines by msg, and the most of one msg in one second.
func logRates(name, path string, over time.Duration) []LogRate {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }() // read only
	type count struct {
		lines int
		bySec map[string]int
	}
	counts := map[string]*count{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		msg := field(line, "msg")
		if msg == "" {
			continue
		}
		c := counts[msg]
		if c == nil {
			c = &count{bySec: map[string]int{}}
			counts[msg] = c
		}
		c.lines++
		if ts := field(line, "time"); len(ts) >= 19 {
			c.bySec[ts[:19]]++
		}
	}
	var out []LogRate
	for msg, c := range counts {
		peak := 0
		for _, n := range c.bySec {
			peak = max(peak, n)
		}
		out = append(out, LogRate{Proc: name, Msg: msg, Lines: c.lines, PerSecond: float64(c.lines) / max(over.Seconds(), 1), PeakSec: peak})
	}
	return out
}

// field reads key=value or key="quoted value" of a logfmt line.
func field(line, key string) string {
	i := strings.Index(line, key+"=")
	if i < 0 || (i > 0 && line[i-1] != ' ') {
		return ""
	}
	v := line[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		if j := strings.Index(v[1:], `"`); j >= 0 {
			return v[1 : j+1]
		}
		return v[1:]
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return v[:j]
	}
	return v
}

// Check fails a run with a lost or twice-run job, a peak above max or an orphan.
func (r *Report) Check() error {
	var errs []error
	if r.Lost > 0 {
		errs = append(errs, fmt.Errorf("%d of %d jobs lost (never completed)", r.Lost, r.Jobs))
	}
	if r.RunTwice > 0 {
		errs = append(errs, fmt.Errorf("%d jobs run by more than one runner", r.RunTwice))
	}
	if r.PeakRunners > r.MaxRunners {
		errs = append(errs, fmt.Errorf("peak %d runners above max_runners %d", r.PeakRunners, r.MaxRunners))
	}
	if r.OrphanContainers != 0 || r.OrphanRegistrations != 0 {
		errs = append(errs, fmt.Errorf("orphans after settling: %d containers, %d GitHub registrations (-1: could not count)", r.OrphanContainers, r.OrphanRegistrations))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

func (r *Report) write(w io.Writer) {
	fmt.Fprintf(w, "\n| result | value |\n|---|---|\n")
	fmt.Fprintf(w, "| jobs | %d (%d queued during the outage) |\n", r.Jobs, r.OutageJobs)
	fmt.Fprintf(w, "| completed: success / failure (runner killed) | %d / %d |\n", r.Completed, r.Failed)
	fmt.Fprintf(w, "| lost | %d |\n| run twice | %d |\n", r.Lost, r.RunTwice)
	fmt.Fprintf(w, "| peak runners (containers created or running) / max_runners | %d / %d (at %s: %s) |\n", r.PeakRunners, r.MaxRunners, r.PeakAt.Round(100*time.Millisecond), r.PeakStates)
	fmt.Fprintf(w, "| peak containers, exited ones not yet removed too | %d |\n", r.PeakContainers)
	fmt.Fprintf(w, "| orphans after settling: containers / registrations | %d / %d (settled in %s) |\n", r.OrphanContainers, r.OrphanRegistrations, r.Settling.Round(100*time.Millisecond))
	fmt.Fprintf(w, "| all jobs done after | %s |\n", r.Duration.Round(100*time.Millisecond))
	fmt.Fprintf(w, "| samples (every 250 ms) / failed | %d / %d |\n", r.Samples, r.SampleErrors)
	if r.OutageJobs > 0 {
		fmt.Fprintf(w, "| outage: from the return until the job log lists every job queued during it | %s |\n", r.OutageLogged.Round(100*time.Millisecond))
		fmt.Fprintf(w, "| outage: from the return to the first job taken by a runner (Garo's recovery) | %s |\n", r.OutageFirst.Round(10*time.Millisecond))
		fmt.Fprintf(w, "| outage: jobs queued before it and not taken at the return (the backlog) / max_runners | %d / %d |\n", r.OutageBacklog, r.MaxRunners)
		fmt.Fprintf(w, "| outage: worst time from the return to a runner on a job queued during it (%s) | %s |\n", behind(r), r.OutageWorst.Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "\n| at | fault | lasted | next job started after it |\n|---|---|---|---|\n")
	for _, f := range r.Faults {
		rec := "no job waiting"
		if f.Recovery >= 0 {
			rec = f.Recovery.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s |\n", f.At.Round(100*time.Millisecond), f.Kind, noteOf(f.Note), f.Lasted.Round(10*time.Millisecond), rec)
	}
	fmt.Fprintf(w, "\n| process | message | lines | lines/s | peak lines in 1 s |\n|---|---|---|---|---|\n")
	for _, l := range r.Logs[:min(len(r.Logs), 12)] {
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %d |\n", l.Proc, l.Msg, l.Lines, l.PerSecond, l.PeakSec)
	}
	names := make([]string, 0, len(r.RSS))
	for n := range r.RSS {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "\n| process | peak RSS |\n|---|---|\n")
	for _, n := range names {
		fmt.Fprintf(w, "| %s | %.1f MiB |\n", n, float64(r.RSS[n])/(1<<20))
	}
}

// behind says whether the outage's jobs waited behind a backlog larger than max_runners:
// then their wait is the queue's (oldest first), not the recovery's, and the 15 s target
// applies to OutageFirst.
func behind(r *Report) string {
	if r.OutageBacklog >= r.MaxRunners {
		return fmt.Sprintf("behind a backlog of %d at max_runners %d: bounded by capacity", r.OutageBacklog, r.MaxRunners)
	}
	return "target 15 s"
}
