package guardrails_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/spec"
)

func intp(n int) *int { return &n }

func fields(vs []guardrails.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Field
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	base := func() guardrails.Subject {
		return guardrails.Subject{Repository: "acme/web", MinIdle: 1, MaxRunners: 4, Runner: spec.RunnerSpec{Image: "ghcr.io/acme/runner:2"}}
	}
	strict := guardrails.Constraints{
		AllowedImages: []string{"ghcr.io/acme/", "docker.io/library/ubuntu"}, AllowedNetworkModes: []string{"bridge"},
		RefusedEnv: []string{"AWS_*"}, AllowedEnv: []string{"NO_PROXY"},
		Ceilings:   guardrails.Ceilings{MinIdle: intp(2), MaxRunners: intp(10), CPU: "2", Memory: "4Gi"},
		Kubernetes: guardrails.KubernetesConstraints{AllowedNamespaces: []string{"ci"}},
	}
	for _, tc := range []struct {
		name string
		c    guardrails.Constraints
		mod  func(*guardrails.Subject)
		want []string
	}{
		{"default allows a plain policy", guardrails.Constraints{}, func(*guardrails.Subject) {}, nil},
		{"default refuses host network", guardrails.Constraints{}, func(s *guardrails.Subject) {
			s.Runner.Docker = &spec.DockerSpec{NetworkMode: "host"}
		}, []string{"runner.docker.network_mode"}},
		{"default refuses LD_PRELOAD and proxies, any case", guardrails.Constraints{}, func(s *guardrails.Subject) {
			s.Runner.Env = map[string]string{"LD_PRELOAD": "/x.so", "https_proxy": "http://evil", "FOO": "1"}
		}, []string{"runner.env.LD_PRELOAD", "runner.env.https_proxy"}},
		{"default refuses another owner's volume", guardrails.Constraints{}, func(s *guardrails.Subject) {
			s.Runner.Docker = &spec.DockerSpec{Volumes: []spec.DockerVolume{
				{Source: "acme.cache", Target: "/c"}, {Source: "beta.cache", Target: "/d"},
				{Source: "acme-labs.cache", Target: "/e"}, {Source: "/srv/cache", Target: "/f"},
			}}
		}, []string{"runner.docker.volumes[1].source", "runner.docker.volumes[2].source"}},
		{"default refuses a namespace choice", guardrails.Constraints{}, func(s *guardrails.Subject) {
			s.Runner.Kubernetes = &spec.KubernetesSpec{Namespace: "kube-system", ServiceAccount: "admin"}
		}, []string{"runner.kubernetes.namespace", "runner.kubernetes.service_account"}},
		{"strict allows what it lists", strict, func(s *guardrails.Subject) {
			s.Runner.CPU, s.Runner.Memory = "1500m", "4Gi"
			s.Runner.Docker = &spec.DockerSpec{NetworkMode: "bridge"}
			s.Runner.Env = map[string]string{"NO_PROXY": "x"}
			s.Runner.Kubernetes = &spec.KubernetesSpec{Namespace: "ci"}
		}, nil},
		{"strict refuses beyond", strict, func(s *guardrails.Subject) {
			s.Runner.Image = "ghcr.io/acme-evil/runner:1"
			s.MinIdle, s.MaxRunners, s.ScheduleMinIdle = 3, 11, []int{0, 5}
			s.Runner.CPU, s.Runner.Memory = "3", ""
			s.Runner.Docker = &spec.DockerSpec{NetworkMode: "host"}
			s.Runner.Env = map[string]string{"AWS_SECRET": "x", "HTTPS_PROXY": "y"}
		}, []string{"runner.image", "runner.docker.network_mode", "runner.env.AWS_SECRET", "runner.env.HTTPS_PROXY",
			"min_idle", "schedule[1].min_idle", "max_runners", "runner.cpu", "runner.memory"}},
		{"digests only", guardrails.Constraints{DigestsOnly: true}, func(*guardrails.Subject) {}, []string{"runner.image"}},
		{"digest given", guardrails.Constraints{DigestsOnly: true, AllowedImages: []string{"ghcr.io/acme/runner"}}, func(s *guardrails.Subject) {
			s.Runner.Image = "ghcr.io/acme/runner@sha256:" + strings.Repeat("ab", 32)
		}, nil},
		{"short docker hub names", guardrails.Constraints{AllowedImages: []string{"docker.io/library/ubuntu"}}, func(s *guardrails.Subject) {
			s.Runner.Image = "ubuntu:24.04"
		}, nil},
		{"dot-dot escapes no pattern", guardrails.Constraints{AllowedImages: []string{"ghcr.io/acme/"}}, func(s *guardrails.Subject) {
			s.Runner.Image = "ghcr.io/acme/../evil/x"
		}, []string{"runner.image"}},
		{"any volume", guardrails.Constraints{VolumePrefixes: []string{"*"}}, func(s *guardrails.Subject) {
			s.Runner.Docker = &spec.DockerSpec{Volumes: []spec.DockerVolume{{Source: "beta.cache", Target: "/c"}}}
		}, nil},
		{"ACTIONS_RUNNER_ always refused", guardrails.Constraints{AllowedEnv: []string{"ACTIONS_RUNNER_INPUT_URL"}}, func(s *guardrails.Subject) {
			s.Runner.Env = map[string]string{"ACTIONS_RUNNER_INPUT_URL": "x"}
		}, []string{"runner.env.ACTIONS_RUNNER_INPUT_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := base()
			tc.mod(&s)
			got := fields(guardrails.Check("g", tc.c, s))
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations %v, want %v: %v", got, tc.want, guardrails.Check("g", tc.c, s))
			}
		})
	}
}

func TestImageRepository(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ubuntu":                      "docker.io/library/ubuntu",
		"ubuntu:24.04":                "docker.io/library/ubuntu",
		"acme/runner:1":               "docker.io/acme/runner",
		"index.docker.io/ubuntu":      "docker.io/library/ubuntu",
		"localhost:5000/runner:1":     "localhost:5000/runner",
		"GHCR.io/Acme/Runner@sha256:": "ghcr.io/acme/runner",
		"localhost/runner":            "localhost/runner",
	} {
		if got := guardrails.ImageRepository(in); got != want {
			t.Errorf("ImageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := guardrails.Constraints{
		AllowedImages: []string{"ghcr.io/acme/x:1"[:13] + "@", ""}, AllowedEnv: []string{"ACTIONS_RUNNER_X"},
		Ceilings:   guardrails.Ceilings{MinIdle: intp(-1), CPU: "lots"},
		Kubernetes: guardrails.KubernetesConstraints{AllowedNamespaces: []string{"Kube_System"}},
	}
	got := fields(guardrails.Validate("constraints", c))
	want := []string{"constraints.allowed_images[0]", "constraints.allowed_images[1]", "constraints.allowed_env[0]",
		"constraints.ceilings.min_idle", "constraints.ceilings.cpu", "constraints.kubernetes.allowed_namespaces[0]"}
	if !slices.Equal(got, want) {
		t.Errorf("Validate: %v, want %v", got, want)
	}
	if vs := guardrails.Validate("constraints", guardrails.Constraints{}); len(vs) != 0 {
		t.Errorf("zero constraints: %v", vs)
	}
}
