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

// errNoSuchApp: appID is not one of the configured Apps.
func errNoSuchApp(op string, appID int64) error {
	return fmt.Errorf("%s: GitHub App %d is not configured (github.apps)", op, appID)
}

// appFor returns App appID, or the error of op when there is none.
func (c *Client) appFor(op string, appID int64) (*appClient, error) {
	if c.mode != "app" {
		return nil, errAppOnly(op)
	}
	a := c.appByID(appID)
	if a == nil {
		return nil, errNoSuchApp(op, appID)
	}
	return a, nil
}

// ListDeliveries returns the webhook deliveries of App appID, newest first, from the
// newest back to since (exclusive) or until limit are collected, following the cursor. App
// mode only (else errors.ErrUnsupported).
func (c *Client) ListDeliveries(ctx context.Context, appID int64, since time.Time, limit int) ([]Delivery, error) {
	a, err := c.appFor("list webhook deliveries", appID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("list webhook deliveries: limit must be positive, got %d", limit)
	}
	var out []Delivery
	opts := &github.ListCursorOptions{PerPage: min(limit, 100)}
	for {
		page, resp, err := a.gh.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries of app %d: %w", appID, classify(err, c.now()))
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

// ListDeliveriesPage returns one page of the webhook deliveries of App appID (each App has
// its own webhook), newest first: the
// newest page for cursor "", else the page the cursor of a previous answer names; next is
// the cursor of the page after it, "" after the last ("List deliveries for an app
// webhook", https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook:
// per_page at most 100, cursor "Used for pagination: the starting delivery from which the
// page of deliveries is fetched", the next one in the Link header). App mode only.
func (c *Client) ListDeliveriesPage(ctx context.Context, appID int64, cursor string, perPage int) (page []Delivery, next string, err error) {
	a, err := c.appFor("list webhook deliveries", appID)
	if err != nil {
		return nil, "", err
	}
	opts := &github.ListCursorOptions{PerPage: min(max(perPage, 1), 100), Cursor: cursor}
	list, resp, err := a.gh.Apps.ListHookDeliveries(ctx, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook deliveries of app %d: %w", appID, classify(err, c.now()))
	}
	for _, d := range list {
		page = append(page, deliveryFrom(d))
	}
	if len(list) > 0 && resp.Cursor != cursor {
		next = resp.Cursor
	}
	return page, next, nil
}

// Redeliver asks GitHub to deliver a webhook delivery of App appID again (it answers 202
// and delivers later). ErrNotFound for an unknown delivery. App mode only (else
// errors.ErrUnsupported).
func (c *Client) Redeliver(ctx context.Context, appID, deliveryID int64) error {
	a, err := c.appFor("redeliver webhook delivery", appID)
	if err != nil {
		return err
	}
	_, _, err = a.gh.Apps.RedeliverHookDelivery(ctx, deliveryID)
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		err = nil // 202 is GitHub's normal answer here
	}
	if err != nil {
		return fmt.Errorf("redeliver webhook delivery %d of app %d: %w", deliveryID, appID, classify(err, c.now()))
	}
	c.log.Info("github webhook redelivery requested", "app_id", appID, "delivery_attempt_id", deliveryID)
	return nil
}
