package chaos

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/protocol"
)

// logWatch follows one job in the server's job log after the outage: when the log first
// listed it, and the longest time the log disagreed with GitHub (the simulator) about it,
// counted from the return for what changed at GitHub while no replica was up.
type logWatch struct {
	id      int64
	outage  bool          // queued during the outage; else a runner had it at its start
	listed  time.Duration // from the return; -1: never listed
	lag     time.Duration // the longest disagreement
	wrongAt time.Time     // since when the log disagrees (zero: it agrees)
	settled bool          // completed at GitHub and so in the log
}

// update takes one sample of the log (l, nil when it does not list the job) against
// GitHub's job at now: a disagreement starts when GitHub's job changed (or at the return
// back, for a change while no replica was up) and ends at the first sample that agrees.
func (w *logWatch) update(now, back time.Time, l *portalapi.Job, sim *jobSeen) {
	if l != nil && w.listed < 0 {
		w.listed = now.Sub(back)
	}
	ok := agrees(l, sim)
	switch {
	case ok && !w.wrongAt.IsZero():
		w.lag = max(w.lag, now.Sub(w.wrongAt))
		w.wrongAt = time.Time{}
	case !ok && w.wrongAt.IsZero():
		w.wrongAt = sim.changed
		if w.wrongAt.Before(back) {
			w.wrongAt = back
		}
	}
	w.settled = sim.status == "completed" && w.wrongAt.IsZero()
}

// rank orders the states a job goes through, so that a log sampled after the simulator
// and already one step further is not taken for a wrong one.
func rank(state string) int {
	switch state {
	case portalapi.JobWaiting, portalapi.JobQueued, portalapi.JobUnmatched:
		return 1
	case portalapi.JobInProgress:
		return 2
	case portalapi.JobCompleted:
		return 3
	}
	return 0
}

// agrees reports whether the log's view of a job is GitHub's: the same status (or a
// later one: the simulator was sampled first), and once the job has a runner or a
// conclusion, the same runner and conclusion.
func agrees(l *portalapi.Job, sim *jobSeen) bool {
	if l == nil || sim.status == "" {
		return false
	}
	lr, sr := rank(l.State), rank(sim.status)
	if lr > sr {
		return true // GitHub moved on between the two samples
	}
	if lr < sr {
		return false
	}
	return l.RunnerName == sim.runner && l.Conclusion == sim.conclusion
}

// watchJobLog samples the server's job log every samplePeriod from the return until it
// agrees with GitHub about every job the outage concerns (those queued during it and
// those a runner had at its start), each completed, or for 5 minutes.
func (e *env) watchJobLog(ctx context.Context, tr *tracker, back time.Time) {
	tr.mu.Lock()
	var ws []*logWatch
	for id, j := range tr.jobs {
		if j.outage {
			ws = append(ws, &logWatch{id: id, outage: true, listed: -1, wrongAt: back})
		}
	}
	for _, id := range tr.inFlight {
		ws = append(ws, &logWatch{id: id, listed: -1, wrongAt: back})
	}
	slices.SortFunc(ws, func(a, b *logWatch) int { return int(a.id - b.id) })
	tr.watched = ws
	since := tr.outageStart
	tr.mu.Unlock()

	for until := back.Add(5 * time.Minute); time.Now().Before(until) && ctx.Err() == nil; sleep(ctx, samplePeriod) {
		log, ok := e.jobLogOf(ctx, ws, since)
		if !ok {
			continue
		}
		now := time.Now()
		tr.mu.Lock()
		left := 0
		for _, w := range ws {
			if w.settled && !w.outage {
				continue // not read again
			}
			w.update(now, back, log[w.id], tr.jobs[w.id])
			if !w.settled {
				left++
			}
		}
		tr.mu.Unlock()
		if left == 0 {
			return
		}
	}
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, w := range ws {
		if !w.wrongAt.IsZero() {
			w.lag = max(w.lag, now.Sub(w.wrongAt))
		}
	}
}

