package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// ErrLastAdmin refuses to delete the last admin token: nobody could manage Garo after it.
var ErrLastAdmin = fmt.Errorf("the last admin token cannot be deleted: %w", store.ErrInUse)

// Limits of token requests.
const (
	minTokenLifetime = time.Minute
	maxTokenLifetime = 8760 * time.Hour
)

// Tokens is the API-token service.
type Tokens struct {
	st *store.Store
}

// NewTokens returns the token service on st.
func NewTokens(st *store.Store) *Tokens { return &Tokens{st: st} }

// List returns every token (never a secret).
func (t *Tokens) List(ctx context.Context) (*portalapi.TokenList, error) {
	rows, err := t.st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := &portalapi.TokenList{Items: make([]portalapi.Token, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, tokenToAPI(&rows[i]))
	}
	return out, nil
}

// Get returns the token id.
func (t *Tokens) Get(ctx context.Context, id string) (*portalapi.Token, error) {
	row, err := t.st.GetToken(ctx, id)
	if err != nil {
		return nil, err
	}
	out := tokenToAPI(row)
	return &out, nil
}

// Create makes a token and returns its secret, the only time it is seen.
func (t *Tokens) Create(ctx context.Context, actor store.Actor, req portalapi.TokenRequest) (*portalapi.CreatedToken, error) {
	prefixes, err := validateTokenRequest(&req)
	if err != nil {
		return nil, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	row := &store.APIToken{
		ID: uuid.NewString(), Name: req.Name, Hash: Hash(secret),
		Scopes: req.Scopes, OwnerPrefixes: prefixes, CreatedBy: actor.Name,
	}
	if req.ExpiresIn != nil {
		exp := t.st.Now().Add(req.ExpiresIn.D())
		row.ExpiresAt = &exp
	}
	var out portalapi.Token
	err = t.st.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateToken(ctx, row); err != nil {
			return err
		}
		out = tokenToAPI(row)
		return tx.Audit(ctx, actor, store.Change{Action: "token.create", ResourceType: "token", ResourceID: row.ID, After: out})
	})
	if err != nil {
		return nil, err
	}
	return &portalapi.CreatedToken{Token: out, Secret: secret}, nil
}

// Delete revokes the token id at once; its next request gets 401.
func (t *Tokens) Delete(ctx context.Context, actor store.Actor, id string) error {
	return t.st.Tx(ctx, func(tx *store.Store) error {
		row, err := tx.GetToken(ctx, id)
		if err != nil {
			return err
		}
		// An expired admin token is no admin: it never counts as the last one, and
		// deleting it needs no other. A valid one needs another valid one to stay.
		if row.HasScope(portalapi.ScopeAdmin) && (row.ExpiresAt == nil || row.ExpiresAt.After(tx.Now())) {
			n, err := tx.CountAdminTokens(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastAdmin
			}
		}
		if err := tx.DeleteToken(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{Action: "token.delete", ResourceType: "token", ResourceID: id, Before: tokenToAPI(row)})
	})
}

// validateTokenRequest checks req and returns its owner prefixes, lower-cased.
func validateTokenRequest(req *portalapi.TokenRequest) ([]string, error) {
	var errs []portalapi.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, portalapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if n := len(strings.TrimSpace(req.Name)); n < 1 || len(req.Name) > 100 {
		bad("name", "must be 1-100 characters")
	}
	if len(req.Scopes) == 0 {
		bad("scopes", "at least one scope is required: one of %v", portalapi.AllScopes)
	}
	seen := map[string]bool{}
	for i, sc := range req.Scopes {
		switch {
		case !slices.Contains(portalapi.AllScopes, sc):
			bad(fmt.Sprintf("scopes[%d]", i), "unknown scope %q: want one of %v", sc, portalapi.AllScopes)
		case seen[sc]:
			bad(fmt.Sprintf("scopes[%d]", i), "duplicate scope %q", sc)
		}
		seen[sc] = true
	}
	prefixes := make([]string, 0, len(req.OwnerPrefixes))
	for i, p := range req.OwnerPrefixes {
		if len(p) < 1 || len(p) > 140 || strings.TrimSpace(p) != p {
			bad(fmt.Sprintf("owner_prefixes[%d]", i), "must be 1-140 characters without surrounding spaces, got %q", p)
			continue
		}
		prefixes = append(prefixes, strings.ToLower(p))
	}
	if len(req.OwnerPrefixes) > 0 && slices.Contains(req.Scopes, portalapi.ScopeAdmin) {
		bad("owner_prefixes", "an admin token manages tokens, groups and the audit trail for everyone, so it cannot be limited to owner prefixes")
	}
	if req.ExpiresIn != nil {
		if d := req.ExpiresIn.D(); d < minTokenLifetime || d > maxTokenLifetime {
			bad("expires_in", "must be between %s and %s, got %s", minTokenLifetime, maxTokenLifetime, d)
		}
	}
	if len(errs) > 0 {
		return nil, &portalapi.ValidationError{Fields: errs}
	}
	return prefixes, nil
}

func tokenToAPI(t *store.APIToken) portalapi.Token {
	out := portalapi.Token{
		ID: t.ID, Name: t.Name, Scopes: append([]string{}, t.Scopes...),
		OwnerPrefixes: append([]string{}, t.OwnerPrefixes...), CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.UTC(),
	}
	if t.ExpiresAt != nil {
		e := t.ExpiresAt.UTC()
		out.ExpiresAt = &e
	}
	if t.LastUsedAt != nil {
		u := t.LastUsedAt.UTC()
		out.LastUsedAt = &u
	}
	return out
}
