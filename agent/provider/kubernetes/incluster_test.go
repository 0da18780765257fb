package kubernetes_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/garo-dev/garo/agent/provider/kubernetes"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	"github.com/garo-dev/garo/shared/spec"
)

// An agent in a Pod finds the API server, its credentials and its namespace the way the
// kubelet mounts them (service environment, token, CA, namespace files), with no
// kubeconfig: Open starts on the Pod's namespace and creates and deletes runners with the
// service account's token, which a Role in that namespace only allows. Not parallel: it
// sets the process's environment.
func TestOpenInAPodUsesItsServiceAccount(t *testing.T) {
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	rc := c.ServiceAccount(t, ns, "garo-agent")
	bindRole(t, c.Client, ns, "garo-agent", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
	})
	dir := t.TempDir()
	for name, data := range map[string][]byte{"token": []byte(rc.BearerToken), "ca.crt": c.CAPEM, "namespace": []byte(ns + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(kubernetes.SetServiceAccountDir(dir))
	host, port, _ := strings.Cut(strings.TrimPrefix(c.Host, "https://"), ":")
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	t.Setenv("KUBECONFIG", c.Kubeconfig) // an administrator's: in a Pod, it is not used

	p, release, err := kubernetes.Open(ctx, kubernetes.Config{}, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got := p.Namespaces(); len(got) != 1 || got[0] != ns {
		t.Fatalf("namespaces = %v, want the Pod's %s", got, ns)
	}
	inst, err := p.Create(ctx, request("in-cluster", spec.RunnerSpec{Image: "stub:1"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, "garo-in-cluster", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Pod is still there: %v", err)
	}

	// Outside its namespace the service account may do nothing: an agent whose policy
	// names another namespace fails at start with the reason.
	_, _, err = kubernetes.Open(ctx, kubernetes.Config{WatchNamespaces: []string{"default"}}, testkit.Discard())
	if !errors.Is(err, kubernetes.ErrForbidden) {
		t.Fatalf("watching another namespace with the Pod's service account: err = %v, want ErrForbidden", err)
	}
	// A kubeconfig named in the configuration wins over the Pod's service account (this
	// one is the administrator's, who may list the default namespace).
	_, release2, err := kubernetes.Open(ctx, kubernetes.Config{Kubeconfig: c.Kubeconfig, WatchNamespaces: []string{"default"}}, testkit.Discard())
	if err != nil {
		t.Fatalf("with a kubeconfig: %v", err)
	}
	release2()
}

// bindRole creates a Role with rules in ns and binds it to service account sa.
func bindRole(t *testing.T, cs k8s.Interface, ns, sa string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A watch the API server refuses is logged with the classified reason (the informer
// retries with its own back-off); a watch that merely ends is not a warning.
func TestWatchFailuresAreLoggedWithTheirReason(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	log, buf := testkit.TextLogs()
	p, release, err := kubernetes.OpenConfig(t.Context(), c.Admin, ns, kubernetes.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// The refusal as the API server words it, from a token that lost its RoleBinding.
	rc := c.ServiceAccount(t, ns, "revoked")
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	_, refusal := cs.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{})
	if refusal == nil {
		t.Fatal("the unbound token may watch Pods")
	}
	p.WatchFailed(ns, refusal)
	p.WatchFailed(ns, io.EOF)
	out := buf.String()
	if !strings.Contains(out, "runner pod watch failed") || !strings.Contains(out, "forbidden (RBAC)") || !strings.Contains(out, "system:serviceaccount:"+ns+":revoked") {
		t.Fatalf("log = %s", out)
	}
	if strings.Count(out, "level=WARN") != 1 {
		t.Fatalf("a watch that ended is logged as a warning: %s", out)
	}
}
