// Package guardrails holds the constraints an administrator sets on an agent group (what
// the runners of its policies may be) and the one check of a policy against them. The
// server runs the check when a policy is written and when it serves the policy to an
// agent; the agent runs it again before it creates a runner (docs/security.md,
// "Guardrails"). Both must decide alike, so the rules live here and nowhere else.
package guardrails

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/garo-dev/garo/shared/spec"
)

// OwnerPlaceholder in a volume prefix stands for the policy's repository owner, lower-cased.
const OwnerPlaceholder = "{owner}"

// Any is the volume prefix that allows every volume name.
const Any = "*"

// DefaultVolumePrefixes apply when a group names none: a policy mounts only named volumes
// of its own owner, "acme.cache" for a policy of acme/x. GitHub owner names hold no '.',
// so no owner's prefix starts another owner's ("acme-" would: acme-labs-cache).
var DefaultVolumePrefixes = []string{OwnerPlaceholder + "."}

// DefaultRefusedEnv are the environment names a policy may not set unless its group
// allows them (AllowedEnv): they change what every process of the runner loads or where
// its traffic goes. ACTIONS_RUNNER_ variables are the runner's own (its credentials among
// them) and refused always. Names compare ignoring case.
var DefaultRefusedEnv = []string{
	"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY",
}

// Constraints are an agent group's guardrails. The zero value is the default of every
// group: any image, the agent's own network mode, namespace and service account (a policy
// may not choose them), named volumes of the policy's owner only, DefaultRefusedEnv
// refused, no ceilings below the API's limits.
type Constraints struct {
	// AllowedImages are image patterns: one ending in "/" allows every repository under
	// that path ("ghcr.io/acme/"), any other exactly that repository with any tag or
	// digest ("docker.io/library/ubuntu"). Images are compared in their full form
	// (registry host included: "ubuntu:24.04" is docker.io/library/ubuntu). Empty: any.
	AllowedImages []string `json:"allowed_images,omitempty"`
	// DigestsOnly requires images pinned by digest ("…@sha256:<64 hex>").
	DigestsOnly bool `json:"digests_only,omitempty"`
	// AllowedNetworkModes are the Docker network modes a policy may choose
	// (runner.docker.network_mode). Empty: none, the agent's own (provider.docker.network_mode)
	// is used.
	AllowedNetworkModes []string `json:"allowed_network_modes,omitempty"`
	// VolumePrefixes are the prefixes a named volume's name (runner.docker.volumes[].source,
	// compared lower-cased) must start with; "{owner}" stands for the policy's owner,
	// lower-cased, and "*" allows every name. Empty: DefaultVolumePrefixes. Host paths are
	// the agent's to allow (provider.docker.allowed_bind_paths).
	VolumePrefixes []string `json:"volume_prefixes,omitempty"`
	// AllowedEnv are names of DefaultRefusedEnv that policies of the group may set.
	AllowedEnv []string `json:"allowed_env,omitempty"`
	// RefusedEnv are more names a policy may not set; one ending in "*" refuses every name
	// it starts ("AWS_*"). Names compare ignoring case.
	RefusedEnv []string `json:"refused_env,omitempty"`
	// Ceilings bound a policy's numbers below the API's own limits.
	Ceilings Ceilings `json:"ceilings,omitzero"`
	// Kubernetes holds the Kubernetes part.
	Kubernetes KubernetesConstraints `json:"kubernetes,omitzero"`
}

