// Package spec holds the parts of a runner policy that the portal API and the agent
// protocol share verbatim: what a runner looks like (RunnerSpec) and when min_idle changes
// (ScheduleWindow). portal-api aliases these types; shared/protocol embeds them.
package spec

// RunnerSpec says what a runner of a policy looks like.
type RunnerSpec struct {
	Image string `json:"image"`
	// CPU is a Kubernetes-style quantity ("2", "500m"), a limit on Docker.
	CPU string `json:"cpu,omitempty"`
	// Memory is a Kubernetes-style quantity ("4Gi", "512Mi").
	Memory string            `json:"memory,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	// Command overrides the container's command; empty means the runner image's
	// /home/runner/run.sh.
	Command    []string        `json:"command,omitempty"`
	Docker     *DockerSpec     `json:"docker,omitempty"`
	Kubernetes *KubernetesSpec `json:"kubernetes,omitempty"`
}

// DockerSpec holds the Docker-only part of a runner spec.
type DockerSpec struct {
	// NetworkMode is "bridge", "host", "none" or the name of a user-defined network.
	NetworkMode string `json:"network_mode,omitempty"`
	// Volumes are mounted into every runner container of the policy.
	Volumes []DockerVolume `json:"volumes,omitempty"`
}

// DockerVolume is one mount of a runner container: a named volume (created by the engine
// when missing, shared by every runner that mounts it: a cache) or, when Source is an
// absolute path, a directory of the host, which the agent mounts only when its operator
// allowed that path (provider.docker.allowed_bind_paths).
type DockerVolume struct {
	Source   string `json:"source"`
	Target   string `json:"target"` // an absolute path in the container
	ReadOnly bool   `json:"read_only,omitempty"`
}

// KubernetesSpec holds the Kubernetes-only part of a runner spec.
type KubernetesSpec struct {
	Namespace      string            `json:"namespace,omitempty"`
	NodeSelector   map[string]string `json:"node_selector,omitempty"`
	Tolerations    []Toleration      `json:"tolerations,omitempty"`
	ServiceAccount string            `json:"service_account,omitempty"`
	// PriorityClassName is the Pods' priority class (it must exist in the cluster).
	PriorityClassName string `json:"priority_class_name,omitempty"`
	// ImagePullSecrets name Secrets of the namespace holding registry credentials.
	ImagePullSecrets []string `json:"image_pull_secrets,omitempty"`
	// Dind adds a Docker daemon sidecar for jobs that run docker; it is privileged, so
	// the agent creates it only when provider.kubernetes.allow_privileged_dind is set
	// (docs/kubernetes.md, "Docker in jobs").
	Dind bool `json:"dind,omitempty"`
}

// Toleration mirrors the fields of a Kubernetes toleration.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"toleration_seconds,omitempty"`
}
