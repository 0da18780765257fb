package guardrails

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/garo-dev/garo/shared/spec"
)

// Limits of a constraint set.
const (
	maxListLen  = 100
	maxEntryLen = 255
)

var (
	envNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)
	netModeRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	dnsLabelRe  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	volPrefixRe = regexp.MustCompile(`^[A-Za-z0-9{}_.-]+$`)
	dnsSubRe    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Validate checks a constraint set as an administrator writes it; field names the JSON
// path of the set ("constraints").
func Validate(field string, c Constraints) []Violation {
	var vs violations
	list := func(name string, items []string, ok func(string) bool, want string) {
		f := field + "." + name
		if len(items) > maxListLen {
			vs.add(f, "at most %d entries, got %d", maxListLen, len(items))
			return
		}
		for i, it := range items {
			if it == "" || len(it) > maxEntryLen || strings.TrimSpace(it) != it || !ok(it) {
				vs.add(fmt.Sprintf("%s[%d]", f, i), "must be %s, got %q", want, it)
			}
		}
	}
	list("allowed_images", c.AllowedImages, func(s string) bool {
		return !strings.ContainsAny(s, " \t\n@") && !strings.Contains(s, "//") && !strings.Contains(s, "..")
	}, `an image repository in full ("docker.io/library/ubuntu") or a path ending in / ("ghcr.io/acme/"), without tag or digest`)
	list("allowed_network_modes", c.AllowedNetworkModes, netModeRe.MatchString, "bridge, host, none or a network name")
	list("volume_prefixes", c.VolumePrefixes, func(s string) bool {
		return s == Any || volPrefixRe.MatchString(s)
	}, `a volume name prefix (letters, digits, '_', '.', '-', and {owner}) or "*"`)
	envName := func(s string) bool { return envNameRe.MatchString(s) }
	list("allowed_env", c.AllowedEnv, envName, "an environment variable name")
	list("refused_env", c.RefusedEnv, envName, `an environment variable name, or a prefix ending in "*"`)
	for i, a := range c.AllowedEnv {
		if strings.HasPrefix(strings.ToUpper(a), "ACTIONS_RUNNER_") {
			vs.add(fmt.Sprintf("%s.allowed_env[%d]", field, i), "ACTIONS_RUNNER_ variables are the runner's own and cannot be allowed")
		}
	}
	ce := c.Ceilings
	if ce.MinIdle != nil && (*ce.MinIdle < 0 || *ce.MinIdle > 1000) {
		vs.add(field+".ceilings.min_idle", "must be between 0 and 1000, got %d", *ce.MinIdle)
	}
	if ce.MaxRunners != nil && (*ce.MaxRunners < 1 || *ce.MaxRunners > 10000) {
		vs.add(field+".ceilings.max_runners", "must be between 1 and 10000, got %d", *ce.MaxRunners)
	}
	if ce.CPU != "" {
		if _, err := MilliCPU(ce.CPU); err != nil {
			vs.add(field+".ceilings.cpu", "%v", err)
		}
	}
	if ce.Memory != "" {
		if _, err := MemoryBytes(ce.Memory); err != nil {
			vs.add(field+".ceilings.memory", "%v", err)
		}
	}
	list("kubernetes.allowed_namespaces", c.Kubernetes.AllowedNamespaces, dnsLabelRe.MatchString, "a namespace (a DNS label)")
	list("kubernetes.allowed_service_accounts", c.Kubernetes.AllowedServiceAccounts,
		func(s string) bool { return len(s) <= 253 && dnsSubRe.MatchString(s) }, "a service account name (a DNS subdomain)")
	return vs
}

// Requests reads what a runner spec requests, in millicores and bytes; a quantity that
// does not parse (policies are validated when written) counts as none. Quotas (server)
// and an agent's capacity (agent) count runners with it.
func Requests(r spec.RunnerSpec) (cpuMilli, memoryBytes int64) {
	if r.CPU != "" {
		cpuMilli, _ = MilliCPU(r.CPU)
	}
	if r.Memory != "" {
		memoryBytes, _ = MemoryBytes(r.Memory)
	}
	return cpuMilli, memoryBytes
}

// FormatMilliCPU writes thousandths of a CPU as a quantity MilliCPU reads back: "16",
// "500m".
func FormatMilliCPU(v int64) string {
	if v%1000 == 0 {
		return strconv.FormatInt(v/1000, 10)
	}
	return strconv.FormatInt(v, 10) + "m"
}

// FormatBytes writes bytes as a quantity MemoryBytes reads back, in the largest binary
// unit that divides it: "64Gi", "1536Mi", "1000".
func FormatBytes(v int64) string {
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v%u.factor == 0 {
			return strconv.FormatInt(v/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// MilliCPU reads a CPU quantity ("2", "0.5", "500m") in thousandths of a CPU.
func MilliCPU(q string) (int64, error) {
	num, scale := q, 1000.0
	if s, ok := strings.CutSuffix(q, "m"); ok {
		num, scale = s, 1
	}
	return quantity("cpu", q, num, scale)
}

var memoryFactors = []struct {
	suffix string
	factor float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// MemoryBytes reads a memory quantity ("512Mi", "4Gi", "1G", "1048576") in bytes.
func MemoryBytes(q string) (int64, error) {
	num, factor := q, 1.0
	for _, s := range memoryFactors {
		if n, ok := strings.CutSuffix(q, s.suffix); ok {
			num, factor = n, s.factor
			break
		}
	}
	return quantity("memory", q, num, factor)
}

func quantity(what, q, num string, factor float64) (int64, error) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*factor > math.MaxInt64/2 {
		return 0, fmt.Errorf("%s %q is not a positive quantity", what, q)
	}
	return int64(math.Round(v * factor)), nil
}
