package garoctl_test

import (
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// complete runs cobra's hidden completion command and returns the candidates (without
// descriptions and the trailing directive line).
func (c *cli) complete(args ...string) []string {
	c.t.Helper()
	out := c.ok(append([]string{"__complete"}, args...)...)
	var names []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(l, ":") {
			break
		}
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names
}

// TestCompletion: policy, repository, group, agent, token and registration token names
// come from the server.
func TestCompletion(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	c.ok("group", "create", "gpu")
	c.ok("registration-token", "create", "--group", "gpu", "--description", "rack 9")
	tok, err := c.h.Portal.CreateToken(t.Context(), portalapi.TokenRequest{Name: "ci", Scopes: []string{portalapi.ScopePoliciesWrite}})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := c.h.Portal.ListRegistrationTokens(t.Context(), "gpu")
	if err != nil || len(rl.Items) != 1 {
		t.Fatalf("registration tokens: %+v %v", rl, err)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"policy", "get", ""}, []string{"acme/web/linux-small", "acme/web/linux-large"}},
		{[]string{"policy", "edit", "acme/web", ""}, []string{"linux-small", "linux-large"}},
		{[]string{"policy", "list", "--repository", ""}, []string{"acme/web"}},
		{[]string{"job", "list", ""}, []string{"acme/web"}},
		{[]string{"job", "list", "acme/web", "--policy", ""}, []string{"linux-small", "linux-large"}},
		{[]string{"group", "get", ""}, []string{"default", "gpu"}},
		{[]string{"registration-token", "create", "--group", ""}, []string{"default", "gpu"}},
		{[]string{"registration-token", "delete", "--group", "gpu", ""}, []string{rl.Items[0].ID}},
		{[]string{"token", "revoke", ""}, []string{tok.ID}},
		{[]string{"apply", "-f", "x", "--prune", "--selector", ""}, []string{"repository=", "name=", "agent_group=", "provider="}},
	} {
		got := strings.Join(c.complete(tc.args...), " ")
		for _, w := range tc.want {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("completion of %q = %q, lacks %q", tc.args, got, w)
			}
		}
	}
	// Without a server, completion offers nothing and does not fail the shell.
	c.env["GARO_SERVER"] = "http://127.0.0.1:1"
	if got := c.complete("group", "get", ""); len(got) != 0 {
		t.Errorf("completion without a server = %q", got)
	}
}
