package garoctl

import "testing"

func TestSelector(t *testing.T) {
	s := selector{ownerPrefix: "acme/team-a", terms: []string{"repository=acme/*-web", "agent_group=gpu"}}
	if err := s.parse(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo, group string
		want        bool
	}{
		{"acme/team-a-web", "gpu", true},
		{"acme/team-a-api", "gpu", false},     // pattern
		{"acme/team-a-web", "default", false}, // agent_group
		{"acme/team-b-web", "gpu", false},     // owner prefix
	} {
		if got := s.matches(tc.repo, "p", tc.group, "docker"); got != tc.want {
			t.Errorf("matches(%s, %s) = %v", tc.repo, tc.group, got)
		}
	}
	if got := s.listOptions().Owner; got != "acme" {
		t.Errorf("list owner = %q", got)
	}
	for _, bad := range []string{"repository", "owner=acme", "name=[", "name="} {
		s := selector{terms: []string{bad}}
		if err := s.parse(); err == nil {
			t.Errorf("--selector %q accepted", bad)
		}
	}
}
