package githubspec_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garo-dev/garo/githubsim/githubspec"
)

// servedRoutes are the operations the vendored REST subset must hold: the simulator's
// routes, as internal/specsubset cuts them.
var servedRoutes = []string{
	"GET /app",
	"GET /app/installations",
	"GET /app/installations/{installation_id}",
	"GET /app/hook/deliveries",
	"GET /app/hook/deliveries/{delivery_id}",
	"POST /app/hook/deliveries/{delivery_id}/attempts",
	"POST /app/installations/{installation_id}/access_tokens",
	"GET /rate_limit",
	"GET /repos/{owner}/{repo}/actions/jobs/{job_id}",
	"GET /repos/{owner}/{repo}/actions/runners",
	"POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig",
	"POST /repos/{owner}/{repo}/actions/runners/registration-token",
	"POST /repos/{owner}/{repo}/actions/runners/remove-token",
	"DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}",
	"GET /repos/{owner}/{repo}/actions/runners/{runner_id}",
	"GET /repos/{owner}/{repo}/actions/runs",
	"GET /repos/{owner}/{repo}/actions/runs/{run_id}",
	"GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
	"GET /repos/{owner}/{repo}/installation",
	"GET /repos/{owner}/{repo}/actions/runners/downloads",
	"GET /orgs/{org}/actions/runner-groups",
	"GET /orgs/{org}/actions/runner-groups/{runner_group_id}/repositories",
	"POST /orgs/{org}/actions/runners/generate-jitconfig",
	"POST /orgs/{org}/actions/runners/registration-token",
	"GET /orgs/{org}/actions/runners",
	"GET /orgs/{org}/actions/runners/{runner_id}",
	"DELETE /orgs/{org}/actions/runners/{runner_id}",
}

func TestOperations(t *testing.T) {
	t.Parallel()
	ops, err := githubspec.Operations()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range ops {
		got = append(got, op.Method+" "+op.Path)
		if op.ID == "" {
			t.Errorf("%s %s has no operationId", op.Method, op.Path)
		}
		if !githubspec.HasOperation(strings.ToLower(op.Method), op.Path) {
			t.Errorf("HasOperation(%s, %s) = false for a listed operation", op.Method, op.Path)
		}
	}
	want := slices.Clone(servedRoutes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("operations:\n got %q\nwant %q", got, want)
	}
	for _, absent := range [][2]string{
		{"PUT", "/app"},
		{"GET", "/repos/{owner}/{repo}/actions/runners/{id}"}, // parameter renamed
		{"GET", "/repos/{owner}/{repo}/actions/runner"},
		{"GET", "/repos/octo/hello/actions/runners"}, // not templated
		{"GET", "/user"}, // in GitHub's API, not in the subset
	} {
		if githubspec.HasOperation(absent[0], absent[1]) {
			t.Errorf("HasOperation(%s, %s) = true", absent[0], absent[1])
		}
		err := githubspec.ValidateResponse(absent[0], absent[1], 200, nil, nil)
		if !errors.Is(err, githubspec.ErrUnknownOperation) {
			t.Errorf("ValidateResponse(%s, %s) = %v, want ErrUnknownOperation", absent[0], absent[1], err)
		}
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	srcs, err := githubspec.Sources()
	if err != nil {
		t.Fatal(err)
	}
	want := []githubspec.Source{
		{"@octokit/openapi", "23.0.2", "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="},
		{"@octokit/openapi-webhooks", "12.1.0", "sha512-Z5eDsLCUNbx1zHpZb1LNQirADqdMTvWJQ/deahi0ws+tWWnwHXB+Pr4jfmM9OrETS9Y5iW8ZRu1fdbudObhLrg=="},
		{"@octokit/webhooks-examples", "7.6.1", ""},
	}
	if !slices.Equal(srcs, want) {
		t.Errorf("Sources() = %+v, want %+v", srcs, want)
	}
}

// TestDescriptionsAreValid checks that the cut kept the descriptions whole: the REST subset
// is a valid OpenAPI 3.0 document for kin-openapi, and every reference in both resolves.
func TestDescriptionsAreValid(t *testing.T) {
	t.Parallel()
	rest, err := os.ReadFile("data/openapi/api.github.com.json")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rest)
	if err != nil {
		t.Fatal(err)
	}
	// GitHub's examples do not all match its schemas (see TestRESTExamples), and its
	// description uses formats kin-openapi does not know: validate the structure.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation(), openapi3.DisableSchemaFormatValidation()); err != nil {
		t.Errorf("REST subset is not a valid OpenAPI document: %v", err)
	}
	if got := doc.Paths.Len(); got != 25 {
		t.Errorf("REST subset has %d paths, want 25", got)
	}
	for _, file := range []string{"data/openapi/api.github.com.json", "data/openapi-webhooks/api.github.com.json"} {
		v := readJSON(t, file)
		for _, ref := range refs(v) {
			if _, ok := pointer(v, strings.TrimPrefix(ref, "#")); !ok {
				t.Errorf("%s: dangling reference %s", file, ref)
			}
		}
	}
	hooks := readJSON(t, "data/openapi-webhooks/api.github.com.json").(map[string]any)["webhooks"].(map[string]any)
	var names []string
	for name := range hooks {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"ping", "workflow-job-completed", "workflow-job-in-progress", "workflow-job-queued", "workflow-job-waiting"}
	if !slices.Equal(names, want) {
		t.Errorf("webhooks = %q, want %q", names, want)
	}
}

