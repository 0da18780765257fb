package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func TestValidateOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		owner string
		ok    bool
	}{
		{"a", true},
		{"garo-dev", true},
		{"Garo-Dev-42", true},
		{"a-b-c", true},
		{"0", true},
		{strings.Repeat("a", 39), true},
		{"", false},
		{strings.Repeat("a", 40), false},
		{"-garo", false},
		{"garo-", false},
		{"garo--dev", false},
		{"-", false},
		{"garo_dev", false},
		{"garo.dev", false},
		{"garo dev", false},
		{"garo/dev", false},
		{"gärö", false},
	}
	for _, tt := range tests {
		t.Run(tt.owner, func(t *testing.T) {
			t.Parallel()
			if err := ValidateOwner(tt.owner); (err == nil) != tt.ok {
				t.Errorf("ValidateOwner(%q) = %v, want ok=%v", tt.owner, err, tt.ok)
			}
		})
	}
}

func TestValidateRepoName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"garo", true},
		{"Garo.Web_app-2", true},
		{".github", true},
		{"...", true},
		{"a.gitx", true},
		{"git", true},
		{strings.Repeat("r", 100), true},
		{"", false},
		{strings.Repeat("r", 101), false},
		{".", false},
		{"..", false},
		{"repo.git", false},
		{"repo.GIT", false},
		{".git", false},
		{"my repo", false},
		{"a/b", false},
		{"répo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateRepoName(tt.name); (err == nil) != tt.ok {
				t.Errorf("ValidateRepoName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"0", true},
		{"linux-small", true},
		{"a1-b2-c3", true},
		{"a--b", true},
		{strings.Repeat("n", 63), true},
		{"", false},
		{strings.Repeat("n", 64), false},
		{"-linux", false},
		{"linux-", false},
		{"Linux", false},
		{"linux_small", false},
		{"linux.small", false},
		{"linux small", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateName(tt.name); (err == nil) != tt.ok {
				t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestParseRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		full      string
		owner     string
		repo      string
		errPrefix string // "" means success
	}{
		{full: "garo-dev/garo", owner: "garo-dev", repo: "garo"},
		{full: "Acme/Web.App", owner: "Acme", repo: "Web.App"},
		{full: "garo", errPrefix: "must be owner/name"},
		{full: "", errPrefix: "must be owner/name"},
		{full: "/garo", errPrefix: "owner "},
		{full: "-acme/garo", errPrefix: "owner "},
		{full: "acme/", errPrefix: "name "},
		{full: "acme/garo.git", errPrefix: "name "},
		{full: "acme/garo/extra", errPrefix: "name "},
		{full: "acme/..", errPrefix: "name "},
	}
	for _, tt := range tests {
		t.Run(tt.full, func(t *testing.T) {
			t.Parallel()
			owner, repo, err := ParseRepository(tt.full)
			if tt.errPrefix == "" {
				if err != nil || owner != tt.owner || repo != tt.repo {
					t.Errorf("ParseRepository(%q) = %q, %q, %v; want %q, %q, nil", tt.full, owner, repo, err, tt.owner, tt.repo)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRepository(%q) = %q, %q, nil; want an error", tt.full, owner, repo)
			}
			if !strings.HasPrefix(err.Error(), tt.errPrefix) {
				t.Errorf("ParseRepository(%q) error %q, want it to start with %q", tt.full, err, tt.errPrefix)
			}
			if owner != "" || repo != "" {
				t.Errorf("ParseRepository(%q) returned %q, %q with an error", tt.full, owner, repo)
			}
		})
	}
}

// validRequest is a complete, valid docker policy request without the optional fields.
func validRequest() portalapi.PolicyRequest {
	return portalapi.PolicyRequest{
		Name:       "linux-small",
		Labels:     []string{"self-hosted", "linux"},
		MinIdle:    1,
		MaxRunners: 5,
		Provider:   portalapi.ProviderDocker,
		Runner:     portalapi.RunnerSpec{Image: "ghcr.io/actions/actions-runner:2.320.0"},
	}
}

// kubeRequest is validRequest on the kubernetes provider.
func kubeRequest() portalapi.PolicyRequest {
	r := validRequest()
	r.Provider = portalapi.ProviderKubernetes
	return r
}

func toleration(t portalapi.Toleration) *portalapi.PolicyRequest {
	r := kubeRequest()
	r.Runner.Kubernetes = &portalapi.KubernetesSpec{Tolerations: []portalapi.Toleration{t}}
	return &r
}

// fieldsOf returns the sorted field paths of a validation error, failing on any other error.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *portalapi.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v (%T) is not a *portalapi.ValidationError", err, err)
	}
	var out []string
	for _, f := range verr.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}

func TestValidateRequestDefaults(t *testing.T) {
	t.Parallel()
	req := validRequest()
	if err := validateRequest(&req); err != nil {
		t.Fatalf("validateRequest: %v", err)
	}
	if req.Ephemeral == nil || !*req.Ephemeral {
		t.Errorf("ephemeral = %v, want true", req.Ephemeral)
	}
	if req.Enabled == nil || !*req.Enabled {
		t.Errorf("enabled = %v, want true", req.Enabled)
	}
	if req.IdleGrace == nil || req.IdleGrace.D() != 5*time.Minute {
		t.Errorf("idle_grace = %v, want 5m", req.IdleGrace)
	}
	if req.BootstrapTimeout == nil || req.BootstrapTimeout.D() != 10*time.Minute {
		t.Errorf("bootstrap_timeout = %v, want 10m", req.BootstrapTimeout)
	}
	if req.AgentGroup != "default" {
		t.Errorf("agent_group = %q, want \"default\"", req.AgentGroup)
	}
}

func TestValidateRequestKeepsGivenOptionals(t *testing.T) {
	t.Parallel()
	req := validRequest()
	req.Ephemeral = ptr(false)
	req.Enabled = ptr(false)
	req.IdleGrace = portalapi.DurationOf(0)
	req.BootstrapTimeout = portalapi.DurationOf(time.Hour)
	req.AgentGroup = "gpu-pool"
	if err := validateRequest(&req); err != nil {
		t.Fatalf("validateRequest: %v", err)
	}
	if *req.Ephemeral || *req.Enabled || req.IdleGrace.D() != 0 || req.BootstrapTimeout.D() != time.Hour || req.AgentGroup != "gpu-pool" {
		t.Errorf("given optional fields were changed: ephemeral=%v enabled=%v idle_grace=%s bootstrap_timeout=%s agent_group=%q",
			*req.Ephemeral, *req.Enabled, req.IdleGrace, req.BootstrapTimeout, req.AgentGroup)
	}
}

func TestValidateRequestAccepts(t *testing.T) {
	t.Parallel()
	many := make([]string, 50)
	for i := range many {
		many[i] = "label-" + strings.Repeat("x", i)
	}
	tests := []struct {
		name string
		edit func(r *portalapi.PolicyRequest)
	}{
		{"minimal docker", func(*portalapi.PolicyRequest) {}},
		{"minimal kubernetes", func(r *portalapi.PolicyRequest) { r.Provider = portalapi.ProviderKubernetes }},
		{"name of 63 characters", func(r *portalapi.PolicyRequest) { r.Name = strings.Repeat("n", 63) }},
		{"50 labels", func(r *portalapi.PolicyRequest) { r.Labels = many }},
		{"label characters", func(r *portalapi.PolicyRequest) {
			r.Labels = []string{"self-hosted", "Linux.X64_v2:gpu+cuda/12", "0", strings.Repeat("l", 100)}
		}},
		{"min_idle 0", func(r *portalapi.PolicyRequest) { r.MinIdle = 0 }},
		{"min_idle 1000 max_runners 1000", func(r *portalapi.PolicyRequest) { r.MinIdle, r.MaxRunners = 1000, 1000 }},
		{"max_runners 10000", func(r *portalapi.PolicyRequest) { r.MaxRunners = 10000 }},
		{"idle_grace 0", func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(0) }},
		{"idle_grace 24h", func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(24 * time.Hour) }},
		{"bootstrap_timeout 30s", func(r *portalapi.PolicyRequest) { r.BootstrapTimeout = portalapi.DurationOf(30 * time.Second) }},
		{"bootstrap_timeout 2h", func(r *portalapi.PolicyRequest) { r.BootstrapTimeout = portalapi.DurationOf(2 * time.Hour) }},
		{"cpu 2", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "2" }},
		{"cpu 0.5", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "0.5" }},
		{"cpu 500m", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "500m" }},
		{"memory 512Mi", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "512Mi" }},
		{"memory 4Gi", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "4Gi" }},
		{"memory 1G", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "1G" }},
		{"memory 1000000", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "1000000" }},
		{"memory 1.5Gi", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "1.5Gi" }},
		{"env", func(r *portalapi.PolicyRequest) {
			r.Runner.Env = map[string]string{"MY_VAR": "1", "_x": "", "RUNNER_GARO_X": "fine", "GARO": "not a prefix"}
		}},
		{"docker network host", func(r *portalapi.PolicyRequest) { r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "host"} }},
		{"docker network name", func(r *portalapi.PolicyRequest) { r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "ci_net.1-a"} }},
		{"empty docker block", func(r *portalapi.PolicyRequest) { r.Runner.Docker = &portalapi.DockerSpec{} }},
		{"docker volumes", func(r *portalapi.PolicyRequest) {
			r.Runner.Docker = &portalapi.DockerSpec{Volumes: []portalapi.DockerVolume{
				{Source: "go-build-cache", Target: "/home/runner/.cache/go-build"},
				{Source: "/srv/ci/tools", Target: "/opt/tools", ReadOnly: true},
				{Source: "a.b_c-1", Target: "/x"},
			}}
		}},
		{"kubernetes block", func(r *portalapi.PolicyRequest) {
			r.Provider = portalapi.ProviderKubernetes
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{
				Namespace: "ci-runners", ServiceAccount: "runner.ci.example", NodeSelector: map[string]string{"pool": "ci", "kubernetes.io/arch": "amd64", "gpu": ""},
				PriorityClassName: "ci.runners", ImagePullSecrets: []string{"regcred"}, Dind: true,
				Tolerations: []portalapi.Toleration{
					{Key: "gpu", Operator: "Exists", Effect: "NoSchedule"},
					{Key: "dedicated", Operator: "Equal", Value: "ci", Effect: "PreferNoSchedule"},
					{Key: "node.kubernetes.io/unreachable", Effect: "NoExecute", TolerationSeconds: ptr(int64(30))},
					{Operator: "Exists"},
				},
			}
		}},
		{"agent group", func(r *portalapi.PolicyRequest) { r.AgentGroup = "gpu-pool" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.edit(&r)
			if err := validateRequest(&r); err != nil {
				t.Errorf("validateRequest: %v", err)
			}
		})
	}
}

