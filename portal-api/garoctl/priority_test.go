package garoctl

import (
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// A policy document carries priority: apply sends the file's, keeps the server's when the
// file leaves it out, and the rendered document (what diff compares) shows it.
func TestPolicyDocPriority(t *testing.T) {
	t.Parallel()
	have := docOf(portalapi.Policy{Repository: "acme/web", Name: "linux", Labels: []string{"linux"}, MaxRunners: 4, Priority: 7})
	for _, tc := range []struct {
		doc  string
		want int
	}{
		{"kind: Policy\nrepository: acme/web\nname: linux\npriority: 50\n", 50},
		{"kind: Policy\nrepository: acme/web\nname: linux\nmax_runners: 8\n", 7},
	} {
		d, err := parsePolicyDoc("f.yaml", []byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		out, err := overlay(have, d)
		if err != nil {
			t.Fatal(err)
		}
		if out.Priority != tc.want {
			t.Errorf("%q: priority %d, want %d", tc.doc, out.Priority, tc.want)
		}
		if !strings.Contains(out.render(), "priority: ") {
			t.Errorf("rendered document lacks priority:\n%s", out.render())
		}
	}
}

func TestWaitsFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w    *portalapi.JobWait
		want string
	}{
		{nil, "-"},
		{&portalapi.JobWait{Limit: portalapi.WaitTeamQuota, QuotaSubject: "acme/team-a", Position: 3}, "team_quota acme/team-a #3"},
		{&portalapi.JobWait{Limit: portalapi.WaitAgentCapacity, Position: 1}, "agent_capacity #1"},
	} {
		if got := waitsFor(tc.w); got != tc.want {
			t.Errorf("waitsFor(%+v) = %q, want %q", tc.w, got, tc.want)
		}
	}
}
