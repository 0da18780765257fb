// Package jsonbody decodes request bodies strictly: one JSON value, no unknown fields, and
// an error that names the offending field so the API can answer 400 with it.
package jsonbody

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Decode reads exactly one JSON value from r into v. Errors are portalapi.FieldError values
// whose Field is the JSON path of the problem ("body" when no field can be named).
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return portalapi.FieldError{Field: "body", Message: "must hold a single JSON value"}
	}
	return nil
}

func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return portalapi.FieldError{Field: field, Message: fmt.Sprintf("must be %s, got %s", typeName(typeErr.Type.String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return portalapi.FieldError{Field: "body", Message: fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case errors.Is(err, io.EOF):
		return portalapi.FieldError{Field: "body", Message: "is empty: a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return portalapi.FieldError{Field: "body", Message: "ends before the JSON value does"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return portalapi.FieldError{Field: name, Message: "is not a known field"}
	}
	return portalapi.FieldError{Field: "body", Message: err.Error()}
}

// typeName turns a Go type into the JSON kind a client should send.
func typeName(goType string) string {
	switch {
	case goType == "portalapi.Duration":
		return `a duration string such as "5m" or "90s"`
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	}
	return "an object"
}