func TestValidateRequestRejects(t *testing.T) {
	t.Parallel()
	tooMany := make([]string, 51)
	for i := range tooMany {
		tooMany[i] = "l" + strings.Repeat("x", i)
	}
	tests := []struct {
		name string
		edit func(r *portalapi.PolicyRequest)
		want []string // field paths, any order
	}{
		{"empty name", func(r *portalapi.PolicyRequest) { r.Name = "" }, []string{"name"}},
		{"upper-case name", func(r *portalapi.PolicyRequest) { r.Name = "Linux" }, []string{"name"}},
		{"name of 64 characters", func(r *portalapi.PolicyRequest) { r.Name = strings.Repeat("n", 64) }, []string{"name"}},
		{"no labels", func(r *portalapi.PolicyRequest) { r.Labels = nil }, []string{"labels"}},
		{"empty labels", func(r *portalapi.PolicyRequest) { r.Labels = []string{} }, []string{"labels"}},
		{"51 labels", func(r *portalapi.PolicyRequest) { r.Labels = tooMany }, []string{"labels"}},
		{"bad second label", func(r *portalapi.PolicyRequest) { r.Labels = []string{"linux", "has space"} }, []string{"labels[1]"}},
		{"empty label", func(r *portalapi.PolicyRequest) { r.Labels = []string{""} }, []string{"labels[0]"}},
		{"label starting with a hyphen", func(r *portalapi.PolicyRequest) { r.Labels = []string{"x", "y", "-z"} }, []string{"labels[2]"}},
		{"label of 101 characters", func(r *portalapi.PolicyRequest) { r.Labels = []string{strings.Repeat("l", 101)} }, []string{"labels[0]"}},
		{"duplicate label in another case", func(r *portalapi.PolicyRequest) { r.Labels = []string{"Linux", "x64", "linux"} }, []string{"labels[2]"}},
		{"negative min_idle", func(r *portalapi.PolicyRequest) { r.MinIdle = -1 }, []string{"min_idle"}},
		{"min_idle above 1000", func(r *portalapi.PolicyRequest) { r.MinIdle, r.MaxRunners = 1001, 2000 }, []string{"min_idle"}},
		{"max_runners 0", func(r *portalapi.PolicyRequest) { r.MinIdle, r.MaxRunners = 0, 0 }, []string{"max_runners"}},
		{"max_runners above 10000", func(r *portalapi.PolicyRequest) { r.MaxRunners = 10001 }, []string{"max_runners"}},
		{"max_runners below min_idle", func(r *portalapi.PolicyRequest) { r.MinIdle, r.MaxRunners = 3, 2 }, []string{"max_runners"}},
		{"negative idle_grace", func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(-time.Second) }, []string{"idle_grace"}},
		{"idle_grace above 24h", func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(24*time.Hour + 1) }, []string{"idle_grace"}},
		{"bootstrap_timeout below 30s", func(r *portalapi.PolicyRequest) { r.BootstrapTimeout = portalapi.DurationOf(29 * time.Second) }, []string{"bootstrap_timeout"}},
		{"bootstrap_timeout above 2h", func(r *portalapi.PolicyRequest) { r.BootstrapTimeout = portalapi.DurationOf(2*time.Hour + 1) }, []string{"bootstrap_timeout"}},
		{"bad agent group", func(r *portalapi.PolicyRequest) { r.AgentGroup = "GPU" }, []string{"agent_group"}},
		{"no provider", func(r *portalapi.PolicyRequest) { r.Provider = "" }, []string{"provider"}},
		{"unknown provider", func(r *portalapi.PolicyRequest) { r.Provider = "podman" }, []string{"provider"}},
		{"provider in capitals", func(r *portalapi.PolicyRequest) { r.Provider = "Docker" }, []string{"provider"}},
		{"no image", func(r *portalapi.PolicyRequest) { r.Runner.Image = "" }, []string{"runner.image"}},
		{"blank image", func(r *portalapi.PolicyRequest) { r.Runner.Image = " \t" }, []string{"runner.image"}},
		{"image with a space", func(r *portalapi.PolicyRequest) { r.Runner.Image = "ubuntu latest" }, []string{"runner.image"}},
		{"image above 500 characters", func(r *portalapi.PolicyRequest) { r.Runner.Image = strings.Repeat("i", 501) }, []string{"runner.image"}},
		{"cpu with unit", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "2 cores" }, []string{"runner.cpu"}},
		{"cpu fraction of millis", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "0.5m" }, []string{"runner.cpu"}},
		{"cpu negative", func(r *portalapi.PolicyRequest) { r.Runner.CPU = "-1" }, []string{"runner.cpu"}},
		{"cpu leading dot", func(r *portalapi.PolicyRequest) { r.Runner.CPU = ".5" }, []string{"runner.cpu"}},
		{"memory lower-case unit", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "512mi" }, []string{"runner.memory"}},
		{"memory in bytes unit", func(r *portalapi.PolicyRequest) { r.Runner.Memory = "4GB" }, []string{"runner.memory"}},
		{"env key with a hyphen", func(r *portalapi.PolicyRequest) { r.Runner.Env = map[string]string{"MY-VAR": "1"} }, []string{"runner.env.MY-VAR"}},
		{"env key starting with a digit", func(r *portalapi.PolicyRequest) { r.Runner.Env = map[string]string{"1X": "1"} }, []string{"runner.env.1X"}},
		{"env key GARO_", func(r *portalapi.PolicyRequest) { r.Runner.Env = map[string]string{"GARO_X": "1"} }, []string{"runner.env.GARO_X"}},
		{"env key garo_ in lower case", func(r *portalapi.PolicyRequest) { r.Runner.Env = map[string]string{"garo_token": "1"} }, []string{"runner.env.garo_token"}},
		{"env key ACTIONS_RUNNER_", func(r *portalapi.PolicyRequest) {
			r.Runner.Env = map[string]string{"ACTIONS_RUNNER_DEBUG": "1", "OK": "1"}
		}, []string{"runner.env.ACTIONS_RUNNER_DEBUG"}},
		{"docker block with kubernetes", func(r *portalapi.PolicyRequest) {
			r.Provider = portalapi.ProviderKubernetes
			r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "bridge"}
		}, []string{"runner.docker"}},
		{"docker volume without a source", func(r *portalapi.PolicyRequest) {
			r.Runner.Docker = &portalapi.DockerSpec{Volumes: []portalapi.DockerVolume{{Target: "/cache"}}}
		}, []string{"runner.docker.volumes[0].source"}},
		{"docker volume sources and targets", func(r *portalapi.PolicyRequest) {
			r.Runner.Docker = &portalapi.DockerSpec{Volumes: []portalapi.DockerVolume{
				{Source: "x", Target: "cache"},                     // name too short, target relative
				{Source: "/srv/../etc", Target: "/"},               // not clean, root
				{Source: "/var/run/docker.sock:/x", Target: "/a/"}, // colon, trailing slash
				{Source: "cache", Target: "/a"},
				{Source: "other", Target: "/a"}, // target twice
				{Source: "-dash", Target: "/b"},
			}}
		}, []string{
			"runner.docker.volumes[0].source", "runner.docker.volumes[0].target",
			"runner.docker.volumes[1].source", "runner.docker.volumes[1].target",
			"runner.docker.volumes[2].source", "runner.docker.volumes[2].target",
			"runner.docker.volumes[4].target", "runner.docker.volumes[5].source",
		}},
		{"too many docker volumes", func(r *portalapi.PolicyRequest) {
			r.Runner.Docker = &portalapi.DockerSpec{Volumes: make([]portalapi.DockerVolume, 17)}
		}, []string{"runner.docker.volumes"}},
		{"docker volumes with provider kubernetes", func(r *portalapi.PolicyRequest) {
			r.Provider = portalapi.ProviderKubernetes
			r.Runner.Docker = &portalapi.DockerSpec{Volumes: []portalapi.DockerVolume{{Source: "cache", Target: "/c"}}}
		}, []string{"runner.docker"}},
		{"docker network with a space", func(r *portalapi.PolicyRequest) { r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "my net"} }, []string{"runner.docker.network_mode"}},
		{"docker network starting with a dot", func(r *portalapi.PolicyRequest) { r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: ".net"} }, []string{"runner.docker.network_mode"}},
		{"kubernetes block with docker", func(r *portalapi.PolicyRequest) {
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{Namespace: "ci"}
		}, []string{"runner.kubernetes"}},
		{"kubernetes namespace not a DNS label", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{Namespace: "ci.runners"}
		}, []string{"runner.kubernetes.namespace"}},
		{"kubernetes service account not a DNS subdomain", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{ServiceAccount: "Runner_SA"}
		}, []string{"runner.kubernetes.service_account"}},
		{"node selector key and value", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{NodeSelector: map[string]string{
				"kubernetes.io/arch": "amd64", "bad key": "x", "pool": "not ok", "Bad_Prefix/x": "y",
			}}
		}, []string{"runner.kubernetes.node_selector.Bad_Prefix/x", "runner.kubernetes.node_selector.bad key", "runner.kubernetes.node_selector.pool"}},
		{"priority class not a DNS subdomain", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{PriorityClassName: "High_Priority"}
		}, []string{"runner.kubernetes.priority_class_name"}},
		{"image pull secrets", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{ImagePullSecrets: []string{"regcred", "Reg Cred"}}
		}, []string{"runner.kubernetes.image_pull_secrets[1]"}},
		{"too many image pull secrets", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{ImagePullSecrets: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}}
		}, []string{"runner.kubernetes.image_pull_secrets"}},
		{"toleration key", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Key: "not a key", Operator: "Exists"})
		}, []string{"runner.kubernetes.tolerations[0].key"}},
		{"toleration without key must be Exists", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Operator: "Equal", Value: "x"})
		}, []string{"runner.kubernetes.tolerations[0].operator"}},
		{"toleration effect", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Key: "gpu", Effect: "NoRun"})
		}, []string{"runner.kubernetes.tolerations[0].effect"}},
		{"toleration operator", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Key: "gpu", Operator: "In"})
		}, []string{"runner.kubernetes.tolerations[0].operator"}},
		{"toleration value with Exists", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Key: "gpu", Operator: "Exists", Value: "yes"})
		}, []string{"runner.kubernetes.tolerations[0].value"}},
		{"toleration seconds without NoExecute", func(r *portalapi.PolicyRequest) {
			*r = *toleration(portalapi.Toleration{Key: "gpu", Effect: "NoSchedule", TolerationSeconds: ptr(int64(5))})
		}, []string{"runner.kubernetes.tolerations[0].toleration_seconds"}},
		{"second toleration", func(r *portalapi.PolicyRequest) {
			*r = kubeRequest()
			r.Runner.Kubernetes = &portalapi.KubernetesSpec{Tolerations: []portalapi.Toleration{
				{Key: "ok", Operator: "Exists"},
				{Key: "bad", Operator: "exists", Effect: "noschedule"},
			}}
		}, []string{"runner.kubernetes.tolerations[1].effect", "runner.kubernetes.tolerations[1].operator"}},
		{"several errors together", func(r *portalapi.PolicyRequest) {
			r.Name = "Bad_Name"
			r.Labels = []string{"ok", "not ok"}
			r.MinIdle = -1
			r.Provider = ""
			r.Runner.Image = ""
			r.Runner.CPU = "lots"
			r.Runner.Env = map[string]string{"GARO_A": "1", "GARO_B": "2"}
		}, []string{"labels[1]", "min_idle", "name", "provider", "runner.cpu", "runner.env.GARO_A", "runner.env.GARO_B", "runner.image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.edit(&r)
			err := validateRequest(&r)
			if err == nil {
				t.Fatalf("validateRequest accepted %+v", r)
			}
			got := fieldsOf(t, err)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("fields = %q, want %q (error: %v)", got, want, err)
			}
		})
	}
}

