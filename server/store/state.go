package store

import (
	"context"
	"fmt"
	"time"
)

// StateAdminBootstrap names the server_state row that records that the first admin token
// was made (its value: the token's id). Once it exists, garo-server never makes or adopts
// a bootstrap admin token again.
const StateAdminBootstrap = "admin_bootstrap"

// ServerState is one fact about the installation (table server_state).
type ServerState struct {
	Name      string `gorm:"primaryKey"`
	Value     string
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

// TableName names the table of server facts.
func (ServerState) TableName() string { return "server_state" }

// GetState returns the fact name, ErrNotFound when it was never recorded.
func (s *Store) GetState(ctx context.Context, name string) (*ServerState, error) {
	var st ServerState
	if err := s.conn(ctx).Where("name = ?", name).Take(&st).Error; err != nil {
		return nil, fmt.Errorf("server state %s: %w", name, notFound(err))
	}
	return &st, nil
}

// RecordState records the fact name once: ErrAlreadyExists when it is recorded already.
func (s *Store) RecordState(ctx context.Context, name, value string) error {
	if err := s.conn(ctx).Create(&ServerState{Name: name, Value: value, UpdatedAt: s.now()}).Error; err != nil {
		return fmt.Errorf("record server state %s: %w", name, classifyWrite(err))
	}
	return nil
}
