package githubspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Operation is one operation of the embedded REST description.
type Operation struct {
	Method string // upper case: "GET"
	Path   string // GitHub's templated form: "/repos/{owner}/{repo}/actions/runners/{runner_id}"
	ID     string // operationId: "actions/get-self-hosted-runner-for-repo"
}

type restSpec struct {
	ops        map[string]*operation // "GET /path"
	list       []Operation
	basicError *compiled
}

type operation struct {
	Operation
	responses map[string]*response // "200", "2XX", "default"
	query     map[string][]string  // query parameter -> its enum (nil: any value)
}

func (op *operation) response(status int) *response {
	code := strconv.Itoa(status)
	for _, key := range []string{code, code[:1] + "XX", "default"} {
		if r, ok := op.responses[key]; ok {
			return r
		}
	}
	return nil
}

func (op *operation) statuses() []string {
	var s []string
	for k := range op.responses {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

type response struct {
	content map[string]*compiled // media type -> body schema
	headers []*header
}

type header struct {
	name     string // as the description spells it; http.Header canonicalizes on lookup
	required bool
	typ      string // the schema's "type", to read the header's text as JSON
	schema   *compiled
}

const undeclaredError = "undeclared error"

func operationKey(method, path string) string { return strings.ToUpper(method) + " " + path }

var restMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadREST(raw []byte) (*restSpec, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if err := applyErrata("rest", v); err != nil {
		return nil, err
	}
	doc, _ := v.(map[string]any)
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	paths, _ := doc["paths"].(map[string]any)
	if schemas == nil || paths == nil {
		return nil, errors.New("no paths or no components.schemas")
	}
	if _, ok := schemas["basic-error"]; !ok {
		return nil, errors.New("no components.schemas.basic-error")
	}
	// The body of an error status the operation does not declare: GitHub's basic-error,
	// with the message that every GitHub error body carries.
	extra := map[string]any{undeclaredError: map[string]any{
		"allOf":    []any{map[string]any{"$ref": componentSchemas + "basic-error"}},
		"required": []any{"message"},
	}}

	// First pass: find every inline schema (response bodies, headers) and name it, so that
	// one compiler holds them all beside the components.
	type pendingHeader struct {
		h   *header
		def string
	}
	type pendingBody struct {
		r         *response
		mediaType string
		def       string
	}
	var (
		headers []pendingHeader
		bodies  []pendingBody
		spec    = &restSpec{ops: make(map[string]*operation)}
	)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, method := range restMethods {
			o, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			id, _ := o["operationId"].(string)
			op := &operation{
				Operation: Operation{Method: strings.ToUpper(method), Path: path, ID: id},
				responses: make(map[string]*response),
			}
			query, err := queryParameters(doc, item["parameters"], o["parameters"])
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			op.query = query
			resps, _ := o["responses"].(map[string]any)
			if len(resps) == 0 {
				return nil, fmt.Errorf("%s %s: no responses", method, path)
			}
			for status, r := range resps {
				rm, err := resolve(doc, r, "responses")
				if err != nil {
					return nil, fmt.Errorf("%s %s %s: %w", method, path, status, err)
				}
				resp := &response{content: make(map[string]*compiled)}
				op.responses[status] = resp
				content, _ := rm["content"].(map[string]any)
				for mt, media := range content {
					mm, _ := media.(map[string]any)
					s, ok := mm["schema"]
					if !ok {
						s = true // a body of any shape
					}
					def := fmt.Sprintf("response %s %s %s", id, status, mt)
					extra[def] = s
					bodies = append(bodies, pendingBody{resp, mt, def})
				}
				hs, _ := rm["headers"].(map[string]any)
				for _, name := range sortedKeys(hs) {
					hm, err := resolve(doc, hs[name], "headers")
					if err != nil {
						return nil, fmt.Errorf("%s %s %s header %s: %w", method, path, status, name, err)
					}
					h := &header{name: name, required: hm["required"] == true}
					if s, ok := hm["schema"].(map[string]any); ok {
						h.typ, _ = s["type"].(string)
						def := fmt.Sprintf("header %s %s %s", id, status, name)
						extra[def] = s
						headers = append(headers, pendingHeader{h, def})
					}
					resp.headers = append(resp.headers, h)
				}
			}
			spec.ops[operationKey(method, path)] = op
			spec.list = append(spec.list, op.Operation)
		}
	}

	set, err := newSchemaSet(true, schemas, extra)
	if err != nil {
		return nil, err
	}
	for _, b := range bodies {
		if b.r.content[b.mediaType], err = set.compile(b.def); err != nil {
			return nil, err
		}
	}
	for _, h := range headers {
		if h.h.schema, err = set.compile(h.def); err != nil {
			return nil, err
		}
	}
	if spec.basicError, err = set.compile(undeclaredError); err != nil {
		return nil, err
	}
	return spec, nil
}

// resolve follows one "$ref": "#/components/KIND/NAME", if v is one.
func resolve(doc map[string]any, v any, kind string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a %T, not an object", v)
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return m, nil
	}
	name, ok := strings.CutPrefix(ref, "#/components/"+kind+"/")
	if !ok {
		return nil, fmt.Errorf("unsupported reference %q", ref)
	}
	components, _ := doc["components"].(map[string]any)
	all, _ := components[kind].(map[string]any)
	target, ok := all[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("dangling reference %q", ref)
	}
	return target, nil
}

