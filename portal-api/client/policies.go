package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// ListPoliciesOptions filters and pages a policy listing. Zero values are left out of
// the query. Owner and Repository apply only to ListPolicies and AllPolicies; the
// repository-scoped calls take the repository as an argument instead.
type ListPoliciesOptions struct {
	Owner      string
	Repository string // "owner/name"
	AgentGroup string
	Enabled    *bool
	Limit      int    // page size, 1-500; 0 means the server default (100)
	Cursor     string // from PolicyList.NextCursor
}

func (o ListPoliciesOptions) query(withRepo bool) (url.Values, error) {
	q := url.Values{}
	if withRepo {
		if o.Owner != "" {
			q.Set("owner", o.Owner)
		}
		if o.Repository != "" {
			if _, _, err := splitRepository(o.Repository); err != nil {
				return nil, err
			}
			q.Set("repository", o.Repository)
		}
	} else if o.Owner != "" || o.Repository != "" {
		return nil, errors.New("garo client: Owner and Repository options do not apply to a repository's policies")
	}
	if o.AgentGroup != "" {
		q.Set("agent_group", o.AgentGroup)
	}
	if o.Enabled != nil {
		q.Set("enabled", strconv.FormatBool(*o.Enabled))
	}
	if o.Limit < 0 {
		return nil, fmt.Errorf("garo client: negative limit %d", o.Limit)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q, nil
}

// splitRepository splits "owner/name" into its two parts.
func splitRepository(repository string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("garo client: repository %q must be of the form owner/name", repository)
	}
	return owner, name, nil
}

// repoBase returns the escaped path of a repository, "/api/v1/repos/{owner}/{repo}".
func repoBase(repository string) (string, error) {
	owner, name, err := splitRepository(repository)
	if err != nil {
		return "", err
	}
	o, err := seg("repository owner", owner)
	if err != nil {
		return "", err
	}
	n, err := seg("repository name", name)
	if err != nil {
		return "", err
	}
	return apiPrefix + "/repos/" + o + "/" + n, nil
}

// repoPath returns the escaped path of a repository's policies collection.
func repoPath(repository string) (string, error) {
	p, err := repoBase(repository)
	return p + "/policies", err
}

// policyPath returns the escaped path of one policy.
func policyPath(repository, name string) (string, error) {
	p, err := repoPath(repository)
	if err != nil {
		return "", err
	}
	n, err := seg("policy name", name)
	if err != nil {
		return "", err
	}
	return p + "/" + n, nil
}

// ListPolicies returns one page of the policies the token may see, across repositories
// (GET /api/v1/policies).
func (c *Client) ListPolicies(ctx context.Context, opts ListPoliciesOptions) (*portalapi.PolicyList, error) {
	q, err := opts.query(true)
	if err != nil {
		return nil, err
	}
	var l portalapi.PolicyList
	if err := c.getJSON(ctx, "list policies", apiPrefix+"/policies", q, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ListRepoPolicies returns one page of the policies of repository ("owner/name")
// (GET /api/v1/repos/{owner}/{repo}/policies). opts.Owner and opts.Repository must be empty.
func (c *Client) ListRepoPolicies(ctx context.Context, repository string, opts ListPoliciesOptions) (*portalapi.PolicyList, error) {
	p, err := repoPath(repository)
	if err != nil {
		return nil, err
	}
	q, err := opts.query(false)
	if err != nil {
		return nil, err
	}
	var l portalapi.PolicyList
	if err := c.getJSON(ctx, "list policies of "+repository, p, q, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AllPolicies iterates over every policy ListPolicies would return, fetching the pages
// one after the other from opts.Cursor on. After an error it yields the error once and
// stops. Breaking out of the loop stops fetching.
func (c *Client) AllPolicies(ctx context.Context, opts ListPoliciesOptions) iter.Seq2[portalapi.Policy, error] {
	return paginate(ctx, opts.Cursor, func(ctx context.Context, cursor string) ([]portalapi.Policy, string, error) {
		o := opts
		o.Cursor = cursor
		l, err := c.ListPolicies(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.NextCursor, nil
	})
}

// AllRepoPolicies is AllPolicies for the policies of one repository.
func (c *Client) AllRepoPolicies(ctx context.Context, repository string, opts ListPoliciesOptions) iter.Seq2[portalapi.Policy, error] {
	return paginate(ctx, opts.Cursor, func(ctx context.Context, cursor string) ([]portalapi.Policy, string, error) {
		o := opts
		o.Cursor = cursor
		l, err := c.ListRepoPolicies(ctx, repository, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.NextCursor, nil
	})
}

// CreatePolicy creates a policy in repository (POST /api/v1/repos/{owner}/{repo}/policies).
// An existing policy of the same name gives a conflict (IsConflict).
func (c *Client) CreatePolicy(ctx context.Context, repository string, req portalapi.PolicyRequest) (*portalapi.Policy, error) {
	p, err := repoPath(repository)
	if err != nil {
		return nil, err
	}
	var out portalapi.Policy
	op := fmt.Sprintf("create policy %s/%s", repository, req.Name)
	if err := c.sendJSON(ctx, op, http.MethodPost, p, req, "application/json", "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPolicy returns one policy (GET /api/v1/repos/{owner}/{repo}/policies/{name}).
// Its ETag is ETag(policy.Version).
func (c *Client) GetPolicy(ctx context.Context, repository, name string) (*portalapi.Policy, error) {
	p, err := policyPath(repository, name)
	if err != nil {
		return nil, err
	}
	var out portalapi.Policy
	if err := c.getJSON(ctx, "get policy "+repository+"/"+name, p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReplacePolicy replaces a policy with req (PUT). ifMatch, when not empty, is sent as the
// If-Match header (e.g. ETag(p.Version)); a stale one gives IsPreconditionFailed.
func (c *Client) ReplacePolicy(ctx context.Context, repository, name string, req portalapi.PolicyRequest, ifMatch string) (*portalapi.Policy, error) {
	p, err := policyPath(repository, name)
	if err != nil {
		return nil, err
	}
	var out portalapi.Policy
	op := "replace policy " + repository + "/" + name
	if err := c.sendJSON(ctx, op, http.MethodPut, p, req, "application/json", ifMatch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PatchPolicy applies a JSON merge patch (RFC 7396) to a policy (PATCH). patch is
// marshalled to JSON: a map[string]any, a json.RawMessage or a struct whose unset fields
// are omitted. ifMatch works as in ReplacePolicy.
func (c *Client) PatchPolicy(ctx context.Context, repository, name string, patch any, ifMatch string) (*portalapi.Policy, error) {
	p, err := policyPath(repository, name)
	if err != nil {
		return nil, err
	}
	var out portalapi.Policy
	op := "patch policy " + repository + "/" + name
	if err := c.sendJSON(ctx, op, http.MethodPatch, p, patch, portalapi.MergePatchMediaType, ifMatch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePolicy deletes a policy (DELETE). ifMatch works as in ReplacePolicy. A policy
// that does not exist gives IsNotFound; callers wanting idempotence check for it.
func (c *Client) DeletePolicy(ctx context.Context, repository, name, ifMatch string) error {
	p, err := policyPath(repository, name)
	if err != nil {
		return err
	}
	return c.deleteReq(ctx, "delete policy "+repository+"/"+name, p, ifMatch)
}
