package load

import (
	"context"
	"sync"
	"time"

	"github.com/garo-dev/garo/shared/protocol"
)

// jobTimes are the moments of one job of ours.
type jobTimes struct {
	sent, answered, offered, minted, completed time.Time
}

// recorder collects what a run measures. Safe for concurrent use.
type recorder struct {
	mu         sync.Mutex
	jobs       map[int64]*jobTimes
	answers    []time.Duration // every delivery's answer time
	heartbeats []time.Duration // every heartbeat's round trip
	failures   map[string]int  // by kind: delivery, credentials, ...
	lastErr    map[string]string
	removals   int
	// policy changes: the version a change was sent at, and when each agent saw a new one
	changeAt   time.Time
	changeRepo string
	changeSeen []time.Duration
}

func newRecorder() *recorder {
	return &recorder{jobs: map[int64]*jobTimes{}, failures: map[string]int{}, lastErr: map[string]string{}}
}

func (r *recorder) job(id int64) *jobTimes {
	j := r.jobs[id]
	if j == nil {
		j = &jobTimes{}
		r.jobs[id] = j
	}
	return j
}

func (r *recorder) sent(id int64, at time.Time) {
	r.mu.Lock()
	r.job(id).sent = at
	r.mu.Unlock()
}

func (r *recorder) answered(id int64, at time.Time) {
	r.mu.Lock()
	r.job(id).answered = at
	r.mu.Unlock()
}

func (r *recorder) offered(id int64, at time.Time) {
	r.mu.Lock()
	if j := r.jobs[id]; j != nil && j.offered.IsZero() {
		j.offered = at
	}
	r.mu.Unlock()
}

func (r *recorder) minted(id int64, at time.Time) {
	r.mu.Lock()
	if j := r.jobs[id]; j != nil {
		j.minted = at
	}
	r.mu.Unlock()
}

func (r *recorder) completed(id int64, at time.Time) {
	r.mu.Lock()
	if j := r.jobs[id]; j != nil {
		j.completed = at
	}
	r.mu.Unlock()
}

func (r *recorder) answer(d time.Duration) {
	r.mu.Lock()
	r.answers = append(r.answers, d)
	r.mu.Unlock()
}

func (r *recorder) heartbeat(d time.Duration) {
	r.mu.Lock()
	r.heartbeats = append(r.heartbeats, d)
	r.mu.Unlock()
}

func (r *recorder) removed() {
	r.mu.Lock()
	r.removals++
	r.mu.Unlock()
}

// fail counts a failed call; the end of the run (a cancelled context) is no failure.
func (r *recorder) fail(ctx context.Context, kind string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	r.failures[kind]++
	r.lastErr[kind] = err.Error()
	r.mu.Unlock()
}

// policyChanged marks the moment a policy of repo was changed.
func (r *recorder) policyChanged(repo string, at time.Time) {
	r.mu.Lock()
	r.changeAt, r.changeRepo = at, repo
	r.mu.Unlock()
}

// configArrived records, after a policy change, when the agent owning its repository saw
// a new configuration.
func (r *recorder) configArrived(_ *agent, cfg protocol.Config, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changeAt.IsZero() {
		return
	}
	for _, repo := range cfg.Repositories {
		if repo == r.changeRepo {
			r.changeSeen = append(r.changeSeen, at.Sub(r.changeAt))
			r.changeAt = time.Time{}
			return
		}
	}
}

// changeDone reports whether the last policy change was seen.
func (r *recorder) changeDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changeAt.IsZero()
}
