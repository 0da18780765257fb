package agents_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestRegistrationTokenUses: concurrent registrations never take more uses than a token
// has; a used-up, expired or deleted token is refused; only hashes are stored.
func TestRegistrationTokenUses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		uses := 3
		tok, err := svc.CreateRegistrationToken(ctx, operator, admin, "default", portalapi.RegistrationTokenRequest{Uses: &uses, ExpiresIn: portalapi.DurationOf(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.Token, agents.RegistrationTokenPrefix) || len(tok.Token) != len(agents.RegistrationTokenPrefix)+43 {
			t.Fatalf("token %q is not garor_ and 43 characters", tok.Token)
		}
		if !tok.ExpiresAt.Equal(clk.Now().Add(10*time.Minute)) || tok.UsesLeft != 3 {
			t.Fatalf("token = %+v", tok.RegistrationToken)
		}

		var ok, refused atomic.Int32
		var creds sync.Map
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := svc.Register(ctx, protocol.RegisterRequest{Token: tok.Token, Name: "h", Provider: "docker"})
				switch {
				case errors.Is(err, agents.ErrUnauthenticated):
					refused.Add(1)
				case err != nil:
					t.Error(err)
				default:
					ok.Add(1)
					creds.Store(r.Credential, r.AgentID)
					if r.Group != "default" || r.Intervals.Heartbeat.D() != heartbeat || r.Intervals.Offline.D() != offline {
						t.Errorf("register answer = %+v", r)
					}
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 3 || refused.Load() != 5 {
			t.Fatalf("%d registrations succeeded and %d were refused, want 3 and 5", ok.Load(), refused.Load())
		}
		left, err := svc.GetRegistrationToken(ctx, operator, "default", tok.ID)
		if err != nil || left.UsesLeft != 0 {
			t.Fatalf("token after use = %+v, %v", left, err)
		}
		creds.Range(func(k, v any) bool {
			cred := k.(string)
			a, err := st.GetAgent(ctx, v.(string))
			if err != nil || a.CredentialHash != auth.Hash(cred) || strings.Contains(a.CredentialHash, cred) || !strings.HasPrefix(cred, agents.CredentialPrefix) {
				t.Errorf("agent %v stored as %+v, %v", v, a, err)
			}
			return true
		})

		// Expiry and deletion.
		fresh, err := svc.CreateRegistrationToken(ctx, operator, admin, "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(agents.DefaultTokenLifetime)
		if _, err := svc.Register(ctx, protocol.RegisterRequest{Token: fresh.Token, Name: "h", Provider: "docker"}); !errors.Is(err, agents.ErrUnauthenticated) {
			t.Fatalf("expired token: %v", err)
		}
		gone, err := svc.CreateRegistrationToken(ctx, operator, admin, "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteRegistrationToken(ctx, operator, admin, "default", gone.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Register(ctx, protocol.RegisterRequest{Token: gone.Token, Name: "h", Provider: "docker"}); !errors.Is(err, agents.ErrUnauthenticated) {
			t.Fatalf("deleted token: %v", err)
		}
		if _, err := svc.CreateRegistrationToken(ctx, operator, admin, "nope", portalapi.RegistrationTokenRequest{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token for an unknown group: %v", err)
		}
		for _, req := range []portalapi.RegistrationTokenRequest{
			{Uses: new(int)}, {ExpiresIn: portalapi.DurationOf(31 * 24 * time.Hour)}, {ExpiresIn: portalapi.DurationOf(time.Second)},
			{Description: strings.Repeat("x", 1001)},
		} {
			var verr *portalapi.ValidationError
			if _, err := svc.CreateRegistrationToken(ctx, operator, admin, "default", req); !errors.As(err, &verr) {
				t.Errorf("request %+v: %v, want a validation error", req, err)
			}
		}
	})
}

// TestAuthenticate: the forms of a bad credential, and last_seen_at written at most once
// a heartbeat interval.
func TestAuthenticate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		a := register(t, svc, "default", "h")
		for _, h := range []string{"", "Bearer ", "Basic " + a.credential, "Bearer garo_notanagent", "Bearer garoa_unknown"} {
			if _, err := svc.Authenticate(ctx, h); !errors.Is(err, agents.ErrUnauthenticated) {
				t.Errorf("Authenticate(%q) = %v", h, err)
			}
		}
		row, _ := st.GetAgent(ctx, a.id)
		seen := row.LastSeenAt
		clk.Advance(heartbeat - time.Millisecond)
		a.auth(t)
		if row, _ = st.GetAgent(ctx, a.id); !row.LastSeenAt.Equal(seen) {
			t.Fatalf("last seen %s within a heartbeat interval of %s, want it unwritten", row.LastSeenAt, seen)
		}
		clk.Advance(time.Millisecond)
		a.auth(t)
		row, _ = st.GetAgent(ctx, a.id)
		if !row.LastSeenAt.Equal(clk.Now()) || !row.LastSeenAt.After(seen) {
			t.Fatalf("last seen %s, clock %s", row.LastSeenAt, clk.Now())
		}
		// Unregistered agents come back with the same credential.
		if err := svc.Unregister(ctx, a.auth(t)); err != nil {
			t.Fatal(err)
		}
		if v, _ := svc.Get(ctx, operator, a.id); v.Status != portalapi.AgentStatusOffline || v.State != store.AgentOffline {
			t.Fatalf("after unregister = %+v", v)
		}
		a.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive})
		if v, _ := svc.Get(ctx, operator, a.id); v.Status != portalapi.AgentStatusActive {
			t.Fatalf("after coming back = %+v", v)
		}
	})
}
