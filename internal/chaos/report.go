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
	// The outage (zero values: none in the schedule). The return is when the first
	// replica answered again. OutageWaiting is the jobs not taken by a runner at the
	// return (the burst's backlog and the outage's own); capacity is to spare when they
	// are no more than max_runners, and the recovery targets apply to every job.
	OutageJobs    int
	OutageWaiting int
	// OutageFirst: from the return to the first job a runner took after it (any job).
	OutageFirst time.Duration
	// OutageWorst: the longest time from the return to a runner on a job queued during
	// the outage (0 for one an idle runner took while the replicas were down).
	OutageWorst time.Duration
	// OutageLogged: from the return until the job log listed every job queued during it;
	// OutageLogLag: the longest the log disagreed with GitHub about a job the outage
	// concerns (queued during it, or a runner had it at its start), counted from the
	// return for what changed at GitHub while no replica was up.
	OutageLogged, OutageLogLag time.Duration
	// AgentBack: from the return to the agent's first call a replica answered (-1: none).
	AgentBack  time.Duration
	OutageRows []OutageRow
	// LogWrong is the jobs whose entry in the job log disagreed with GitHub (missing, or
	// another status, runner or conclusion) after settling; LogWrongFirst describes one.
	LogWrong      int
	LogWrongFirst string
	Targets       bool // Check applies the recovery targets
	Logs          []LogRate
	RSS           map[string]int64 // peak, bytes, by process
}

// OutageRow is one job the outage concerns.
type OutageRow struct {
	ID     int64
	Outage bool // queued during it; else a runner had it at its start
	// Runner: from the return to a runner taking it (0: taken before the return); -1: never.
	Runner time.Duration
	Listed time.Duration // from the return until the job log listed it; -1: never
	LogLag time.Duration // the longest the log disagreed with GitHub about it
}

