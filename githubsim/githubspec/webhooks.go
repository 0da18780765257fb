package githubspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

type webhookSpec struct {
	hooks map[string]*webhook // "workflow-job-queued", "ping"
}

type webhook struct {
	key     string
	body    *compiled
	headers []*header
}

// webhookKey names a webhook of the description: event "workflow_job" and action
// "in_progress" are "workflow-job-in-progress"; an event without actions is its own name.
func webhookKey(event, action string) string {
	key := strings.ReplaceAll(event, "_", "-")
	if action != "" {
		key += "-" + strings.ReplaceAll(action, "_", "-")
	}
	return key
}

func loadWebhooks(raw []byte) (*webhookSpec, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if err := applyErrata("webhooks", v); err != nil {
		return nil, err
	}
	doc, _ := v.(map[string]any)
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	hooks, _ := doc["webhooks"].(map[string]any)
	if schemas == nil || len(hooks) == 0 {
		return nil, errors.New("no webhooks or no components.schemas")
	}
	extra := make(map[string]any)
	spec := &webhookSpec{hooks: make(map[string]*webhook)}
	for key, item := range hooks {
		im, _ := item.(map[string]any)
		post, _ := im["post"].(map[string]any)
		rb, _ := post["requestBody"].(map[string]any)
		content, _ := rb["content"].(map[string]any)
		media, _ := content["application/json"].(map[string]any)
		s, ok := media["schema"]
		if !ok {
			return nil, fmt.Errorf("webhook %s: no application/json request body schema", key)
		}
		extra["webhook "+key] = s
		w := &webhook{key: key}
		params, _ := post["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if pm["in"] != "header" {
				continue
			}
			name, _ := pm["name"].(string)
			h := &header{name: name, required: pm["required"] == true}
			if s, ok := pm["schema"].(map[string]any); ok {
				h.typ, _ = s["type"].(string)
				def := fmt.Sprintf("webhook %s header %s", key, name)
				extra[def] = s
			}
			w.headers = append(w.headers, h)
		}
		spec.hooks[key] = w
	}
	set, err := newSchemaSet(false, schemas, extra)
	if err != nil {
		return nil, err
	}
	for key, w := range spec.hooks {
		if w.body, err = set.compile("webhook " + key); err != nil {
			return nil, err
		}
		for _, h := range w.headers {
			def := fmt.Sprintf("webhook %s header %s", key, h.name)
			if _, ok := extra[def]; !ok {
				continue // no schema: presence only
			}
			if h.schema, err = set.compile(def); err != nil {
				return nil, err
			}
		}
	}
	return spec, nil
}

func (s *webhookSpec) lookup(event, action string) (*webhook, error) {
	w, ok := s.hooks[webhookKey(event, action)]
	if !ok {
		var known []string
		prefix := webhookKey(event, "")
		for k := range s.hooks {
			if k == prefix || strings.HasPrefix(k, prefix+"-") {
				known = append(known, k)
			}
		}
		slices.Sort(known)
		return nil, fmt.Errorf("event %q action %q (known for this event: %v): %w", event, action, known, ErrUnknownWebhook)
	}
	return w, nil
}

// ValidateWebhook checks a webhook payload of event (the X-GitHub-Event header,
// "workflow_job") and action (the payload's "action", "in_progress"; "" for events without
// actions, such as "ping") against @octokit/openapi-webhooks, applying its schemas as
// written. Errors wrap ErrUnknownWebhook or ErrMismatch.
func ValidateWebhook(event, action string, payload []byte) error {
	return validateWebhook(event, action, payload, false)
}

// ValidateWebhookClosed is ValidateWebhook with closed schemas: a member that the webhook
// description does not document is an error too, wherever the schema does not itself admit
// other members.
func ValidateWebhookClosed(event, action string, payload []byte) error {
	return validateWebhook(event, action, payload, true)
}

func validateWebhook(event, action string, payload []byte, closed bool) error {
	l, err := load()
	if err != nil {
		return err
	}
	w, err := l.webhooks.lookup(event, action)
	if err != nil {
		return err
	}
	v, err := decode(payload)
	if err != nil {
		return fmt.Errorf("webhook %s: payload is not JSON: %w: %w", w.key, ErrMismatch, err)
	}
	if err := w.body.validate(v, closed); err != nil {
		return fmt.Errorf("webhook %s: payload: %w: %w", w.key, ErrMismatch, err)
	}
	return nil
}

// ValidateWebhookHeaders checks the headers of a webhook delivery against the header
// parameters the webhook description declares for it (User-Agent, X-GitHub-Delivery,
// X-GitHub-Event, X-GitHub-Hook-ID, X-GitHub-Hook-Installation-Target-ID and -Type,
// X-Hub-Signature-256): each required one must be present. It does not check what they
// say, such as the signature or that X-GitHub-Event names event.
func ValidateWebhookHeaders(event, action string, h http.Header) error {
	l, err := load()
	if err != nil {
		return err
	}
	w, err := l.webhooks.lookup(event, action)
	if err != nil {
		return err
	}
	var missing []string
	for _, hd := range w.headers {
		values := h.Values(hd.name)
		if len(values) == 0 {
			if hd.required {
				missing = append(missing, hd.name)
			}
			continue
		}
		if hd.schema == nil {
			continue
		}
		for _, text := range values {
			if err := hd.schema.validate(headerValue(hd.typ, text), false); err != nil {
				return fmt.Errorf("webhook %s: header %s %q: %w: %w", w.key, hd.name, text, ErrMismatch, err)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("webhook %s: missing headers %s: %w", w.key, strings.Join(missing, ", "), ErrMismatch)
	}
	return nil
}

// Examples returns GitHub's example payloads for event ("workflow_job", "ping") from
// @octokit/webhooks-examples, by name: "EVENT.ACTION.N" ("workflow_job.completed.2"), or
// "EVENT.N" for events without actions, N counting from 1 within the action in the
// package's order. The payloads are the package's bytes, re-indented; the map is the
// caller's.
func Examples(event string) (map[string][]byte, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	ex, ok := l.examples[event]
	if !ok {
		return nil, fmt.Errorf("no examples for event %q (vendored: %v): %w", event, slices.Sorted(maps.Keys(l.examples)), ErrUnknownWebhook)
	}
	out := make(map[string][]byte, len(ex))
	for name, b := range ex {
		out[name] = slices.Clone(b)
	}
	return out, nil
}

func loadExamples(raw []byte) (map[string]map[string][]byte, error) {
	var entries []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	out := make(map[string]map[string][]byte)
	for _, e := range entries {
		byName := make(map[string][]byte)
		count := make(map[string]int)
		for _, payload := range e.Examples {
			var head struct {
				Action string `json:"action"`
			}
			if err := json.Unmarshal(payload, &head); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
			prefix := e.Name
			if head.Action != "" {
				prefix += "." + head.Action
			}
			count[prefix]++
			byName[fmt.Sprintf("%s.%d", prefix, count[prefix])] = payload
		}
		out[e.Name] = byName
	}
	return out, nil
}
