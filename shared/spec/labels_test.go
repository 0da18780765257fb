package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestRunnerLabels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy, want []string
	}{
		{[]string{"linux-small"}, []string{"self-hosted", "Linux", "X64", "linux-small"}},
		{nil, []string{"self-hosted", "Linux", "X64"}},
		{[]string{"linux", "gpu"}, []string{"self-hosted", "linux", "X64", "gpu"}},
		{[]string{"arm64", "Linux"}, []string{"self-hosted", "Linux", "arm64"}},
		{[]string{"macOS", "no-gpu", "X64"}, []string{"self-hosted", "macOS", "X64", "no-gpu"}},
		{[]string{"Self-Hosted", "windows", "WINDOWS"}, []string{"self-hosted", "windows", "X64"}},
	} {
		if got := RunnerLabels(tc.policy); !slices.Equal(got, tc.want) {
			t.Errorf("RunnerLabels(%v) = %v, want %v", tc.policy, got, tc.want)
		}
	}
	if got := CustomLabels([]string{"self-hosted", "linux-small", "Linux-Small"}); !slices.Equal(got, []string{"linux-small"}) {
		t.Errorf("CustomLabels = %v", got)
	}
	runner := RunnerLabels([]string{"linux-small"})
	for want, ok := range map[string]bool{
		"self-hosted,linux":             true, // GitHub: every requested label is on the runner
		"self-hosted,linux,linux-small": true,
		"SELF-HOSTED,x64":               true,
		"self-hosted,arm64":             false,
		"gpu":                           false,
	} {
		if got := HasLabels(runner, strings.Split(want, ",")); got != ok {
			t.Errorf("HasLabels(%v, %s) = %v, want %v", runner, want, got, ok)
		}
	}
}
