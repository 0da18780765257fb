package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/githubapp"
)

// TestGitHubRateLimitsAgainstSimulator: GET /api/v1/github/rate-limit shows the budgets
// the GitHub App client saw on the simulator's answers, the App's own and each
// installation's apart, with the figures the simulator sent; agents:read without owner
// prefixes reads it, a token with owner prefixes or without agents:read is refused.
func TestGitHubRateLimitsAgainstSimulator(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		gitHub := simtest.New(t, githubsim.Options{PathPrefix: "/api/v3"}, "acme/web", "beta/www")
		sim := gitHub.Sim
		gh, err := githubapp.New(githubapp.Config{APIURL: gitHub.Srv.URL + "/api/v3/", AppID: sim.AppID(), PrivateKey: sim.PrivateKeyPEM()}, testkit.Discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		st := openStore(t, b)
		e := envOn(t, startAPI(t, api.Deps{Store: st, Log: testkit.Discard(), GitHub: gh}), st)

		// Before any GitHub call the server knows no budget.
		l, err := e.admin.GitHubRateLimits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Mode != portalapi.GitHubModeApp || len(l.Budgets) != 0 {
			t.Fatalf("before any call: %+v, want mode app and no budget", l)
		}

		repos := map[string]githubsim.Repository{}
		for _, r := range sim.Repositories() {
			repos[r.FullName] = r
		}
		reset := time.Now().Add(40 * time.Minute).Truncate(time.Second)
		sim.SetInstallationRateLimit(repos["acme/web"].InstallationID, 1234, reset)
		if _, err := gh.ListRunners(ctx, "acme", "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := gh.ListRunners(ctx, "beta", "www"); err != nil {
			t.Fatal(err)
		}

		l, err = e.admin.GitHubRateLimits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byCred := map[string]portalapi.GitHubBudget{}
		for _, bg := range l.Budgets {
			byCred[bg.Credential+" "+bg.Resource] = bg
		}
		acme := byCred[fmt.Sprintf("installation/%d core", repos["acme/web"].InstallationID)]
		// One call (the runner list) spent acme's own window: 1234 - 1.
		if acme.Limit != 5000 || acme.Remaining != 1233 || acme.Used != 5000-1233 || acme.ResetAt == nil || !acme.ResetAt.Equal(reset) {
			t.Errorf("acme/web's installation budget = %+v, want 1233 of 5000 left, reset %v", acme, reset)
		}
		if _, ok := byCred[fmt.Sprintf("installation/%d core", repos["beta/www"].InstallationID)]; !ok || repos["beta/www"].InstallationID == repos["acme/web"].InstallationID {
			t.Errorf("no budget of beta/www's own installation: %+v", l.Budgets)
		}
		// Finding the installations spent the App's JWT budget.
		if app, ok := byCred["app core"]; !ok || app.Limit != 5000 || app.Remaining >= 5000 {
			t.Errorf("App budget = %+v (present %v)", app, ok)
		}
		if len(l.Budgets) != 3 {
			t.Errorf("budgets = %+v, want the App's and two installations'", l.Budgets)
		}

		// An operator's read token reads it; a team's token, even with agents:read, does not.
		ops := e.client(e.token("ops", []string{portalapi.ScopeAgentsRead}))
		if got, err := ops.GitHubRateLimits(ctx); err != nil || len(got.Budgets) != 3 {
			t.Fatalf("agents:read token: %+v, %v", got, err)
		}
		team := e.client(e.token("acme", []string{portalapi.ScopeAgentsRead, portalapi.ScopePoliciesRead}, "acme/"))
		if _, err := team.GitHubRateLimits(ctx); !client.IsForbidden(err) {
			t.Fatalf("acme/ token: %v, want 403", err)
		}
		reader := e.client(e.token("reader", []string{portalapi.ScopePoliciesRead}))
		if _, err := reader.GitHubRateLimits(ctx); !client.IsForbidden(err) {
			t.Fatalf("policies:read token: %v, want 403", err)
		}
	})
}

// TestGitHubRateLimitsNotConfigured: without GitHub credentials the route answers mode
// none and no budget.
func TestGitHubRateLimitsNotConfigured(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		l, err := e.admin.GitHubRateLimits(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if l.Mode != portalapi.GitHubModeNone || l.Budgets == nil || len(l.Budgets) != 0 {
			t.Fatalf("rate limits without GitHub = %+v", l)
		}
	})
}
