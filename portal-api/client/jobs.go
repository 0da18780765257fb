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

// JobQuery filters and pages a job listing. Zero values are left out of the query.
type JobQuery struct {
	State  string    // queued, waiting, unmatched, in_progress or completed
	Policy string    // only jobs matched to this policy
	Since  time.Time // only jobs Garo received at or after this time
	Limit  int       // page size, 1-500; 0 means the server default (100)
	Cursor string    // from JobList.NextCursor
}

func (q JobQuery) values() (url.Values, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Policy != "" {
		v.Set("policy", q.Policy)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("garo client: negative limit %d", q.Limit)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v, nil
}

// repoJobsPath returns the escaped path of a repository's jobs collection.
func repoJobsPath(repository string) (string, error) {
	p, err := repoBase(repository)
	return p + "/jobs", err
}

// ListRepoJobs returns one page of repository's jobs ("owner/name"), newest first
// (GET /api/v1/repos/{owner}/{repo}/jobs).
func (c *Client) ListRepoJobs(ctx context.Context, repository string, q JobQuery) (*portalapi.JobList, error) {
	p, err := repoJobsPath(repository)
	if err != nil {
		return nil, err
	}
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	var l portalapi.JobList
	if err := c.getJSON(ctx, "list jobs of "+repository, p, v, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AllRepoJobs iterates over every job ListRepoJobs would return, fetching the pages one
// after the other from q.Cursor on. After an error it yields the error once and stops.
func (c *Client) AllRepoJobs(ctx context.Context, repository string, q JobQuery) iter.Seq2[portalapi.Job, error] {
	return paginate(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]portalapi.Job, string, error) {
		o := q
		o.Cursor = cursor
		l, err := c.ListRepoJobs(ctx, repository, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.NextCursor, nil
	})
}

// GetJob returns one job of repository with its timeline
// (GET /api/v1/repos/{owner}/{repo}/jobs/{job_id}).
func (c *Client) GetJob(ctx context.Context, repository string, id int64) (*portalapi.Job, error) {
	p, err := repoJobsPath(repository)
	if err != nil {
		return nil, err
	}
	var j portalapi.Job
	if err := c.getJSON(ctx, fmt.Sprintf("get job %d of %s", id, repository), p+"/"+strconv.FormatInt(id, 10), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}
