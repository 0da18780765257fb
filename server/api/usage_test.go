package api_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/store"
)

// usageRows records three runners: one across midnight, two on the next day.
func usageRows(t *testing.T, st *store.Store) {
	t.Helper()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range []struct {
		u   store.RunnerUsage
		end string
	}{
		{store.RunnerUsage{Name: "r1", RepoKey: "acme/team-a-web", Policy: "linux", AgentGroup: "default", CPUMilli: 2000, MemoryBytes: 4 << 30,
			StartedAt: at("2026-03-01T23:30:00Z")}, "2026-03-02T00:30:00Z"},
		{store.RunnerUsage{Name: "r2", RepoKey: "acme/team-b-api", Policy: "gpu", AgentGroup: "gpu", CPUMilli: 1000, MemoryBytes: 1 << 30,
			StartedAt: at("2026-03-02T10:00:00Z")}, "2026-03-02T10:15:00Z"},
		{store.RunnerUsage{Name: "r3", RepoKey: "other/x", Policy: "linux", AgentGroup: "default",
			StartedAt: at("2026-03-02T12:00:00Z")}, "2026-03-02T12:10:00Z"},
	} {
		if err := st.StartUsage(t.Context(), r.u); err != nil {
			t.Fatal(err)
		}
		if err := st.EndUsage(t.Context(), []string{r.u.Name}, at(r.end)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUsage: /api/v1/usage sums the runner records by day (a runner across midnight in
// both days), by owner prefix, policy or agent group, as JSON and CSV; a token with owner
// prefixes sees only its repositories' runners and may not ask for others'.
func TestUsage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		usageRows(t, e.st)
		ctx := t.Context()
		days := client.UsageFilter{Since: "2026-03-01", Until: "2026-03-03"}
		rep, err := e.admin.Usage(ctx, days)
		if err != nil {
			t.Fatal(err)
		}
		want := []portalapi.UsageRow{
			{Day: "2026-03-01", OwnerPrefix: "acme/", Runners: 1, RunnerMinutes: 30, CPUMinutes: 60, MemoryGiBMinutes: 120},
			{Day: "2026-03-02", OwnerPrefix: "acme/", Runners: 2, RunnerMinutes: 45, CPUMinutes: 75, MemoryGiBMinutes: 135},
			{Day: "2026-03-02", OwnerPrefix: "other/", Runners: 1, RunnerMinutes: 10},
		}
		if !slices.Equal(rep.Items, want) || rep.Total != (portalapi.UsageTotals{Runners: 3, RunnerMinutes: 85, CPUMinutes: 135, MemoryGiBMinutes: 255}) {
			t.Errorf("usage by owner = %+v\n total %+v\nwant %+v", rep.Items, rep.Total, want)
		}
		byGroup := days
		byGroup.By = portalapi.UsageByAgentGroup
		if rep, err = e.admin.Usage(ctx, byGroup); err != nil {
			t.Fatal(err)
		}
		if len(rep.Items) != 3 || rep.Items[1] != (portalapi.UsageRow{Day: "2026-03-02", AgentGroup: "default", Runners: 2, RunnerMinutes: 40, CPUMinutes: 60, MemoryGiBMinutes: 120}) {
			t.Errorf("usage by group = %+v", rep.Items)
		}
		// A team's token: its own runners only, its prefix as the row's key.
		team := e.client(e.token("team-a", []string{portalapi.ScopePoliciesRead}, "acme/team-a"))
		if rep, err = team.Usage(ctx, days); err != nil {
			t.Fatal(err)
		}
		if rep.Total.Runners != 1 || rep.Total.RunnerMinutes != 60 || len(rep.Items) != 2 || rep.Items[0].OwnerPrefix != "acme/team-a" {
			t.Errorf("team usage = %+v %+v", rep.Items, rep.Total)
		}
		other := days
		other.Prefixes = []string{"acme/team-b"}
		if _, err := team.Usage(ctx, other); !client.IsForbidden(err) {
			t.Errorf("team usage of another team: %v, want 403", err)
		}
		// CSV, by Accept.
		resp, body := e.do(http.MethodGet, "/api/v1/usage?by=policy&since=2026-03-01&until=2026-03-03", adminSecret, "", "", "Accept", "text/csv")
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if resp.StatusCode != http.StatusOK || err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %v %s", resp.StatusCode, err, body)
		}
		wantCSV := [][]string{
			{"day", "repository", "policy", "agent_group", "runners", "runner_minutes", "cpu_minutes", "memory_gib_minutes"},
			{"2026-03-01", "acme/team-a-web", "linux", "default", "1", "30", "60", "120"},
			{"2026-03-02", "acme/team-a-web", "linux", "default", "1", "30", "60", "120"},
			{"2026-03-02", "acme/team-b-api", "gpu", "gpu", "1", "15", "15", "15"},
			{"2026-03-02", "other/x", "linux", "default", "1", "10", "0", "0"},
		}
		if !slices.EqualFunc(recs, wantCSV, slices.Equal[[]string]) {
			t.Errorf("csv =\n%v\nwant\n%v", recs, wantCSV)
		}
		if resp, body := e.do(http.MethodGet, "/api/v1/usage?since=2026-03-04&until=2026-03-01", adminSecret, "", ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "since") {
			t.Errorf("since after until = %d %s", resp.StatusCode, body)
		}
	})
}
