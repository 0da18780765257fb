package githubapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"
)

// Delivery is one delivery of the App's webhook. GUID is the X-GitHub-Delivery header of
// the delivery (shared by its redeliveries); ID identifies this attempt.
type Delivery struct {
	ID                           int64
	GUID, Event, Action, Status  string
	StatusCode                   int
	Redelivery                   bool
	DeliveredAt                  time.Time
	RepositoryID, InstallationID int64
}

func deliveryFrom(d *github.HookDelivery) Delivery {
	return Delivery{
		ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(), Action: d.GetAction(), Status: d.GetStatus(),
		StatusCode: d.GetStatusCode(), Redelivery: d.GetRedelivery(), DeliveredAt: d.GetDeliveredAt().Time,
		RepositoryID: d.GetRepositoryID(), InstallationID: d.GetInstallationID(),
	}
}

// errAppOnly: the call needs the App's own identity, which a PAT does not have.
func errAppOnly(op string) error {
	return fmt.Errorf("%s: needs GitHub App mode (github.app_id): %w", op, errors.ErrUnsupported)
}

// ListDeliveries returns the App's webhook deliveries, newest first, from the newest back
// to since (exclusive) or until limit are collected, following the cursor. App mode only
// (else errors.ErrUnsupported).
func (c *Client) ListDeliveries(ctx context.Context, since time.Time, limit int) ([]Delivery, error) {
	if c.mode != "app" {
		return nil, errAppOnly("list webhook deliveries")
	}
	if limit <= 0 {
		return nil, fmt.Errorf("list webhook deliveries: limit must be positive, got %d", limit)
	}
	var out []Delivery
	opts := &github.ListCursorOptions{PerPage: min(limit, 100)}
	for {
		page, resp, err := c.app.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", classify(err, c.now()))
		}
		for _, d := range page {
			dd := deliveryFrom(d)
			if !dd.DeliveredAt.After(since) {
				return out, nil
			}
			out = append(out, dd)
			if len(out) >= limit {
				return out, nil
			}
		}
		if len(page) == 0 || resp.Cursor == "" || resp.Cursor == opts.Cursor {
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
}

// ListDeliveriesPage returns one page of the App's webhook deliveries, newest first: the
// newest page for cursor "", else the page the cursor of a previous answer names; next is
// the cursor of the page after it, "" after the last ("List deliveries for an app
// webhook", https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook:
// per_page at most 100, cursor "Used for pagination: the starting delivery from which the
// page of deliveries is fetched", the next one in the Link header). App mode only.
func (c *Client) ListDeliveriesPage(ctx context.Context, cursor string, perPage int) (page []Delivery, next string, err error) {
	if c.mode != "app" {
		return nil, "", errAppOnly("list webhook deliveries")
	}
	opts := &github.ListCursorOptions{PerPage: min(max(perPage, 1), 100), Cursor: cursor}
	list, resp, err := c.app.Apps.ListHookDeliveries(ctx, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook deliveries: %w", classify(err, c.now()))
	}
	for _, d := range list {
		page = append(page, deliveryFrom(d))
	}
	if len(list) > 0 && resp.Cursor != cursor {
		next = resp.Cursor
	}
	return page, next, nil
}

// Redeliver asks GitHub to deliver a webhook delivery again (it answers 202 and delivers
// later). ErrNotFound for an unknown delivery. App mode only (else errors.ErrUnsupported).
func (c *Client) Redeliver(ctx context.Context, deliveryID int64) error {
	if c.mode != "app" {
		return errAppOnly("redeliver webhook delivery")
	}
	_, _, err := c.app.Apps.RedeliverHookDelivery(ctx, deliveryID)
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		err = nil // 202 is GitHub's normal answer here
	}
	if err != nil {
		return fmt.Errorf("redeliver webhook delivery %d: %w", deliveryID, classify(err, c.now()))
	}
	c.log.Info("github webhook redelivery requested", "delivery_attempt_id", deliveryID)
	return nil
}
