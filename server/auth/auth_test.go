package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

var secretRe = regexp.MustCompile(`^garo_[A-Za-z0-9_-]{43}$`)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s, err := NewSecret()
		if err != nil {
			t.Fatalf("NewSecret: %v", err)
		}
		if len(s) != 48 || !strings.HasPrefix(s, TokenPrefix) || !secretRe.MatchString(s) {
			t.Fatalf("NewSecret() = %q (%d characters), want garo_ and 43 URL-safe base64 characters", s, len(s))
		}
		if seen[s] {
			t.Fatalf("NewSecret() returned %q twice", s)
		}
		seen[s] = true
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// sha256 of the empty string and of "abc" (FIPS 180-2 test vector).
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := Hash(tt.in); got != tt.want {
			t.Errorf("Hash(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(s))
	if got := Hash(s); got != hex.EncodeToString(sum[:]) {
		t.Errorf("Hash(secret) = %s, want lower-case hex sha256 %x", got, sum)
	}
	if Hash(s) == Hash(s+"x") {
		t.Error("different secrets hash the same")
	}
}

func TestPrincipalHas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scopes []string
		scope  string
		want   bool
	}{
		{"admin implies policies:read", []string{portalapi.ScopeAdmin}, portalapi.ScopePoliciesRead, true},
		{"admin implies policies:write", []string{portalapi.ScopeAdmin}, portalapi.ScopePoliciesWrite, true},
		{"admin implies agents:read", []string{portalapi.ScopeAdmin}, portalapi.ScopeAgentsRead, true},
		{"admin implies agents:write", []string{portalapi.ScopeAdmin}, portalapi.ScopeAgentsWrite, true},
		{"admin implies admin", []string{portalapi.ScopeAdmin}, portalapi.ScopeAdmin, true},
		{"exact scope", []string{portalapi.ScopePoliciesRead}, portalapi.ScopePoliciesRead, true},
		{"one of several", []string{portalapi.ScopeAgentsRead, portalapi.ScopePoliciesWrite}, portalapi.ScopePoliciesWrite, true},
		{"read does not imply write", []string{portalapi.ScopePoliciesRead}, portalapi.ScopePoliciesWrite, false},
		{"write does not imply read", []string{portalapi.ScopePoliciesWrite}, portalapi.ScopePoliciesRead, false},
		{"non-admin is not admin", []string{portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite, portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}, portalapi.ScopeAdmin, false},
		{"no scopes", nil, portalapi.ScopePoliciesRead, false},
		{"scopes are case-sensitive", []string{"ADMIN"}, portalapi.ScopePoliciesRead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Principal{Scopes: tt.scopes}
			if got := p.Has(tt.scope); got != tt.want {
				t.Errorf("Principal{Scopes: %q}.Has(%q) = %v, want %v", tt.scopes, tt.scope, got, tt.want)
			}
		})
	}
}

func TestPrincipalActor(t *testing.T) {
	t.Parallel()
	p := &Principal{TokenID: "t-1", Name: "ci"}
	got := p.Actor("req-9")
	if got != (store.Actor{Name: "token:ci", TokenID: "t-1", RequestID: "req-9"}) {
		t.Errorf("Actor = %+v", got)
	}
}

// fakeTokens is a tokenFinder over a map of tokens by hash.
type fakeTokens struct {
	mu       sync.Mutex
	byHash   map[string]*store.APIToken
	findErr  error // returned by TokenByHash instead of a lookup
	touchErr error // returned by TouchToken
	lookups  []string
	touched  []touch
}

type touch struct {
	id string
	at time.Time
}

func (f *fakeTokens) TokenByHash(_ context.Context, hash string) (*store.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, hash)
	if f.findErr != nil {
		return nil, f.findErr
	}
	t, ok := f.byHash[hash]
	if !ok {
		// The store wraps its sentinel.
		return nil, fmt.Errorf("find token: %w", store.ErrNotFound)
	}
	c := *t
	return &c, nil
}

