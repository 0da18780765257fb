package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/garo-dev/garo/server/webhook"
)

// firstJobID numbers our jobs far from the simulator's own.
const firstJobID = 1_000_000_000

var deliverySeq atomic.Int64

// started is a runner that took its job: GitHub's side sends in_progress now and
// completed after o.Work.
type started struct {
	agent    *agent
	job      jobRef
	runner   string
	runnerID int64
}

// jobRef is what the deliveries of a job need.
type jobRef struct {
	ID         int64
	Repository string
	Labels     []string
}

// send sends o.Rate jobs per second (plus o.Hosted hosted ones each) until window ends
// and waits for the deliveries in flight; they run on ctx, so that the end of the window
// cuts none short.
func (e *env) send(window, ctx context.Context) {
	sem := make(chan struct{}, senders)
	var wg sync.WaitGroup
	defer wg.Wait()
	if e.o.Senders > 0 {
		e.saturate(window, ctx)
		return
	}
	if e.o.Rate <= 0 {
		<-window.Done()
		return
	}
	t := time.NewTicker(sendTick)
	defer t.Stop()
	start := time.Now()
	var jobs, hosted int64
	next := int64(firstJobID)
	for {
		select {
		case <-window.Done():
			return
		case <-t.C:
		}
		el := time.Since(start).Seconds()
		// A full sem blocks spawn: the window is checked at each job, so that a server that
		// falls behind is not sent the backlog after the window.
		for ; float64(jobs) < el*e.o.Rate && window.Err() == nil; jobs++ {
			next++
			ri := int(next) % len(e.repos)
			ls := e.labels[ri]
			j := jobRef{ID: next, Repository: e.repos[ri], Labels: []string{"self-hosted", ls[int(next/int64(len(e.repos)))%len(ls)]}}
			e.spawn(ctx, sem, &wg, func() { e.sendQueued(ctx, j) })
		}
		for ; float64(hosted) < el*e.o.Rate*e.o.Hosted && window.Err() == nil; hosted++ {
			next++
			j := jobRef{ID: next, Repository: e.repos[int(next)%len(e.repos)], Labels: []string{"ubuntu-latest"}}
			e.spawn(ctx, sem, &wg, func() { e.sendHosted(ctx, j) })
		}
	}
}

// saturate runs o.Senders closed-loop senders until window ends. Each sends a new matched
// job's deliveries as GitHub sends them, one after the other: queued, in_progress (a
// runner of GitHub's own took it) and completed. So the open jobs stay about as many as
// the senders, as in a steady organisation, and every delivery answered counts.
func (e *env) saturate(window, ctx context.Context) {
	var next atomic.Int64
	next.Store(firstJobID)
	var wg sync.WaitGroup
	for range e.o.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for window.Err() == nil {
				id := next.Add(1)
				ri := int(id) % len(e.repos)
				j := jobRef{ID: id, Repository: e.repos[ri], Labels: []string{"self-hosted", e.labels[ri][0]}}
				if !e.sendQueued(ctx, j) {
					continue
				}
				runner := fmt.Sprintf("load-runner-%d", id)
				if e.deliver(ctx, j, "in_progress", runner, id) && e.deliver(ctx, j, "completed", runner, id) {
					e.rec.completed(j.ID, time.Now())
				}
			}
		}()
	}
	wg.Wait()
}

func (e *env) spawn(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup, f func()) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-sem }()
		f()
	}()
}

// sendQueued sends j's queued delivery and records when it was sent and answered; false
// when it failed.
func (e *env) sendQueued(ctx context.Context, j jobRef) bool {
	t0 := time.Now()
	e.rec.sent(j.ID, t0)
	if !e.deliver(ctx, j, "queued", "", 0) {
		return false
	}
	e.rec.answered(j.ID, time.Now())
	return true
}

// sendHosted sends the three deliveries of a job that no policy matches.
func (e *env) sendHosted(ctx context.Context, j jobRef) {
	for _, action := range []string{"queued", "in_progress", "completed"} {
		if !e.deliver(ctx, j, action, "GitHub Actions 2", 2) {
			return
		}
	}
}

// jobStarted sends in_progress for the runner's job now and completed after o.Work, then
// lets the agent remove the runner. It outlives the sending window (the drain waits).
func (e *env) jobStarted(ctx context.Context, s started) {
	if !e.deliver(ctx, s.job, "in_progress", s.runner, s.runnerID) {
		return
	}
	time.AfterFunc(e.o.Work, func() {
		ok := e.deliver(ctx, s.job, "completed", s.runner, s.runnerID)
		s.agent.finished(ctx, s)
		if ok {
			e.rec.completed(s.job.ID, time.Now())
		}
	})
}

// deliver posts one signed workflow_job delivery and records its answer time; false
// when it failed.
func (e *env) deliver(ctx context.Context, j jobRef, action, runner string, runnerID int64) bool {
	body := payload(j, action, runner, runnerID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.hub.ServerURL+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		e.rec.fail(ctx, "delivery", err)
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_job")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("load-%d-%d", time.Now().UnixNano(), deliverySeq.Add(1)))
	req.Header.Set("X-Hub-Signature-256", webhook.Sign(body, []byte(e.secret)))
	t0 := time.Now()
	resp, err := e.http.Do(req)
	if err != nil {
		e.rec.fail(ctx, "delivery", err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.rec.answer(time.Since(t0))
	if resp.StatusCode/100 != 2 {
		e.rec.fail(ctx, "delivery", fmt.Errorf("%s of job %d: status %d", action, j.ID, resp.StatusCode))
		return false
	}
	return true
}

// payload is a workflow_job delivery as GitHub sends it to a GitHub App, reduced to the
// fields garo-server reads ("workflow_job" event payload:
// https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job).
func payload(j jobRef, action, runner string, runnerID int64) []byte {
	owner, name, _ := strings.Cut(j.Repository, "/")
	wj := map[string]any{
		"id": j.ID, "run_id": j.ID, "run_attempt": 1, "name": "build", "workflow_name": "CI", "labels": j.Labels,
		"status": action, "html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", j.Repository, j.ID, j.ID),
		"created_at": time.Now().UTC().Format(time.RFC3339), "runner_name": nil, "runner_id": nil,
	}
	if runner != "" {
		wj["runner_name"], wj["runner_id"] = runner, runnerID
	}
	if action == "completed" {
		wj["conclusion"] = "success"
	}
	b, _ := json.Marshal(map[string]any{
		"action": action, "workflow_job": wj,
		"repository":   map[string]any{"id": 1, "name": name, "full_name": j.Repository, "owner": map[string]any{"login": owner}},
		"installation": map[string]any{"id": 1},
	})
	return b
}