// Ceilings are upper bounds; nil or "" is no ceiling.
type Ceilings struct {
	MinIdle    *int `json:"min_idle,omitempty"`    // also every schedule window's min_idle
	MaxRunners *int `json:"max_runners,omitempty"` // runners at once
	// CPU and Memory are quantities as in a runner spec ("2", "500m"; "4Gi"). With a
	// ceiling, a policy must set runner.cpu (runner.memory) at most that: a runner
	// without a limit would have none.
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// KubernetesConstraints bound a Kubernetes runner: empty lists mean a policy may not
// choose, the agent's own namespace and service account are used.
type KubernetesConstraints struct {
	AllowedNamespaces      []string `json:"allowed_namespaces,omitempty"`
	AllowedServiceAccounts []string `json:"allowed_service_accounts,omitempty"`
}

// Subject is what of a policy the constraints judge.
type Subject struct {
	Repository string // "owner/name"
	MinIdle    int
	MaxRunners int
	// ScheduleMinIdle are the min_idle values of its schedule windows, in order.
	ScheduleMinIdle []int
	Runner          spec.RunnerSpec
}

// Violation names the field of a policy that breaks a constraint, and the rule.
type Violation struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (v Violation) String() string { return v.Field + ": " + v.Message }

type violations []Violation

func (vs *violations) add(field, format string, args ...any) {
	*vs = append(*vs, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check returns what of s breaks c (nil: nothing), in a stable order. group names the
// group in the messages.
func Check(group string, c Constraints, s Subject) []Violation {
	var vs violations
	g := fmt.Sprintf("agent group %q", group)
	checkImage(&vs, g, c, s.Runner.Image)
	if d := s.Runner.Docker; d != nil {
		if m := d.NetworkMode; m != "" && !slices.Contains(c.AllowedNetworkModes, m) {
			if len(c.AllowedNetworkModes) == 0 {
				vs.add("runner.docker.network_mode", "%s lets policies choose no network mode (constraints.allowed_network_modes is empty): leave it out, the agent's own is used; got %q", g, m)
			} else {
				vs.add("runner.docker.network_mode", "%s allows the network modes %v (constraints.allowed_network_modes), got %q", g, c.AllowedNetworkModes, m)
			}
		}
		prefixes := VolumePrefixesFor(c, s.Repository)
		for i, v := range d.Volumes {
			if strings.HasPrefix(v.Source, "/") {
				continue // a host path: the agent's allowed_bind_paths decide
			}
			if !volumeAllowed(prefixes, v.Source) {
				vs.add(fmt.Sprintf("runner.docker.volumes[%d].source", i), "%s allows named volumes starting with %v (constraints.volume_prefixes; by default the policy's owner followed by a dot), got %q", g, prefixes, v.Source)
			}
		}
	}
	for _, k := range sortedKeys(s.Runner.Env) {
		if rule := EnvRefused(c, k); rule != "" {
			vs.add("runner.env."+k, "%s refuses %s", g, rule)
		}
	}
	ce := c.Ceilings
	if ce.MinIdle != nil {
		if s.MinIdle > *ce.MinIdle {
			vs.add("min_idle", "%s allows at most %d (constraints.ceilings.min_idle), got %d", g, *ce.MinIdle, s.MinIdle)
		}
		for i, n := range s.ScheduleMinIdle {
			if n > *ce.MinIdle {
				vs.add(fmt.Sprintf("schedule[%d].min_idle", i), "%s allows at most %d (constraints.ceilings.min_idle), got %d", g, *ce.MinIdle, n)
			}
		}
	}
	if ce.MaxRunners != nil && s.MaxRunners > *ce.MaxRunners {
		vs.add("max_runners", "%s allows at most %d (constraints.ceilings.max_runners), got %d", g, *ce.MaxRunners, s.MaxRunners)
	}
	checkQuantity(&vs, g, "runner.cpu", "constraints.ceilings.cpu", ce.CPU, s.Runner.CPU, MilliCPU)
	checkQuantity(&vs, g, "runner.memory", "constraints.ceilings.memory", ce.Memory, s.Runner.Memory, MemoryBytes)
	if k := s.Runner.Kubernetes; k != nil {
		kc := c.Kubernetes
		checkChoice(&vs, g, "runner.kubernetes.namespace", "constraints.kubernetes.allowed_namespaces", "namespace", kc.AllowedNamespaces, k.Namespace)
		checkChoice(&vs, g, "runner.kubernetes.service_account", "constraints.kubernetes.allowed_service_accounts", "service account", kc.AllowedServiceAccounts, k.ServiceAccount)
	}
	return vs
}

func checkChoice(vs *violations, g, field, key, what string, allowed []string, got string) {
	if got == "" || slices.Contains(allowed, got) {
		return
	}
	if len(allowed) == 0 {
		vs.add(field, "%s lets policies choose no %s (%s is empty): leave it out, the agent's own is used; got %q", g, what, key, got)
		return
	}
	vs.add(field, "%s allows %v (%s), got %q", g, allowed, key, got)
}

func checkQuantity(vs *violations, g, field, key, ceiling, got string, parse func(string) (int64, error)) {
	if ceiling == "" {
		return
	}
	limit, err := parse(ceiling)
	if err != nil {
		vs.add(field, "%s has an unreadable ceiling %s %q: %v", g, key, ceiling, err)
		return
	}
	if got == "" {
		vs.add(field, "%s requires a limit of at most %s (%s): a runner without one would have none", g, ceiling, key)
		return
	}
	n, err := parse(got)
	if err != nil {
		vs.add(field, "%v", err)
		return
	}
	if n > limit {
		vs.add(field, "%s allows at most %s (%s), got %q", g, ceiling, key, got)
	}
}

var digestRe = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

func checkImage(vs *violations, g string, c Constraints, image string) {
	if image == "" {
		return
	}
	if c.DigestsOnly && !digestRe.MatchString(image) {
		vs.add("runner.image", "%s allows only images pinned by digest (constraints.digests_only): name it as repository@sha256:<64 hex digits>, got %q", g, image)
	}
	if len(c.AllowedImages) == 0 {
		return
	}
	repo := ImageRepository(image)
	for _, p := range c.AllowedImages {
		if ImageMatches(p, repo) {
			return
		}
	}
	vs.add("runner.image", "%s allows the images %v (constraints.allowed_images; a pattern ending in / allows the repositories under it), got %q (repository %s)", g, c.AllowedImages, image, repo)
}

// ImageMatches reports whether the image pattern p allows the full repository name repo
// (as ImageRepository returns it).
func ImageMatches(p, repo string) bool {
	p = strings.ToLower(p)
	if strings.HasSuffix(p, "/") {
		return strings.HasPrefix(repo, p) && len(repo) > len(p)
	}
	return repo == p
}

// ImageRepository returns the repository of an image reference in full, lower-cased,
// without tag or digest: "ubuntu:24.04" is "docker.io/library/ubuntu",
// "ghcr.io/acme/runner@sha256:…" is "ghcr.io/acme/runner". A reference with ".." or an
// empty path element is returned as written, so that no pattern that ends in "/" matches
// it by accident.
func ImageRepository(ref string) string {
	ref = strings.ToLower(ref)
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "invalid:" + ref
		}
	}
	first := parts[0]
	if len(parts) == 1 || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if len(parts) == 1 {
			return "docker.io/library/" + ref
		}
		return "docker.io/" + ref
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		parts[0] = "docker.io"
		if len(parts) == 2 {
			return "docker.io/library/" + parts[1]
		}
		return strings.Join(parts, "/")
	}
	return ref
}

