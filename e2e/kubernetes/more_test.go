package kubernetes_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// garo-agent killed (no drain, no unregister) while it keeps an idle runner Pod, and
// started again on its state file: the same agent adopts the Pod from its labels rather
// than making another, and removes it (Pod, Secret, GitHub) once the policy wants none.
func TestRestartedAgentAdoptsItsPods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.kubelet(t, 100*time.Millisecond)
	e.policy(t, "restart", 1, 2, 2*time.Minute)
	cfg := e.agentConfig(t, "restart-agent")
	first := e.start(t, cfg)
	pod := idlePod(t, e, "")
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg.RegistrationToken = "" // the state file is the identity now
	second := e.start(t, cfg)
	if second.ID != first.ID {
		t.Fatalf("restarted as %s, was %s", second.ID, first.ID)
	}
	testkit.Eventually(t, 30*time.Second, "the agent reporting its adopted runner", func() bool {
		ag, err := e.Portal.GetAgent(t.Context(), second.ID)
		return err == nil && ag.Runners["idle"] == 1
	})
	if got := idlePod(t, e, ""); got != pod {
		t.Fatalf("runner Pod %s after the restart, want the adopted %s", got, pod)
	}
	if _, err := e.Portal.PatchPolicy(t.Context(), repo, "restart", map[string]any{"min_idle": 0, "idle_grace": "0s"}, ""); err != nil {
		t.Fatal(err)
	}
	e.clean(t, 30*time.Second)
}

// A namespace whose ResourceQuota allows no Pod: every creation is refused by the API
// server. The portal shows the reason on the queued job, the policy backs off (a few
// creations a minute, each with its runner credentials, not a hot loop), and no Secret
// is left behind.
func TestAPIRefusalBacksThePolicyOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
	}
	q, err := e.c.Client.CoreV1().ResourceQuotas(e.ns).Create(ctx, quota, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Without a controller manager the test computes the quota's usage.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}
	if _, err := e.c.Client.CoreV1().ResourceQuotas(e.ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.policy(t, "quota", 0, 2, 2*time.Minute)
	e.agent(t, "quota-agent")
	start := time.Now()
	j, err := e.Sim.QueueJob(ctx, repo, []string{"self-hosted", "quota"})
	if err != nil {
		t.Fatal(err)
	}
	var job *portalapi.Job
	testkit.Eventually(t, 30*time.Second, "the job backing off with the quota's reason", func() bool {
		job, err = e.Portal.GetJob(ctx, repo, j.ID)
		return err == nil && job.AgentState == portalapi.JobBackingOff && strings.Contains(job.AgentReason, "resource quota exceeded")
	})
	t.Logf("agent_reason: %s", job.AgentReason)
	time.Sleep(10 * time.Second) // a window to count attempts in: the figure is what is asserted
	minted := 0
	for _, r := range e.Sim.Requests() {
		if strings.HasSuffix(r.Path, "/actions/runners/generate-jitconfig") {
			minted++
		}
	}
	elapsed := time.Since(start)
	t.Logf("figure: %d runner credentials minted in %s while every Pod was refused", minted, elapsed.Round(time.Second))
	// The crash-loop back-off starts at 5 s and doubles: within ~15 s a handful of tries.
	if minted > 6 {
		t.Errorf("%d creations in %s: the policy is not backed off", minted, elapsed)
	}
	if _, secrets := e.garo(t); secrets != 0 {
		t.Errorf("%d Secrets left by refused creations", secrets)
	}
	_, _ = e.Sim.CancelJob(ctx, j.ID)
	if _, err := e.Portal.PatchPolicy(ctx, repo, "quota", map[string]any{"enabled": false}, ""); err != nil {
		t.Fatal(err)
	}
	e.clean(t, 30*time.Second)
}
