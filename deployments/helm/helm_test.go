// Package helm_test checks the Helm charts of deployments/helm with the real tools: helm
// lint and helm template (the helm CLI, built from the Go module proxy by
// .ci/helm-binary.sh), every object of every documented value set (each chart's ci/
// folder) applied to a real kube-apiserver (server-side dry run), the configuration each
// chart renders loaded by the binary's own loader, and the agent's Role proven minimal and
// sufficient for the Kubernetes provider.
package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/garo-dev/garo/internal/testkit/k8stest"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

// HelmVersion is the helm .ci/helm-binary.sh builds.
const HelmVersion = "v4.3.2"

// helm runs the helm CLI with args and returns its standard output; it skips the test
// loudly without the binary, or fails it when CI=true.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	dir := os.Getenv("GARO_HELM_BIN")
	if dir == "" {
		dir = "/var/cache/garo/helm-" + HelmVersion + "/bin"
	}
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("\n\n*** NO HELM: %s did NOT run (%v).\n*** Build it with .ci/helm-binary.sh.\n", t.Name(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	// helm keeps caches and plugins under $HOME: keep them in the test's folder.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w: %s%s", strings.Join(args, " "), err, stderr.String(), out.String())
	}
	return out.String(), nil
}

// render is helm template of chart (a folder here) as release rel in namespace ns.
func render(t *testing.T, chart, rel, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", rel, chart, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm template %s: not YAML: %v", chart, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	if len(objs) == 0 {
		t.Fatalf("helm template %s rendered nothing", chart)
	}
	return objs
}

// apply creates objs on the test API server, with the server-side dry run when dryRun:
// the API server's validation and admission decide, as at a real install.
func apply(t *testing.T, c *k8stest.Cluster, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Admin)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: the API server does not serve it: %v", gvk, o.GetName(), err)
		}
		if _, err := dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Create(t.Context(), o, opts); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// ensureNamespaces creates the namespaces (kept: the cluster is this package's).
func ensureNamespaces(t *testing.T, c *k8stest.Cluster, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// valueSets are the documented value sets of a chart: its ci/*-values.yaml.
func valueSets(t *testing.T, chart string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chart, "ci", "*-values.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("value sets of %s: %v %v", chart, files, err)
	}
	return files
}

// kinds counts the rendered objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o.GetKind()]++
	}
	return out
}

// find returns the rendered object of kind (and namespace, when not empty).
func find(t *testing.T, objs []*unstructured.Unstructured, kind, ns string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && (ns == "" || o.GetNamespace() == ns) {
			return o
		}
	}
	t.Fatalf("no %s in namespace %q rendered", kind, ns)
	return nil
}

// configYAML is the config.yaml of the rendered ConfigMap, written to a file.
func configYAML(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(find(t, objs, "ConfigMap", "").Object, "data")
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