// VolumePrefixesFor returns the volume prefixes of c for a policy of repository, with
// "{owner}" replaced by its owner, lower-cased.
func VolumePrefixesFor(c Constraints, repository string) []string {
	ps := c.VolumePrefixes
	if len(ps) == 0 {
		ps = DefaultVolumePrefixes
	}
	owner, _, _ := strings.Cut(strings.ToLower(repository), "/")
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.ReplaceAll(strings.ToLower(p), OwnerPlaceholder, owner)
	}
	return out
}

func volumeAllowed(prefixes []string, name string) bool {
	name = strings.ToLower(name)
	for _, p := range prefixes {
		if p == Any || (strings.HasPrefix(name, p) && len(name) > len(p)) {
			return true
		}
	}
	return false
}

// EnvRefused returns why c refuses the environment name k, or "" when it does not.
func EnvRefused(c Constraints, k string) string {
	up := strings.ToUpper(k)
	if strings.HasPrefix(up, "ACTIONS_RUNNER_") {
		return k + ": ACTIONS_RUNNER_ variables are the runner's own (always refused)"
	}
	for _, r := range c.RefusedEnv {
		r = strings.ToUpper(r)
		if p, ok := strings.CutSuffix(r, "*"); ok && strings.HasPrefix(up, p) || r == up {
			return fmt.Sprintf("%s (constraints.refused_env: %s)", k, r)
		}
	}
	if slices.Contains(DefaultRefusedEnv, up) && !slices.ContainsFunc(c.AllowedEnv, func(a string) bool { return strings.EqualFold(a, k) }) {
		return fmt.Sprintf("%s: it is refused by default (add it to constraints.allowed_env to allow it)", k)
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
