package helm_test

import (
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/kubernetes"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	"github.com/garo-dev/garo/shared/spec"
)

// The agent chart's RBAC is sufficient and minimal: installed for real in a namespace,
// the Kubernetes provider running on a token of the chart's service account (bound to
// nothing but the chart's Role) creates a runner (Secret, Pod, ownership), sees it
// through its watch, and deletes both; the same token may not list Pods in another
// namespace, read ConfigMaps, or exec into Pods.
func TestAgentRoleIsMinimalAndSufficient(t *testing.T) {
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	objs := render(t, "garo-agent", "rbac", ns, "--set", "server.url=https://garo.example.com", "--set", "registration.token=x")
	var rbac []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding":
			rbac = append(rbac, o)
		}
	}
	apply(t, c, rbac, false)
	if t.Failed() {
		t.FailNow()
	}
	sa := find(t, rbac, "ServiceAccount", ns).GetName()
	secs := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := &rest.Config{Host: c.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM}}

	p, release, err := kubernetes.OpenConfig(ctx, rc, ns, kubernetes.Config{}, testkit.Discard())
	if err != nil {
		t.Fatalf("the provider cannot start with the chart's Role: %v", err)
	}
	defer release()
	name := "rbac-runner"
	inst, err := p.Create(ctx, provider.RunnerRequest{
		Name: name, Repository: "acme/widgets", Policy: "linux",
		Labels: map[string]string{provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: "a1", provider.LabelRunner: name},
		Spec:   spec.RunnerSpec{Image: "stub:1"}, Env: map[string]string{provider.EnvJITConfig: "jit"},
	})
	if err != nil {
		t.Fatalf("create with the chart's Role: %v", err)
	}
	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "garo-"+name, metav1.GetOptions{})
	if err != nil || len(secret.OwnerReferences) != 1 {
		t.Fatalf("the runner's Secret and its owner: %v %v", secret.OwnerReferences, err)
	}
	if list, err := p.List(ctx, nil); err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := p.Delete(ctx, inst.ID); err != nil {
		t.Fatalf("delete with the chart's Role: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the Pod gone from the watch", func() bool {
		in, err := p.State(ctx, inst.ID)
		return err == nil && in.State == provider.StateGone
	})
	if s, _ := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); len(s.Items) != 0 {
		t.Fatalf("Secrets left: %d", len(s.Items))
	}

	// Nothing beyond the Role.
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("%s with the agent's token: %v, want forbidden", what, err)
		}
	}
	_, err = cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	refused("listing Pods in another namespace", err)
	_, err = cs.CoreV1().Secrets("default").Get(ctx, "x", metav1.GetOptions{})
	refused("reading a Secret in another namespace", err)
	_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	refused("listing ConfigMaps", err)
	_, err = cs.CoreV1().Pods(ns).Patch(ctx, "x", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})
	refused("patching a Pod", err)
	_, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	refused("listing namespaces", err)
	err = cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("x").SubResource("exec").Do(ctx).Error()
	refused("exec into a Pod", err)
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}}, metav1.UpdateOptions{})
	refused("writing a Pod's status", err)
}
