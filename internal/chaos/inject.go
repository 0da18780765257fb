package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// inject carries out one fault and returns when it is over (a window has ended, a
// killed process is back).
func (e *env) inject(ctx context.Context, tr *tracker, f *faultRun) error {
	switch f.Kind {
	case KillReplica:
		e.servers[0].kill9()
		sleep(ctx, f.For)
		return e.restartServer(ctx, 0)
	case KillAgent:
		e.agent.kill9()
		sleep(ctx, f.For)
		return e.agent.start()
	case PGRestart:
		return e.pg.Restart(ctx)
	case GitHub5xx, GitHub429:
		fault := map[string]any{"status": 502, "path_prefix": "/api/v3/", "for": f.For.String()}
		if f.Kind == GitHub429 {
			fault = map[string]any{"status": 429, "retry_after": "2s", "path_prefix": "/api/v3/", "for": f.For.String()}
		}
		if err := e.simPost(ctx, "/_sim/faults", fault); err != nil {
			return err
		}
		sleep(ctx, f.For)
		return nil
	case LoseCompleted:
		if err := e.simPost(ctx, "/_sim/webhooks/lose", map[string]any{"action": "completed", "for": f.For.String()}); err != nil {
			return err
		}
		sleep(ctx, f.For)
		// The jobs GitHub completed in the window: their completions were lost.
		tr.mu.Lock()
		var lost []int64
		for id, j := range tr.jobs {
			if j.status == "completed" && !j.changed.Before(f.start) {
				lost = append(lost, id)
			}
		}
		tr.mu.Unlock()
		f.lost = len(lost)
		e.watching.Add(1)
		go func() {
			defer e.watching.Done()
			e.watchRepair(ctx, tr, f, lost)
		}()
		return nil
	case RmBusy, RmIdle:
		return e.removeRunner(ctx, tr, f.Kind == RmBusy)
	case Outage:
		e.servers[0].kill9()
		e.servers[1].kill9()
		tr.mu.Lock()
		tr.outageStart = time.Now()
		for id, j := range tr.jobs {
			if !j.started.IsZero() && !j.done {
				tr.inFlight = append(tr.inFlight, id)
			}
		}
		tr.mu.Unlock()
		for range e.o.OutageJobs {
			if err := e.queueJob(ctx, tr, true); err != nil {
				return err
			}
		}
		sleep(ctx, f.For)
		// Both start at once, as after a shared outage; the return is the first answer.
		for _, s := range e.servers {
			if err := s.start(); err != nil {
				return err
			}
		}
		up := make(chan error, 2)
		for i := range e.servers {
			go func() { up <- e.waitHTTP(ctx, e.replicaURL(i)) }()
		}
		err := <-up
		back := time.Now()
		tr.mu.Lock()
		tr.outageBack = back
		tr.mu.Unlock()
		e.watching.Add(1)
		go func() {
			defer e.watching.Done()
			e.watchJobLog(ctx, tr, back)
		}()
		return errors.Join(err, <-up)
	}
	return fmt.Errorf("unknown fault %q", f.Kind)
}

func (e *env) restartServer(ctx context.Context, i int) error {
	if err := e.servers[i].start(); err != nil {
		return err
	}
	return e.waitHTTP(ctx, e.replicaURL(i))
}

// simPost posts one of the simulator's fault routes, which answer 201.
func (e *env) simPost(ctx context.Context, path string, body map[string]any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.simURL+path, bytes.NewReader(b))
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d", path, resp.StatusCode)
	}
	return nil
}

// removeRunner force-removes one running container whose runner has a job (busy) or has
// none (idle), as an operator's `docker rm -f` would.
func (e *env) removeRunner(ctx context.Context, tr *tracker, busy bool) error {
	// Up to 5 s for a fitting container to exist.
	for until := time.Now().Add(5 * time.Second); time.Now().Before(until); sleep(ctx, samplePeriod) {
		tr.mu.Lock()
		var id, name string
		for key, state := range tr.names {
			n, cid, _ := strings.Cut(key, "\x00")
			if state == "running" && tr.busy[n] == busy {
				id, name = cid, n
				break
			}
		}
		tr.mu.Unlock()
		if id == "" {
			continue
		}
		if err := e.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			tr.mu.Lock()
			delete(tr.names, name+"\x00"+id) // gone (or going: 409) by itself since the sample: pick another
			tr.mu.Unlock()
			continue
		} else if err != nil {
			return fmt.Errorf("docker rm -f %s: %w", name, err)
		}
		return nil
	}
	return errors.New("no fitting runner container within 5 s")
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
