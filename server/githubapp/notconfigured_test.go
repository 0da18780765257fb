package githubapp_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/server/githubapp"
)

// TestNotConfigured: the stand-in for a server without GitHub credentials says so (Mode
// none, unknown budgets) and answers every call with ErrNotConfigured, naming the call,
// and never with a nil error that a caller could take for success.
func TestNotConfigured(t *testing.T) {
	t.Parallel()
	var gh githubapp.NotConfigured
	if gh.Mode() != githubapp.ModeNone {
		t.Errorf("Mode = %q, want %q", gh.Mode(), githubapp.ModeNone)
	}
	if s := gh.RateLimitFor("acme", "web"); s != (githubapp.RateState{}) {
		t.Errorf("RateLimitFor = %+v, want the zero (unknown) state", s)
	}
	if b := gh.RateLimits(); len(b) != 0 {
		t.Errorf("RateLimits = %+v, want none", b)
	}
	if s := gh.AppRateLimit(1); s != (githubapp.RateState{}) {
		t.Errorf("AppRateLimit = %+v, want the zero (unknown) state", s)
	}
	ctx := context.Background()
	calls := map[string]func() (any, error){
		"list webhook deliveries": func() (any, error) { return gh.ListDeliveries(ctx, 1, time.Now(), 10) },
		"redeliver":               func() (any, error) { return nil, gh.Redeliver(ctx, 1, 1) },
		"list open jobs":          func() (any, error) { return gh.ListOpenJobs(ctx, "acme", "web", 10, 0) },
		"get a job":               func() (any, error) { return gh.GetJob(ctx, "acme", "web", 1) },
		"mint a JIT":              func() (any, error) { return gh.GenerateJITConfig(ctx, "acme", "web", githubapp.JITRequest{Name: "r"}) },
		"registration token":      func() (any, error) { return gh.RegistrationToken(ctx, "acme", "web") },
		"remove a runner":         func() (any, error) { return nil, gh.RemoveRunner(ctx, "acme", "web", 1) },
		"list the runners":        func() (any, error) { return gh.ListRunners(ctx, "acme", "web") },
		"get a runner":            func() (any, error) { return gh.GetRunner(ctx, "acme", "web", 1) },
		"find runner":             func() (any, error) { return gh.FindRunner(ctx, "acme", "web", "r") },
	}
	for op, call := range calls {
		out, err := call()
		if !errors.Is(err, githubapp.ErrNotConfigured) {
			t.Errorf("%s: err = %v, want ErrNotConfigured", op, err)
			continue
		}
		if !strings.Contains(err.Error(), op) || !strings.Contains(err.Error(), "github.app_id or github.pat") {
			t.Errorf("%s: message %q does not name the call and the settings", op, err)
		}
		for _, other := range []error{githubapp.ErrNotFound, githubapp.ErrUnavailable, githubapp.ErrUnauthorized, githubapp.ErrRateLimited} {
			if errors.Is(err, other) {
				t.Errorf("%s: %v is also %v", op, err, other)
			}
		}
		if v := reflect.ValueOf(out); out != nil && !v.IsZero() {
			t.Errorf("%s returned %v with its error", op, out)
		}
	}
}
