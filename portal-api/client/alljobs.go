package client

import (
	"context"
	"iter"

	portalapi "github.com/garo-dev/garo/portal-api"
)

const jobsPath = apiPrefix + "/jobs"

// ListJobs returns one page of jobs across repositories, newest first (GET /api/v1/jobs;
// scope policies:read). owner, when set, keeps only that owner's repositories.
func (c *Client) ListJobs(ctx context.Context, owner string, q JobQuery) (*portalapi.JobList, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	if owner != "" {
		v.Set("owner", owner)
	}
	var l portalapi.JobList
	if err := c.getJSON(ctx, "list jobs", jobsPath, v, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AllJobs iterates over every job across repositories from q.Cursor on, following
// next_cursor.
func (c *Client) AllJobs(ctx context.Context, owner string, q JobQuery) iter.Seq2[portalapi.Job, error] {
	return paginate(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]portalapi.Job, string, error) {
		page := q
		page.Cursor = cursor
		l, err := c.ListJobs(ctx, owner, page)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.NextCursor, nil
	})
}