// restDeviations are GitHub's own REST examples that do not match GitHub's own schemas in
// the vendored release, with the validator's complaint. They are listed so that the test
// notices when a new release fixes them (the entry must then go) and so that nothing else
// slips by. "closed" entries fail only the closed schemas.
var restDeviations = map[string]struct {
	closedOnly bool
	complaint  string
}{
	// The example is the JSON literal null; the schema is {"type": "object"}. GitHub answers {}.
	"POST /app/hook/deliveries/{delivery_id}/attempts 202 default": {false, "got null, want object"},
	// Examples older than the job's created_at field, which the schema requires.
	"GET /repos/{owner}/{repo}/actions/jobs/{job_id} 200 default":      {false, "missing property 'created_at'"},
	"GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs 200 default": {false, "missing property 'created_at'"},
	// The example's repositories carry full-repository fields the repository schema lacks.
	"POST /app/installations/{installation_id}/access_tokens 201 default": {true, "subscribers_count"},
	// The example's repository carries template_repository, which minimal-repository lacks.
	"GET /orgs/{org}/actions/runner-groups/{runner_group_id}/repositories 200 default": {true, "template_repository"},
}

// TestRESTExamples validates every example the REST subset gives for a response against
// that response: the validator must accept GitHub's own examples, except the known
// deviations.
func TestRESTExamples(t *testing.T) {
	t.Parallel()
	doc := readJSON(t, "data/openapi/api.github.com.json").(map[string]any)
	seen := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			responses, ok := op.(map[string]any)["responses"].(map[string]any)
			if !ok {
				continue
			}
			for status, r := range responses {
				resp := deref(t, doc, r)
				content, _ := resp["content"].(map[string]any)
				for mediaType, media := range content {
					examples, _ := media.(map[string]any)["examples"].(map[string]any)
					for name, ex := range examples {
						seen++
						key := strings.ToUpper(method) + " " + path + " " + status + " " + name
						body, err := json.Marshal(deref(t, doc, ex)["value"])
						if err != nil {
							t.Fatal(err)
						}
						code, err := strconv.Atoi(status)
						if err != nil {
							t.Fatal(err)
						}
						h := http.Header{"Content-Type": {mediaType + "; charset=utf-8"}}
						lax := githubspec.ValidateResponse(method, path, code, h, body)
						closed := githubspec.ValidateResponseClosed(method, path, code, h, body)
						dev, known := restDeviations[key]
						switch {
						case !known && (lax != nil || closed != nil):
							t.Errorf("%s: GitHub's example is rejected:\nlax: %v\nclosed: %v", key, lax, closed)
						case known && dev.closedOnly && (lax != nil || closed == nil || !strings.Contains(closed.Error(), dev.complaint)):
							t.Errorf("%s: known deviation (closed only, %q) changed:\nlax: %v\nclosed: %v", key, dev.complaint, lax, closed)
						case known && !dev.closedOnly && (lax == nil || !strings.Contains(lax.Error(), dev.complaint)):
							t.Errorf("%s: known deviation (%q) changed: %v", key, dev.complaint, lax)
						}
					}
				}
			}
		}
	}
	if seen < 15 {
		t.Errorf("checked only %d examples", seen)
	}
}

// webhookDeviations are the examples of @octokit/webhooks-examples that do not match the
// webhook description, with the validator's complaint.
var webhookDeviations = map[string]string{
	// An example from June 2021, older than four members the schema now requires.
	"workflow_job.in_progress.1": "missing properties 'run_attempt', 'workflow_name', 'head_branch', 'created_at'",
}

