package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// serviceAccountDir is where the kubelet mounts a Pod's service account: its token (which
// the kubelet renews; the client reads it again as it changes), the cluster's CA and the
// Pod's namespace. Tests point it elsewhere.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// RESTConfig is the client configuration cfg names, and the namespace to use when
// cfg.Namespace is empty, tried in this order:
//   - cfg.Kubeconfig (with cfg.Context): that file, and its context's namespace;
//   - in a Pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set, a service
//     account token mounted): the in-cluster configuration, and the Pod's namespace;
//   - otherwise $KUBECONFIG or ~/.kube/config and its context's namespace.
//
// The namespace is "default" when none of these names one.
func RESTConfig(cfg Config) (*rest.Config, string, error) {
	if cfg.Kubeconfig == "" {
		if rc, ns, ok, err := inCluster(serviceAccountDir); ok || err != nil {
			if cfg.Namespace != "" {
				ns = cfg.Namespace
			}
			return rc, ns, err
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("provider.type is kubernetes but no client configuration was found "+
			"(provider.kubernetes.kubeconfig, the in-cluster service account, $KUBECONFIG or ~/.kube/config): %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return rc, ns, nil
}

// inCluster is the configuration of a Pod's own service account mounted in dir; ok is
// false outside a Pod (no service environment, or no token in dir). The token is read
// from its file by the client, so a renewed (bound, expiring) token is picked up.
func inCluster(dir string) (rc *rest.Config, ns string, ok bool, err error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	token := filepath.Join(dir, "token")
	if host == "" || port == "" {
		return nil, "", false, nil
	}
	if _, err := os.Stat(token); err != nil {
		return nil, "", false, nil
	}
	ca := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(ca); err != nil {
		return nil, "", true, fmt.Errorf("provider.kubernetes: in a Pod (KUBERNETES_SERVICE_HOST is set) without the cluster's CA: %w", err)
	}
	ns = "default"
	if b, err := os.ReadFile(filepath.Join(dir, "namespace")); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerTokenFile: token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: ca},
	}, ns, true, nil
}

// Open builds the Kubernetes provider of cfg for garo-agent: it validates cfg, loads the
// client configuration (RESTConfig), and starts watching the runner Pods of its
// namespaces; a namespace that is missing or may not be listed fails the start with its
// reason. release stops the watches.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (p *Provider, release func(), err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	rc, ns, err := RESTConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return OpenConfig(ctx, rc, ns, cfg, log)
}

// OpenConfig is Open with a client configuration and namespace already made (tests give
// one with a token bound to a Role).
func OpenConfig(ctx context.Context, rc *rest.Config, ns string, cfg Config, log *slog.Logger) (*Provider, func(), error) {
	cfg = cfg.withDefaults()
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = float32(cfg.QPS), cfg.Burst
	rc.UserAgent = "garo-agent"
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("provider.kubernetes: client for %s: %w", rc.Host, err)
	}
	p, err := New(ctx, cs, ns, cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("provider.type is kubernetes (API server %s): %w", rc.Host, err)
	}
	if log != nil {
		log.Info("kubernetes API server answers", "host", rc.Host, "namespaces", p.all)
	}
	return p, p.Close, nil
}
