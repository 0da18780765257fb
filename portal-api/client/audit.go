package client

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// AuditQuery filters and pages the audit log. Zero values are left out of the query.
type AuditQuery struct {
	Actor        string
	Action       string // e.g. "policy.create"
	ResourceType string // "policy", "agent_group" or "token"
	ResourceID   string
	Repository   string // "owner/name"
	Since, Until time.Time
	Limit        int    // page size, 1-500; 0 means the server default (100)
	Cursor       string // from AuditEventList.NextCursor
}

func (a AuditQuery) query() (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("actor", a.Actor)
	set("action", a.Action)
	set("resource_type", a.ResourceType)
	set("resource_id", a.ResourceID)
	set("repository", a.Repository)
	if !a.Since.IsZero() {
		q.Set("since", a.Since.UTC().Format(time.RFC3339Nano))
	}
	if !a.Until.IsZero() {
		q.Set("until", a.Until.UTC().Format(time.RFC3339Nano))
	}
	if a.Limit < 0 {
		return nil, fmt.Errorf("garo client: negative limit %d", a.Limit)
	}
	if a.Limit > 0 {
		q.Set("limit", strconv.Itoa(a.Limit))
	}
	set("cursor", a.Cursor)
	return q, nil
}

// ListAuditEvents returns one page of audit events, newest first (GET
// /api/v1/audit-events; admin scope).
func (c *Client) ListAuditEvents(ctx context.Context, q AuditQuery) (*portalapi.AuditEventList, error) {
	v, err := q.query()
	if err != nil {
		return nil, err
	}
	var l portalapi.AuditEventList
	if err := c.getJSON(ctx, "list audit events", apiPrefix+"/audit-events", v, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AllAuditEvents iterates over every audit event ListAuditEvents would return, following
// the cursors the way AllPolicies does.
func (c *Client) AllAuditEvents(ctx context.Context, q AuditQuery) iter.Seq2[portalapi.AuditEvent, error] {
	return paginate(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]portalapi.AuditEvent, string, error) {
		qq := q
		qq.Cursor = cursor
		l, err := c.ListAuditEvents(ctx, qq)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.NextCursor, nil
	})
}