// TestWebhookExamples validates every vendored example payload against its webhook, lax
// and closed: the validator must accept GitHub's own payloads, except the known deviations.
func TestWebhookExamples(t *testing.T) {
	t.Parallel()
	counts := map[string]int{}
	for _, event := range []string{"workflow_job", "ping"} {
		examples, err := githubspec.Examples(event)
		if err != nil {
			t.Fatal(err)
		}
		for name, payload := range examples {
			var head struct{ Action string }
			if err := json.Unmarshal(payload, &head); err != nil {
				t.Fatal(err)
			}
			counts[event+"."+head.Action]++
			for _, validate := range []func(string, string, []byte) error{githubspec.ValidateWebhook, githubspec.ValidateWebhookClosed} {
				err := validate(event, head.Action, payload)
				want, known := webhookDeviations[name]
				switch {
				case !known && err != nil:
					t.Errorf("%s: GitHub's example is rejected: %v", name, err)
				case known && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: known deviation (%q) changed: %v", name, want, err)
				}
			}
		}
	}
	want := map[string]int{"ping.": 4, "workflow_job.queued": 2, "workflow_job.waiting": 1, "workflow_job.in_progress": 3, "workflow_job.completed": 2}
	if !mapsEqual(counts, want) {
		t.Errorf("examples by event and action = %v, want %v", counts, want)
	}
	if _, err := githubspec.Examples("push"); !errors.Is(err, githubspec.ErrUnknownWebhook) {
		t.Errorf("Examples(push) = %v, want ErrUnknownWebhook", err)
	}
}

// TestValidateWebhook holds the validator to what it must catch, starting from GitHub's
// own examples.
func TestValidateWebhook(t *testing.T) {
	t.Parallel()
	examples, err := githubspec.Examples("workflow_job")
	if err != nil {
		t.Fatal(err)
	}
	queued, completed := examples["workflow_job.queued.1"], examples["workflow_job.completed.1"]
	if queued == nil || completed == nil {
		t.Fatalf("examples: %v", keys(examples))
	}
	tests := []struct {
		name        string
		action      string
		base        []byte
		mutate      func(p map[string]any)
		lax, closed bool // valid?
		complaint   string
	}{
		{"unchanged", "queued", queued, func(map[string]any) {}, true, true, ""},
		{"labels renamed label", "queued", queued, func(p map[string]any) { rename(obj(p, "workflow_job"), "labels", "label") }, false, false, "missing property 'labels'"},
		{"runner_id missing", "queued", queued, func(p map[string]any) { delete(obj(p, "workflow_job"), "runner_id") }, false, false, "missing property 'runner_id'"},
		{"repository missing", "queued", queued, func(p map[string]any) { delete(p, "repository") }, false, false, "missing property 'repository'"},
		{"id as a string", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["id"] = "7" }, false, false, "want integer"},
		{"labels as a string", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["labels"] = "self-hosted" }, false, false, "want array"},
		{"status outside the enum", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["status"] = "pending" }, false, false, "'/workflow_job/status'"},
		{"payload of another action", "queued", completed, func(map[string]any) {}, false, false, "'/action'"},
		{"runner_name null is allowed", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["runner_name"] = nil }, true, true, ""},
		{"name null is not", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["name"] = nil }, false, false, "'/workflow_job/name'"},
		{"html_url not a URI", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["html_url"] = "not a uri" }, false, false, "'/workflow_job/html_url'"},
		{"started_at not a date-time", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["started_at"] = "yesterday" }, false, false, "'/workflow_job/started_at'"},
		{"completed conclusion outside the enum", "completed", completed, func(p map[string]any) { obj(p, "workflow_job")["conclusion"] = "done" }, false, false, "'/workflow_job/conclusion'"},
		{"completed step without number", "completed", completed, func(p map[string]any) { delete(firstStep(p), "number") }, false, false, "missing property 'number'"},
		// GitHub's schemas do not forbid other members: only the closed schemas catch them.
		{"undocumented job member", "queued", queued, func(p map[string]any) { obj(p, "workflow_job")["runner_labels"] = []any{} }, true, false, "'/workflow_job/runner_labels'"},
		{"undocumented top-level member", "queued", queued, func(p map[string]any) { p["garo"] = true }, true, false, "'/garo'"},
		{"undocumented step member", "completed", completed, func(p map[string]any) { firstStep(p)["log"] = "x" }, true, false, "'/workflow_job/steps/0/log'"},
		{"undocumented sender member", "queued", queued, func(p map[string]any) { obj(p, "sender")["nickname"] = "x" }, true, false, "'/sender/nickname'"},
		{"undocumented member in an allOf object", "completed", completed, func(p map[string]any) { obj(p, "workflow_job")["runner_labels"] = []any{} }, true, false, "'/workflow_job/runner_labels'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload := mutate(t, tt.base, tt.mutate)
			for _, v := range []struct {
				name  string
				fn    func(string, string, []byte) error
				valid bool
			}{{"lax", githubspec.ValidateWebhook, tt.lax}, {"closed", githubspec.ValidateWebhookClosed, tt.closed}} {
				err := v.fn("workflow_job", tt.action, payload)
				if (err == nil) != v.valid {
					t.Errorf("%s: valid = %v, want %v: %v", v.name, err == nil, v.valid, err)
					continue
				}
				if err != nil {
					if !strings.Contains(err.Error(), tt.complaint) {
						t.Errorf("%s: error does not mention %q: %v", v.name, tt.complaint, err)
					}
					var verr *jsonschema.ValidationError
					if !errors.Is(err, githubspec.ErrMismatch) || !errors.As(err, &verr) {
						t.Errorf("%s: error wraps neither ErrMismatch nor a ValidationError: %v", v.name, err)
					}
				}
			}
		})
	}

	for _, bad := range []struct{ event, action string }{{"push", ""}, {"workflow_job", ""}, {"workflow_job", "requested"}, {"ping", "queued"}} {
		if err := githubspec.ValidateWebhook(bad.event, bad.action, queued); !errors.Is(err, githubspec.ErrUnknownWebhook) {
			t.Errorf("ValidateWebhook(%q, %q) = %v, want ErrUnknownWebhook", bad.event, bad.action, err)
		}
	}
	if err := githubspec.ValidateWebhook("workflow_job", "queued", []byte("{")); !errors.Is(err, githubspec.ErrMismatch) {
		t.Errorf("truncated JSON: %v, want ErrMismatch", err)
	}
}

