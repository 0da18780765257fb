package githubsim_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	tok := e.installationToken(t, repo.InstallationID, nil) // spends one call
	gh := e.client(t, tok)

	var remaining []int
	var ids = map[string]bool{}
	for range 3 {
		_, resp, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil)
		if err != nil {
			t.Fatal(err)
		}
		h := resp.Header
		if h.Get("X-RateLimit-Limit") != "5000" || h.Get("X-RateLimit-Resource") != "core" || h.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("rate headers %v", h)
		}
		r, _ := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
		used, _ := strconv.Atoi(h.Get("X-RateLimit-Used"))
		if r+used != 5000 {
			t.Fatalf("remaining %d + used %d != 5000", r, used)
		}
		remaining = append(remaining, r)
		ids[h.Get("X-GitHub-Request-Id")] = true
	}
	if remaining[0] != 4998 || remaining[1] != 4997 || remaining[2] != 4996 {
		t.Fatalf("remaining %v, want 4998, 4997, 4996", remaining)
	}
	if len(ids) != 3 || ids[""] {
		t.Fatalf("request ids %v: want 3 distinct", ids)
	}
	// GET /rate_limit reports the window and does not spend it.
	for range 2 {
		rl, _, err := gh.RateLimit.Get(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if rl.GetCore().Remaining != 4996 || rl.GetCore().Limit != 5000 || rl.GetSearch() == nil {
			t.Fatalf("rate_limit core %+v", rl.GetCore())
		}
	}
}

func TestRateLimitExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	tok := e.installationToken(t, repo.InstallationID, nil)
	reset := e.clock.Now().Add(10 * time.Minute)
	e.sim.SetRateLimit(1, reset)

	gh := e.client(t, tok)
	if _, resp, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil); err != nil || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("last call of the window: %v", err)
	}
	_, resp, err := e.client(t, tok).Actions.ListRunners(ctxT(t), "acme", "api", nil)
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("call past the limit: %v, want 403 RateLimitError", err)
	}
	wantMsg := "API rate limit exceeded for installation ID " + strconv.FormatInt(repo.InstallationID, 10)
	if !strings.HasPrefix(rle.Message, wantMsg) || rle.Rate.Reset.Unix() != reset.Unix() {
		t.Fatalf("message %q reset %v, want %q and %v", rle.Message, rle.Rate.Reset, wantMsg, reset)
	}
	if n := len(e.sim.Runners("acme/api")); n != 0 {
		t.Fatal("setup: no runners expected")
	}

	// After the reset time the window is full again (a fresh client: go-github also
	// remembers the limit on its side).
	e.clock.Advance(10 * time.Minute)
	_, resp, err = e.client(t, tok).Actions.ListRunners(ctxT(t), "acme", "api", nil)
	if err != nil || resp.Header.Get("X-RateLimit-Remaining") != "4999" {
		t.Fatalf("after reset: %v (remaining %s)", err, resp.Header.Get("X-RateLimit-Remaining"))
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fault      githubsim.Fault
		failures   int
		status     int
		retryAfter string
	}{
		{"429 twice with Retry-After", githubsim.Fault{PathPrefix: "/repos/acme/api/actions/runners", Status: 429, RetryAfter: 3 * time.Second, Times: 2}, 2, 429, "3"},
		{"502 once", githubsim.Fault{Method: http.MethodGet, PathPrefix: "/repos/", Status: 502, Times: 1}, 1, 502, ""},
		{"503 with fractional Retry-After", githubsim.Fault{PathPrefix: "/repos", Status: 503, RetryAfter: 1500 * time.Millisecond, Times: 1}, 1, 503, "2"},
		{"other method", githubsim.Fault{Method: http.MethodPost, PathPrefix: "/repos/", Status: 500}, 0, 0, ""},
		{"other path", githubsim.Fault{PathPrefix: "/app", Status: 500}, 0, 0, ""},
		{"slow only", githubsim.Fault{PathPrefix: "/repos/", Delay: time.Millisecond, Times: 1}, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, githubsim.Options{})
			repo := e.sim.AddRepository("acme/api")
			gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
			e.sim.AddFault(tc.fault)
			for i := range tc.failures {
				_, resp, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil)
				if err == nil || resp.StatusCode != tc.status {
					t.Fatalf("call %d: %v, want %d", i, err, tc.status)
				}
				if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
				}
				if resp.Header.Get("X-RateLimit-Limit") == "" || resp.Header.Get("X-GitHub-Request-Id") == "" {
					t.Fatalf("fault answer without GitHub headers: %v", resp.Header)
				}
			}
			if _, _, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			var statuses []int
			for _, r := range e.sim.Requests() {
				if r.Route == "/repos/{owner}/{repo}/actions/runners" {
					statuses = append(statuses, r.Status)
				}
			}
			if len(statuses) != tc.failures+1 || statuses[len(statuses)-1] != http.StatusOK {
				t.Fatalf("recorded statuses %v, want %d failures then 200", statuses, tc.failures)
			}
		})
	}
}

func TestSlowFaultHonoursClientDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	e.sim.AddFault(githubsim.Fault{PathPrefix: "/repos/", Delay: time.Hour})
	ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
	defer cancel()
	if _, _, err := gh.Actions.ListRunners(ctx, "acme", "api", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call: %v, want the client's deadline", err)
	}
	e.sim.ClearFaults()
	if _, _, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

// An installation with a window of its own: its token's calls spend it (403 at 0) while
// another installation's token spends the shared window.
func TestInstallationRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	low := e.sim.AddRepository("acme/api")
	other := e.sim.AddRepository("globex/web")
	if low.InstallationID == other.InstallationID {
		t.Fatalf("two owners share installation %d", low.InstallationID)
	}
	lowGH := e.client(t, e.installationToken(t, low.InstallationID, nil))
	otherGH := e.client(t, e.installationToken(t, other.InstallationID, nil))
	e.sim.SetInstallationRateLimit(low.InstallationID, 1, time.Now().Add(time.Hour))

	_, resp, err := lowGH.Actions.ListRunners(ctxT(t), "acme", "api", nil)
	if err != nil || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("the last call of the installation's window: %v, remaining %q", err, resp.Header.Get("X-RateLimit-Remaining"))
	}
	if _, resp, err = lowGH.Actions.ListRunners(ctxT(t), "acme", "api", nil); resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a call beyond the installation's window: %v, want 403", err)
	}
	_, resp, err = otherGH.Actions.ListRunners(ctxT(t), "globex", "web", nil)
	if err != nil || resp.Header.Get("X-RateLimit-Remaining") == "0" {
		t.Fatalf("another installation: %v, remaining %q", err, resp.Header.Get("X-RateLimit-Remaining"))
	}
}
