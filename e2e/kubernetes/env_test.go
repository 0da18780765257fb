// Package kubernetes_test runs garo-server, the GitHub simulator and garo-agent with the
// Kubernetes provider (provider.type kubernetes, a kubeconfig) on a real kube-apiserver
// (internal/testkit/k8stest). No kubelet runs there: a k8stest.Kubelet stands in for one,
// resolving each runner Pod's environment from its Secret as a kubelet does and playing
// the runner against the simulator with the JIT configuration it read, through the Pod's
// status subresource. A package of its own: its TestMain starts the API server.
package kubernetes_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/config"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

const (
	repo       = "acme/api"
	adminToken = "garo_e2e-admin-token-0123456789abcdef"
	hookSecret = "e2e-webhook-secret-0123"
)

var logs = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// env is one scenario: a stack, the cluster, and a namespace of its own.
type env struct {
	*stack.Stack
	c  *k8stest.Cluster
	ns string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := k8stest.Get(t)
	s, err := stack.Start(t.Context(), stack.Options{
		Dir: t.TempDir(), Repositories: []string{repo}, Log: logs, AdminToken: adminToken, WebhookSecret: hookSecret,
		Server: func(cfg *config.Config) {
			// An agent that stops heartbeating is offline (and its repositories move) soon.
			cfg.Agents.HeartbeatInterval, cfg.Agents.OfflineAfter = time.Second, 4*time.Second
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{Stack: s, c: c, ns: c.Namespace(t)}
}

// policy creates a Kubernetes policy named name whose runners take a job labelled name.
func (e *env) policy(t *testing.T, name string, minIdle, maxRunners int, boot time.Duration) {
	t.Helper()
	grace, b := portalapi.Duration(time.Minute), portalapi.Duration(boot)
	if _, err := e.Portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: name, Labels: []string{name}, MinIdle: minIdle, MaxRunners: maxRunners, IdleGrace: &grace, BootstrapTimeout: &b,
		Provider: portalapi.ProviderKubernetes, Runner: portalapi.RunnerSpec{Image: "ghcr.io/acme/runner:1", CPU: "500m", Memory: "512Mi"},
	}); err != nil {
		t.Fatal(err)
	}
}

// agent starts garo-agent on the Kubernetes provider in the env's namespace, through a
// kubeconfig; killed (no drain, no unregister) when stopped.
func (e *env) agent(t *testing.T, name string) *stack.Agent {
	t.Helper()
	return e.start(t, e.agentConfig(t, name))
}

// agentConfig is the configuration of a new agent (with a registration token of its own).
func (e *env) agentConfig(t *testing.T, name string) app.Config {
	t.Helper()
	tok, err := e.RegistrationToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.AgentConfig(tok, name)
	cfg.Provider.Type = app.ProviderKubernetes
	cfg.Provider.Kubernetes.Kubeconfig, cfg.Provider.Kubernetes.Namespace = e.c.Kubeconfig, e.ns
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	return cfg
}

// start runs garo-agent with cfg until the test ends (or Stop).
func (e *env) start(t *testing.T, cfg app.Config) *stack.Agent {
	t.Helper()
	a, err := e.StartAgent(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	return a
}

// kubelet plays every runner Pod of the namespace: the runner connects with the JIT
// configuration the Pod's environment got from its Secret, takes a job, works for work and
// exits 0 (1 when it could not connect).
func (e *env) kubelet(t *testing.T, work time.Duration) *k8stest.Kubelet {
	t.Helper()
	return e.c.Kubelet(t, e.ns, func(ctx context.Context, pod *corev1.Pod, env map[string]string) int32 {
		if pod.Labels[provider.LabelManagedBy] != provider.ManagedByGaro {
			return 0 // a bare Pod of the test: nothing to play
		}
		jit := env[provider.EnvJITConfig]
		if jit == "" {
			t.Errorf("pod %s: no %s in its environment", pod.Name, provider.EnvJITConfig)
			return 2
		}
		if err := e.Sim.RunRunner(ctx, jit, work); err != nil {
			if ctx.Err() == nil {
				t.Logf("pod %s: runner: %v", pod.Name, err)
			}
			return 1
		}
		return 0
	})
}

// garo counts the Pods (not being deleted) and Secrets with Garo's managed-by label in
// the namespace.
func (e *env) garo(t *testing.T) (pods []corev1.Pod, secrets int) {
	t.Helper()
	pods, secrets, err := e.list(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return pods, secrets
}

// list is garo for any goroutine: it returns its error.
func (e *env) list(ctx context.Context) (pods []corev1.Pod, secrets int, err error) {
	sel := metav1.ListOptions{LabelSelector: provider.LabelManagedBy + "=" + provider.ManagedByGaro}
	pl, err := e.c.Client.CoreV1().Pods(e.ns).List(ctx, sel)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range pl.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	sl, err := e.c.Client.CoreV1().Secrets(e.ns).List(ctx, sel)
	if err != nil {
		return nil, 0, err
	}
	return pods, len(sl.Items), nil
}

// clean waits until no Pod or Secret of Garo is left in the namespace and the simulator
// holds no runner of the repository: what every scenario must end with.
func (e *env) clean(t *testing.T, within time.Duration) {
	t.Helper()
	testkit.Eventually(t, within, "no Garo Pod or Secret left, no runner at GitHub", func() bool {
		pods, secrets := e.garo(t)
		return len(pods) == 0 && secrets == 0 && len(e.Sim.Runners(repo)) == 0
	})
}
