// Package contract holds the server's handlers to portal-api/openapi.yaml. The server's API
// tests use it in two ways:
//
//   - MissingFromSpec and ExtraInSpec compare the routes registered on echo with the
//     operations of the spec, so that a route cannot be added or removed on one side only;
//   - a Validator wraps the test client's transport and checks every request and response
//     that passes through against the spec: declared status, headers, content type, body.
//
// Nothing here imports echo: routes are passed in as plain (method, path) pairs.
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Load parses the embedded spec (portalapi.OpenAPISpec) and validates it as an OpenAPI 3.0
// document, examples included.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(portalapi.OpenAPISpec)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	return doc, nil
}

// Route is one registered server route. Path is in echo form, with ":name" parameters
// ("/api/v1/repos/:owner/:repo/policies/:name"); echo.Route converts field by field.
type Route struct{ Method, Path string }

// MissingFromSpec returns "METHOD /path" (path in spec form) for every route that no
// operation of doc describes, sorted. Parameters match by position, not by name. Routes
// that echo registers for itself are ignored: methods that are not HTTP methods (such as
// echo.RouteNotFound, "echo_route_not_found") and wildcard paths ending in "*" (the
// catch-alls of groups and of 404 handling).
func MissingFromSpec(doc *openapi3.T, routes []Route) []string {
	inSpec := make(map[string]bool)
	for _, op := range specOperations(doc) {
		inSpec[op.key] = true
	}
	var missing []string
	for _, r := range routes {
		if ignoredRoute(r) {
			continue
		}
		method, path := strings.ToUpper(r.Method), echoToSpecPath(r.Path)
		if !inSpec[method+" "+paramShape(path)] {
			missing = append(missing, method+" "+path)
		}
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// ExtraInSpec returns "METHOD /path" for every operation of doc that no route serves,
// sorted.
func ExtraInSpec(doc *openapi3.T, routes []Route) []string {
	served := make(map[string]bool)
	for _, r := range routes {
		if !ignoredRoute(r) {
			served[strings.ToUpper(r.Method)+" "+paramShape(echoToSpecPath(r.Path))] = true
		}
	}
	var extra []string
	for _, op := range specOperations(doc) {
		if !served[op.key] {
			extra = append(extra, op.method+" "+op.path)
		}
	}
	slices.Sort(extra)
	return extra
}

var httpMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

func ignoredRoute(r Route) bool {
	return !slices.Contains(httpMethods, strings.ToUpper(r.Method)) || strings.HasSuffix(r.Path, "*")
}

type specOperation struct {
	method, path string
	key          string // method + " " + paramShape(path)
}

func specOperations(doc *openapi3.T) []specOperation {
	var ops []specOperation
	if doc == nil || doc.Paths == nil {
		return nil
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			method = strings.ToUpper(method)
			ops = append(ops, specOperation{method: method, path: path, key: method + " " + paramShape(path)})
		}
	}
	return ops
}

// echoToSpecPath turns "/repos/:owner/:repo" into "/repos/{owner}/{repo}".
func echoToSpecPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// paramShape erases parameter names, "/repos/{owner}" -> "/repos/{}", so that a route and
// an operation that differ only in how they name a parameter still match.
func paramShape(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// Validator checks real requests and responses against the spec. It is safe for concurrent
// use, so parallel subtests may share one.
//
// Responses are held to the operation the request matched: the status must be declared,
// declared headers (X-Request-ID, ETag, Location, WWW-Authenticate) must be present and
// well-formed, the Content-Type must be a declared one and the body must match its schema.
// A policy response's ETag must also carry the body's version.
//
// Requests are validated too, but a request the spec rejects is only a failure when the
// server answers it with a 2xx: tests that deliberately send bad requests expect a 4xx and
// get no failure for it, while a server that accepts what the spec forbids is caught.
// Authentication is the server's business: the bearer token is not checked here.
//
// A response to a request that matches no operation (unknown path, or a method the path
// does not have) is counted; it must be an error answer (status 400 or above) carrying the
// API's one error body, as the spec's introduction promises.
type Validator struct {
	doc       *openapi3.T
	router    routers.Router
	errorBody *openapi3.Schema
	reqOpts   *openapi3filter.Options
	respOpts  *openapi3filter.Options

	// validate serializes the kin-openapi calls: they are meant to be safe for concurrent
	// use, but the server tests run with -race and a shared lock costs nothing here.
	validate sync.Mutex

	mu       sync.Mutex
	failures []string
	checked  int
	seen     map[string]struct{}
}

// NewValidator builds a Validator for doc (as returned by Load). Requests may go to any host:
// the spec's only server is "/", so operations match on path and method alone.
func NewValidator(doc *openapi3.T) (*Validator, error) {
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build openapi router: %w", err)
	}
	eb := doc.Components.Schemas["ErrorBody"]
	if eb == nil || eb.Value == nil {
		return nil, errors.New("openapi.yaml has no ErrorBody schema")
	}
	schemaOpts := []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}
	return &Validator{
		doc:       doc,
		router:    router,
		errorBody: eb.Value,
		reqOpts: &openapi3filter.Options{
			AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
			MultiError:              true,
			SkipSettingDefaults:     true,
			SchemaValidationOptions: schemaOpts,
		},
		respOpts: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: schemaOpts,
		},
		seen: make(map[string]struct{}),
	}, nil
}

