package k8stest

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Namespace creates a namespace of its own for the test. When the test ends it deletes
// every Pod (at once) and Secret left in it, then the namespace (which stays Terminating:
// no controller manager finishes it).
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := nameOf(t)
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		zero := int64(0)
		_ = c.Client.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		_ = c.Client.CoreV1().Secrets(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// ServiceAccount creates service account sa in ns and returns a client configuration
// with a token of it (TokenRequest, one hour): a credential with exactly the rights
// RBAC bindings give sa, for tests of the agent's Role.
func (c *Cluster) ServiceAccount(t testing.TB, ns, sa string) *rest.Config {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create service account %s/%s: %v", ns, sa, err)
	}
	secs := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: token of %s/%s: %v", ns, sa, err)
	}
	return &rest.Config{Host: c.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM}}
}