// watchRepair polls the job log every second, from the end of a LoseCompleted window,
// until it agrees with GitHub about every job whose completion was lost (at most 5
// minutes), and records how long that took in f.
func (e *env) watchRepair(ctx context.Context, tr *tracker, f *faultRun, ids []int64) {
	from := time.Now()
	left := map[int64]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for until := from.Add(5 * time.Minute); len(left) > 0; sleep(ctx, time.Second) {
		if !time.Now().Before(until) || ctx.Err() != nil {
			tr.mu.Lock()
			f.repaired = -1
			tr.mu.Unlock()
			return
		}
		for id := range left {
			j, err := e.portal.GetJob(ctx, e.repo, id)
			if err != nil {
				continue
			}
			tr.mu.Lock()
			ok := agrees(j, tr.jobs[id]) && rank(j.State) == rank(tr.jobs[id].status)
			tr.mu.Unlock()
			if ok {
				delete(left, id)
			}
		}
	}
	tr.mu.Lock()
	f.repaired = time.Since(from)
	tr.mu.Unlock()
}

// jobLogOf reads the log's entries of the watched jobs: those queued during the outage
// in one listing (Garo received them after since), the others one by one.
func (e *env) jobLogOf(ctx context.Context, ws []*logWatch, since time.Time) (map[int64]*portalapi.Job, bool) {
	out := map[int64]*portalapi.Job{}
	q := client.JobQuery{Since: since, Limit: 500}
	for {
		list, err := e.portal.ListRepoJobs(ctx, e.repo, q)
		if err != nil {
			return nil, false
		}
		for i := range list.Items {
			out[list.Items[i].ID] = &list.Items[i]
		}
		if list.NextCursor == "" {
			break
		}
		q.Cursor = list.NextCursor
	}
	for _, w := range ws {
		if w.outage || w.settled || out[w.id] != nil {
			continue // settled: completed at GitHub and so in the log, for good
		}
		j, err := e.portal.GetJob(ctx, e.repo, w.id)
		if err != nil && !client.IsNotFound(err) {
			return nil, false
		}
		if err == nil {
			out[w.id] = j
		}
	}
	return out, true
}

// logDisagreements compares the whole job log with GitHub once every job is done and
// the system settled: the jobs whose entry is missing or disagrees (status, runner,
// conclusion). It tries for up to 30 s, as redelivered completions may still be coming.
func (e *env) logDisagreements(ctx context.Context, tr *tracker) (wrong int, first string) {
	for until := time.Now().Add(30 * time.Second); ; sleep(ctx, time.Second) {
		log := map[int64]*portalapi.Job{}
		failed := false
		for j, err := range e.portal.AllRepoJobs(ctx, e.repo, client.JobQuery{Limit: 500}) {
			if err != nil {
				failed = true
				break
			}
			log[j.ID] = &j
		}
		wrong, first = 0, ""
		if failed {
			wrong, first = -1, "the job log could not be read"
		} else {
			tr.mu.Lock()
			for id, sim := range tr.jobs {
				if l := log[id]; l == nil || rank(l.State) != rank(sim.status) || !agrees(l, sim) {
					wrong++
					if first == "" {
						first = describe(id, l, sim)
					}
				}
			}
			tr.mu.Unlock()
		}
		if wrong == 0 || !time.Now().Before(until) || ctx.Err() != nil {
			return wrong, first
		}
	}
}

func describe(id int64, l *portalapi.Job, sim *jobSeen) string {
	g := "GitHub " + sim.status + " " + sim.runner + " " + sim.conclusion
	if l == nil {
		return "job " + strconv.FormatInt(id, 10) + ": not in the log; " + g
	}
	return "job " + strconv.FormatInt(id, 10) + ": log " + l.State + " " + l.RunnerName + " " + l.Conclusion + "; " + g
}

// observe is the proxy's report of a request a replica answered: the agent's first call
// answered after the outage began is when it is back.
func (e *env) observe(r *http.Request, arrived time.Time, status int) {
	if !strings.HasPrefix(r.URL.Path, protocol.PathPrefix) || status >= 500 {
		return
	}
	tr := e.tr.Load()
	if tr == nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !tr.outageStart.IsZero() && tr.agentCall.IsZero() && arrived.After(tr.outageStart) {
		tr.agentCall = arrived
	}
}