// FaultResult is one fault: how long it lasted and how long until a job started after it.
type FaultResult struct {
	Kind     string
	At       time.Duration
	Lasted   time.Duration
	Recovery time.Duration // -1: no job was waiting
	Note     string
	// LoseCompleted: completions lost, and from the window's end until the job log
	// agreed with GitHub about each (-1: not within 5 minutes).
	Lost     int
	Repaired time.Duration
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
	r.Targets = e.o.Targets
	r.AgentBack = -1
	if !outageEnd.IsZero() && !tr.agentCall.IsZero() {
		r.AgentBack = max(tr.agentCall.Sub(outageEnd), 0)
	}
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
		if outageEnd.IsZero() {
			continue
		}
		if j.queued.Before(outageEnd) && (j.started.IsZero() || j.started.After(outageEnd)) {
			r.OutageWaiting++
		}
		if !j.started.IsZero() && !j.started.Before(outageEnd) && (r.OutageFirst == 0 || j.started.Sub(outageEnd) < r.OutageFirst) {
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
	for _, w := range tr.watched {
		j := tr.jobs[w.id]
		row := OutageRow{ID: w.id, Outage: w.outage, Runner: -1, Listed: w.listed, LogLag: w.lag}
		if !j.started.IsZero() {
			row.Runner = max(j.started.Sub(outageEnd), 0)
		}
		if w.outage {
			if w.listed < 0 {
				r.OutageLogged = -1
			} else if r.OutageLogged >= 0 {
				r.OutageLogged = max(r.OutageLogged, w.listed)
			}
		}
		r.OutageLogLag = max(r.OutageLogLag, w.lag)
		r.OutageRows = append(r.OutageRows, row)
	}
	for _, f := range faults {
		fr := FaultResult{Kind: f.Kind, At: f.start.Sub(t0), Lasted: f.end.Sub(f.start), Recovery: -1, Note: f.note}
		if f.Kind == LoseCompleted && f.note == "" {
			fr.Lost, fr.Repaired = f.lost, f.repaired
			fr.Note = fmt.Sprintf("%d lost; the job log agreed with GitHub %s after the window", f.lost, dur(f.repaired, 100*time.Millisecond))
		}
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
	if r.LogWrong != 0 {
		errs = append(errs, fmt.Errorf("the job log disagrees with GitHub about %d jobs after settling (-1: could not read it), e.g. %s", r.LogWrong, r.LogWrongFirst))
	}
	if r.Targets {
		errs = append(errs, r.checkTargets()...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

// checkTargets holds the outage to issue 14's recovery targets; they apply only when
// capacity was to spare at the return.
func (r *Report) checkTargets() []error {
	var errs []error
	switch {
	case r.OutageJobs == 0:
		return []error{errors.New("recovery targets: no outage in the schedule")}
	case r.OutageWaiting > r.MaxRunners:
		return []error{fmt.Errorf("recovery targets: %d jobs waiting at the return, above max_runners %d: capacity, not recovery, bounds their wait", r.OutageWaiting, r.MaxRunners)}
	}
	if r.AgentBack < 0 || r.AgentBack > AgentBackTarget {
		errs = append(errs, fmt.Errorf("the agent was back %s after the return (-1: never), target %s", r.AgentBack, AgentBackTarget))
	}
	if r.OutageWorst > RunnerTarget {
		errs = append(errs, fmt.Errorf("a job queued during the outage got a runner %s after the return, target %s", r.OutageWorst, RunnerTarget))
	}
	if r.OutageLogged < 0 || r.OutageLogLag > LogTarget {
		errs = append(errs, fmt.Errorf("the job log disagreed with GitHub up to %s after the return (listed every outage job: %s, -1: never), target %s", r.OutageLogLag, r.OutageLogged, LogTarget))
	}
	return errs
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
	fmt.Fprintf(w, "| job log after settling: jobs disagreeing with GitHub | %d%s |\n", r.LogWrong, noteOf(r.LogWrongFirst))
	if r.OutageJobs > 0 {
		fmt.Fprintf(w, "| outage: jobs waiting for a runner at the return (the burst's backlog and the outage's own) / max_runners | %d / %d (%s) |\n", r.OutageWaiting, r.MaxRunners, capacity(r))
		fmt.Fprintf(w, "| outage: from the return to the agent's first call answered (target %s) | %s |\n", AgentBackTarget, dur(r.AgentBack, 10*time.Millisecond))
		fmt.Fprintf(w, "| outage: from the return to the first job taken by a runner | %s |\n", r.OutageFirst.Round(10*time.Millisecond))
		fmt.Fprintf(w, "| outage: worst time from the return to a runner on a job queued during it (target %s when capacity is to spare) | %s |\n", RunnerTarget, r.OutageWorst.Round(100*time.Millisecond))
		fmt.Fprintf(w, "| outage: from the return until the job log lists every job queued during it | %s |\n", dur(r.OutageLogged, 100*time.Millisecond))
		fmt.Fprintf(w, "| outage: longest the job log disagreed with GitHub about a job the outage concerns (target %s) | %s |\n", LogTarget, r.OutageLogLag.Round(100*time.Millisecond))
	}
	if len(r.OutageRows) > 0 && len(r.OutageRows) <= 50 {
		fmt.Fprintf(w, "\n| job | outage | runner after the return | listed in the log after the return | longest the log disagreed |\n|---|---|---|---|---|\n")
		for _, o := range r.OutageRows {
			kind := "queued during it"
			if !o.Outage {
				kind = "running at its start"
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", o.ID, kind, dur(o.Runner, 10*time.Millisecond), dur(o.Listed, 10*time.Millisecond), o.LogLag.Round(10*time.Millisecond))
		}
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

// capacity says whether the jobs waiting at the outage's return could all get a runner at
// once: then the recovery targets apply to each; else the queue (oldest first) bounds the
// outage's jobs' wait and the targets apply to the first job taken.
func capacity(r *Report) string {
	if r.OutageWaiting > r.MaxRunners {
		return "above max_runners: the outage's jobs wait behind the backlog, bounded by capacity"
	}
	return "capacity to spare: every job has a runner at once"
}

// dur rounds d; a negative d is "never".
func dur(d, round time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(round).String()
}
