package contract

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestRequestSchemasSuitGenerators holds every request body schema to the rules that make
// code generators (openapi-typescript, oapi-codegen) produce types that admit exactly the
// valid bodies; portal-api/typescript and tools/oapi-codegen run the generators themselves.
//
//   - An allOf has only $ref branches: an inline branch (`{type: object, required: [name]}`
//     beside a closed schema) becomes a type that admits no property at all.
//   - `nullable` comes with a `type`, which OpenAPI 3.0 needs for it to mean anything.
//   - A property written inline has no `default`: openapi-typescript makes such a property
//     required, so a default lives on a named schema the property refers to.
//   - `type: object` says what its members are (properties or additionalProperties), or it
//     becomes a type that admits no member.
func TestRequestSchemasSuitGenerators(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		for i, b := range s.AllOf {
			if b.Ref == "" {
				t.Errorf("%s: allOf[%d] is an inline schema; refer to a named one", where, i)
			}
			walk(where+".allOf["+strconv.Itoa(i)+"]", b)
		}
		if s.Nullable && s.Type == nil {
			t.Errorf("%s: nullable without a type", where)
		}
		if s.Type.Is(openapi3.TypeObject) && len(s.Properties) == 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && len(s.AllOf) == 0 {
			t.Errorf("%s: an object with neither properties nor additionalProperties", where)
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range s.Properties {
				if !yield(k) {
					return
				}
			}
		}) {
			p := s.Properties[name]
			if p.Ref == "" && p.Value != nil && p.Value.Default != nil {
				t.Errorf("%s.%s: an inline property with a default; move the default to a named schema", where, name)
			}
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Items)
		walk(where+"{}", s.AdditionalProperties.Schema)
	}
	bodies := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			for mt, m := range op.RequestBody.Value.Content {
				bodies++
				walk(strings.ToUpper(method)+" "+path+" "+mt, m.Schema)
			}
		}
	}
	if bodies < 8 {
		t.Errorf("walked only %d request bodies", bodies)
	}
}

// TestErrorResponsesPinTheirCode: every declared error response (status 400 and above)
// that carries the API's error body pins, with x-garo-error-code, a code of ErrorDetail's
// enum, which the Validator then holds answers to.
func TestErrorResponsesPinTheirCode(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var known []string
	for _, c := range doc.Components.Schemas["ErrorDetail"].Value.Properties["code"].Value.Enum {
		known = append(known, c.(string))
	}
	checked := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				n, err := strconv.Atoi(status)
				if err != nil || n < 400 || r.Value == nil {
					continue
				}
				m := r.Value.Content.Get("application/json")
				if m == nil || m.Schema == nil || m.Schema.Ref != "#/components/schemas/ErrorBody" {
					continue
				}
				checked++
				code := ErrorCode(r.Value)
				if !slices.Contains(known, code) {
					t.Errorf("%s %s %s: x-garo-error-code %q is not a code of ErrorDetail (%v)", strings.ToUpper(method), path, status, code, known)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked only %d error responses", checked)
	}
}
