package garoctl_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// TestGroups: create with owner prefixes and constraints, list, get, set, delete (refused
// while a policy names the group).
func TestGroups(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	cons := c.write("cons.yaml", "ceilings:\n  max_runners: 4\ndigests_only: false\n")
	c.ok("group", "create", "gpu", "--description", "GPU runners", "--owner-prefix", "acme", "--constraints-file", cons)
	c.fails(garoctl.ExitServer, []string{"409"}, "group", "create", "gpu")
	c.fails(garoctl.ExitUsage, []string{"cons.yaml"}, "group", "create", "bad", "--constraints-file", c.write("cons.yaml", "bogus: 1\n"))
	out := c.ok("group", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "default") || !strings.Contains(out, "gpu ") || !strings.Contains(out, "GPU runners") {
		t.Errorf("group list =\n%s", out)
	}
	var gr portalapi.AgentGroup
	if err := json.Unmarshal([]byte(c.ok("group", "get", "gpu", "-o", "json")), &gr); err != nil ||
		gr.Constraints.Ceilings.MaxRunners == nil || *gr.Constraints.Ceilings.MaxRunners != 4 || strings.Join(gr.OwnerPrefixes, ",") != "acme" {
		t.Fatalf("group get -o json = %+v (%v)", gr, err)
	}
	c.ok("group", "set", "gpu", "--owner-prefix", "acme", "--owner-prefix", "acme-labs", "--description", "GPUs")
	if out := c.ok("group", "get", "gpu"); !strings.Contains(out, "acme,acme-labs") || !strings.Contains(out, "GPUs") {
		t.Errorf("group get after set =\n%s", out)
	}
	c.fails(garoctl.ExitUsage, []string{"set needs"}, "group", "set", "gpu")
	c.ok("policy", "create", "-f", c.write("p.yaml", "kind: Policy\nrepository: acme/web\nname: g\nlabels: [gpu]\nmax_runners: 1\nagent_group: gpu\nprovider: docker\nrunner: {image: runner:1}\n"))
	c.fails(garoctl.ExitServer, []string{"409"}, "group", "delete", "gpu")
	c.ok("policy", "delete", "acme/web/g")
	c.ok("group", "delete", "gpu")
	c.fails(garoctl.ExitServer, []string{"404"}, "group", "get", "gpu")
}

// TestRegistrationTokensAndAgents: the registration secret is printed once, alone on
// standard output; an agent registers with it and shows in agent list/get; revoke ends it.
func TestRegistrationTokensAndAgents(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	r := c.run("", "registration-token", "create", "--group", "default", "--uses", "2", "--expires-in", "1h", "--description", "rack 4")
	if r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	secret := strings.TrimSpace(r.out)
	if strings.Count(r.out, "\n") != 1 || secret == "" || !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("create printed stdout %q stderr %q", r.out, r.stderr)
	}
	list := c.ok("registration-token", "list", "--group", "default", "-o", "wide")
	if strings.Contains(list, secret) || !strings.Contains(list, "rack 4") || !strings.Contains(list, "   2   ") {
		t.Errorf("registration-token list =\n%s", list)
	}

	s := &stack.Stack{Hub: c.h}
	cfg := s.AgentConfig(secret, "rack-4")
	cfg.Provider.Type = agentapp.ProviderMemory
	ag, err := s.StartAgent(t.Context(), cfg, agentapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ag.Stop() })

	out := c.ok("agent", "list", "--group", "default")
	if !strings.Contains(out, ag.ID) || !strings.Contains(out, "rack-4") || !strings.Contains(out, "active") {
		t.Errorf("agent list =\n%s", out)
	}
	if out := c.ok("agent", "get", ag.ID, "-o", "yaml"); !strings.Contains(out, "name: rack-4\n") {
		t.Errorf("agent get -o yaml =\n%s", out)
	}
	if out := c.ok("agent", "revoke", ag.ID); out != "agent "+ag.ID+" revoked\n" {
		t.Errorf("revoke said %q", out)
	}
	if out := c.ok("agent", "list", "--status", "revoked"); !strings.Contains(out, ag.ID) {
		t.Errorf("agent list --status revoked =\n%s", out)
	}
	var l portalapi.RegistrationTokenList
	if err := json.Unmarshal([]byte(c.ok("registration-token", "list", "-o", "json")), &l); err != nil || len(l.Items) != 1 {
		t.Fatalf("registration-token list -o json: %+v %v", l, err)
	}
	c.ok("registration-token", "delete", l.Items[0].ID)
	if out := c.ok("registration-token", "list"); strings.Contains(out, l.Items[0].ID) {
		t.Errorf("deleted registration token still listed:\n%s", out)
	}
}

