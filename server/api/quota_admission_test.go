package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestQuotaAdmission: runner credentials are minted only while every quota that covers
// the runner has room; a full quota is 409 quota_full naming it, concurrent requests
// never take more than the room there is, and the room comes back with a higher limit.
func TestQuotaAdmission(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		e := newAgentEnv(t, b, agentOptions{minter: fakeMinter{}})
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil { // cpu 2, memory 4Gi
			t.Fatal(err)
		}
		a := e.register(e.registrationToken("default", 1), "host")
		if _, cfg := a.config("", ""); len(cfg.Policies) != 1 {
			t.Fatalf("config = %+v", cfg)
		}
		team, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: "acme/", MaxRunners: int64Ptr(3)})
		if err != nil {
			t.Fatal(err)
		}
		mint := func(name string) answer {
			return a.do(http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name})
		}
		// Eight at once against room for three: exactly three are minted.
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = mint(fmt.Sprintf("burst-%d", i)).status
			}()
		}
		wg.Wait()
		minted := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				minted++
			case http.StatusConflict:
			default:
				t.Errorf("a burst request answered %d", s)
			}
		}
		if minted != 3 {
			t.Fatalf("minted %d runners at once under max_runners 3 (%v)", minted, statuses)
		}
		ans := mint("one-more")
		if ans.status != http.StatusConflict || ans.errorCode() != protocol.CodeQuotaFull ||
			protocol.Sentinel(ans.status, ans.errorCode()) != protocol.ErrQuotaFull ||
			!strings.Contains(string(ans.body), team.ID) || !strings.Contains(string(ans.body), "max_runners") {
			t.Fatalf("past the quota = %d %s, want 409 quota_full naming the quota and its limit", ans.status, ans.body)
		}
		got, err := e.admin.GetQuota(ctx, team.ID)
		if err != nil || got.InUse != (portalapi.QuotaUsage{Runners: 3, CPUMilli: 6000, MemoryBytes: 12 << 30}) {
			t.Fatalf("in use = %+v, %v", got, err)
		}
		// An agent group's CPU quota holds as well: 3 runners of 2 CPUs hold 6.
		if _, err := e.admin.ReplaceQuota(ctx, team.ID, portalapi.QuotaRequest{MaxRunners: int64Ptr(10)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindAgentGroup, Subject: "default", CPU: "7"}); err != nil {
			t.Fatal(err)
		}
		if ans := mint("one-more"); ans.status != http.StatusConflict || !strings.Contains(string(ans.body), "(cpu)") {
			t.Fatalf("past the group's cpu = %d %s, want 409 naming cpu", ans.status, ans.body)
		}
		list, err := e.admin.ListQuotas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range list.Items {
			if q.Kind == portalapi.QuotaKindAgentGroup {
				if _, err := e.admin.ReplaceQuota(ctx, q.ID, portalapi.QuotaRequest{CPU: "8"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if ans := mint("one-more"); ans.status != http.StatusCreated {
			t.Fatalf("with room again = %d %s", ans.status, ans.body)
		}
	})
}

// TestQuotaTwoTeamsShareAGroup: two teams with quotas share one agent group with its own
// quota under a burst of runner requests from both at once: neither team exceeds its
// quota and the group never exceeds its own, whatever the interleaving.
func TestQuotaTwoTeamsShareAGroup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		e := newAgentEnv(t, b, agentOptions{minter: fakeMinter{}})
		repos := map[string]string{"acme/team-a": "acme/team-a-web", "acme/team-b": "acme/team-b-api"}
		for _, repo := range repos {
			if _, err := e.admin.CreatePolicy(ctx, repo, policyRequest("linux")); err != nil {
				t.Fatal(err)
			}
		}
		a := e.register(e.registrationToken("default", 1), "host")
		if _, cfg := a.config("", ""); len(cfg.Policies) != 2 {
			t.Fatalf("config = %+v", cfg)
		}
		limits := map[string]int64{"acme/team-a": 4, "acme/team-b": 3}
		for team, n := range limits {
			if _, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: team, MaxRunners: int64Ptr(n)}); err != nil {
				t.Fatal(err)
			}
		}
		const groupMax = 6
		if _, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindAgentGroup, Subject: "default", MaxRunners: int64Ptr(groupMax)}); err != nil {
			t.Fatal(err)
		}
		const perTeam = 12
		var mu sync.Mutex
		minted := map[string]int64{}
		var wg sync.WaitGroup
		for team, repo := range repos {
			for i := range perTeam {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ans := a.do(http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{
						Repository: repo, Policy: "linux", RunnerName: fmt.Sprintf("%s-%d", strings.ReplaceAll(team, "/", "-"), i)})
					switch {
					case ans.status == http.StatusCreated:
						mu.Lock()
						minted[team]++
						mu.Unlock()
					case ans.status != http.StatusConflict || ans.errorCode() != protocol.CodeQuotaFull:
						t.Errorf("%s: %d %s", team, ans.status, ans.body)
					}
				}()
			}
		}
		wg.Wait()
		total := int64(0)
		for team, n := range minted {
			total += n
			if n > limits[team] {
				t.Errorf("%s holds %d runners over its quota of %d", team, n, limits[team])
			}
			t.Logf("figure: quota burst on %s: %s admitted %d of %d (quota %d)", b.Name, team, n, perTeam, limits[team])
		}
		if total != groupMax {
			t.Errorf("the group holds %d runners, want exactly its quota of %d (both teams had more to ask)", total, groupMax)
		}
		t.Logf("figure: quota burst on %s: group admitted %d of %d (quota %d)", b.Name, total, 2*perTeam, groupMax)
	})
}