func TestValidateWebhookHeaders(t *testing.T) {
	t.Parallel()
	full := http.Header{}
	for k, v := range map[string]string{
		"User-Agent":                             "GitHub-Hookshot/044aadd",
		"X-GitHub-Delivery":                      "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"X-GitHub-Event":                         "workflow_job",
		"X-GitHub-Hook-ID":                       "292430182",
		"X-GitHub-Hook-Installation-Target-ID":   "79929171",
		"X-GitHub-Hook-Installation-Target-Type": "integration",
		"X-Hub-Signature-256":                    "sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c",
	} {
		full.Set(k, v)
	}
	if err := githubspec.ValidateWebhookHeaders("workflow_job", "queued", full); err != nil {
		t.Errorf("full headers: %v", err)
	}
	for _, drop := range []string{"X-Hub-Signature-256", "X-GitHub-Delivery", "X-GitHub-Hook-ID"} {
		h := full.Clone()
		h.Del(drop)
		err := githubspec.ValidateWebhookHeaders("workflow_job", "queued", h)
		if !errors.Is(err, githubspec.ErrMismatch) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(drop)) {
			t.Errorf("without %s: %v", drop, err)
		}
	}
}

const runnerJSON = `{
	"id": 23, "runner_group_id": 1, "name": "garo-1", "os": "linux", "status": "online",
	"busy": false, "ephemeral": true, "version": "2.323.0",
	"labels": [{"id": 1, "name": "self-hosted", "type": "read-only"}, {"id": 9, "name": "gpu", "type": "custom"}]
}`

