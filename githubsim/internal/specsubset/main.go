// Command specsubset cuts the parts of GitHub's published descriptions that Garo's GitHub
// simulator is held to out of three npm tarballs, and writes them where package githubspec
// embeds them:
//
//   - @octokit/openapi: the api.github.com REST description, reduced to the operations the
//     simulator serves (restOperations) and every component they reference, transitively;
//   - @octokit/openapi-webhooks: the webhook description, reduced to the ping and
//     workflow_job events (webhookNames) and their components;
//   - @octokit/webhooks-examples: the example payloads of those events;
//
// and each package's LICENSE beside its data. The tarballs are the ones npm pack writes;
// their versions and integrity hashes are pinned below, so a run on other bytes fails
// rather than quietly vendoring something else. See githubspec/data/README.md for the
// commands.
//
// Everything that is kept is copied byte for byte as GitHub wrote it (only re-indented):
// objects are handled as json.RawMessage and decoded only to find their references.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// pkg is one npm package pinned by version and by the integrity npm's registry reports
// (npm view NAME@VERSION dist.integrity).
type pkg struct {
	name, version, integrity string
	dir                      string // output directory under -out
}

func (p pkg) tarball() string {
	// npm pack names @scope/name@v "scope-name-v.tgz".
	return strings.ReplaceAll(strings.TrimPrefix(p.name, "@"), "/", "-") + "-" + p.version + ".tgz"
}

var (
	restPkg = pkg{
		name: "@octokit/openapi", version: "23.0.2", dir: "openapi",
		integrity: "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg==",
	}
	webhooksPkg = pkg{
		name: "@octokit/openapi-webhooks", version: "12.1.0", dir: "openapi-webhooks",
		integrity: "sha512-Z5eDsLCUNbx1zHpZb1LNQirADqdMTvWJQ/deahi0ws+tWWnwHXB+Pr4jfmM9OrETS9Y5iW8ZRu1fdbudObhLrg==",
	}
	examplesPkg = pkg{
		name: "@octokit/webhooks-examples", version: "7.6.1", dir: "webhooks-examples",
		integrity: "sha512-De6U3XB6O3DtCa7bKgCMzTHdeopqqZ6SNivMYJnK65ierKL1AnNIA0tkRYCRS7lwGT792d+Ps1WbfHlso6MynQ==",
	}
)

// operation is a method (lower case, as in OpenAPI) and a templated path.
type operation struct{ method, path string }

// restOperations are the routes the simulator serves, in GitHub's templated form.
var restOperations = []operation{
	{"get", "/app"},
	{"get", "/app/installations"},
	{"get", "/app/installations/{installation_id}"},
	{"get", "/repos/{owner}/{repo}/installation"},
	{"post", "/app/installations/{installation_id}/access_tokens"},
	{"post", "/repos/{owner}/{repo}/actions/runners/generate-jitconfig"},
	{"post", "/repos/{owner}/{repo}/actions/runners/registration-token"},
	{"post", "/repos/{owner}/{repo}/actions/runners/remove-token"},
	{"get", "/repos/{owner}/{repo}/actions/runners"},
	{"get", "/repos/{owner}/{repo}/actions/runners/{runner_id}"},
	{"delete", "/repos/{owner}/{repo}/actions/runners/{runner_id}"},
	{"get", "/orgs/{org}/actions/runner-groups"},
	{"get", "/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories"},
	{"post", "/orgs/{org}/actions/runners/generate-jitconfig"},
	{"post", "/orgs/{org}/actions/runners/registration-token"},
	{"get", "/orgs/{org}/actions/runners"},
	{"get", "/orgs/{org}/actions/runners/{runner_id}"},
	{"delete", "/orgs/{org}/actions/runners/{runner_id}"},
	{"get", "/repos/{owner}/{repo}/actions/runners/downloads"},
	{"get", "/repos/{owner}/{repo}/actions/jobs/{job_id}"},
	{"get", "/repos/{owner}/{repo}/actions/runs"},
	{"get", "/repos/{owner}/{repo}/actions/runs/{run_id}"},
	{"get", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"},
	{"get", "/app/hook/deliveries"},
	{"get", "/app/hook/deliveries/{delivery_id}"},
	{"post", "/app/hook/deliveries/{delivery_id}/attempts"},
	{"get", "/rate_limit"},
}

// webhookNames are the keys of the webhook description's "webhooks" object that are kept.
var webhookNames = []string{
	"ping",
	"workflow-job-queued",
	"workflow-job-waiting",
	"workflow-job-in-progress",
	"workflow-job-completed",
}

// exampleEvents are the events whose example payloads are kept, all of them.
var exampleEvents = []string{"ping", "workflow_job"}

func main() {
	in := flag.String("in", "", "directory holding the npm pack tarballs ("+restPkg.tarball()+", ...); empty: run npm pack into a temporary directory")
	out := flag.String("out", "", "output directory (githubsim/githubspec/data)")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := fetchAndRun(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "specsubset:", err)
		os.Exit(1)
	}
}