// Transport wraps next (http.DefaultTransport when nil): every exchange that passes through
// is validated and failures are collected, never panicked or returned, so the test still
// sees the real response. The response body is read in full and put back for the caller.
func (v *Validator) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return v.roundTrip(next, req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (v *Validator) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request, so the body is read once and
	// both the validation and the real call get their own reader over the bytes.
	var reqBody []byte
	out := req
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("contract: read request body: %w", err)
		}
		reqBody = b
		out = req.Clone(req.Context())
		out.Body = io.NopCloser(bytes.NewReader(reqBody))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}

	ex := v.matchRequest(req, reqBody)

	resp, err := next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("contract: read response body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	v.checkResponse(ex, resp, respBody)
	return resp, nil
}

// exchange is what is known about a request before its response arrives.
type exchange struct {
	method, path string // as sent
	route        *routers.Route
	params       map[string]string
	input        *openapi3filter.RequestValidationInput
	requestErr   error
}

func (v *Validator) matchRequest(req *http.Request, body []byte) *exchange {
	ex := &exchange{method: req.Method, path: req.URL.Path}
	v.validate.Lock()
	defer v.validate.Unlock()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return ex // no operation: checked as such once the response is in
	}
	ex.route, ex.params = route, params

	// The validation reads a copy so that the request that goes out is untouched.
	vreq := req.Clone(req.Context())
	vreq.Body = http.NoBody
	if body != nil {
		vreq.Body = io.NopCloser(bytes.NewReader(body))
	}
	ex.input = &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route, Options: v.reqOpts,
	}
	ex.requestErr = openapi3filter.ValidateRequest(req.Context(), ex.input)
	return ex
}

func (v *Validator) checkResponse(ex *exchange, resp *http.Response, body []byte) {
	var problems []string
	seen := ""
	if ex.route == nil {
		problems = v.checkUnmatched(resp, body)
	} else {
		seen = fmt.Sprintf("%s %s %d", ex.method, ex.route.Path, resp.StatusCode)
		problems = v.checkMatched(ex, resp, body)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	v.checked++
	if seen != "" {
		v.seen[seen] = struct{}{}
	}
	for _, p := range problems {
		v.failures = append(v.failures, fmt.Sprintf("%s %s %d: %s", ex.method, ex.path, resp.StatusCode, p))
	}
}

func (v *Validator) checkMatched(ex *exchange, resp *http.Response, body []byte) []string {
	var problems []string
	if ex.requestErr != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		problems = append(problems, "the server accepted a request that the spec rejects: "+oneLine(ex.requestErr))
	}

	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: ex.input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                v.respOpts,
	}
	in.SetBodyBytes(body)
	v.validate.Lock()
	err := openapi3filter.ValidateResponse(ex.input.Request.Context(), in)
	v.validate.Unlock()
	if err != nil {
		problems = append(problems, oneLine(err))
	}
	if p := checkETag(resp, body); p != "" {
		problems = append(problems, p)
	}
	if p := checkErrorCode(ex.route, resp, body); p != "" {
		problems = append(problems, p)
	}
	return problems
}

