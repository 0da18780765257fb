package helm_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	serverconfig "github.com/garo-dev/garo/server/config"
)

// Every documented value set of the agent's chart lints, renders, is accepted by the API
// server, and renders a configuration garo-agent loads: provider kubernetes in the
// runner namespace, and a Role and RoleBinding in each namespace it works in.
func TestAgentChartRendersAndApplies(t *testing.T) {
	c := k8stest.Get(t)
	ensureNamespaces(t, c, "garo", "garo-runners", "garo-runners-gpu")
	for _, values := range valueSets(t, "garo-agent") {
		t.Run(values, func(t *testing.T) {
			if _, err := helm(t, "lint", "--strict", "garo-agent", "-f", values); err != nil {
				t.Fatal(err)
			}
			objs := render(t, "garo-agent", "ci", "garo", "-f", values)
			apply(t, c, objs, true)
			cfgFile := configYAML(t, objs)
			containerEnv(t, find(t, objs, "Deployment", "garo"), map[string]string{"GARO_AGENT_CONFIG": cfgFile})
			t.Setenv("GARO_AGENT_STRICT_ENV", "1") // a variable the Deployment sets that names no key fails Load
			cfg, err := agentapp.Load(cfgFile, nil)
			if err != nil {
				t.Fatalf("garo-agent refuses the chart's configuration: %v", err)
			}
			k := cfg.Provider.Kubernetes
			if cfg.Provider.Type != "kubernetes" || cfg.StateFile != "/var/lib/garo-agent/state.json" || k.Kubeconfig != "" {
				t.Fatalf("config = %+v", cfg)
			}
			want := []string{"garo"}
			if strings.Contains(values, "full") {
				want = []string{"garo-runners", "garo-runners-gpu"}
				if k.Namespace != "garo-runners" || !k.AllowPrivilegedDind || k.ServiceAccount != "runner" || cfg.Server.CAFile == "" {
					t.Fatalf("provider.kubernetes = %+v, server = %+v", k, cfg.Server)
				}
				find(t, objs, "PersistentVolumeClaim", "garo")
			}
			if n := kinds(objs); n["Role"] != len(want) || n["RoleBinding"] != len(want) || n["ClusterRole"]+n["ClusterRoleBinding"] != 0 {
				t.Fatalf("RBAC objects = %v, want a Role and RoleBinding in each of %v and nothing cluster-wide", n, want)
			}
			for _, ns := range want {
				find(t, objs, "Role", ns)
			}
		})
	}
	t.Run("schema refuses", func(t *testing.T) {
		for _, set := range [][]string{
			{"server.url=garo.example.com"},                               // no scheme
			{"server.url=https://x", "runners.namespace=Bad_Namespace"},   // not a DNS label
			{"server.url=https://x", "runners.runAsUser=0"},               // root
			{"server.url=https://x", "persistence.enabled=yes", "nope=1"}, // unknown value
		} {
			var args []string
			for _, s := range set {
				args = append(args, "--set", s)
			}
			if _, err := helm(t, append([]string{"template", "ci", "garo-agent"}, args...)...); err == nil {
				t.Errorf("helm template with %v rendered", set)
			}
		}
	})
}

// Every documented value set of the server's chart lints, renders, is accepted by the API
// server, and renders a configuration garo-server loads (with the DSN its Secret gives):
// PostgreSQL, several replicas, probes on /healthz and /readyz, a PodDisruptionBudget.
func TestServerChartRendersAndApplies(t *testing.T) {
	c := k8stest.Get(t)
	ensureNamespaces(t, c, "garo")
	for _, values := range valueSets(t, "garo-server") {
		t.Run(values, func(t *testing.T) {
			if _, err := helm(t, "lint", "--strict", "garo-server", "-f", values); err != nil {
				t.Fatal(err)
			}
			objs := render(t, "garo-server", "ci", "garo", "-f", values)
			apply(t, c, objs, true)
			cfgFile := configYAML(t, objs)
			containerEnv(t, find(t, objs, "Deployment", "garo"), map[string]string{
				"GARO_CONFIG": cfgFile, "GARO_DATABASE_DSN": "postgres://garo:secret@postgres:5432/garo",
			})
			t.Setenv("GARO_STRICT_ENV", "1")
			if strings.Contains(values, "full") {
				// The App key is mounted from the Secret at run time; here, a file in its place.
				t.Setenv("GARO_GITHUB_PRIVATE_KEY_FILE", cfgFile)
			}
			cfg, err := serverconfig.Load(cfgFile, nil)
			if err != nil {
				t.Fatalf("garo-server refuses the chart's configuration: %v", err)
			}
			if cfg.Database.Driver != "postgres" || cfg.Server.Listen != ":8080" {
				t.Fatalf("config = %+v", cfg)
			}
			d := find(t, objs, "Deployment", "garo")
			r, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
			replicas, _ := r.(float64) // JSON numbers
			ctrs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			ctr := ctrs[0].(map[string]any)
			live, _, _ := unstructured.NestedString(ctr, "livenessProbe", "httpGet", "path")
			ready, _, _ := unstructured.NestedString(ctr, "readinessProbe", "httpGet", "path")
			if replicas < 2 || live != "/healthz" || ready != "/readyz" {
				t.Fatalf("deployment: replicas %v, probes %q %q", replicas, live, ready)
			}
			env, _, _ := unstructured.NestedSlice(ctr, "env")
			var fromSecret []string
			for _, e := range env {
				if m := e.(map[string]any); m["valueFrom"] != nil {
					fromSecret = append(fromSecret, m["name"].(string))
				}
			}
			if !slices.Contains(fromSecret, "GARO_DATABASE_DSN") || !slices.Contains(fromSecret, "GARO_GITHUB_WEBHOOK_SECRET") {
				t.Fatalf("environment from Secrets = %v", fromSecret)
			}
			find(t, objs, "PodDisruptionBudget", "garo")
			find(t, objs, "Service", "garo")
			if strings.Contains(values, "full") {
				ing := find(t, objs, "Ingress", "garo")
				if tls, _, _ := unstructured.NestedSlice(ing.Object, "spec", "tls"); len(tls) != 1 {
					t.Fatalf("ingress without TLS: %v", ing.Object["spec"])
				}
				if replicas != 3 || cfg.GitHub.AppID != 123456 {
					t.Fatalf("replicas %v, github %+v", replicas, cfg.GitHub)
				}
			}
		})
	}
	if _, err := helm(t, "template", "ci", "garo-server"); err == nil || !strings.Contains(err.Error(), "databaseDSN") {
		t.Errorf("the server chart without a DSN: %v", err)
	}
}

// containerEnv sets, for the test, the environment the Deployment's container gets: its
// literal values, and for the values it takes from Secrets or the Pod, those of given (or
// a placeholder).
func containerEnv(t *testing.T, d *unstructured.Unstructured, given map[string]string) {
	// Only what the Deployment sets: the test process's own GARO_* variables (GARO_K8S_BIN,
	// GARO_HELM_BIN from .ci/run) are not the container's, and strict loading would refuse them.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GARO_") {
			t.Setenv(k, "") // restores the variable when the test ends
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Helper()
	ctrs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	env, _, _ := unstructured.NestedSlice(ctrs[0].(map[string]any), "env")
	for _, e := range env {
		m := e.(map[string]any)
		name, _ := m["name"].(string)
		v, ok := given[name]
		if !ok {
			v, ok = m["value"].(string)
		}
		if !ok {
			v = "placeholder-0123456789abcdef0123456789abcdef" // long enough for every secret's rule
		}
		t.Setenv(name, v)
	}
}
