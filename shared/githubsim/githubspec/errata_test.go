package githubspec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestErrata(t *testing.T) {
	t.Parallel()
	const ptr = "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account"
	doc := func(account string) any {
		var v any
		raw := `{"paths": {"/app/installations": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"items": {"properties": {"account": ` + account + `}}}}}}}}}}}`
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// As published: corrected to anyOf.
	v := doc(`{"nullable": true, "allOf": [{"title": "a"}, {"title": "b"}]}`)
	if err := applyErrata("rest", v); err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m = m[strings.ReplaceAll(tok, "~1", "/")].(map[string]any)
	}
	if _, ok := m["anyOf"].([]any); !ok || m["allOf"] != nil {
		t.Errorf("account after errata = %v", m)
	}
	// Fixed upstream, or moved: loading must say so rather than patch blindly.
	for _, fixed := range []any{doc(`{"nullable": true, "anyOf": [{}, {}]}`), doc(`{}`), map[string]any{}} {
		if err := applyErrata("rest", fixed); err == nil {
			t.Errorf("erratum applied to %v", fixed)
		}
	}
	if len(Errata()) != len(errata) {
		t.Errorf("Errata() = %q", Errata())
	}
}
