package githubspec

import (
	"encoding/json"
	"testing"
)

func TestErrata(t *testing.T) {
	t.Parallel()
	const items = "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items"
	doc := func(inline string) any {
		var v any
		raw := `{
			"components": {"schemas": {"installation": {"title": "Installation", "required": ["id", "account"]}}},
			"paths": {"/app/installations": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "items": ` + inline + `}}}}}}}}
		}`
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// As published: the inline copy becomes the component.
	v := doc(`{"title": "Installation", "required": ["id", "account"], "properties": {"account": {"nullable": true, "allOf": [{}, {}]}}}`)
	if err := applyErrata("rest", v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(lookup(v, items))
	if string(got) != `{"$ref":"#/components/schemas/installation"}` {
		t.Errorf("items after errata = %s", got)
	}
	// Fixed upstream, changed, or moved: loading must say so rather than patch blindly.
	for name, fixed := range map[string]any{
		"already a reference": doc(`{"$ref": "#/components/schemas/installation"}`),
		"account fixed":       doc(`{"title": "Installation", "required": ["id", "account"], "properties": {"account": {"anyOf": [{}, {}]}}}`),
		"another object":      doc(`{"title": "Installation", "required": ["id"], "properties": {"account": {"allOf": [{}, {}]}}}`),
		"moved":               map[string]any{},
	} {
		if err := applyErrata("rest", fixed); err == nil {
			t.Errorf("%s: erratum applied", name)
		}
	}
	if len(Errata()) != len(errata) {
		t.Errorf("Errata() = %q", Errata())
	}
}