func fetchAndRun(in, out string) error {
	if in == "" {
		tmp, err := os.MkdirTemp("", "specsubset-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		args := []string{"pack", "--silent", "--pack-destination", tmp}
		for _, p := range []pkg{restPkg, webhooksPkg, examplesPkg} {
			args = append(args, p.name+"@"+p.version)
		}
		cmd := exec.Command("npm", args...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		fmt.Println("npm", strings.Join(args, " "))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm pack: %w", err)
		}
		in = tmp
	}
	return run(in, out)
}

func run(in, out string) error {
	steps := []struct {
		p    pkg
		file string // the package's data file, inside the tarball's package/ folder
		cut  func([]byte) ([]byte, error)
	}{
		{restPkg, "generated/api.github.com.json", func(b []byte) ([]byte, error) { return cutREST(b, restOperations) }},
		{webhooksPkg, "generated/api.github.com.json", func(b []byte) ([]byte, error) { return cutWebhooks(b, webhookNames) }},
		{examplesPkg, "api.github.com/index.json", func(b []byte) ([]byte, error) { return cutExamples(b, exampleEvents) }},
	}
	for _, s := range steps {
		files, err := readTarball(filepath.Join(in, s.p.tarball()), s.p, s.file, "LICENSE")
		if err != nil {
			return err
		}
		data, err := s.cut(files[s.file])
		if err != nil {
			return fmt.Errorf("%s: %w", s.p.name, err)
		}
		license, ok := files["LICENSE"]
		if !ok {
			license = noLicenseFile(s.p)
		}
		dir := filepath.Join(out, s.p.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "api.github.com.json"), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "LICENSE"), license, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s@%s: %s/api.github.com.json %d bytes\n", s.p.name, s.p.version, dir, len(data))
	}
	return nil
}

// noLicenseFile stands in for a LICENSE the tarball does not ship. @octokit/webhooks-examples
// declares "license": "MIT" in its package.json and its README links to the MIT LICENSE.md of
// its repository, github:octokit/webhooks, but the file itself is not in the package.
func noLicenseFile(p pkg) []byte {
	return []byte(fmt.Sprintf(`%s@%s ships no LICENSE file. Its package.json declares
"license": "MIT", and its README's LICENSE section links to the MIT license of its
repository, github:octokit/webhooks. The MIT terms, as the sibling @octokit packages
vendored here ship them, are:

`, p.name, p.version) + mitText)
}

const mitText = `MIT License Copyright (c) Octokit contributors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the "Software"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice (including the next paragraph) shall be included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`

