// Package policy is the runner-policy service of garo-server: it validates portal requests,
// applies defaults and merge patches, enforces optimistic locking, and records every write
// in the audit trail in the same transaction as the write.
package policy

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Defaults applied to optional fields left out of a request.
const (
	DefaultIdleGrace        = 5 * time.Minute
	DefaultBootstrapTimeout = 10 * time.Minute
)

// Limits of the validation rules (docs/api.md).
const (
	maxLabels     = 50
	maxMinIdle    = 1000
	maxMaxRunners = 10000
	maxIdleGrace  = 24 * time.Hour
	minBootstrap  = 30 * time.Second
	maxBootstrap  = 2 * time.Hour
	maxWindows    = 20
)

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	repoNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	labelRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,99}$`)
	cpuRe      = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?|[0-9]+m)$`)
	memoryRe   = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|K|M|G|T)?$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dockerNet  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	volumeRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{1,254}$`) // the engine's rule for volume names
)

// maxVolumes bounds runner.docker.volumes.
const maxVolumes = 16

// validateVolumes checks runner.docker.volumes: a volume name or an absolute host path
// as source, an absolute container path as target, each target once.
func validateVolumes(vs []portalapi.DockerVolume, errs *fieldErrors) {
	if len(vs) > maxVolumes {
		errs.add("runner.docker.volumes", "at most %d volumes, got %d", maxVolumes, len(vs))
		return
	}
	targets := map[string]int{}
	for i, v := range vs {
		field := fmt.Sprintf("runner.docker.volumes[%d]", i)
		switch {
		case strings.HasPrefix(v.Source, "/"):
			if !cleanAbsPath(v.Source) {
				errs.add(field+".source", "a host path must be absolute and clean (no .., //, trailing / or :), at most 255 characters, not /, got %q", v.Source)
			}
		case !volumeRe.MatchString(v.Source):
			errs.add(field+".source", "must be a volume name (2-255 letters, digits, '_', '.' or '-', starting with a letter or digit) or an absolute host path, got %q", v.Source)
		}
		if !cleanAbsPath(v.Target) {
			errs.add(field+".target", "must be an absolute, clean path in the container (no .., //, trailing / or :), at most 255 characters, not /, got %q", v.Target)
		} else if j, dup := targets[v.Target]; dup {
			errs.add(field+".target", "%s is already the target of volumes[%d]", v.Target, j)
		} else {
			targets[v.Target] = i
		}
	}
}

// cleanAbsPath reports whether p is an absolute path in its shortest form, other than the
// root, without characters that a mount specification or the engine would read otherwise.
func cleanAbsPath(p string) bool {
	return len(p) > 1 && len(p) <= 255 && p[0] == '/' && path.Clean(p) == p && !strings.ContainsAny(p, ":,\x00")
}

// fieldErrors collects field errors while validating.
type fieldErrors []portalapi.FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, portalapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &portalapi.ValidationError{Fields: f}
}

// ValidateOwner checks a GitHub user or organisation name: 1-39 alphanumerics or single
// inner hyphens.
func ValidateOwner(owner string) error {
	if len(owner) < 1 || len(owner) > 39 {
		return fmt.Errorf("must be 1-39 characters, got %d", len(owner))
	}
	for i, r := range owner {
		alnum := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		switch {
		case alnum:
		case r == '-' && i > 0 && i < len(owner)-1 && owner[i-1] != '-':
		default:
			return fmt.Errorf("must hold only letters, digits and single hyphens inside the name, got %q", owner)
		}
	}
	return nil
}

// ValidateRepoName checks a GitHub repository name.
func ValidateRepoName(name string) error {
	switch {
	case !repoNameRe.MatchString(name):
		return fmt.Errorf("must be 1-100 characters of letters, digits, '.', '_' and '-', got %q", name)
	case name == "." || name == "..":
		return fmt.Errorf("must not be %q", name)
	case strings.HasSuffix(strings.ToLower(name), ".git"):
		return fmt.Errorf("must not end in .git, got %q", name)
	}
	return nil
}

// ValidateName checks a policy or agent group name.
func ValidateName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("must be 1-63 lower-case letters, digits or inner hyphens, got %q", name)
	}
	return nil
}

// ParseRepository splits and checks "owner/name".
func ParseRepository(full string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(full, "/")
	if !ok {
		return "", "", fmt.Errorf("must be owner/name, got %q", full)
	}
	if err := ValidateOwner(owner); err != nil {
		return "", "", fmt.Errorf("owner %w", err)
	}
	if err := ValidateRepoName(repo); err != nil {
		return "", "", fmt.Errorf("name %w", err)
	}
	return owner, repo, nil
}

// validateRequest checks req and fills in its defaults. It does not check that the agent
// group exists: that needs the store.
func validateRequest(req *portalapi.PolicyRequest) error {
	var errs fieldErrors
	if err := ValidateName(req.Name); err != nil {
		errs.add("name", "%v", err)
	}
	validateLabels(&errs, req.Labels)
	if req.MinIdle < 0 || req.MinIdle > maxMinIdle {
		errs.add("min_idle", "must be between 0 and %d, got %d", maxMinIdle, req.MinIdle)
	}
	if req.MaxRunners < 1 || req.MaxRunners > maxMaxRunners {
		errs.add("max_runners", "must be between 1 and %d, got %d", maxMaxRunners, req.MaxRunners)
	} else if req.MaxRunners < req.MinIdle {
		errs.add("max_runners", "must be at least min_idle (%d), got %d", req.MinIdle, req.MaxRunners)
	}
	if req.Ephemeral == nil {
		req.Ephemeral = ptr(true)
	}
	if req.Enabled == nil {
		req.Enabled = ptr(true)
	}
	if req.IdleGrace == nil {
		req.IdleGrace = portalapi.DurationOf(DefaultIdleGrace)
	} else if d := req.IdleGrace.D(); d < 0 || d > maxIdleGrace {
		errs.add("idle_grace", "must be between 0s and %s, got %s", maxIdleGrace, d)
	}
	if req.BootstrapTimeout == nil {
		req.BootstrapTimeout = portalapi.DurationOf(DefaultBootstrapTimeout)
	} else if d := req.BootstrapTimeout.D(); d < minBootstrap || d > maxBootstrap {
		errs.add("bootstrap_timeout", "must be between %s and %s, got %s", minBootstrap, maxBootstrap, d)
	}
	if req.AgentGroup == "" {
		req.AgentGroup = portalapi.DefaultAgentGroup
	} else if err := ValidateName(req.AgentGroup); err != nil {
		errs.add("agent_group", "%v", err)
	}
	switch req.Provider {
	case portalapi.ProviderDocker, portalapi.ProviderKubernetes:
	case "":
		errs.add("provider", `is required: "docker" or "kubernetes"`)
	default:
		errs.add("provider", `must be "docker" or "kubernetes", got %q`, req.Provider)
	}
	validateRunner(&errs, req.Provider, &req.Runner)
	validateRegistration(&errs, req)
	if req.Priority < -MaxPriority || req.Priority > MaxPriority {
		errs.add("priority", "must be between %d and %d, got %d", -MaxPriority, MaxPriority, req.Priority)
	}
	if len(req.Schedule) > maxWindows {
		errs.add("schedule", "at most %d windows, got %d", maxWindows, len(req.Schedule))
	}
	for i, w := range req.Schedule {
		field := fmt.Sprintf("schedule[%d]", i)
		if err := w.Validate(); err != nil {
			errs.add(field, "%v", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		if w.MinIdle > req.MaxRunners && req.MaxRunners > 0 {
			errs.add(field+".min_idle", "must not exceed max_runners (%d), got %d", req.MaxRunners, w.MinIdle)
		}
	}
	return errs.err()
}

// MaxPriority bounds a policy's priority both ways.
const MaxPriority = 1000

// maxRunnerGroup bounds runner_group (GitHub does not document a limit; runner group
// names in its REST description are free strings).
const maxRunnerGroup = 100

// validateRegistration checks registration_level and runner_group and fills their
// defaults: repository level without a group, organisation level in "Default".
func validateRegistration(errs *fieldErrors, req *portalapi.PolicyRequest) {
	switch req.RegistrationLevel {
	case "", portalapi.RegistrationRepository:
		req.RegistrationLevel = portalapi.RegistrationRepository
		if req.RunnerGroup != "" {
			errs.add("runner_group", `is only allowed with registration_level "organization" (repository-level runners have no runner group), got %q`, req.RunnerGroup)
		}
	case portalapi.RegistrationOrganization:
		g := req.RunnerGroup
		switch {
		case g == "":
			req.RunnerGroup = portalapi.DefaultRunnerGroup
		case len(g) > maxRunnerGroup || strings.TrimSpace(g) != g || strings.ContainsFunc(g, unicode.IsControl):
			errs.add("runner_group", "must be the name of a GitHub runner group: 1-%d characters, no leading or trailing space, no control characters, got %q", maxRunnerGroup, g)
		}
	default:
		errs.add("registration_level", `must be "repository" or "organization", got %q`, req.RegistrationLevel)
	}
}

func validateLabels(errs *fieldErrors, labels []string) {
	if len(labels) == 0 {
		errs.add("labels", "at least one label is required")
		return
	}
	if len(labels) > maxLabels {
		errs.add("labels", "at most %d labels, got %d", maxLabels, len(labels))
	}
	seen := map[string]bool{}
	for i, l := range labels {
		field := fmt.Sprintf("labels[%d]", i)
		if !labelRe.MatchString(l) {
			errs.add(field, "must be 1-100 characters of letters, digits and . _ : + / -, starting with a letter or digit, got %q", l)
			continue
		}
		if seen[strings.ToLower(l)] {
			errs.add(field, "duplicate label %q (labels are case-insensitive)", l)
		}
		seen[strings.ToLower(l)] = true
	}
}

func validateRunner(errs *fieldErrors, provider string, r *portalapi.RunnerSpec) {
	if strings.TrimSpace(r.Image) == "" {
		errs.add("runner.image", "is required")
	} else if len(r.Image) > 500 || strings.ContainsAny(r.Image, " \t\n") {
		errs.add("runner.image", "must be an image reference without spaces, at most 500 characters")
	}
	if r.CPU != "" && !cpuRe.MatchString(r.CPU) {
		errs.add("runner.cpu", `must be a CPU quantity such as "2", "0.5" or "500m", got %q`, r.CPU)
	}
	if r.Memory != "" && !memoryRe.MatchString(r.Memory) {
		errs.add("runner.memory", `must be a memory quantity such as "512Mi" or "4Gi", got %q`, r.Memory)
	}
	for k := range r.Env {
		field := "runner.env." + k
		switch {
		case !envKeyRe.MatchString(k):
			errs.add(field, "must be a variable name of letters, digits and underscores")
		case strings.HasPrefix(strings.ToUpper(k), "GARO_") || strings.HasPrefix(strings.ToUpper(k), "ACTIONS_RUNNER_"):
			errs.add(field, "GARO_ and ACTIONS_RUNNER_ variables are reserved")
		}
	}
	if len(r.Command) > 20 {
		errs.add("runner.command", "at most 20 arguments, got %d", len(r.Command))
	}
	for i, arg := range r.Command {
		if arg == "" || len(arg) > 1000 || strings.ContainsRune(arg, 0) {
			errs.add(fmt.Sprintf("runner.command[%d]", i), "must be 1-1000 characters without NUL")
		}
	}
	if r.Docker != nil {
		if provider != portalapi.ProviderDocker {
			errs.add("runner.docker", "is only allowed with provider docker")
		} else {
			if m := r.Docker.NetworkMode; m != "" && !dockerNet.MatchString(m) {
				errs.add("runner.docker.network_mode", "must be bridge, host, none or a network name, got %q", m)
			}
			validateVolumes(r.Docker.Volumes, errs)
		}
	}
	if k := r.Kubernetes; k != nil {
		if provider != portalapi.ProviderKubernetes {
			errs.add("runner.kubernetes", "is only allowed with provider kubernetes")
			return
		}
		if k.Namespace != "" && ValidateName(k.Namespace) != nil {
			errs.add("runner.kubernetes.namespace", "must be a DNS label (1-63 lower-case letters, digits, inner hyphens), got %q", k.Namespace)
		}
		if k.ServiceAccount != "" && ValidateName(k.ServiceAccount) != nil && !dnsSubdomain(k.ServiceAccount) {
			errs.add("runner.kubernetes.service_account", "must be a DNS subdomain, got %q", k.ServiceAccount)
		}
		if len(k.NodeSelector) > maxNodeSelector {
			errs.add("runner.kubernetes.node_selector", "at most %d labels, got %d", maxNodeSelector, len(k.NodeSelector))
		}
		for key, v := range k.NodeSelector {
			field := "runner.kubernetes.node_selector." + key
			if !qualifiedName(key) {
				errs.add(field, "must be a Kubernetes label key ([prefix/]name, the name 1-63 letters, digits, '-', '_', '.')")
			} else if !labelValue(v) {
				errs.add(field, "must be a Kubernetes label value (at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit), got %q", v)
			}
		}
		if k.PriorityClassName != "" && !dnsSubdomain(k.PriorityClassName) {
			errs.add("runner.kubernetes.priority_class_name", "must be a DNS subdomain, got %q", k.PriorityClassName)
		}
		if len(k.ImagePullSecrets) > maxPullSecrets {
			errs.add("runner.kubernetes.image_pull_secrets", "at most %d, got %d", maxPullSecrets, len(k.ImagePullSecrets))
		}
		for i, n := range k.ImagePullSecrets {
			if !dnsSubdomain(n) {
				errs.add(fmt.Sprintf("runner.kubernetes.image_pull_secrets[%d]", i), "must be a Secret name (a DNS subdomain), got %q", n)
			}
		}
		for i, t := range k.Tolerations {
			field := fmt.Sprintf("runner.kubernetes.tolerations[%d]", i)
			if t.Key != "" && !qualifiedName(t.Key) {
				errs.add(field+".key", "must be a Kubernetes taint key ([prefix/]name), got %q", t.Key)
			}
			if t.Key == "" && t.Operator != "Exists" {
				// Kubernetes refuses it: an empty key matches every taint only with Exists.
				errs.add(field+".operator", `must be "Exists" when the key is empty (it tolerates every taint)`)
			}
			switch t.Operator {
			case "", "Equal", "Exists":
			default:
				errs.add(field+".operator", `must be "Equal" or "Exists", got %q`, t.Operator)
			}
			if t.Operator == "Exists" && t.Value != "" {
				errs.add(field+".value", `must be empty when operator is "Exists"`)
			}
			switch t.Effect {
			case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
			default:
				errs.add(field+".effect", "must be NoSchedule, PreferNoSchedule or NoExecute, got %q", t.Effect)
			}
			if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
				errs.add(field+".toleration_seconds", "is only allowed with effect NoExecute")
			}
		}
	}
}

var dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func dnsSubdomain(s string) bool { return len(s) <= 253 && dnsSubdomainRe.MatchString(s) }

// Limits of a Kubernetes runner spec.
const (
	maxNodeSelector = 20
	maxPullSecrets  = 8
)

// labelNameRe is the name part of a Kubernetes label key and the form of a label value
// (Kubernetes' own rules: apimachinery's IsQualifiedName and IsValidLabelValue).
var labelNameRe = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// qualifiedName reports whether s is a Kubernetes label (or taint) key: a name of at most
// 63 characters, optionally after a DNS-subdomain prefix and a slash.
func qualifiedName(s string) bool {
	name := s
	if prefix, n, ok := strings.Cut(s, "/"); ok {
		if !dnsSubdomain(prefix) {
			return false
		}
		name = n
	}
	return len(name) <= 63 && labelNameRe.MatchString(name)
}

// labelValue reports whether s is a Kubernetes label value (empty is one).
func labelValue(s string) bool { return s == "" || (len(s) <= 63 && labelNameRe.MatchString(s)) }

func ptr[T any](v T) *T { return &v }
