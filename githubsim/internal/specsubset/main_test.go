package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const restSpec = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "tags": [{"name": "actions"}, {"name": "repos"}],
  "paths": {
    "/repos/{owner}/{repo}/runners/{runner_id}": {
      "parameters": [{"$ref": "#/components/parameters/owner"}],
      "get": {"tags": ["actions"], "operationId": "get-runner", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/runner"}}}}, "404": {"$ref": "#/components/responses/not_found"}}},
      "delete": {"tags": ["actions"], "operationId": "delete-runner", "responses": {"204": {"description": "gone"}, "409": {"$ref": "#/components/responses/conflict"}}}
    },
    "/repos/{owner}/{repo}": {
      "get": {"tags": ["repos"], "operationId": "get-repo", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/repo"}}}}}}
    }
  },
  "components": {
    "schemas": {
      "runner": {"type": "object", "properties": {"z_last": {"type": "string"}, "labels": {"type": "array", "items": {"$ref": "#/components/schemas/label"}}}},
      "label": {"type": "object", "properties": {"name": {"type": "string"}}},
      "repo": {"type": "object"},
      "error": {"type": "object"}
    },
    "parameters": {"owner": {"name": "owner", "in": "path", "required": true, "schema": {"type": "string"}}, "unused": {"name": "x", "in": "query"}},
    "responses": {
      "not_found": {"description": "nf", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}}},
      "conflict": {"description": "c"}
    }
  }
}`

func TestCutREST(t *testing.T) {
	out, err := cutREST([]byte(restSpec), []operation{{"get", "/repos/{owner}/{repo}/runners/{runner_id}"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tags       []struct{ Name string }
		Paths      map[string]map[string]json.RawMessage
		Components map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	item := doc.Paths["/repos/{owner}/{repo}/runners/{runner_id}"]
	if len(doc.Paths) != 1 || item["get"] == nil || item["parameters"] == nil || item["delete"] != nil {
		t.Errorf("paths: %v", keysOf(doc.Paths))
	}
	if len(doc.Tags) != 1 || doc.Tags[0].Name != "actions" {
		t.Errorf("tags: %+v", doc.Tags)
	}
	want := map[string][]string{
		"schemas":    {"error", "label", "runner"}, // label only through runner: transitive
		"parameters": {"owner"},                    // path-level parameter
		"responses":  {"not_found"},                // not conflict: DELETE was not asked for
	}
	for kind, names := range want {
		if got := strings.Join(keysOf(doc.Components[kind]), ","); got != strings.Join(names, ",") {
			t.Errorf("components.%s = %s, want %s", kind, got, strings.Join(names, ","))
		}
	}
	// Objects are GitHub's bytes: key order inside a kept schema survives.
	if runner := string(doc.Components["schemas"]["runner"]); strings.Index(runner, "z_last") > strings.Index(runner, "labels") {
		t.Errorf("runner schema reordered: %s", runner)
	}
	again, err := cutREST([]byte(restSpec), []operation{{"get", "/repos/{owner}/{repo}/runners/{runner_id}"}})
	if err != nil || !bytes.Equal(out, again) {
		t.Errorf("two cuts differ (%v)", err)
	}

	for name, tc := range map[string]struct {
		spec string
		ops  []operation
	}{
		"missing path":      {restSpec, []operation{{"get", "/nope"}}},
		"missing method":    {restSpec, []operation{{"put", "/repos/{owner}/{repo}"}}},
		"dangling ref":      {strings.Replace(restSpec, `"label": {`, `"label2": {`, 1), []operation{{"get", "/repos/{owner}/{repo}/runners/{runner_id}"}}},
		"ref outside comps": {strings.Replace(restSpec, `#/components/schemas/repo"`, `other.json#/x"`, 1), []operation{{"get", "/repos/{owner}/{repo}"}}},
	} {
		if _, err := cutREST([]byte(tc.spec), tc.ops); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCutWebhooksAndExamples(t *testing.T) {
	spec := `{"openapi": "3.1.0", "info": {}, "webhooks": {
		"ping": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/webhook-ping"}}}}}},
		"push": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/webhook-push"}}}}}}
	}, "components": {"schemas": {"webhook-ping": {"properties": {"hook": {"$ref": "#/components/schemas/hook"}}}, "hook": {}, "webhook-push": {}}}}`
	out, err := cutWebhooks([]byte(spec), []string{"ping"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Webhooks   map[string]json.RawMessage
		Components map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keysOf(doc.Webhooks), ",") != "ping" || strings.Join(keysOf(doc.Components["schemas"]), ",") != "hook,webhook-ping" {
		t.Errorf("webhooks %v, schemas %v", keysOf(doc.Webhooks), keysOf(doc.Components["schemas"]))
	}
	if _, err := cutWebhooks([]byte(spec), []string{"workflow-job-queued"}); err == nil {
		t.Error("missing webhook: no error")
	}

	index := `[{"name": "ping", "examples": [{"zen": "z"}]}, {"name": "push", "examples": [{}]}, {"name": "workflow_job", "examples": [{"action": "queued"}]}]`
	ex, err := cutExamples([]byte(index), []string{"ping", "workflow_job"})
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Name string }
	if err := json.Unmarshal(ex, &entries); err != nil || len(entries) != 2 || entries[0].Name != "ping" || entries[1].Name != "workflow_job" {
		t.Errorf("examples: %+v (%v)", entries, err)
	}
	if _, err := cutExamples([]byte(index), []string{"check_run"}); err == nil {
		t.Error("missing event: no error")
	}
}

func TestReadTarball(t *testing.T) {
	dir := t.TempDir()
	p := pkg{name: "@octokit/thing", version: "1.2.3"}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{
		"package/package.json": `{"name": "@octokit/thing", "version": "1.2.3"}`,
		"package/data.json":    `{}`,
		"package/other.json":   `{}`,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, p.tarball())
	if p.tarball() != "octokit-thing-1.2.3.tgz" {
		t.Errorf("tarball name %s", p.tarball())
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(buf.Bytes())
	p.integrity = "sha512-" + base64.StdEncoding.EncodeToString(sum[:])

	files, err := readTarball(path, p, "data.json", "LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["data.json"]; !ok || files["other.json"] != nil || files["LICENSE"] != nil {
		t.Errorf("files: %v", keysOf(files))
	}
	tampered := p
	tampered.integrity = "sha512-AAAA"
	if _, err := readTarball(path, tampered, "data.json"); err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Errorf("wrong integrity: %v", err)
	}
	other := p
	other.version = "1.2.4"
	if err := os.WriteFile(filepath.Join(dir, other.tarball()), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readTarball(filepath.Join(dir, other.tarball()), other, "data.json"); err == nil || !strings.Contains(err.Error(), "holds @octokit/thing@1.2.3") {
		t.Errorf("wrong version: %v", err)
	}
	if _, err := readTarball(path, p, "missing.json"); err == nil {
		t.Error("missing file: no error")
	}
}

func keysOf[V any](m map[string]V) []string { return sortedKeys(m) }
