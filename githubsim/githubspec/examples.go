package githubspec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RESTExample returns the value of components/examples/<name> of GitHub's REST
// description (e.g. "runner-jitconfig"), as JSON: the documented answers that fidelity
// tests hold the simulator to.
func RESTExample(name string) ([]byte, error) {
	var doc struct {
		Components struct {
			Examples map[string]struct {
				Value json.RawMessage `json:"value"`
			} `json:"examples"`
		} `json:"components"`
	}
	if err := json.Unmarshal(restJSON, &doc); err != nil {
		return nil, fmt.Errorf("githubspec: REST description: %w", err)
	}
	ex, ok := doc.Components.Examples[name]
	if !ok || len(ex.Value) == 0 {
		return nil, fmt.Errorf("githubspec: example %q: %w", name, ErrUnknownOperation)
	}
	return ex.Value, nil
}

// RequestExample returns the request-body example called name ("default") of an
// operation, as JSON.
func RequestExample(method, path, name string) ([]byte, error) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]struct {
						Value json.RawMessage `json:"value"`
					} `json:"examples"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(restJSON, &doc); err != nil {
		return nil, fmt.Errorf("githubspec: REST description: %w", err)
	}
	op, ok := doc.Paths[path][strings.ToLower(method)]
	if !ok {
		return nil, fmt.Errorf("githubspec: %s %s: %w", method, path, ErrUnknownOperation)
	}
	ex, ok := op.RequestBody.Content["application/json"].Examples[name]
	if !ok || len(ex.Value) == 0 {
		return nil, fmt.Errorf("githubspec: %s %s has no request example %q: %w", method, path, name, ErrUnknownOperation)
	}
	return ex.Value, nil
}