// patchBase is a complete request as Policy.Request would give it.
func patchBase(t *testing.T) portalapi.PolicyRequest {
	t.Helper()
	r := validRequest()
	r.Runner.CPU = "1"
	r.Runner.Env = map[string]string{"A": "1", "B": "2"}
	if err := validateRequest(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestApplyMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch string
		want  func(r *portalapi.PolicyRequest) // edits the base into the expected result
	}{
		{"empty patch changes nothing", `{}`, func(*portalapi.PolicyRequest) {}},
		{"scalar", `{"max_runners":9}`, func(r *portalapi.PolicyRequest) { r.MaxRunners = 9 }},
		{"array replaced whole", `{"labels":["gpu"]}`, func(r *portalapi.PolicyRequest) { r.Labels = []string{"gpu"} }},
		{"nested object merged", `{"runner":{"memory":"2Gi"}}`, func(r *portalapi.PolicyRequest) { r.Runner.Memory = "2Gi" }},
		{"map key removed and added", `{"runner":{"env":{"A":null,"C":"3"}}}`, func(r *portalapi.PolicyRequest) {
			r.Runner.Env = map[string]string{"B": "2", "C": "3"}
		}},
		{"null removes an optional field", `{"ephemeral":null,"runner":{"cpu":null}}`, func(r *portalapi.PolicyRequest) {
			r.Ephemeral = nil
			r.Runner.CPU = ""
		}},
		{"duration", `{"idle_grace":"90s"}`, func(r *portalapi.PolicyRequest) { r.IdleGrace = portalapi.DurationOf(90 * time.Second) }},
		{"block added", `{"runner":{"docker":{"network_mode":"host"}}}`, func(r *portalapi.PolicyRequest) {
			r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "host"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := patchBase(t)
			var patch any
			if err := json.Unmarshal([]byte(tt.patch), &patch); err != nil {
				t.Fatal(err)
			}
			got, err := applyMergePatch(base, patch)
			if err != nil {
				t.Fatalf("applyMergePatch: %v", err)
			}
			want := patchBase(t)
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("applyMergePatch(%s) =\n%+v\nwant\n%+v", tt.patch, got, want)
			}
			if !reflect.DeepEqual(base, patchBase(t)) {
				t.Errorf("applyMergePatch changed its input: %+v", base)
			}
		})
	}
}

func TestApplyMergePatchRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, patch, field string
	}{
		{"unknown field", `{"colour":"red"}`, "colour"},
		{"read-only field of a policy", `{"version":3}`, "version"},
		{"wrong type", `{"min_idle":"3"}`, "min_idle"},
		{"nested wrong type", `{"runner":{"cpu":2}}`, "runner.cpu"},
		{"duration without unit", `{"idle_grace":300}`, "idle_grace"},
		{"object replaced by a scalar", `{"runner":"ubuntu"}`, "runner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var patch any
			if err := json.Unmarshal([]byte(tt.patch), &patch); err != nil {
				t.Fatal(err)
			}
			_, err := applyMergePatch(patchBase(t), patch)
			if err == nil {
				t.Fatalf("applyMergePatch accepted %s", tt.patch)
			}
			if got := fieldsOf(t, err); !slices.Equal(got, []string{tt.field}) {
				t.Errorf("fields = %q, want [%q] (error: %v)", got, tt.field, err)
			}
		})
	}
}
