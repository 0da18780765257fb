package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/garo-dev/garo/agent/provider"
)

// Names of what a runner Pod holds.
const (
	// RunnerContainer is the runner's container.
	RunnerContainer = "runner"
	// DindContainer is the Docker daemon sidecar of runner.kubernetes.dind.
	DindContainer = "dind"
	// SecretKey is the key of the runner's JIT configuration in its Secret.
	SecretKey = "jitconfig"
	// AnnotationLabels holds Garo's labels verbatim (JSON): Kubernetes label values may
	// not hold every character Garo's do (owner/name), so the labels carry a DNS-safe
	// form for selecting and this annotation the exact values List returns.
	AnnotationLabels = "garo.dev/labels"
)

// DefaultCommand is the command of the real runner image, used when the spec has none.
var DefaultCommand = []string{"/home/runner/run.sh"}

// badName are the characters a DNS label may not hold.
var badName = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName derives the Pod's (and its Secret's) name from the runner name: "garo-" and
// a DNS label of it (the scheduler's names, garo-<policy>-<suffix>, start with it already
// and are kept as they are), shortened with a hash when too long or changed.
func objectName(runner string) string {
	base := strings.ToLower(runner)
	if !strings.HasPrefix(base, "garo-") {
		base = "garo-" + base
	}
	n := strings.Trim(badName.ReplaceAllString(base, "-"), "-")
	if len(n) <= validation.DNS1123LabelMaxLength && n == base && strings.ToLower(runner) == runner {
		return n
	}
	sum := sha256.Sum256([]byte(runner))
	h := hex.EncodeToString(sum[:5])
	if limit := validation.DNS1123LabelMaxLength - len(h) - 1; len(n) > limit {
		n = strings.TrimRight(n[:limit], "-")
	}
	return n + "-" + h
}

// labelValue is v as a label value: v itself when valid, else v with its bad characters
// replaced and a hash of v, so that different values stay different.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	s := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(v, "."), "._-")
	sum := sha256.Sum256([]byte(v))
	h := hex.EncodeToString(sum[:5])
	if len(s) > 52 {
		s = strings.Trim(s[:52], "._-")
	}
	if s == "" {
		return h
	}
	return s + "_" + h
}

// kubeLabels are Garo's labels in label form (LabelManagedBy first among equals: every
// object of the provider carries it, and the watch selects by it).
func kubeLabels(garo map[string]string) map[string]string {
	out := make(map[string]string, len(garo))
	for k, v := range garo {
		if len(validation.IsQualifiedName(k)) > 0 {
			continue
		}
		out[k] = labelValue(v)
	}
	out[provider.LabelManagedBy] = provider.ManagedByGaro
	return out
}

// garoLabels reads back Garo's labels from an object: the annotation's exact values, else
// (an object labelled by hand) its labels.
func garoLabels(meta metav1.ObjectMeta) map[string]string {
	if a, ok := meta.Annotations[AnnotationLabels]; ok {
		var l map[string]string
		if json.Unmarshal([]byte(a), &l) == nil && l != nil {
			return l
		}
	}
	return maps.Clone(meta.Labels)
}