// queryParameters reads the query parameters of a path item and an operation, with the
// enum of each (nil when any value goes).
func queryParameters(doc map[string]any, lists ...any) (map[string][]string, error) {
	out := map[string][]string{}
	for _, l := range lists {
		params, _ := l.([]any)
		for _, p := range params {
			pm, err := resolve(doc, p, "parameters")
			if err != nil {
				return nil, fmt.Errorf("parameter: %w", err)
			}
			if pm["in"] != "query" {
				continue
			}
			name, _ := pm["name"].(string)
			var enum []string
			if schema, ok := pm["schema"].(map[string]any); ok {
				values, _ := schema["enum"].([]any)
				for _, e := range values {
					if s, ok := e.(string); ok {
						enum = append(enum, s)
					}
				}
			}
			out[name] = enum
		}
	}
	return out, nil
}

// ValidateQuery checks the query of a request to the operation (method, path in templated
// form) against GitHub's REST description: every parameter is one the operation declares
// (in the query), and a parameter with an enum has one of its values. Errors wrap
// ErrUnknownOperation or ErrMismatch.
func ValidateQuery(method, path string, query url.Values) error {
	l, err := load()
	if err != nil {
		return err
	}
	op, ok := l.rest.ops[operationKey(method, path)]
	if !ok {
		return fmt.Errorf("%s %s: %w", method, path, ErrUnknownOperation)
	}
	for _, name := range sortedKeys(query) {
		enum, declared := op.query[name]
		if !declared {
			return fmt.Errorf("%s %s: query parameter %q is not declared: %w", method, path, name, ErrMismatch)
		}
		for _, v := range query[name] {
			if enum != nil && !slices.Contains(enum, v) {
				return fmt.Errorf("%s %s: query parameter %s=%q is not one of %v: %w", method, path, name, v, enum, ErrMismatch)
			}
		}
	}
	return nil
}

// Operations lists the operations of the embedded REST description, sorted by path and
// method.
func Operations() ([]Operation, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	return slices.Clone(l.rest.list), nil
}

// HasOperation reports whether GitHub's REST description has the operation. method is
// case-insensitive; path must be in GitHub's templated form, parameter names included
// ("/repos/{owner}/{repo}/actions/runners/{runner_id}"). It is false if the embedded
// description cannot be loaded (Operations says why).
func HasOperation(method, path string) bool {
	l, err := load()
	if err != nil {
		return false
	}
	_, ok := l.rest.ops[operationKey(method, path)]
	return ok
}

