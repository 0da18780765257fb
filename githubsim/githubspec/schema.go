package githubspec

import (
	"fmt"
	"slices"
	"strings"
)

// converter turns the schemas of GitHub's descriptions into JSON Schema 2020-12 that one
// document can hold under "$defs":
//
//   - "$ref": "#/components/schemas/NAME" becomes "#/$defs/NAME";
//   - OpenAPI 3.0 (the REST description) is brought to 2020-12: "nullable": true admits null
//     (in "type", in "enum", or around a composition), siblings of "$ref" are dropped as 3.0
//     ignores them, boolean exclusiveMaximum/exclusiveMinimum become numbers;
//   - OpenAPI 3.1 (the webhook description) is 2020-12 already and keeps its keywords;
//   - "example", "discriminator", "xml", "externalDocs" and "x-*" extensions go: they are
//     documentation, and a JSON Schema validator does not know them.
//
// In closed mode the converter also closes every object schema that declares "properties"
// (and every "allOf" parent) with "unevaluatedProperties": false, unless GitHub's schema
// already says what to do with other members (additionalProperties, patternProperties).
// A closed schema rejects any member GitHub does not document, which catches a field that
// was renamed or invented even where it is optional. A branch of "allOf", and a branch of
// "oneOf"/"anyOf" under a schema with properties of its own, is left open: the parent
// closes over what all of them evaluate. A branch that is a "$ref" then points at
// "#/$defs/open:NAME", the component with only its top level left open.
type converter struct {
	openapi30 bool
	closed    bool
	needOpen  map[string]bool // components that an open branch refers to
}

const componentSchemas = "#/components/schemas/"

// schema converts s. closing says whether s may be closed (closed mode only).
func (c *converter) schema(s any, closing bool) (any, error) {
	m, ok := s.(map[string]any)
	if !ok {
		if _, isBool := s.(bool); isBool {
			return s, nil
		}
		return nil, fmt.Errorf("schema is a %T, not an object", s)
	}
	if ref, ok := m["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, componentSchemas)
		if !ok {
			return nil, fmt.Errorf("unsupported reference %q", ref)
		}
		target := "#/$defs/" + name
		if c.closed && !closing {
			target = "#/$defs/open:" + name
			c.needOpen[name] = true
		}
		if c.openapi30 {
			// OpenAPI 3.0: "This object cannot be extended with additional properties and
			// any properties added SHALL be ignored."
			return map[string]any{"$ref": target}, nil
		}
		m = mapsClone(m)
		m["$ref"] = target
	}

	out := make(map[string]any, len(m)+1)
	hasOwnProps := m["properties"] != nil
	_, hasAllOf := m["allOf"]
	for k, v := range m {
		var err error
		switch {
		case k == "$ref":
			out[k] = v
		case k == "properties" || k == "patternProperties" || k == "$defs" || k == "dependentSchemas":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is a %T", k, v)
			}
			conv := make(map[string]any, len(props))
			for name, p := range props {
				if conv[name], err = c.schema(p, true); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", k, name, err)
				}
			}
			out[k] = conv
		case k == "items" || k == "additionalProperties" || k == "not" || k == "contains" ||
			k == "propertyNames" || k == "unevaluatedItems" || k == "unevaluatedProperties" ||
			k == "if" || k == "then" || k == "else":
			if _, isBool := v.(bool); isBool {
				out[k] = v
				continue
			}
			if out[k], err = c.schema(v, true); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		case k == "allOf" || k == "oneOf" || k == "anyOf" || k == "prefixItems":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is a %T", k, v)
			}
			// An allOf branch never closes; a oneOf/anyOf branch closes only when the
			// parent adds nothing of its own for it to miss.
			branchCloses := k == "prefixItems" || (k != "allOf" && !hasOwnProps && !hasAllOf)
			conv := make([]any, len(list))
			for i, b := range list {
				if conv[i], err = c.schema(b, branchCloses); err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
			}
			out[k] = conv
		case k == "exclusiveMaximum" || k == "exclusiveMinimum":
			if b, isBool := v.(bool); isBool {
				bound := map[string]string{"exclusiveMaximum": "maximum", "exclusiveMinimum": "minimum"}[k]
				if b {
					out[k] = m[bound]
				}
				continue
			}
			out[k] = v
		case k == "nullable" && c.openapi30:
			// handled below
		case k == "example" || k == "discriminator" || k == "xml" || k == "externalDocs" ||
			strings.HasPrefix(k, "x-"):
			// documentation only
		default:
			out[k] = v
		}
	}
	if c.openapi30 {
		// A boolean exclusive bound replaced its partner.
		for _, pair := range [][2]string{{"exclusiveMaximum", "maximum"}, {"exclusiveMinimum", "minimum"}} {
			if _, ok := out[pair[0]]; ok {
				delete(out, pair[1])
			}
		}
	}

	if c.closed && closing && (hasOwnProps || hasAllOf) {
		_, ap := m["additionalProperties"]
		_, pp := m["patternProperties"]
		_, up := m["unevaluatedProperties"]
		if !ap && !pp && !up {
			out["unevaluatedProperties"] = false
		}
	}

	if c.openapi30 && m["nullable"] == true {
		_, oneOf := m["oneOf"]
		_, anyOf := m["anyOf"]
		_, not := m["not"]
		if hasAllOf || oneOf || anyOf || not {
			return map[string]any{"anyOf": []any{map[string]any{"type": "null"}, out}}, nil
		}
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
		if enum, ok := out["enum"].([]any); ok && !slices.Contains(enum, any(nil)) {
			out["enum"] = append(slices.Clone(enum), nil)
		}
	}
	return out, nil
}

// defs converts every component schema, and in closed mode the open variants that
// branches refer to.
func (c *converter) defs(components map[string]any) (map[string]any, error) {
	defs := make(map[string]any, len(components))
	for name, s := range components {
		conv, err := c.schema(s, true)
		if err != nil {
			return nil, fmt.Errorf("components.schemas.%s: %w", name, err)
		}
		defs[name] = conv
	}
	return defs, nil
}

// addOpen adds "open:NAME" for every component an open branch has referred to so far,
// including those that the open variants themselves refer to.
func (c *converter) addOpen(defs, components map[string]any) error {
	for {
		added := false
		for name := range c.needOpen {
			key := "open:" + name
			if _, done := defs[key]; done {
				continue
			}
			s, ok := components[name]
			if !ok {
				return fmt.Errorf("reference to unknown component schema %q", name)
			}
			conv, err := c.schema(s, false)
			if err != nil {
				return fmt.Errorf("components.schemas.%s: %w", name, err)
			}
			defs[key] = conv
			added = true
		}
		if !added {
			return nil
		}
	}
}

func mapsClone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