func (f *fakeTokens) TouchToken(_ context.Context, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touched = append(f.touched, touch{id, at})
	return f.touchErr
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	const (
		good    = "garo_goodgoodgoodgoodgoodgoodgoodgoodgoodgoodgoo"
		expired = "garo_expiredexpiredexpiredexpiredexpiredexpire"
		later   = "garo_laterlaterlaterlaterlaterlaterlaterlaterl"
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	atNow := now
	tokens := map[string]*store.APIToken{
		Hash(good):               {ID: "id-good", Name: "ci", Hash: Hash(good), Scopes: store.StringList{"policies:read"}, OwnerPrefixes: store.StringList{"acme/"}},
		Hash(expired):            {ID: "id-expired", Name: "old", Hash: Hash(expired), Scopes: store.StringList{"admin"}, ExpiresAt: &past},
		Hash(later):              {ID: "id-later", Name: "temp", Hash: Hash(later), Scopes: store.StringList{"admin"}, ExpiresAt: &future},
		Hash("garo_exactly-now"): {ID: "id-now", Name: "now", Scopes: store.StringList{"admin"}, ExpiresAt: &atNow},
	}
	tests := []struct {
		name      string
		header    string
		wantID    string // "" means an ErrUnauthenticated error
		wantInMsg string
		lookedUp  bool
	}{
		{name: "good token", header: "Bearer " + good, wantID: "id-good", lookedUp: true},
		{name: "scheme in lower case", header: "bearer " + good, wantID: "id-good", lookedUp: true},
		{name: "surrounding spaces around the token", header: "Bearer   " + good + " ", wantID: "id-good", lookedUp: true},
		{name: "not yet expired", header: "Bearer " + later, wantID: "id-later", lookedUp: true},
		{name: "missing header", header: "", wantInMsg: "missing Authorization header"},
		{name: "basic scheme", header: "Basic dXNlcjpwYXNz", wantInMsg: `"Bearer <token>"`},
		{name: "token without scheme", header: good, wantInMsg: `"Bearer <token>"`},
		{name: "scheme without token", header: "Bearer", wantInMsg: `"Bearer <token>"`},
		{name: "scheme with blank token", header: "Bearer   ", wantInMsg: `"Bearer <token>"`},
		{name: "unknown token", header: "Bearer garo_unknown", wantInMsg: "unknown or revoked token", lookedUp: true},
		{name: "expired token", header: "Bearer " + expired, wantInMsg: "token expired at 2026-03-01T10:59:59Z", lookedUp: true},
		{name: "expiring this instant", header: "Bearer garo_exactly-now", wantInMsg: "token expired", lookedUp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTokens{byHash: tokens}
			a := NewAuthenticator(f, func() time.Time { return now })
			p, err := a.Authenticate(context.Background(), tt.header)

			if tt.lookedUp != (len(f.lookups) == 1) {
				t.Errorf("store lookups = %d, want looked up: %v", len(f.lookups), tt.lookedUp)
			}
			if tt.wantID == "" {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Authenticate(%q) = %+v, %v; want ErrUnauthenticated", tt.header, p, err)
				}
				if p != nil {
					t.Errorf("Authenticate returned a principal with an error: %+v", p)
				}
				if !strings.Contains(err.Error(), tt.wantInMsg) {
					t.Errorf("error %q does not say %q", err, tt.wantInMsg)
				}
				if len(f.touched) != 0 {
					t.Errorf("a refused token was touched: %+v", f.touched)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate(%q): %v", tt.header, err)
			}
			want := tokens[f.lookups[0]]
			if p.TokenID != tt.wantID || p.Name != want.Name || !slices.Equal(p.Scopes, want.Scopes) || !slices.Equal(p.OwnerPrefixes, want.OwnerPrefixes) {
				t.Errorf("principal = %+v, want the fields of token %+v", p, want)
			}
			if len(f.touched) != 1 || f.touched[0].id != tt.wantID || !f.touched[0].at.Equal(now) || f.touched[0].at.Location() != time.UTC {
				t.Errorf("TouchToken calls = %+v, want one for %s at %s in UTC", f.touched, tt.wantID, now.UTC())
			}
		})
	}
}

func TestAuthenticateHashesTheSecret(t *testing.T) {
	t.Parallel()
	f := &fakeTokens{byHash: map[string]*store.APIToken{}}
	_, _ = NewAuthenticator(f, nil).Authenticate(context.Background(), "Bearer garo_secret")
	if len(f.lookups) != 1 || f.lookups[0] != Hash("garo_secret") {
		t.Errorf("lookups = %q, want only the hash of the secret %s", f.lookups, Hash("garo_secret"))
	}
}

func TestAuthenticateStoreFailures(t *testing.T) {
	t.Parallel()
	dbDown := errors.New("connection refused")
	const secret = "garo_storefailure"
	tests := []struct {
		name string
		fake *fakeTokens
	}{
		{"lookup fails", &fakeTokens{findErr: dbDown}},
		{"touch fails", &fakeTokens{byHash: map[string]*store.APIToken{Hash(secret): {ID: "id-1", Scopes: store.StringList{"admin"}}}, touchErr: dbDown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewAuthenticator(tt.fake, nil).Authenticate(context.Background(), "Bearer "+secret)
			if err == nil || p != nil {
				t.Fatalf("Authenticate = %+v, %v; want a store error", p, err)
			}
			if errors.Is(err, ErrUnauthenticated) {
				t.Errorf("store failure %v is ErrUnauthenticated: the client would get 401 for a server fault", err)
			}
			if !errors.Is(err, dbDown) {
				t.Errorf("error %v does not wrap the store failure", err)
			}
		})
	}
}

func TestValidateTokenRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		req          portalapi.TokenRequest
		wantFields   []string // nil means valid
		wantPrefixes []string
	}{
		{name: "minimal", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}}, wantPrefixes: []string{}},
		{name: "every scope", req: portalapi.TokenRequest{Name: "all", Scopes: portalapi.AllScopes}, wantPrefixes: []string{}},
		{name: "prefixes lower-cased", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{"Acme/", "GLOBEX/Web-"}},
			wantPrefixes: []string{"acme/", "globex/web-"}},
		{name: "prefix of 140 characters", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{strings.Repeat("p", 140)}},
			wantPrefixes: []string{strings.Repeat("p", 140)}},
		{name: "expires_in 1m", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(time.Minute)}, wantPrefixes: []string{}},
		{name: "expires_in 8760h", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(8760 * time.Hour)}, wantPrefixes: []string{}},
		{name: "name of 100 characters", req: portalapi.TokenRequest{Name: strings.Repeat("n", 100), Scopes: []string{"admin"}}, wantPrefixes: []string{}},

		{name: "empty name", req: portalapi.TokenRequest{Scopes: []string{"admin"}}, wantFields: []string{"name"}},
		{name: "blank name", req: portalapi.TokenRequest{Name: "   ", Scopes: []string{"admin"}}, wantFields: []string{"name"}},
		{name: "name of 101 characters", req: portalapi.TokenRequest{Name: strings.Repeat("n", 101), Scopes: []string{"admin"}}, wantFields: []string{"name"}},
		{name: "no scopes", req: portalapi.TokenRequest{Name: "ci"}, wantFields: []string{"scopes"}},
		{name: "empty scopes", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{}}, wantFields: []string{"scopes"}},
		{name: "unknown scope", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read", "repos:write"}}, wantFields: []string{"scopes[1]"}},
		{name: "scope in capitals", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"Admin"}}, wantFields: []string{"scopes[0]"}},
		{name: "duplicate scope", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"agents:read", "admin", "agents:read"}}, wantFields: []string{"scopes[2]"}},
		{name: "empty prefix", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{"acme/", ""}}, wantFields: []string{"owner_prefixes[1]"}},
		{name: "prefix with spaces", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{" acme/"}}, wantFields: []string{"owner_prefixes[0]"}},
		{name: "prefix of 141 characters", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read"}, OwnerPrefixes: []string{strings.Repeat("p", 141)}}, wantFields: []string{"owner_prefixes[0]"}},
		{name: "expires_in below 1m", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(59 * time.Second)}, wantFields: []string{"expires_in"}},
		{name: "expires_in zero", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(0)}, wantFields: []string{"expires_in"}},
		{name: "expires_in negative", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(-time.Hour)}, wantFields: []string{"expires_in"}},
		{name: "expires_in above 8760h", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"admin"}, ExpiresIn: portalapi.DurationOf(8761 * time.Hour)}, wantFields: []string{"expires_in"}},
		{name: "admin with prefixes", req: portalapi.TokenRequest{Name: "ci", Scopes: []string{"policies:read", "admin"}, OwnerPrefixes: []string{"acme/"}}, wantFields: []string{"owner_prefixes"}},
		{name: "every problem at once", req: portalapi.TokenRequest{Name: "", Scopes: []string{"root", "root"}, OwnerPrefixes: []string{""}, ExpiresIn: portalapi.DurationOf(time.Second)},
			wantFields: []string{"expires_in", "name", "owner_prefixes[0]", "scopes[0]", "scopes[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := tt.req
			prefixes, err := validateTokenRequest(&req)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("validateTokenRequest: %v", err)
				}
				if !slices.Equal(prefixes, tt.wantPrefixes) || prefixes == nil {
					t.Errorf("prefixes = %#v, want %#v", prefixes, tt.wantPrefixes)
				}
				return
			}
			var verr *portalapi.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("validateTokenRequest = %v (%T), want a *portalapi.ValidationError", err, err)
			}
			if prefixes != nil {
				t.Errorf("prefixes = %q with an error, want nil", prefixes)
			}
			var got []string
			for _, f := range verr.Fields {
				got = append(got, f.Field)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %q, want %q (error: %v)", got, tt.wantFields, err)
			}
		})
	}
}
