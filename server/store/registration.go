package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

var exprUsesLeftMinusOne = gorm.Expr("uses_left - 1")

// RegistrationToken lets agents join a group: each registration consumes one use. Only
// the SHA-256 of the secret is stored.
type RegistrationToken struct {
	ID          string `gorm:"primaryKey"`
	AgentGroup  string
	Hash        string
	Description string
	ExpiresAt   time.Time
	UsesLeft    int
	CreatedBy   string
	CreatedAt   time.Time
}

// TableName names the table of registration tokens.
func (RegistrationToken) TableName() string { return "agent_registration_tokens" }

// CreateRegistrationToken inserts t; its times are the caller's. An unknown group gives
// ErrUnknownGroup.
func (s *Store) CreateRegistrationToken(ctx context.Context, t *RegistrationToken) error {
	if err := s.conn(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create registration token for %s: %w", t.AgentGroup, classifyWrite(err))
	}
	return nil
}

// ListRegistrationTokens returns the tokens of group, oldest first.
func (s *Store) ListRegistrationTokens(ctx context.Context, group string) ([]RegistrationToken, error) {
	var out []RegistrationToken
	if err := s.conn(ctx).Where("agent_group = ?", group).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list registration tokens of %s: %w", group, err)
	}
	return out, nil
}

// GetRegistrationToken returns the token id of group (ErrNotFound for another group's).
func (s *Store) GetRegistrationToken(ctx context.Context, group, id string) (*RegistrationToken, error) {
	var t RegistrationToken
	if err := s.conn(ctx).Where("agent_group = ? AND id = ?", group, id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get registration token %s of %s: %w", id, group, notFound(err))
	}
	return &t, nil
}

// DeleteRegistrationToken removes the token id of group.
func (s *Store) DeleteRegistrationToken(ctx context.Context, group, id string) error {
	res := s.conn(ctx).Where("agent_group = ? AND id = ?", group, id).Delete(&RegistrationToken{})
	if res.Error != nil {
		return fmt.Errorf("delete registration token %s of %s: %w", id, group, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete registration token %s of %s: %w", id, group, ErrNotFound)
	}
	return nil
}

// ConsumeRegistrationToken takes one use of the token whose secret hashes to hash, if it
// has one left and has not expired at at, and returns the token as it is afterwards. The
// decrement is one conditional UPDATE, so concurrent registrations never take more uses
// than there are. An unknown, expired or used-up token gives ErrNotFound.
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash string, at time.Time) (*RegistrationToken, error) {
	res := s.conn(ctx).Model(&RegistrationToken{}).
		Where("hash = ? AND uses_left > 0 AND expires_at > ?", hash, at.UTC()).
		UpdateColumn("uses_left", exprUsesLeftMinusOne)
	if res.Error != nil {
		return nil, fmt.Errorf("consume registration token: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("consume registration token: %w", ErrNotFound)
	}
	var t RegistrationToken
	if err := s.conn(ctx).Where("hash = ?", hash).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("consume registration token: %w", notFound(err))
	}
	return &t, nil
}