// objects builds the Secret and the Pod of req in namespace ns. The Pod references the
// Secret for EnvJITConfig; the JIT configuration is in the Secret only.
func (p *Provider) objects(req provider.RunnerRequest, ns string) (*corev1.Secret, *corev1.Pod, error) {
	s := req.Spec
	if strings.TrimSpace(s.Image) == "" {
		return nil, nil, errors.New("empty image")
	}
	garo := maps.Clone(req.Labels)
	if garo == nil {
		garo = map[string]string{}
	}
	garo[provider.LabelManagedBy] = provider.ManagedByGaro
	if garo[provider.LabelRunner] == "" {
		garo[provider.LabelRunner] = req.Name
	}
	ann, err := json.Marshal(garo)
	if err != nil {
		return nil, nil, err
	}
	annotations := map[string]string{AnnotationLabels: string(ann)}
	if e := garo[provider.LabelExpiry]; e != "" {
		annotations[provider.LabelExpiry] = e
	}
	meta := metav1.ObjectMeta{Name: objectName(req.Name), Namespace: ns, Labels: kubeLabels(garo), Annotations: annotations}

	env := maps.Clone(s.Env)
	if env == nil {
		env = map[string]string{}
	}
	secretData := map[string][]byte{}
	for k, v := range req.Env {
		if k == provider.EnvJITConfig {
			secretData[SecretKey] = []byte(v)
			delete(env, k)
			continue
		}
		env[k] = v
	}
	if len(secretData) == 0 {
		return nil, nil, fmt.Errorf("no %s in the request", provider.EnvJITConfig)
	}
	var envVars []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if len(validation.IsEnvVarName(k)) > 0 {
			return nil, nil, fmt.Errorf("environment variable name %q", k)
		}
		envVars = append(envVars, corev1.EnvVar{Name: k, Value: env[k]})
	}
	envVars = append(envVars, corev1.EnvVar{Name: provider.EnvJITConfig, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: meta.Name}, Key: SecretKey},
	}})

	res, err := resources(s.CPU, s.Memory)
	if err != nil {
		return nil, nil, err
	}
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = DefaultCommand
	}
	no, yes := false, true
	runner := corev1.Container{
		Name: RunnerContainer, Image: s.Image, Command: cmd, Env: envVars, Resources: res,
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		ServiceAccountName:            p.cfg.ServiceAccount,
		TerminationGracePeriodSeconds: ptr(int64(p.cfg.DeleteGrace.Seconds())),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &p.cfg.RunAsUser, RunAsGroup: &p.cfg.RunAsGroup,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if k := s.Kubernetes; k != nil {
		spec.NodeSelector = maps.Clone(k.NodeSelector)
		if k.ServiceAccount != "" {
			spec.ServiceAccountName = k.ServiceAccount
		}
		spec.PriorityClassName = k.PriorityClassName
		for _, n := range k.ImagePullSecrets {
			spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
		for _, t := range k.Tolerations {
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
				Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
				Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
			})
		}
		if k.Dind {
			if !p.cfg.AllowPrivilegedDind {
				return nil, nil, errors.New("runner.kubernetes.dind asks for a privileged Docker sidecar, " +
					"which this agent does not allow (provider.kubernetes.allow_privileged_dind)")
			}
			addDind(&spec, &runner, p.cfg.DindImage)
		}
	}
	spec.Containers = []corev1.Container{runner}
	pod := &corev1.Pod{ObjectMeta: meta, Spec: spec}
	secretMeta := meta
	secretMeta.Labels, secretMeta.Annotations = maps.Clone(meta.Labels), maps.Clone(meta.Annotations)
	secret := &corev1.Secret{ObjectMeta: secretMeta, Type: corev1.SecretTypeOpaque, Data: secretData, Immutable: &yes}
	return secret, pod, nil
}

// addDind adds the Docker daemon as a native sidecar (an init container that keeps
// running: the Pod completes when the runner exits) sharing its socket with the runner
// through an emptyDir. The sidecar runs privileged and as root: that is what dockerd
// needs, and why it is opt-in (docs/kubernetes.md, "Docker in jobs").
func addDind(spec *corev1.PodSpec, runner *corev1.Container, image string) {
	always, yes, root := corev1.ContainerRestartPolicyAlways, true, int64(0)
	no := false
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "dind-sock", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "dind-storage", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	spec.InitContainers = append(spec.InitContainers, corev1.Container{
		Name: DindContainer, Image: image, RestartPolicy: &always,
		Args: []string{"dockerd", "--host=unix:///var/run/dind/docker.sock", "--group=" + fmt.Sprint(*spec.SecurityContext.RunAsGroup)},
		Env:  []corev1.EnvVar{{Name: "DOCKER_TLS_CERTDIR", Value: ""}},
		SecurityContext: &corev1.SecurityContext{
			Privileged: &yes, RunAsUser: &root, RunAsNonRoot: &no,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "dind-sock", MountPath: "/var/run/dind"}, {Name: "dind-storage", MountPath: "/var/lib/docker"}},
	})
	runner.Env = append(runner.Env, corev1.EnvVar{Name: "DOCKER_HOST", Value: "unix:///var/run/dind/docker.sock"})
	runner.VolumeMounts = append(runner.VolumeMounts, corev1.VolumeMount{Name: "dind-sock", MountPath: "/var/run/dind"})
}

// resources are requests equal to limits for the spec's CPU and memory quantities.
func resources(cpu, mem string) (corev1.ResourceRequirements, error) {
	l := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("runner %s %q is not a positive quantity", name, v)
		}
		l[name] = q
	}
	if len(l) == 0 {
		return corev1.ResourceRequirements{}, nil
	}
	return corev1.ResourceRequirements{Requests: l, Limits: maps.Clone(l)}, nil
}

func ptr[T any](v T) *T { return &v }
