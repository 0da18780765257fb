package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the Kubernetes provider's configuration: the provider.kubernetes section of
// garo-agent's configuration (agent/app embeds it), with its documented defaults in
// DefaultConfig. Validate names each bad value by its key, provider.kubernetes.<key>.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means the in-cluster configuration when the
	// agent runs in a Pod (KUBERNETES_SERVICE_HOST is set), else $KUBECONFIG, else
	// ~/.kube/config.
	Kubeconfig string `mapstructure:"kubeconfig" yaml:"kubeconfig"`
	// Context is the kubeconfig context; empty means its current context.
	Context string `mapstructure:"context" yaml:"context"`
	// Namespace is where runner Pods go when a policy names none (runner.kubernetes.namespace).
	// Empty: the namespace of the agent's own Pod in a cluster, else the kubeconfig
	// context's, else "default".
	Namespace string `mapstructure:"namespace" yaml:"namespace"`
	// WatchNamespaces are further namespaces policies may put runners in (within their
	// group's constraints). The agent watches Namespace and these, and only these: a
	// policy naming another namespace is refused.
	WatchNamespaces []string `mapstructure:"watch_namespaces" yaml:"watch_namespaces"`
	// ServiceAccount is the runner Pods' service account when a policy names none; empty
	// means the namespace's default. Its token is not mounted either way.
	ServiceAccount string `mapstructure:"service_account" yaml:"service_account"`
	// RunAsUser and RunAsGroup are the uid and gid of runner containers (the real runner
	// image's "runner" user is 1001). Runners never run as root.
	RunAsUser  int64 `mapstructure:"run_as_user" yaml:"run_as_user"`
	RunAsGroup int64 `mapstructure:"run_as_group" yaml:"run_as_group"`
	// AllowPrivilegedDind lets policies ask for a Docker daemon sidecar
	// (runner.kubernetes.dind), which runs privileged: whoever controls a job then
	// controls the node. Off by default.
	AllowPrivilegedDind bool `mapstructure:"allow_privileged_dind" yaml:"allow_privileged_dind"`
	// DindImage is the sidecar's image.
	DindImage string `mapstructure:"dind_image" yaml:"dind_image"`
	// DeleteGrace is the grace period of a deleted runner Pod before its containers are killed.
	DeleteGrace time.Duration `mapstructure:"delete_grace" yaml:"delete_grace"`
	// SyncTimeout bounds the first listing of the watched namespaces at start and the wait
	// for a created Pod to show in the watch.
	SyncTimeout time.Duration `mapstructure:"sync_timeout" yaml:"sync_timeout"`
	// QPS and Burst bound the agent's requests to the API server (client-go's limiter).
	QPS   int `mapstructure:"qps" yaml:"qps"`
	Burst int `mapstructure:"burst" yaml:"burst"`
}

// DefaultDindImage is the Docker daemon sidecar's default image.
const DefaultDindImage = "docker.io/library/docker:27-dind"

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		RunAsUser: 1001, RunAsGroup: 1001, DindImage: DefaultDindImage,
		DeleteGrace: 10 * time.Second, SyncTimeout: 30 * time.Second, QPS: 20, Burst: 40,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.RunAsUser == 0 {
		c.RunAsUser = d.RunAsUser
	}
	if c.RunAsGroup == 0 {
		c.RunAsGroup = d.RunAsGroup
	}
	if c.DindImage == "" {
		c.DindImage = d.DindImage
	}
	if c.DeleteGrace == 0 {
		c.DeleteGrace = d.DeleteGrace
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = d.SyncTimeout
	}
	if c.QPS == 0 {
		c.QPS = d.QPS
	}
	if c.Burst == 0 {
		c.Burst = d.Burst
	}
	return c
}

// Validate checks every value and names the key of each bad one (provider.kubernetes.<key>).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("provider.kubernetes.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Kubeconfig != "" {
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			bad("kubeconfig", "must be a readable kubeconfig file: %v", err)
		}
	}
	if c.Namespace != "" && len(validation.IsDNS1123Label(c.Namespace)) > 0 {
		bad("namespace", "must be a namespace name (a DNS label), got %q", c.Namespace)
	}
	for _, n := range c.WatchNamespaces {
		if len(validation.IsDNS1123Label(n)) > 0 {
			bad("watch_namespaces", "each must be a namespace name (a DNS label), got %q", n)
		}
	}
	if c.ServiceAccount != "" && len(validation.IsDNS1123Subdomain(c.ServiceAccount)) > 0 {
		bad("service_account", "must be a service account name, got %q", c.ServiceAccount)
	}
	if c.RunAsUser < 1 {
		bad("run_as_user", "must be a uid above 0 (runners never run as root), got %d", c.RunAsUser)
	}
	if c.RunAsGroup < 1 {
		bad("run_as_group", "must be a gid above 0, got %d", c.RunAsGroup)
	}
	if c.DindImage == "" {
		bad("dind_image", "must be set")
	}
	if c.DeleteGrace < 0 || c.DeleteGrace > 10*time.Minute {
		bad("delete_grace", "must be between 0s and 10m, got %s", c.DeleteGrace)
	}
	if c.SyncTimeout < time.Second || c.SyncTimeout > 10*time.Minute {
		bad("sync_timeout", "must be between 1s and 10m, got %s", c.SyncTimeout)
	}
	if c.QPS <= 0 || c.Burst < 1 {
		bad("qps", "qps and burst must be above 0, got %d and %d", c.QPS, c.Burst)
	}
	return errors.Join(errs...)
}

// namespaces are the namespaces the provider watches, def first.
func (c Config) namespaces(def string) []string {
	out := []string{def}
	for _, n := range c.WatchNamespaces {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
