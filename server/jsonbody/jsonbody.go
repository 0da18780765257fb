// Package jsonbody decodes request bodies strictly: one JSON value, no unknown fields, and
// an error that names the offending field so the API can answer 400 with it.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Decode reads exactly one JSON value from r into v. Problems with the JSON are
// portalapi.FieldError values whose Field is the JSON path of the problem ("body" when no
// field can be named). Errors reading r (such as *http.MaxBytesError) are returned wrapped,
// not turned into field errors, so the caller can still tell them apart.
func Decode(r io.Reader, v any) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err, raw, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return portalapi.FieldError{Field: "body", Message: "must hold a single JSON value"}
	}
	return nil
}

func describe(err error, raw []byte, v any) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return portalapi.FieldError{Field: field, Message: fmt.Sprintf("must be %s, got %s", typeName(typeErr.Type), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return portalapi.FieldError{Field: "body", Message: fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case errors.Is(err, io.EOF):
		return portalapi.FieldError{Field: "body", Message: "is empty: a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return portalapi.FieldError{Field: "body", Message: "ends before the JSON value does"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The decoder names only the key; find where it sits to name the whole path.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		var doc any
		path := name
		if json.Unmarshal(raw, &doc) == nil {
			if p, ok := unknownPath(doc, reflect.TypeOf(v), ""); ok {
				path = p
			}
		}
		return portalapi.FieldError{Field: path, Message: "is not a known field"}
	}
	return portalapi.FieldError{Field: "body", Message: err.Error()}
}

// unknownPath walks doc along type t and returns the path of the first object key that t
// has no field for.
func unknownPath(doc any, t reflect.Type, prefix string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch d := doc.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for k, val := range d {
				ft, ok := fields[strings.ToLower(k)]
				if !ok {
					return join(k), true
				}
				if p, ok := unknownPath(val, ft, join(k)); ok {
					return p, true
				}
			}
		case reflect.Map:
			for k, val := range d {
				if p, ok := unknownPath(val, t.Elem(), join(k)); ok {
					return p, true
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, val := range d {
				if p, ok := unknownPath(val, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i)); ok {
					return p, true
				}
			}
		}
	}
	return "", false
}

// jsonFields maps the lower-cased JSON names of struct t's fields (embedded structs
// flattened) to their types, as encoding/json matches them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range jsonFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = f.Type
	}
	return out
}

var durationType = reflect.TypeOf(portalapi.Duration(0))

// typeName turns a Go type into the JSON kind a client should send.
func typeName(t reflect.Type) string {
	if t == durationType {
		return `a duration string such as "5m" or "90s"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