// readTarball checks the tarball's integrity and its package.json, and returns the wanted
// files of its package/ folder that it holds.
func readTarball(path string, p pkg, want ...string) (map[string][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (fetch it with: npm pack %s@%s)", err, p.name, p.version)
	}
	sum := sha512.Sum512(raw)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != p.integrity {
		return nil, fmt.Errorf("%s: integrity %s, want %s (npm view %s@%s dist.integrity)", path, got, p.integrity, p.name, p.version)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	files := make(map[string][]byte)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || (name != "package.json" && !slices.Contains(want, name)) {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		files[name] = b
	}
	var meta struct{ Name, Version string }
	if err := json.Unmarshal(files["package.json"], &meta); err != nil {
		return nil, fmt.Errorf("%s: package.json: %w", path, err)
	}
	if meta.Name != p.name || meta.Version != p.version {
		return nil, fmt.Errorf("%s: holds %s@%s, want %s@%s", path, meta.Name, meta.Version, p.name, p.version)
	}
	if _, ok := files[want[0]]; !ok {
		return nil, fmt.Errorf("%s: no package/%s", path, want[0])
	}
	return files, nil
}

// cutREST keeps ops and the components they reach.
func cutREST(spec []byte, ops []operation) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(spec, &top); err != nil {
		return nil, err
	}
	var paths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(top["paths"], &paths); err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	comps, err := components(top["components"])
	if err != nil {
		return nil, err
	}
	closure := newRefClosure(comps)

	keptPaths := make(map[string]map[string]json.RawMessage)
	usedTags := make(map[string]bool)
	for _, op := range ops {
		item, ok := paths[op.path]
		if !ok {
			return nil, fmt.Errorf("no path %s", op.path)
		}
		raw, ok := item[op.method]
		if !ok {
			return nil, fmt.Errorf("no operation %s %s", op.method, op.path)
		}
		if keptPaths[op.path] == nil {
			keptPaths[op.path] = make(map[string]json.RawMessage)
			// Path-level fields (parameters shared by the path's operations) come along.
			for k, v := range item {
				if !isHTTPMethod(k) {
					keptPaths[op.path][k] = v
					if err := closure.add(v); err != nil {
						return nil, fmt.Errorf("%s: %w", op.path, err)
					}
				}
			}
		}
		keptPaths[op.path][op.method] = raw
		if err := closure.add(raw); err != nil {
			return nil, fmt.Errorf("%s %s: %w", op.method, op.path, err)
		}
		var tagged struct{ Tags []string }
		if err := json.Unmarshal(raw, &tagged); err != nil {
			return nil, err
		}
		for _, t := range tagged.Tags {
			usedTags[t] = true
		}
	}

	var tags []json.RawMessage
	var allTags []json.RawMessage
	if err := json.Unmarshal(top["tags"], &allTags); err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	for _, t := range allTags {
		var named struct{ Name string }
		if err := json.Unmarshal(t, &named); err != nil {
			return nil, err
		}
		if usedTags[named.Name] {
			tags = append(tags, t)
		}
	}

	var w objWriter
	w.open()
	for _, k := range []string{"openapi", "info"} {
		w.field(k, top[k])
	}
	w.field("x-garo-subset", subsetNote(restPkg, "operations", len(ops)))
	w.field("tags", mustMarshal(tags))
	for _, k := range []string{"servers", "externalDocs"} {
		if v, ok := top[k]; ok {
			w.field(k, v)
		}
	}
	w.key("paths")
	w.open()
	for _, p := range sortedKeys(keptPaths) {
		w.key(p)
		w.open()
		item := keptPaths[p]
		// Path-level fields first, then the methods in a stable order.
		for _, k := range sortedKeys(item) {
			if !isHTTPMethod(k) {
				w.field(k, item[k])
			}
		}
		for _, m := range httpMethods {
			if v, ok := item[m]; ok {
				w.field(m, v)
			}
		}
		w.close()
	}
	w.close()
	w.field("components", closure.components())
	w.close()
	return w.indented()
}

// cutWebhooks keeps the webhooks named and the components they reach.
func cutWebhooks(spec []byte, webhookNames []string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(spec, &top); err != nil {
		return nil, err
	}
	var hooks map[string]json.RawMessage
	if err := json.Unmarshal(top["webhooks"], &hooks); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	comps, err := components(top["components"])
	if err != nil {
		return nil, err
	}
	closure := newRefClosure(comps)
	var w objWriter
	w.open()
	for _, k := range []string{"openapi", "info"} {
		w.field(k, top[k])
	}
	w.field("x-garo-subset", subsetNote(webhooksPkg, "webhooks", len(webhookNames)))
	for _, k := range []string{"servers", "externalDocs"} {
		if v, ok := top[k]; ok {
			w.field(k, v)
		}
	}
	w.key("webhooks")
	w.open()
	names := slices.Clone(webhookNames)
	slices.Sort(names)
	for _, name := range names {
		raw, ok := hooks[name]
		if !ok {
			return nil, fmt.Errorf("no webhook %q", name)
		}
		if err := closure.add(raw); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", name, err)
		}
		w.field(name, raw)
	}
	w.close()
	w.field("components", closure.components())
	w.close()
	return w.indented()
}

