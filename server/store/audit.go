package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Actor is who makes a change: the token's name and id, and the request that carried it.
type Actor struct {
	Name      string
	TokenID   string
	RequestID string
}

// Change describes one write for the audit trail. Before and After are marshalled to JSON
// as they are (nil for a create's Before and a delete's After).
type Change struct {
	Action       string
	ResourceType string
	ResourceID   string
	Repository   string
	Before       any
	After        any
}

// Audit records change by actor. Call it inside the Tx that makes the change.
func (s *Store) Audit(ctx context.Context, actor Actor, c Change) error {
	e := AuditEvent{
		Actor: actor.Name, ActorTokenID: actor.TokenID, RequestID: actor.RequestID,
		Action: c.Action, ResourceType: c.ResourceType, ResourceID: c.ResourceID, Repository: c.Repository,
	}
	var err error
	if e.BeforeJSON, err = marshalState(c.Before); err != nil {
		return fmt.Errorf("audit %s: %w", c.Action, err)
	}
	if e.AfterJSON, err = marshalState(c.After); err != nil {
		return fmt.Errorf("audit %s: %w", c.Action, err)
	}
	return s.AddAuditEvent(ctx, &e)
}

func marshalState(v any) (JSONText, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// AuditEvent records one write through the API. It is written in the same transaction as
// the change it describes.
type AuditEvent struct {
	ID           int64 `gorm:"primaryKey"`
	At           time.Time
	Actor        string
	ActorTokenID string
	Action       string
	ResourceType string
	ResourceID   string
	Repository   string
	RequestID    string
	BeforeJSON   JSONText
	AfterJSON    JSONText
}

// AuditFilter selects audit events. Empty fields do not filter; BeforeID is the cursor
// (events are listed newest first).
type AuditFilter struct {
	Actor        string
	Action       string
	ResourceType string
	ResourceID   string
	Repository   string
	Since, Until time.Time
	BeforeID     int64
	Limit        int
}

// AddAuditEvent appends e, stamping its time.
func (s *Store) AddAuditEvent(ctx context.Context, e *AuditEvent) error {
	e.At = s.now()
	if err := s.conn(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("record audit event %s %s: %w", e.Action, e.ResourceID, err)
	}
	return nil
}

// ListAuditEvents returns up to f.Limit events, newest first, and whether more follow.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, bool, error) {
	q := s.conn(ctx).Model(&AuditEvent{})
	for col, v := range map[string]string{
		"actor": f.Actor, "action": f.Action, "resource_type": f.ResourceType,
		"resource_id": f.ResourceID, "repository": f.Repository,
	} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []AuditEvent
	if err := q.Order("id DESC").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}