// TestValidateResponse holds the validator to what it must catch in a REST response.
func TestValidateResponse(t *testing.T) {
	t.Parallel()
	const runnerPath = "/repos/{owner}/{repo}/actions/runners/{runner_id}"
	tests := []struct {
		name        string
		mutate      func(r map[string]any)
		lax, closed bool
		complaint   string
	}{
		{"unchanged", func(map[string]any) {}, true, true, ""},
		{"os renamed o_s", func(r map[string]any) { rename(r, "os", "o_s") }, false, false, "missing property 'os'"},
		{"busy missing", func(r map[string]any) { delete(r, "busy") }, false, false, "missing property 'busy'"},
		{"label name renamed", func(r map[string]any) { rename(firstLabel(r), "name", "label") }, false, false, "missing property 'name'"},
		{"label type outside the enum", func(r map[string]any) { firstLabel(r)["type"] = "builtin" }, false, false, "'/labels/0/type'"},
		{"id as a string", func(r map[string]any) { r["id"] = "23" }, false, false, "want integer"},
		{"version null is allowed (nullable)", func(r map[string]any) { r["version"] = nil }, true, true, ""},
		{"name null is not", func(r map[string]any) { r["name"] = nil }, false, false, "'/name'"},
		// Renamed optional members and invented ones: only the closed schemas catch them.
		{"ephemeral renamed is_ephemeral", func(r map[string]any) { rename(r, "ephemeral", "is_ephemeral") }, true, false, "'/is_ephemeral'"},
		{"undocumented member", func(r map[string]any) { r["garo_pool"] = "x" }, true, false, "'/garo_pool'"},
		{"undocumented label member", func(r map[string]any) { firstLabel(r)["color"] = "red" }, true, false, "'/labels/0/color'"},
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := mutate(t, []byte(runnerJSON), tt.mutate)
			for _, v := range []struct {
				name  string
				fn    func(string, string, int, http.Header, []byte) error
				valid bool
			}{{"lax", githubspec.ValidateResponse, tt.lax}, {"closed", githubspec.ValidateResponseClosed, tt.closed}} {
				err := v.fn("GET", runnerPath, 200, h, body)
				if (err == nil) != v.valid {
					t.Errorf("%s: valid = %v, want %v: %v", v.name, err == nil, v.valid, err)
					continue
				}
				if err != nil && (!strings.Contains(err.Error(), tt.complaint) || !errors.Is(err, githubspec.ErrMismatch)) {
					t.Errorf("%s: error does not wrap ErrMismatch or mention %q: %v", v.name, tt.complaint, err)
				}
			}
		})
	}

	// The list wraps the runner: a renamed member deep inside is found there too.
	list := `{"total_count": 1, "runners": [` + runnerJSON + `]}`
	if err := githubspec.ValidateResponseClosed("GET", "/repos/{owner}/{repo}/actions/runners", 200, h, []byte(list)); err != nil {
		t.Errorf("runner list: %v", err)
	}
	renamed := strings.Replace(list, `"os"`, `"o_s"`, 1)
	if err := githubspec.ValidateResponse("GET", "/repos/{owner}/{repo}/actions/runners", 200, h, []byte(renamed)); err == nil || !strings.Contains(err.Error(), "'/runners/0'") {
		t.Errorf("runner list with os renamed: %v", err)
	}
}

