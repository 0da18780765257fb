package kubernetes

import (
	"context"
	"fmt"
	"log/slog"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig is the client configuration cfg names: cfg.Kubeconfig (and cfg.Context),
// else $KUBECONFIG or ~/.kube/config, else the in-cluster configuration of a Pod (its
// service account's token and CA). It also returns the namespace to use when
// cfg.Namespace is empty: the context's, the Pod's own in a cluster, else "default".
func RESTConfig(cfg Config) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("provider.type is kubernetes but no client configuration was found "+
			"(provider.kubernetes.kubeconfig, $KUBECONFIG, ~/.kube/config, or the in-cluster service account): %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return rc, ns, nil
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
