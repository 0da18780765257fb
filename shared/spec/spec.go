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
}

// KubernetesSpec holds the Kubernetes-only part of a runner spec.
type KubernetesSpec struct {
	Namespace      string            `json:"namespace,omitempty"`
	NodeSelector   map[string]string `json:"node_selector,omitempty"`
	Tolerations    []Toleration      `json:"tolerations,omitempty"`
	ServiceAccount string            `json:"service_account,omitempty"`
}

// Toleration mirrors the fields of a Kubernetes toleration.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"toleration_seconds,omitempty"`
}