// ValidateResponse checks a response to the operation (method, path in templated form)
// against GitHub's REST description, applying its schemas as written:
//
//   - the status must be declared by the operation (exactly, as "2XX", or as "default"),
//     except that an undeclared error status (400 and up) is accepted with GitHub's generic
//     error body (components.schemas.basic-error, with its "message" required): GitHub
//     answers any request with those, and its description lists only some of them;
//   - declared headers that are present must match their schemas, and required ones must be
//     present;
//   - a response that declares a body must have a Content-Type of a declared media type and
//     a body that matches that media type's schema; one that declares none must have an
//     empty body.
//
// Errors wrap ErrUnknownOperation, ErrUndeclaredStatus or ErrMismatch.
func ValidateResponse(method, path string, status int, header http.Header, body []byte) error {
	return validateResponse(method, path, status, header, body, false)
}

// ValidateResponseClosed is ValidateResponse with closed schemas: a member that GitHub's
// schema does not document is an error too, wherever the schema does not itself admit other
// members (additionalProperties).
func ValidateResponseClosed(method, path string, status int, header http.Header, body []byte) error {
	return validateResponse(method, path, status, header, body, true)
}

func validateResponse(method, path string, status int, h http.Header, body []byte, closed bool) error {
	l, err := load()
	if err != nil {
		return err
	}
	op, ok := l.rest.ops[operationKey(method, path)]
	if !ok {
		return fmt.Errorf("%s %s: %w", strings.ToUpper(method), path, ErrUnknownOperation)
	}
	where := fmt.Sprintf("%s %s (%s) answered %d", op.Method, op.Path, op.ID, status)
	resp := op.response(status)
	if resp == nil {
		if status < 400 {
			return fmt.Errorf("%s: %w (declared: %s)", where, ErrUndeclaredStatus, strings.Join(op.statuses(), ", "))
		}
		resp = &response{content: map[string]*compiled{"application/json": l.rest.basicError}}
	}

	for _, hd := range resp.headers {
		values := h.Values(hd.name)
		if len(values) == 0 {
			if hd.required {
				return fmt.Errorf("%s: header %s is required: %w", where, hd.name, ErrMismatch)
			}
			continue
		}
		if hd.schema == nil {
			continue
		}
		for _, text := range values {
			if err := hd.schema.validate(headerValue(hd.typ, text), closed); err != nil {
				return fmt.Errorf("%s: header %s %q: %w: %w", where, hd.name, text, ErrMismatch, err)
			}
		}
	}

	if len(resp.content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s: the description declares no body, got %d bytes: %w", where, len(body), ErrMismatch)
		}
		return nil
	}
	ct := h.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%s: Content-Type %q: %w", where, ct, ErrMismatch)
	}
	sch, ok := resp.content[mediaType]
	if !ok {
		return fmt.Errorf("%s: Content-Type %q, declared: %s: %w", where, mediaType, strings.Join(sortedKeys(resp.content), ", "), ErrMismatch)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%s: empty body, want %s: %w", where, mediaType, ErrMismatch)
	}
	v, err := decode(body)
	if err != nil {
		return fmt.Errorf("%s: body is not JSON: %w: %w", where, ErrMismatch, err)
	}
	if err := sch.validate(v, closed); err != nil {
		return fmt.Errorf("%s: body: %w: %w", where, ErrMismatch, err)
	}
	return nil
}

// headerValue reads a header's text as the JSON value its schema expects, so that
// X-RateLimit-Limit: 5000 is checked as an integer. Text that does not parse stays a string
// and fails the schema's type.
func headerValue(typ, text string) any {
	switch typ {
	case "integer", "number":
		if _, err := strconv.ParseFloat(text, 64); err == nil {
			return json.Number(text)
		}
	case "boolean":
		if b, err := strconv.ParseBool(text); err == nil {
			return b
		}
	}
	return text
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