// cutExamples keeps the entries of the events named, whole.
func cutExamples(index []byte, exampleEvents []string) ([]byte, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal(index, &entries); err != nil {
		return nil, err
	}
	var kept []json.RawMessage
	found := make(map[string]bool)
	for _, e := range entries {
		var named struct {
			Name     string
			Examples []json.RawMessage
		}
		if err := json.Unmarshal(e, &named); err != nil {
			return nil, err
		}
		if slices.Contains(exampleEvents, named.Name) {
			if len(named.Examples) == 0 {
				return nil, fmt.Errorf("event %s has no examples", named.Name)
			}
			found[named.Name] = true
			kept = append(kept, e)
		}
	}
	for _, ev := range exampleEvents {
		if !found[ev] {
			return nil, fmt.Errorf("no examples for event %s", ev)
		}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, mustMarshal(kept), "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func subsetNote(p pkg, what string, n int) json.RawMessage {
	return mustMarshal(map[string]any{
		"package":     p.name,
		"version":     p.version,
		"integrity":   p.integrity,
		"description": fmt.Sprintf("A subset of the package's api.github.com description: %d %s and the components they reference, cut by githubsim/internal/specsubset.", n, what),
	})
}

// components splits a components object into kind -> name -> raw value.
func components(raw json.RawMessage) (map[string]map[string]json.RawMessage, error) {
	var comps map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &comps); err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	return comps, nil
}

// refClosure collects the components reachable through "$ref": "#/components/KIND/NAME".
type refClosure struct {
	all  map[string]map[string]json.RawMessage
	kept map[string]map[string]json.RawMessage
}

func newRefClosure(all map[string]map[string]json.RawMessage) *refClosure {
	return &refClosure{all: all, kept: make(map[string]map[string]json.RawMessage)}
}

// add walks raw and keeps every component it references, and theirs.
func (c *refClosure) add(raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	var refs []string
	collectRefs(v, &refs)
	for _, ref := range refs {
		rest, ok := strings.CutPrefix(ref, "#/components/")
		if !ok {
			return fmt.Errorf("reference %q leaves the document's components", ref)
		}
		kind, name, ok := strings.Cut(rest, "/")
		if !ok || strings.ContainsAny(name, "/~") {
			return fmt.Errorf("reference %q is not #/components/KIND/NAME", ref)
		}
		if _, done := c.kept[kind][name]; done {
			continue
		}
		target, ok := c.all[kind][name]
		if !ok {
			return fmt.Errorf("dangling reference %q", ref)
		}
		if c.kept[kind] == nil {
			c.kept[kind] = make(map[string]json.RawMessage)
		}
		c.kept[kind][name] = target
		if err := c.add(target); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	return nil
}

func (c *refClosure) components() json.RawMessage {
	var w objWriter
	w.open()
	for _, kind := range sortedKeys(c.kept) {
		w.key(kind)
		w.open()
		for _, name := range sortedKeys(c.kept[kind]) {
			w.field(name, c.kept[kind][name])
		}
		w.close()
	}
	w.close()
	return w.buf.Bytes()
}

func collectRefs(v any, refs *[]string) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			*refs = append(*refs, ref)
		}
		for _, k := range sortedKeys(v) {
			collectRefs(v[k], refs)
		}
	case []any:
		for _, e := range v {
			collectRefs(e, refs)
		}
	}
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func isHTTPMethod(k string) bool { return slices.Contains(httpMethods, k) }

// objWriter writes a JSON object with its keys in the order given and raw values kept.
type objWriter struct {
	buf   bytes.Buffer
	first []bool
}

func (w *objWriter) open() {
	w.buf.WriteByte('{')
	w.first = append(w.first, true)
}

func (w *objWriter) close() {
	w.buf.WriteByte('}')
	w.first = w.first[:len(w.first)-1]
}

func (w *objWriter) key(k string) {
	if !w.first[len(w.first)-1] {
		w.buf.WriteByte(',')
	}
	w.first[len(w.first)-1] = false
	w.buf.Write(mustMarshal(k))
	w.buf.WriteByte(':')
}

func (w *objWriter) field(k string, v json.RawMessage) {
	w.key(k)
	w.buf.Write(v)
}

func (w *objWriter) indented() ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, w.buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
