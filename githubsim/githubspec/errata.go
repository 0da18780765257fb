package githubspec

import (
	"fmt"
	"slices"
	"strings"
)

// An erratum corrects a mistake in GitHub's description that real responses contradict.
// The vendored files stay as GitHub wrote them; errata are applied when they are loaded,
// each at one place, and loading fails when the place no longer holds the mistake (a newer
// release fixed it: drop the erratum).
type erratum struct {
	doc     string // "rest" or "webhooks"
	pointer string // JSON pointer to the schema to correct
	why     string
	fix     func(root, schema map[string]any) error
}

var errata = []erratum{
	{
		doc:     "rest",
		pointer: "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items",
		why: "GET /app/installations describes its items with an outdated inline copy of " +
			"components.schemas.installation, the schema of every other installation answer: " +
			"its account is allOf [Simple User, Enterprise], which no account satisfies (a user " +
			"has no slug, an enterprise no login), and it lacks client_id and the account's " +
			"user_view_type; the items are held to the component instead",
		fix: func(root, s map[string]any) error {
			comp, _ := lookup(root, "/components/schemas/installation").(map[string]any)
			if comp == nil {
				return fmt.Errorf("no components.schemas.installation")
			}
			account, _ := lookup(s, "/properties/account").(map[string]any)
			if s["title"] != "Installation" || s["$ref"] != nil || account == nil || account["allOf"] == nil ||
				!slices.Equal(stringList(s["required"]), stringList(comp["required"])) {
				return fmt.Errorf("no longer an inline installation with an allOf account")
			}
			clear(s)
			s["$ref"] = componentSchemas + "installation"
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
		s, ok := lookup(root, e.pointer).(map[string]any)
		if !ok {
			return fmt.Errorf("erratum %s: no schema at that place", e.pointer)
		}
		rm, _ := root.(map[string]any)
		if err := e.fix(rm, s); err != nil {
			return fmt.Errorf("erratum %s: %w", e.pointer, err)
		}
	}
	return nil
}

// lookup follows a JSON pointer; nil when there is nothing there.
func lookup(v any, pointer string) any {
	if pointer == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[tok]; !ok {
			return nil
		}
	}
	return v
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
