// Package githubspec holds Garo's GitHub simulator, and anything else that speaks for
// GitHub in tests, to GitHub's own published descriptions:
//
//   - the REST description of api.github.com from @octokit/openapi (OpenAPI 3.0), cut to
//     the operations the simulator serves;
//   - the webhook description from @octokit/openapi-webhooks (OpenAPI 3.1), cut to the
//     ping and workflow_job events;
//   - the example payloads of those events from @octokit/webhooks-examples.
//
// The data is embedded from data/ (see data/README.md for versions, licenses and how to
// regenerate it). Schemas are converted to JSON Schema 2020-12 and checked with
// santhosh-tekuri/jsonschema, formats (date-time, uri, email, ...) asserted.
//
// Two levels of strictness are offered. ValidateResponse and ValidateWebhook apply GitHub's
// schemas as written: a missing or renamed required member fails, a member of the wrong type
// or outside an enum fails, and members the schema does not mention are accepted, as GitHub's
// schemas do not forbid them. The Closed variants also reject every member that GitHub's
// schema does not document, so an optional field that was renamed or invented fails too
// (see converter); that is what a simulator should pass, since it has no excuse to send
// anything GitHub does not describe.
//
// Where GitHub's description contradicts itself so that no real response could pass, an
// erratum corrects it when it is loaded (Errata lists them; the vendored files stay as
// published).
//
// Everything here is safe for concurrent use. The descriptions are parsed and compiled once,
// on first use; a failure to do so is returned by every call.
package githubspec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	//go:embed data/openapi/api.github.com.json
	restJSON []byte
	//go:embed data/openapi-webhooks/api.github.com.json
	webhooksJSON []byte
	//go:embed data/webhooks-examples/api.github.com.json
	examplesJSON []byte
)

// Sentinel errors, for errors.Is.
var (
	// ErrUnknownOperation: GitHub's description has no such method and path.
	ErrUnknownOperation = errors.New("operation not in GitHub's REST description")
	// ErrUndeclaredStatus: the operation does not declare the response status.
	ErrUndeclaredStatus = errors.New("status not declared by GitHub's REST description")
	// ErrUnknownWebhook: the webhook description has no such event and action.
	ErrUnknownWebhook = errors.New("event not in GitHub's webhook description")
	// ErrMismatch: a body, header or payload does not match GitHub's description. The
	// error wrapping it also wraps the *jsonschema.ValidationError when there is one.
	ErrMismatch = errors.New("does not match GitHub's description")
)

// Source names the npm packages the embedded data was cut from.
type Source struct{ Package, Version, Integrity string }

// Sources returns the packages behind the embedded data, as the data itself records them.
func Sources() ([]Source, error) {
	var out []Source
	for _, doc := range [][]byte{restJSON, webhooksJSON} {
		var top struct {
			Subset struct{ Package, Version, Integrity string } `json:"x-garo-subset"`
		}
		if err := json.Unmarshal(doc, &top); err != nil {
			return nil, err
		}
		out = append(out, Source(top.Subset))
	}
	// The examples file is a bare list; its package is pinned with the others.
	out = append(out, Source{Package: "@octokit/webhooks-examples", Version: "7.6.1"})
	return out, nil
}

// loaded is everything compiled from the embedded data.
type loaded struct {
	rest     *restSpec
	webhooks *webhookSpec
	examples map[string]map[string][]byte // event -> name -> payload
}

var load = sync.OnceValues(func() (*loaded, error) {
	rest, err := loadREST(restJSON)
	if err != nil {
		return nil, fmt.Errorf("githubspec: REST description: %w", err)
	}
	hooks, err := loadWebhooks(webhooksJSON)
	if err != nil {
		return nil, fmt.Errorf("githubspec: webhook description: %w", err)
	}
	examples, err := loadExamples(examplesJSON)
	if err != nil {
		return nil, fmt.Errorf("githubspec: webhook examples: %w", err)
	}
	return &loaded{rest: rest, webhooks: hooks, examples: examples}, nil
})

// decode parses JSON the way jsonschema wants it (numbers as json.Number).
func decode(b []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// schemaSet compiles the "$defs" of one converted description, once lax and once closed.
type schemaSet struct {
	lax, closed *jsonschema.Compiler
}

const (
	laxURL    = "githubspec:///lax.json"
	closedURL = "githubspec:///closed.json"
)

// newSchemaSet converts components (name -> schema) and extra (name -> schema, for schemas
// that sit inline in operations) and registers both versions.
func newSchemaSet(openapi30 bool, components, extra map[string]any) (*schemaSet, error) {
	set := &schemaSet{}
	for _, closed := range []bool{false, true} {
		c := &converter{openapi30: openapi30, closed: closed, needOpen: make(map[string]bool)}
		defs, err := c.defs(components)
		if err != nil {
			return nil, err
		}
		for name, s := range extra {
			if _, clash := defs[name]; clash {
				return nil, fmt.Errorf("schema name %q is taken", name)
			}
			if defs[name], err = c.schema(s, true); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := c.addOpen(defs, components); err != nil {
			return nil, err
		}
		comp := jsonschema.NewCompiler()
		comp.DefaultDraft(jsonschema.Draft2020)
		comp.AssertFormat()
		doc := map[string]any{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"$defs":   defs,
		}
		url := laxURL
		if closed {
			url, set.closed = closedURL, comp
		} else {
			set.lax = comp
		}
		if err := comp.AddResource(url, doc); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// compiled is one schema in both strictness levels.
type compiled struct {
	name        string
	lax, closed *jsonschema.Schema
}

func (s *schemaSet) compile(name string) (*compiled, error) {
	ptr := "#/$defs/" + escapePointer(name)
	lax, err := s.lax.Compile(laxURL + ptr)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	closed, err := s.closed.Compile(closedURL + ptr)
	if err != nil {
		return nil, fmt.Errorf("compile %s (closed): %w", name, err)
	}
	return &compiled{name: name, lax: lax, closed: closed}, nil
}

func (c *compiled) validate(v any, closed bool) error {
	if !closed {
		return c.lax.Validate(v)
	}
	if err := c.closed.Validate(v); err != nil {
		if c.lax.Validate(v) == nil {
			// Only the closing failed: say so, as the validator's words for it are
			// "false schema" at each undocumented member.
			return fmt.Errorf("members GitHub does not document (each \"false schema\" below): %w", err)
		}
		return err
	}
	return nil
}

func escapePointer(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '~':
			b.WriteString("~0")
		case '/':
			b.WriteString("~1")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
