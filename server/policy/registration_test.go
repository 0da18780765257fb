package policy

import (
	"slices"
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func TestValidateRegistrationDefaults(t *testing.T) {
	t.Parallel()
	req := validRequest()
	if err := validateRequest(&req); err != nil {
		t.Fatalf("validateRequest: %v", err)
	}
	if req.RegistrationLevel != portalapi.RegistrationRepository || req.RunnerGroup != "" {
		t.Errorf("left out: level %q group %q, want repository and no group", req.RegistrationLevel, req.RunnerGroup)
	}
	org := validRequest()
	org.RegistrationLevel = portalapi.RegistrationOrganization
	if err := validateRequest(&org); err != nil {
		t.Fatalf("validateRequest(organization): %v", err)
	}
	if org.RunnerGroup != "Default" {
		t.Errorf("organization without a group: runner_group %q, want Default", org.RunnerGroup)
	}
	named := validRequest()
	named.RegistrationLevel, named.RunnerGroup = portalapi.RegistrationOrganization, "Build fleet (x64)"
	if err := validateRequest(&named); err != nil || named.RunnerGroup != "Build fleet (x64)" {
		t.Errorf("named group: %v, runner_group %q", err, named.RunnerGroup)
	}
}

func TestValidateRegistrationRejects(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		level, group string
		want         string
	}{
		"unknown level":           {"enterprise", "", "registration_level"},
		"group at repo level":     {"repository", "ci", "runner_group"},
		"group, level left out":   {"", "ci", "runner_group"},
		"group too long":          {"organization", strings.Repeat("g", 101), "runner_group"},
		"group with outer spaces": {"organization", " ci ", "runner_group"},
		"group with a newline":    {"organization", "c\ni", "runner_group"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			r.RegistrationLevel, r.RunnerGroup = tc.level, tc.group
			got := fieldsOf(t, validateRequest(&r))
			if !slices.Equal(got, []string{tc.want}) {
				t.Errorf("fields %v, want [%s]", got, tc.want)
			}
		})
	}
}