// TestAPITokens: create with scopes, owner prefixes and expiry prints the secret once; the
// token works with exactly its scopes; revoke ends it.
func TestAPITokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	r := c.run("", "token", "create", "viewer", "--scope", "policies:read", "--owner-prefix", "acme", "--expires-in", "24h")
	if r.code != 0 {
		t.Fatalf("token create: %d %s", r.code, r.stderr)
	}
	secret := strings.TrimSpace(r.out)
	c.fails(garoctl.ExitUsage, []string{"at least one --scope"}, "token", "create", "noscope")
	out := c.ok("token", "list")
	if !strings.Contains(out, "viewer") || !strings.Contains(out, "policies:read") || strings.Contains(out, secret) {
		t.Errorf("token list =\n%s", out)
	}
	admin := c.env["GARO_TOKEN"]
	c.env["GARO_TOKEN"] = secret
	if out := c.ok("whoami"); !strings.Contains(out, "viewer") || !strings.Contains(out, "acme") {
		t.Errorf("whoami as viewer = %q", out)
	}
	c.fails(garoctl.ExitServer, []string{"403"}, "token", "list")
	c.env["GARO_TOKEN"] = admin
	var tl portalapi.TokenList
	if err := json.Unmarshal([]byte(c.ok("token", "list", "-o", "json")), &tl); err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, k := range tl.Items {
		if k.Name == "viewer" {
			id = k.ID
		}
	}
	c.ok("token", "revoke", id)
	c.env["GARO_TOKEN"] = secret
	c.fails(garoctl.ExitServer, []string{"401"}, "whoami")
}

// TestAudit: --since as a duration and as a time, and the filters.
func TestAudit(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.now = time.Now
	c.ok("group", "create", "audited")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	out := c.ok("audit", "--since", "1h")
	for _, want := range []string{"agent_group.create", "agent_group/audited", "policy.create", "policy/acme/web/linux-small"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit --since 1h lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("audit", "--resource-type", "policy", "--since", "1h", "-o", "json")
	var l portalapi.AuditEventList
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 2 {
		t.Fatalf("audit --resource-type policy: %d events (%v)\n%s", len(l.Items), err, out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := c.ok("audit", "--since", future); strings.Count(out, "\n") != 1 {
		t.Errorf("audit --since %s (the future) =\n%s", future, out)
	}
	c.fails(garoctl.ExitUsage, []string{"--since must be"}, "audit", "--since", "yesterday")
}

// TestJobs: a job queued on the simulator shows in the repository's and the global job
// list and, with its timeline, in job get.
func TestJobs(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web", "acme/api")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	job, err := c.h.Sim.QueueJob(t.Context(), "acme/web", []string{"self-hosted", "linux", "small"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.h.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "gpu"}); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(job.ID, 10)
	out := c.ok("job", "list", "acme/web", "--state", "queued")
	if !strings.Contains(out, id) || !strings.Contains(out, "linux-small") || strings.Contains(out, "acme/api") {
		t.Errorf("job list acme/web =\n%s", out)
	}
	out = c.ok("job", "list", "--owner", "acme", "--all", "-o", "wide")
	if !strings.Contains(out, "acme/web") || !strings.Contains(out, "acme/api") || !strings.Contains(out, "unmatched") {
		t.Errorf("job list --owner acme =\n%s", out)
	}
	out = c.ok("job", "get", "acme/web", id)
	if !strings.Contains(out, "TIMELINE") || !strings.Contains(out, "received") {
		t.Errorf("job get =\n%s", out)
	}
	c.fails(garoctl.ExitUsage, []string{"JOB_ID must be"}, "job", "get", "acme/web", "x")
	c.fails(garoctl.ExitUsage, []string{"--owner is for"}, "job", "list", "acme/web", "--owner", "acme")
}

// TestGitHubRateLimit: garoctl github rate-limit prints the budgets the server saw on the
// simulator's answers: the App's own (the redelivery loop's calls) and the installation
// of a policy's repository (the reconcile loop's), with the simulator's figures, as a
// table and as JSON and YAML; a token with owner prefixes is refused.
func TestGitHubRateLimit(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	inst := c.h.Sim.Repositories()[0].InstallationID
	c.h.Sim.SetInstallationRateLimit(inst, 777, time.Now().Add(time.Hour))
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	instCred := "installation/" + strconv.FormatInt(inst, 10)

	var l portalapi.GitHubRateLimits
	testkit.Eventually(t, time.Minute, "the App's and acme/web's installation's budgets", func() bool {
		l = portalapi.GitHubRateLimits{}
		if err := json.Unmarshal([]byte(c.ok("github", "rate-limit", "-o", "json")), &l); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, b := range l.Budgets {
			seen[b.Credential] = true
		}
		return seen["app"] && seen[instCred]
	})
	if l.Mode != "app" {
		t.Errorf("mode = %q, want app", l.Mode)
	}
	for _, b := range l.Budgets {
		if b.Credential == instCred && (b.Limit != 5000 || b.Remaining >= 777 || b.Remaining < 700 || b.Used != b.Limit-b.Remaining || b.ResetAt == nil) {
			t.Errorf("installation budget = %+v, want a little under 777 of 5000 left", b)
		}
	}
	out := c.ok("github", "rate-limit")
	if !strings.HasPrefix(out, "CREDENTIAL") || !strings.Contains(out, "REMAINING") || !strings.Contains(out, instCred) || !strings.Contains(out, "\napp ") {
		t.Errorf("github rate-limit =\n%s", out)
	}
	if out := c.ok("github", "rate-limit", "-o", "yaml"); !strings.Contains(out, "mode: app") || !strings.Contains(out, "credential: "+instCred) {
		t.Errorf("github rate-limit -o yaml =\n%s", out)
	}

	r := c.run("", "token", "create", "team", "--scope", "agents:read", "--owner-prefix", "acme/")
	if r.code != 0 {
		t.Fatalf("token create: %d %s", r.code, r.stderr)
	}
	c.env["GARO_TOKEN"] = strings.TrimSpace(r.out)
	c.fails(garoctl.ExitServer, []string{"403", "owner prefixes"}, "github", "rate-limit")
}