func TestValidateResponseEnvelope(t *testing.T) {
	t.Parallel()
	const runnerPath = "/repos/{owner}/{repo}/actions/runners/{runner_id}"
	jsonCT := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	notFound := []byte(`{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}`)
	rate := restExample(t, "rate-limit-overview")
	rateHeaders := func(limit string) http.Header {
		h := jsonCT.Clone()
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", "4999")
		h.Set("X-RateLimit-Reset", "1590701888")
		return h
	}
	tests := []struct {
		name          string
		method, path  string
		status        int
		header        http.Header
		body          []byte
		wantErr       error // nil: valid, lax and closed
		wantComplaint string
	}{
		{"runner", "GET", runnerPath, 200, jsonCT, []byte(runnerJSON), nil, ""},
		{"lower-case method", "get", runnerPath, 200, jsonCT, []byte(runnerJSON), nil, ""},
		{"undeclared success status", "GET", runnerPath, 201, jsonCT, []byte(runnerJSON), githubspec.ErrUndeclaredStatus, "declared: 200"},
		{"undeclared error status with GitHub's error body", "GET", runnerPath, 404, jsonCT, notFound, nil, ""},
		{"declared error status", "POST", "/repos/{owner}/{repo}/actions/runners/generate-jitconfig", 409, jsonCT, notFound, nil, ""},
		{"error body without message", "GET", runnerPath, 404, jsonCT, []byte(`{"error": "not found"}`), githubspec.ErrMismatch, "missing property 'message'"},
		{"Content-Type text/plain", "GET", runnerPath, 200, http.Header{"Content-Type": {"text/plain"}}, []byte(runnerJSON), githubspec.ErrMismatch, "text/plain"},
		{"no Content-Type", "GET", runnerPath, 200, http.Header{}, []byte(runnerJSON), githubspec.ErrMismatch, "Content-Type"},
		{"empty body", "GET", runnerPath, 200, jsonCT, nil, githubspec.ErrMismatch, "empty body"},
		{"not JSON", "GET", runnerPath, 200, jsonCT, []byte(`{"id": 23,`), githubspec.ErrMismatch, "not JSON"},
		{"delete 204 empty", "DELETE", runnerPath, 204, http.Header{}, nil, nil, ""},
		{"delete 204 with a body", "DELETE", runnerPath, 204, jsonCT, []byte(`{}`), githubspec.ErrMismatch, "declares no body"},
		{"redelivery 202 {}", "POST", "/app/hook/deliveries/{delivery_id}/attempts", 202, jsonCT, []byte(`{}`), nil, ""},
		{"rate limit with headers", "GET", "/rate_limit", 200, rateHeaders("5000"), rate, nil, ""},
		{"rate limit header not an integer", "GET", "/rate_limit", 200, rateHeaders("lots"), rate, githubspec.ErrMismatch, "X-RateLimit-Limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, fn := range []func(string, string, int, http.Header, []byte) error{githubspec.ValidateResponse, githubspec.ValidateResponseClosed} {
				err := fn(tt.method, tt.path, tt.status, tt.header, tt.body)
				if tt.wantErr == nil {
					if err != nil {
						t.Errorf("want valid: %v", err)
					}
					continue
				}
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantComplaint) {
					t.Errorf("= %v, want %v mentioning %q", err, tt.wantErr, tt.wantComplaint)
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := http.Header{"Content-Type": {"application/json"}}
	done := make(chan error)
	for range 8 {
		go func() {
			done <- githubspec.ValidateResponseClosed("GET", "/repos/{owner}/{repo}/actions/runners/{runner_id}", 200, h, []byte(runnerJSON))
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// --- helpers ---

func readJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// restExample returns the value of components.examples.NAME of the REST subset.
func restExample(t *testing.T, name string) []byte {
	t.Helper()
	v, ok := pointer(readJSON(t, "data/openapi/api.github.com.json"), "/components/examples/"+name+"/value")
	if !ok {
		t.Fatalf("no example %s", name)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, ok := pointer(doc, strings.TrimPrefix(ref, "#"))
		if !ok {
			t.Fatalf("dangling %s", ref)
		}
		return target.(map[string]any)
	}
	return m
}

func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			out = append(out, r)
		}
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}

func pointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

func mutate(t *testing.T, base []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func rename(m map[string]any, from, to string) {
	m[to] = m[from]
	delete(m, from)
}

func firstStep(p map[string]any) map[string]any {
	return obj(p, "workflow_job")["steps"].([]any)[0].(map[string]any)
}

func firstLabel(r map[string]any) map[string]any { return r["labels"].([]any)[0].(map[string]any) }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestValidateQuery: the listing parameters Garo sends are GitHub's; others are caught.
func TestValidateQuery(t *testing.T) {
	ok := []struct {
		method, path, query string
	}{
		{"GET", "/repos/{owner}/{repo}/actions/runs", "status=queued&per_page=100&page=2"},
		{"GET", "/repos/{owner}/{repo}/actions/runs", "status=in_progress"},
		{"GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "filter=latest&per_page=100"},
		{"GET", "/app/hook/deliveries", "per_page=100&cursor=v1_1"},
	}
	for _, c := range ok {
		q, _ := url.ParseQuery(c.query)
		if err := githubspec.ValidateQuery(c.method, c.path, q); err != nil {
			t.Errorf("%s %s?%s: %v", c.method, c.path, c.query, err)
		}
	}
	bad := []struct {
		method, path, query string
	}{
		{"GET", "/repos/{owner}/{repo}/actions/runs", "status=running"},
		{"GET", "/repos/{owner}/{repo}/actions/runs", "state=queued"},
		{"GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "filter=newest"},
	}
	for _, c := range bad {
		q, _ := url.ParseQuery(c.query)
		if err := githubspec.ValidateQuery(c.method, c.path, q); !errors.Is(err, githubspec.ErrMismatch) {
			t.Errorf("%s %s?%s: %v, want ErrMismatch", c.method, c.path, c.query, err)
		}
	}
	if err := githubspec.ValidateQuery("GET", "/nowhere", nil); !errors.Is(err, githubspec.ErrUnknownOperation) {
		t.Errorf("unknown operation: %v", err)
	}
}
