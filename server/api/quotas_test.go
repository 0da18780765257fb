package api_test

import (
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/store"
)

func TestQuotasCRUD(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		q, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{
			Kind: portalapi.QuotaKindOwnerPrefix, Subject: "Acme/Team-A", MaxRunners: int64Ptr(4), CPU: "8000m", Memory: "16384Mi",
		})
		if err != nil {
			t.Fatal(err)
		}
		if q.Subject != "acme/team-a" || *q.MaxRunners != 4 || q.CPU != "8" || q.Memory != "16Gi" || q.InUse != (portalapi.QuotaUsage{}) {
			t.Fatalf("created %+v", q)
		}
		if _, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, Subject: "acme/team-a"}); !client.IsConflict(err) {
			t.Errorf("second quota of acme/team-a: %v, want 409", err)
		}
		for name, req := range map[string]portalapi.QuotaRequest{
			"kind":          {Kind: "team", Subject: "acme"},
			"no group":      {Kind: portalapi.QuotaKindAgentGroup, Subject: "nope"},
			"cpu":           {Kind: portalapi.QuotaKindOwnerPrefix, Subject: "beta", CPU: "lots"},
			"memory":        {Kind: portalapi.QuotaKindOwnerPrefix, Subject: "beta", Memory: "-1Gi"},
			"max_runners":   {Kind: portalapi.QuotaKindOwnerPrefix, Subject: "beta", MaxRunners: int64Ptr(-1)},
			"empty subject": {Kind: portalapi.QuotaKindOwnerPrefix},
		} {
			if _, err := e.admin.CreateQuota(ctx, req); client.StatusCode(err) != 400 {
				t.Errorf("%s: %v, want 400", name, err)
			}
		}
		g, err := e.admin.CreateQuota(ctx, portalapi.QuotaRequest{Kind: portalapi.QuotaKindAgentGroup, Subject: "default", MaxRunners: int64Ptr(2)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.admin.ReplaceQuota(ctx, q.ID, portalapi.QuotaRequest{Kind: portalapi.QuotaKindOwnerPrefix, MaxRunners: int64Ptr(6)})
		if err != nil || *r.MaxRunners != 6 || r.CPU != "" || r.Memory != "" {
			t.Fatalf("replace = %+v, %v", r, err)
		}
		if _, err := e.admin.ReplaceQuota(ctx, q.ID, portalapi.QuotaRequest{Subject: "acme"}); client.StatusCode(err) != 400 {
			t.Errorf("changing the subject: %v, want 400", err)
		}
		list, err := e.admin.ListQuotas(ctx)
		if err != nil || len(list.Items) != 2 || list.Items[0].ID != g.ID || list.Items[1].ID != q.ID {
			t.Fatalf("list = %+v, %v", list, err)
		}
		writer := e.client(e.token("writer", []string{portalapi.ScopePoliciesWrite, portalapi.ScopeAgentsWrite}))
		if _, err := writer.ListQuotas(ctx); !client.IsForbidden(err) {
			t.Errorf("list without admin: %v, want 403", err)
		}
		if err := e.admin.DeleteQuota(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.admin.GetQuota(ctx, g.ID); !client.IsNotFound(err) {
			t.Errorf("deleted quota: %v, want 404", err)
		}
		events, _, err := e.st.ListAuditEvents(ctx, store.AuditFilter{ResourceType: "quota"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 4 { // create, create, update, delete
			t.Errorf("audit events of quotas = %d, want 4", len(events))
		}
	})
}
