package spec

import "strings"

// Runner labels. GitHub gives every self-hosted runner that registers itself the labels
// self-hosted, its operating system (Linux, Windows, macOS) and its architecture (X64,
// ARM, ARM64), and compares labels ignoring case:
// https://docs.github.com/en/actions/how-tos/manage-runners/self-hosted-runners/use-in-a-workflow
// ("Using default labels to route jobs") and
// https://docs.github.com/en/actions/how-tos/managing-self-hosted-runners/using-labels-with-self-hosted-runners
// ("Labels are case-insensitive"). A just-in-time runner gets exactly the labels its
// configuration was generated with (GitHub's generate-jitconfig example sends
// ["self-hosted","X64","macOS","no-gpu"] and its runner carries those four), so Garo names
// them all itself.

// SelfHostedLabel is the label every self-hosted runner carries.
const SelfHostedLabel = "self-hosted"

// Default platform of a policy that names none.
const (
	DefaultOSLabel   = "Linux"
	DefaultArchLabel = "X64"
)

var (
	osLabels   = map[string]bool{"linux": true, "windows": true, "macos": true}
	archLabels = map[string]bool{"x64": true, "arm64": true, "arm": true}
)

// IsOSLabel reports whether l names an operating system GitHub labels runners with.
func IsOSLabel(l string) bool { return osLabels[strings.ToLower(l)] }

// IsArchLabel reports whether l names an architecture GitHub labels runners with.
func IsArchLabel(l string) bool { return archLabels[strings.ToLower(l)] }

// RunnerLabels is the one definition of the labels a runner of a policy with labels
// answers to: self-hosted, an OS and an architecture (Linux and X64 unless the policy names
// others), then the policy's own labels, without case-insensitive duplicates, in that
// order. The server asks generate-jitconfig for exactly this set and matches jobs against
// it, so that both agree by construction. Policy [linux-small] gives
// [self-hosted Linux X64 linux-small]; [macOS no-gpu X64] gives [self-hosted macOS X64 no-gpu].
func RunnerLabels(policy []string) []string {
	hasOS, hasArch := false, false
	for _, l := range policy {
		hasOS = hasOS || IsOSLabel(l)
		hasArch = hasArch || IsArchLabel(l)
	}
	out := []string{SelfHostedLabel}
	// The policy's own OS and architecture labels come right after self-hosted, in the
	// policy's spelling, as GitHub lists a runner's platform labels first.
	for _, l := range policy {
		if IsOSLabel(l) {
			out = addLabel(out, l)
		}
	}
	if !hasOS {
		out = append(out, DefaultOSLabel)
	}
	for _, l := range policy {
		if IsArchLabel(l) {
			out = addLabel(out, l)
		}
	}
	if !hasArch {
		out = append(out, DefaultArchLabel)
	}
	for _, l := range policy {
		out = addLabel(out, strings.TrimSpace(l))
	}
	return out
}

// CustomLabels is what a runner registering itself with a registration token is given
// (config.sh --labels): the policy's labels without self-hosted, which the runner adds
// itself together with the OS and architecture of the machine it runs on.
func CustomLabels(policy []string) []string {
	var out []string
	for _, l := range policy {
		if !strings.EqualFold(l, SelfHostedLabel) {
			out = addLabel(out, strings.TrimSpace(l))
		}
	}
	return out
}

// HasLabels reports whether a runner carrying have answers a job asking for every label
// of want, ignoring case.
func HasLabels(have, want []string) bool {
	set := make(map[string]bool, len(have))
	for _, l := range have {
		set[strings.ToLower(l)] = true
	}
	for _, l := range want {
		if !set[strings.ToLower(l)] {
			return false
		}
	}
	return true
}

func addLabel(list []string, l string) []string {
	if l == "" {
		return list
	}
	for _, have := range list {
		if strings.EqualFold(have, l) {
			return list
		}
	}
	return append(list, l)
}
