package store

import (
	"context"
	"fmt"
	"time"
)

// APIToken is a portal API token. Only the SHA-256 of the secret is stored.
type APIToken struct {
	ID            string `gorm:"primaryKey"`
	Name          string
	Hash          string
	Scopes        StringList
	OwnerPrefixes StringList
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	LastUsedAt    *time.Time
}

// HasScope reports whether t carries scope (admin carries all).
func (t *APIToken) HasScope(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == "admin" {
			return true
		}
	}
	return false
}

// TokenByHash returns the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	if err := s.conn(ctx).Where("hash = ?", hash).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("find token: %w", notFound(err))
	}
	return &t, nil
}

// GetToken returns the token id.
func (s *Store) GetToken(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := s.conn(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get token %s: %w", id, notFound(err))
	}
	return &t, nil
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	if err := s.conn(ctx).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// CreateToken inserts t.
func (s *Store) CreateToken(ctx context.Context, t *APIToken) error {
	t.CreatedAt = s.now()
	if err := s.conn(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, classifyWrite(err))
	}
	return nil
}

// DeleteToken removes the token id.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&APIToken{})
	if res.Error != nil {
		return fmt.Errorf("delete token %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete token %s: %w", id, ErrNotFound)
	}
	return nil
}

// CountAdminTokens counts the tokens that carry the admin scope and have not expired.
func (s *Store) CountAdminTokens(ctx context.Context) (int, error) {
	tokens, err := s.ListTokens(ctx)
	if err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	for i := range tokens {
		if tokens[i].HasScope("admin") && (tokens[i].ExpiresAt == nil || tokens[i].ExpiresAt.After(now)) {
			n++
		}
	}
	return n, nil
}

// TouchToken records that the token id was used at, writing at most once per minute per
// token so that reads do not turn into a write each.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	err := s.conn(ctx).Model(&APIToken{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.Add(-time.Minute)).
		Update("last_used_at", at).Error
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}
