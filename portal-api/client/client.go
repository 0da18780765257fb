// Package client is a typed Go client of the garo-server portal API (/api/v1 and the
// health probes), as described in docs/api-routes.md and portal-api/openapi.yaml.
//
// Every method takes a context first and honours its cancellation and deadline. Any answer
// outside 2xx comes back as an error whose chain holds a *portalapi.APIError (use errors.As,
// or IsNotFound, IsConflict, IsPreconditionFailed, IsForbidden and IsUnauthorized); the
// error text names the request and, when the server sent one, its X-Request-ID. The API
// token is sent only in the Authorization header and never appears in an error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/shared/version"
)

const (
	// DefaultTimeout bounds every request made with the default http.Client.
	DefaultTimeout = 30 * time.Second
	// MaxResponseBytes caps how much of a response body the client reads.
	MaxResponseBytes = 8 << 20

	apiPrefix = "/api/v1"
)

// Client talks to one garo-server. It is safe for concurrent use.
type Client struct {
	base      *url.URL // scheme, host and optional path prefix; no trailing slash
	token     string
	http      *http.Client
	userAgent string
}

// Option configures a Client built by New.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc, e.g. to set a transport,
// TLS configuration or timeout. The default is an http.Client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithUserAgent replaces the User-Agent header, "garo-client/<version>" by default.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL (e.g. "http://127.0.0.1:8080" or
// "https://ci.example.com/garo"), authenticating with token. An empty token sends no
// Authorization header, which is enough for Health, Ready, Version and OpenAPISpec.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	baseURL = strings.TrimSpace(baseURL)
	if lower := strings.ToLower(baseURL); !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		// The URL itself is not shown: it might hold a password.
		return nil, errors.New("garo client: server URL must start with http:// or https://")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("garo client: parse server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("garo client: server URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("garo client: server URL %q has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("garo client: server URL %q must not have a query or fragment", u.Redacted())
	}
	// Keep the path prefix in both decoded and escaped forms so that request paths
	// can be appended to it without re-escaping.
	u.RawPath = strings.TrimRight(u.EscapedPath(), "/")
	u.Path = strings.TrimRight(u.Path, "/")
	if !validToken(token) {
		// Do not echo the token: it is a secret even when malformed.
		return nil, errors.New("garo client: token contains whitespace or control characters")
	}
	c := &Client{
		base:      u,
		token:     token,
		http:      &http.Client{Timeout: DefaultTimeout},
		userAgent: "garo-client/" + version.Get().Version,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.http == nil {
		return nil, errors.New("garo client: WithHTTPClient: nil http.Client")
	}
	return c, nil
}

func validToken(t string) bool {
	for _, r := range t {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// ETag returns the entity tag of a policy at version: the version quoted, e.g. `"3"`. Use
// it as the ifMatch argument of ReplacePolicy, PatchPolicy and DeletePolicy.
func ETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// request describes one call. path is already escaped and starts with "/".
type request struct {
	op          string // what the caller was doing, for error messages
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string
	accept      string
	ifMatch     string
}

// response is an answer with its body read.
type response struct {
	status  int
	header  http.Header
	body    []byte
	readErr error // reading the body failed or it was too large
}

// do sends r and returns its 2xx answer, or an error wrapping *portalapi.APIError for
// any other status.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, c.statusError(r, resp, decodeError(resp.status, resp.body))
	}
	if resp.readErr != nil {
		return nil, fmt.Errorf("%s: read response: %w", r.op, resp.readErr)
	}
	return resp, nil
}

// statusError adds the operation and the server's request ID to apiErr.
func (c *Client) statusError(r request, resp *response, apiErr *portalapi.APIError) error {
	if id := resp.header.Get("X-Request-ID"); id != "" {
		return fmt.Errorf("%s (request %s): %w", r.op, id, apiErr)
	}
	return fmt.Errorf("%s: %w", r.op, apiErr)
}

// send sends r and returns the answer whatever its status, with the body read up to
// MaxResponseBytes (readErr says whether that went wrong).
func (c *Client) send(ctx context.Context, r request) (*response, error) {
	u := *c.base
	u.RawPath = c.base.RawPath + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("%s: bad path: %w", r.op, err)
	}
	u.Path = p
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the URL (never carrying the token, which is a header).
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	defer resp.Body.Close()
	data, readErr := readLimited(resp.Body)
	// Drain what is left (bounded) so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return &response{status: resp.StatusCode, header: resp.Header, body: data, readErr: readErr}, nil
}

// errBodyTooLarge is returned when a response body exceeds MaxResponseBytes.
var errBodyTooLarge = fmt.Errorf("response body exceeds %d bytes", MaxResponseBytes)

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return data, err
	}
	if len(data) > MaxResponseBytes {
		return data[:MaxResponseBytes], errBodyTooLarge
	}
	return data, nil
}

// decodeError turns a non-2xx answer into an APIError. A body that is not the API's
// ErrorBody (a proxy's HTML page, say) gives Code "unknown" and a short excerpt.
func decodeError(status int, body []byte) *portalapi.APIError {
	var eb portalapi.ErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error.Code != "" {
		return &portalapi.APIError{Status: status, ErrorDetail: eb.Error}
	}
	msg := http.StatusText(status)
	if msg == "" {
		msg = fmt.Sprintf("status %d", status)
	}
	if ex := excerpt(body, 200); ex != "" {
		msg += ": " + ex
	}
	return &portalapi.APIError{Status: status, ErrorDetail: portalapi.ErrorDetail{Code: "unknown", Message: msg}}
}

// excerpt returns at most limit bytes of b as printable single-line text.
func excerpt(b []byte, limit int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ") // collapse newlines and runs of spaces
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// getJSON sends a GET and decodes the JSON answer into out.
func (c *Client) getJSON(ctx context.Context, op, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: q})
	if err != nil {
		return err
	}
	return decode(op, resp, out)
}

// sendJSON sends body (marshalled as JSON with contentType) and decodes the answer into
// out unless out is nil.
func (c *Client) sendJSON(ctx context.Context, op, method, path string, in any, contentType, ifMatch string, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	resp, err := c.do(ctx, request{op: op, method: method, path: path, body: b, contentType: contentType, ifMatch: ifMatch})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return decode(op, resp, out)
}

// deleteReq sends a DELETE with an optional If-Match.
func (c *Client) deleteReq(ctx context.Context, op, path, ifMatch string) error {
	_, err := c.do(ctx, request{op: op, method: http.MethodDelete, path: path, ifMatch: ifMatch})
	return err
}

func decode(op string, resp *response, out any) error {
	if len(resp.body) == 0 {
		return fmt.Errorf("%s: empty response body (status %d)", op, resp.status)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// seg path-escapes one path segment after checking that it is usable as one: not empty
// (which would address a different route) and not "." or ".." (which proxies resolve).
func seg(what, s string) (string, error) {
	switch s {
	case "":
		return "", fmt.Errorf("garo client: %s is empty", what)
	case ".", "..":
		return "", fmt.Errorf("garo client: %s %q is not a valid path segment", what, s)
	}
	return url.PathEscape(s), nil
}
