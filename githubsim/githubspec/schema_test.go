package githubspec

import (
	"encoding/json"
	"testing"
)

// TestConverter pins how OpenAPI schemas are read, in both strictness levels.
func TestConverter(t *testing.T) {
	t.Parallel()
	components := `{
		"A": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
		"B": {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]}
	}`
	type check struct {
		instance    string
		lax, closed bool // valid?
	}
	tests := []struct {
		name      string
		openapi30 bool
		schema    string
		checks    []check
	}{
		{"3.0 nullable type", true, `{"type": "string", "nullable": true}`, []check{
			{`null`, true, true}, {`"x"`, true, true}, {`1`, false, false},
		}},
		{"3.0 not nullable", true, `{"type": "string"}`, []check{
			{`null`, false, false},
		}},
		{"3.0 nullable enum", true, `{"type": "string", "enum": ["a"], "nullable": true}`, []check{
			{`null`, true, true}, {`"a"`, true, true}, {`"b"`, false, false},
		}},
		{"3.0 nullable oneOf", true, `{"nullable": true, "oneOf": [{"type": "string"}, {"type": "integer"}]}`, []check{
			{`null`, true, true}, {`"x"`, true, true}, {`true`, false, false},
		}},
		{"3.0 nullable object", true, `{"type": "object", "nullable": true, "properties": {"a": {"type": "integer"}}}`, []check{
			{`null`, true, true}, {`{"a": 1}`, true, true}, {`{"a": 1, "z": 1}`, true, false},
		}},
		{"3.0 $ref siblings are ignored", true, `{"$ref": "#/components/schemas/A", "nullable": true}`, []check{
			{`{"a": 1}`, true, true}, {`null`, false, false},
		}},
		{"3.0 boolean exclusiveMaximum", true, `{"type": "integer", "maximum": 5, "exclusiveMaximum": true}`, []check{
			{`4`, true, true}, {`5`, false, false},
		}},
		{"3.0 example is documentation", true, `{"type": "integer", "example": "not an integer"}`, []check{
			{`4`, true, true},
		}},
		{"required and closing", false, `{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}`, []check{
			{`{"a": 1}`, true, true}, {`{"b": 1}`, false, false}, {`{"a": 1, "b": 1}`, true, false},
		}},
		{"nested objects close too", false, `{"type": "object", "properties": {"o": {"type": "object", "properties": {"a": {}}}}}`, []check{
			{`{"o": {"a": 1}}`, true, true}, {`{"o": {"a": 1, "b": 2}}`, true, false},
		}},
		{"additionalProperties keeps its word", false, `{"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "string"}}`, []check{
			{`{"a": 1, "b": "x"}`, true, true}, {`{"a": 1, "b": 2}`, false, false},
		}},
		{"object without properties stays open", false, `{"type": "object"}`, []check{
			{`{"anything": 1}`, true, true},
		}},
		{"allOf parent closes over its branches", false, `{"allOf": [{"type": "object", "properties": {"a": {}}}, {"properties": {"b": {}}}]}`, []check{
			{`{"a": 1, "b": 2}`, true, true}, {`{"a": 1, "b": 2, "c": 3}`, true, false},
		}},
		{"allOf branch that is a $ref is left open", false, `{"allOf": [{"$ref": "#/components/schemas/A"}], "properties": {"x": {}}}`, []check{
			{`{"a": 1, "x": 2}`, true, true}, {`{"a": 1, "y": 2}`, true, false}, {`{"x": 2}`, false, false},
		}},
		{"oneOf of $refs closes each branch", false, `{"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]}`, []check{
			{`{"a": 1}`, true, true}, {`{"b": 1}`, true, true}, {`{"a": 1, "z": 1}`, true, false}, {`{}`, false, false},
		}},
		{"anyOf under own properties leaves branches open", false, `{"properties": {"x": {}}, "anyOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]}`, []check{
			{`{"x": 1, "a": 1}`, true, true}, {`{"x": 1, "a": 1, "z": 1}`, true, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var comps, schema any
			if err := json.Unmarshal([]byte(components), &comps); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.schema), &schema); err != nil {
				t.Fatal(err)
			}
			set, err := newSchemaSet(tt.openapi30, comps.(map[string]any), map[string]any{"under test": schema})
			if err != nil {
				t.Fatal(err)
			}
			c, err := set.compile("under test")
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range tt.checks {
				v, err := decode([]byte(ch.instance))
				if err != nil {
					t.Fatal(err)
				}
				if err := c.validate(v, false); (err == nil) != ch.lax {
					t.Errorf("lax %s: valid = %v, want %v (%v)", ch.instance, err == nil, ch.lax, err)
				}
				if err := c.validate(v, true); (err == nil) != ch.closed {
					t.Errorf("closed %s: valid = %v, want %v (%v)", ch.instance, err == nil, ch.closed, err)
				}
			}
		})
	}
}
