package githubspec

import (
	"fmt"
	"strings"
)

// An erratum corrects a mistake in GitHub's description that no real response could
// satisfy. The vendored files stay as GitHub wrote them; errata are applied when they are
// loaded, each at one place, and loading fails when the place no longer holds the mistake
// (a newer release fixed it: drop the erratum).
type erratum struct {
	doc     string // "rest" or "webhooks"
	pointer string // JSON pointer to the schema to correct
	why     string
	fix     func(schema map[string]any) error
}

var errata = []erratum{
	{
		doc:     "rest",
		pointer: "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account",
		why: "GET /app/installations inlines the installation schema with account as allOf " +
			"[Simple User, Enterprise], which no account satisfies (a user has no slug, an " +
			"enterprise no login); components.schemas.installation, which every other " +
			"operation uses, says anyOf",
		fix: func(s map[string]any) error {
			branches, ok := s["allOf"].([]any)
			if !ok || len(branches) != 2 || s["anyOf"] != nil {
				return fmt.Errorf("no longer an allOf of two schemas")
			}
			delete(s, "allOf")
			s["anyOf"] = branches
			return nil
		},
	},
}

// Errata describes the corrections applied to GitHub's descriptions, one line each.
func Errata() []string {
	var out []string
	for _, e := range errata {
		out = append(out, fmt.Sprintf("%s %s: %s", e.doc, e.pointer, e.why))
	}
	return out
}

func applyErrata(doc string, root any) error {
	for _, e := range errata {
		if e.doc != doc {
			continue
		}
		v := root
		for _, tok := range strings.Split(strings.TrimPrefix(e.pointer, "/"), "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("erratum %s: no such place", e.pointer)
			}
			if v, ok = m[tok]; !ok {
				return fmt.Errorf("erratum %s: no such place", e.pointer)
			}
		}
		s, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("erratum %s: not a schema", e.pointer)
		}
		if err := e.fix(s); err != nil {
			return fmt.Errorf("erratum %s: %w", e.pointer, err)
		}
	}
	return nil
}
