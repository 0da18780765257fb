// Package auth authenticates portal API tokens and decides what a token may do. Tokens are
// "garo_" followed by 43 URL-safe base64 characters (32 random bytes); the server keeps only
// their SHA-256, so a leaked database does not leak usable tokens.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// TokenPrefix starts every Garo API token, so that secret scanners can recognise them.
const TokenPrefix = "garo_"

// ErrUnauthenticated means the request carries no usable token.
var ErrUnauthenticated = errors.New("unauthenticated")

// Reasons of a failed authentication (Failure.Reason), the values of the reason label of
// garo_api_auth_failures_total.
const (
	ReasonMissing   = "missing"   // no Authorization header, or no registration token
	ReasonMalformed = "malformed" // not "Bearer <secret>", or a secret of the wrong kind
	ReasonUnknown   = "unknown"   // no such credential: never issued, deleted, or used up
	ReasonExpired   = "expired"
	ReasonRevoked   = "revoked"
)

// Failure is an authentication that failed for a reason that is safe to show and to
// count. It Is its Sentinel (ErrUnauthenticated, or the agent protocol's), so callers keep
// checking with errors.Is.
type Failure struct {
	Sentinel error
	Reason   string
	Message  string
}

func (f *Failure) Error() string { return f.Sentinel.Error() + ": " + f.Message }
func (f *Failure) Unwrap() error { return f.Sentinel }

// Fail returns a Failure of sentinel for reason, its message formatted.
func Fail(sentinel error, reason, format string, args ...any) error {
	return &Failure{Sentinel: sentinel, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// FailureReason returns the reason of a Failure in err's chain, or "other".
func FailureReason(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return "other"
}

// NewSecret returns a fresh random token.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash returns the hex SHA-256 of a token, the only form the server stores.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Principal is the authenticated token behind a request.
type Principal struct {
	TokenID       string
	Name          string
	Scopes        []string
	OwnerPrefixes []string
}

// Has reports whether the principal carries scope; admin carries every scope.
func (p *Principal) Has(scope string) bool {
	return slices.Contains(p.Scopes, portalapi.ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// Actor names the principal in the audit trail.
func (p *Principal) Actor(requestID string) store.Actor {
	return store.Actor{Name: "token:" + p.Name, TokenID: p.TokenID, RequestID: requestID}
}

// tokenFinder is the part of the store the authenticator needs.
type tokenFinder interface {
	TokenByHash(ctx context.Context, hash string) (*store.APIToken, error)
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// Authenticator checks bearer tokens against the store.
type Authenticator struct {
	tokens tokenFinder
	now    func() time.Time
}

// NewAuthenticator returns an Authenticator; now may be nil for the wall clock.
func NewAuthenticator(tokens tokenFinder, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{tokens: tokens, now: now}
}

// Authenticate resolves an Authorization header value to a principal. Every failure of the
// token itself is ErrUnauthenticated (with a reason safe to show); store failures are not.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (*Principal, error) {
	scheme, secret, ok := strings.Cut(authorization, " ")
	if authorization == "" {
		return nil, Fail(ErrUnauthenticated, ReasonMissing, "missing Authorization header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return nil, Fail(ErrUnauthenticated, ReasonMalformed, "Authorization must be \"Bearer <token>\"")
	}
	t, err := a.tokens.TokenByHash(ctx, Hash(strings.TrimSpace(secret)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Fail(ErrUnauthenticated, ReasonUnknown, "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := a.now().UTC()
	if t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
		return nil, Fail(ErrUnauthenticated, ReasonExpired, "token expired at %s", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err := a.tokens.TouchToken(ctx, t.ID, now); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &Principal{TokenID: t.ID, Name: t.Name, Scopes: t.Scopes, OwnerPrefixes: t.OwnerPrefixes}, nil
}
