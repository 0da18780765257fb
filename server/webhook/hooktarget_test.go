package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/githubspec"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// TestRepositoryAndOrganizationWebhooks: a webhook set up on the repository or on its
// organization (not the App's) sends workflow_job without "installation" and with
// X-GitHub-Hook-Installation-Target-Type repository or organization; signed with the
// same secret, garo-server records the job as from the App's webhook.
func TestRepositoryAndOrganizationWebhooks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		for i, target := range []string{"repository", "organization"} {
			e := newEnv(t, testdb.Fresh(t, b))
			sim, err := githubsim.New(githubsim.Options{WebhookURL: e.url, WebhookSecret: secret, HookTarget: target})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			sim.AddRepository("acme/web")
			job, err := sim.QueueJob(t.Context(), "acme/web", []string{"self-hosted", "linux"})
			if err != nil {
				t.Fatalf("%s hook: %v", target, err)
			}
			ds := sim.Deliveries()
			if len(ds) != 1 || ds[0].StatusCode != 200 {
				t.Fatalf("%s hook deliveries %+v, want one answered 200", target, ds)
			}
			var p map[string]any
			if err := json.Unmarshal(ds[0].Payload, &p); err != nil {
				t.Fatal(err)
			}
			if _, ok := p["installation"]; ok {
				t.Errorf("%s hook payload carries installation", target)
			}
			if err := githubspec.ValidateWebhook("workflow_job", "queued", ds[0].Payload); err != nil {
				t.Errorf("%s hook payload: %v", target, err)
			}
			j, err := e.st.GetJob(t.Context(), job.ID, false)
			if err != nil || j.State != portalapi.JobQueued || j.PolicyName != "linux" {
				t.Fatalf("%s hook (%d): job %+v, %v; want queued on policy linux", target, i, j, err)
			}
		}
	})
}
