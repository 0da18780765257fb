package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/stack"
	"github.com/garo-dev/garo/server/config"
)

// appsBurst is what one burst over some GitHub Apps did.
type appsBurst struct {
	done      int               // jobs completed
	calls     map[int64]int     // installation calls per App (what its budget counts)
	all       map[int64]int     // every call per App, its JWT's too
	remaining map[int64]int     // each App's installation budget left at the end
	limited   map[int64]bool    // the simulator answered an installation of the App 403/429
	ids       []int64           // the jobs
	sim       *githubsim.Sim    // for the caller's further checks
	apps      []int64           // the Apps, first one first
	metrics   map[string]string // garo_github_rate_limit_remaining by credential
}

// burstOverApps serves a burst of jobs queued at once on a hub whose simulator has apps
// GitHub Apps (the first and apps-1 more, all installed on the repository), each
// installation with a budget of budget calls an hour, and waits until every job is done,
// or, when wantDone is false, until an installation's budget is spent.
func burstOverApps(t *testing.T, apps, budget, jobs int, wantDone bool) appsBurst {
	t.Helper()
	var more []githubsim.AppOptions
	for i := 1; i < apps; i++ {
		more = append(more, githubsim.AppOptions{ID: int64(100 + i), WebhookSecret: fmt.Sprintf("secret-of-app-%d-0123456789", 100+i)})
	}
	s, err := stack.Start(t.Context(), stack.Options{
		Dir: t.TempDir(), Repositories: []string{repo}, Log: logs, AdminToken: adminToken, WebhookSecret: hookSecret,
		Apps: more, RateLimit: budget,
		Server: func(cfg *config.Config) {
			// The catch-up loops are off: the budget goes to the burst alone.
			cfg.GitHub.Catchup.RedeliverInterval, cfg.GitHub.Catchup.ReconcileInterval = 0, 0
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e := &env{Stack: s, sim: s.Sim, server: s.ServerURL, portal: s.Portal}
	e.policy(t, "small", 0, 10)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 50*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	ag := startAgent(t, e, e.agentConfig(e.registrationToken(t)), prov, app.Options{})
	out := appsBurst{sim: e.sim, apps: e.sim.AppIDs()}
	for range jobs {
		j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
		if err != nil {
			t.Fatal(err)
		}
		out.ids = append(out.ids, j.ID)
	}
	installs := e.sim.Repositories()[0].InstallationIDs
	spent := func() bool {
		for _, id := range installs {
			if _, left, _ := e.sim.InstallationRateLimit(id); left == 0 {
				return true
			}
		}
		return false
	}
	if wantDone {
		testkit.Eventually(t, 120*time.Second, "every job done", func() bool { return e.completed(out.ids) == jobs })
	} else {
		testkit.Eventually(t, 120*time.Second, "a budget spent", spent)
	}
	out.done = e.completed(out.ids)
	out.metrics = rateMetrics(t, e.server)
	if err := ag.Stop(); err != nil {
		t.Errorf("stop agent: %v", err)
	}
	out.calls, out.all, out.remaining, out.limited = map[int64]int{}, map[int64]int{}, map[int64]int{}, map[int64]bool{}
	for _, r := range e.sim.Requests() {
		out.all[r.App]++
		if r.Installation != 0 {
			out.calls[r.App]++
			if r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests {
				out.limited[r.App] = true
			}
		}
	}
	for appID, id := range installs {
		_, out.remaining[appID], _ = e.sim.InstallationRateLimit(id)
	}
	return out
}

// rateMetrics reads garo_github_rate_limit_remaining{credential,resource="core"} from the
// server's metrics.
func rateMetrics(t *testing.T, server string) map[string]string {
	t.Helper()
	resp, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, `garo_github_rate_limit_remaining{credential="`); ok && strings.Contains(rest, `resource="core"`) {
			cred, _, _ := strings.Cut(rest, `"`)
			out[cred] = line[strings.LastIndex(line, " ")+1:]
		}
	}
	return out
}

func (b appsBurst) String() string {
	var parts []string
	for _, a := range b.apps {
		parts = append(parts, fmt.Sprintf("app %d: %d installation calls (%d in all), %d left, limited %v",
			a, b.calls[a], b.all[a], b.remaining[a], b.limited[a]))
	}
	var creds []string
	for c, v := range b.metrics {
		creds = append(creds, c+"="+v)
	}
	sort.Strings(creds)
	return fmt.Sprintf("%d jobs done; %s; garo_github_rate_limit_remaining: %s", b.done, strings.Join(parts, "; "), strings.Join(creds, " "))
}

// The done-when for several Apps: the same burst over two Apps stays under each
// App's simulated budget and every job gets a runner, where one App alone runs out.
func TestBurstOverTwoAppsStaysWithinEachBudget(t *testing.T) {
	const jobs, budget = 60, 55
	one := burstOverApps(t, 1, budget, jobs, false)
	t.Logf("one App:  %s", one)
	two := burstOverApps(t, 2, budget, jobs, true)
	t.Logf("two Apps: %s", two)

	// One App alone runs out: its installation's budget is spent before the burst is served.
	first := one.apps[0]
	if one.remaining[first] != 0 || one.done == jobs {
		t.Errorf("one App: %d of %d jobs done with %d calls left; want its budget spent first", one.done, jobs, one.remaining[first])
	}
	// Two Apps: every job done, each App within its own budget, both used.
	if two.done != jobs {
		t.Errorf("two Apps: %d of %d jobs done", two.done, jobs)
	}
	for _, a := range two.apps {
		if two.calls[a] == 0 || two.calls[a] > budget || two.remaining[a] == 0 || two.limited[a] {
			t.Errorf("two Apps: app %d made %d installation calls (budget %d, %d left, limited %v)", a, two.calls[a], budget, two.remaining[a], two.limited[a])
		}
	}
}