// ErrorCodeExtension names the extension of a declared error response that pins the
// `error.code` its body carries (`x-garo-error-code: invalid_request` on BadRequest). The
// code is an extension rather than a schema (an allOf of ErrorBody and a schema narrowing
// `error.code`) because code generators merge such an allOf into a type that loses
// `error.message` and `error.fields`.
const ErrorCodeExtension = "x-garo-error-code"

// ErrorCode returns the error code that r pins with ErrorCodeExtension, or "".
func ErrorCode(r *openapi3.Response) string {
	if r == nil {
		return ""
	}
	code, _ := r.Extensions[ErrorCodeExtension].(string)
	return code
}

// checkErrorCode holds an error answer to the code its declared response pins.
func checkErrorCode(route *routers.Route, resp *http.Response, body []byte) string {
	if route == nil || route.Operation == nil || route.Operation.Responses == nil {
		return ""
	}
	ref := route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil {
		return ""
	}
	want := ErrorCode(ref.Value)
	if want == "" {
		return ""
	}
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		return fmt.Sprintf("error answer is not JSON: %v", err)
	}
	if eb.Error.Code != want {
		return fmt.Sprintf("error.code %q, the spec pins %q for status %d", eb.Error.Code, want, resp.StatusCode)
	}
	return ""
}

// checkETag holds a response that has both an ETag and a body "version" (a policy) to the
// rule that the one is the quoted form of the other.
func checkETag(resp *http.Response, body []byte) string {
	etag := resp.Header.Get("ETag")
	if etag == "" || !isJSON(resp.Header) {
		return ""
	}
	var v struct {
		Version *int64 `json:"version"`
	}
	if json.Unmarshal(body, &v) != nil || v.Version == nil {
		return ""
	}
	if want := strconv.Quote(strconv.FormatInt(*v.Version, 10)); etag != want {
		return fmt.Sprintf("ETag %s does not carry the body's version (want %s)", etag, want)
	}
	return ""
}

func (v *Validator) checkUnmatched(resp *http.Response, body []byte) []string {
	if resp.StatusCode < 400 {
		return []string{"no operation of the spec matches this method and path, yet the server answered it"}
	}
	var problems []string
	if resp.Header.Get("X-Request-ID") == "" {
		problems = append(problems, `response header "X-Request-ID" missing`)
	}
	if !isJSON(resp.Header) {
		return append(problems, fmt.Sprintf("error answer has Content-Type %q, want application/json with an ErrorBody", resp.Header.Get("Content-Type")))
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return append(problems, "error answer is not JSON: "+err.Error())
	}
	v.validate.Lock()
	err := v.errorBody.VisitJSON(value, openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails())
	v.validate.Unlock()
	if err != nil {
		problems = append(problems, "error answer is not an ErrorBody: "+oneLine(err))
	}
	return problems
}

func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Failures returns the validation failures seen so far, in the order they happened, each as
// "METHOD /path status: reason" with the path as sent.
func (v *Validator) Failures() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.failures)
}

// Checked returns how many responses were validated.
func (v *Validator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}

// Operations returns, sorted, every "METHOD /spec/path status" seen so far, such as
// "GET /api/v1/repos/{owner}/{repo}/policies/{name} 404", so that a test can report which
// declared responses it exercised. Responses to requests that matched no operation are
// not listed.
func (v *Validator) Operations() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ops := make([]string, 0, len(v.seen))
	for k := range v.seen {
		ops = append(ops, k)
	}
	slices.Sort(ops)
	return ops
}
