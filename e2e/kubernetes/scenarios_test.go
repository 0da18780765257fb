package kubernetes_test

import (
	corev1 "k8s.io/api/core/v1"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// Queued jobs get runner Pods, at most max_runners at once, the jobs beyond waiting; each
// Pod's runner reads its JIT configuration from the Pod's Secret and runs its job; finished
// runners' Pods and Secrets are removed. Prints the time from webhook to Pod Running next
// to that of a bare Pod on the same harness.
func TestQueuedJobsRunOnPodsWithinMaxRunners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kl := e.kubelet(t, 300*time.Millisecond)
	e.policy(t, "k8s", 0, 2, 2*time.Minute)
	e.agent(t, "k8s-agent")

	// A sampler of the runner Pods at once: every one counts, Pending ones too, but not
	// one whose runner has ended (Succeeded or Failed, its deletion not begun yet). Such a
	// Pod runs no container and holds no capacity; the agent counts it as the scheduler
	// does an exited instance (agent/scheduler: only a runner still running is "dying"),
	// and on a loaded machine its deletion can lag the next runner's creation.
	var mu sync.Mutex
	peak, names := 0, map[string]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			pods, _, _ := e.list(t.Context()) // an error only skips a sample
			mu.Lock()
			live := 0
			for _, p := range pods {
				names[p.Name] = true
				if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					live++
				}
			}
			peak = max(peak, live)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var ids []int64
	queued := map[string]time.Time{}
	for range 5 {
		j, err := e.Sim.QueueJob(t.Context(), repo, []string{"self-hosted", "k8s"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		queued[itoa(j.ID)] = time.Now()
	}
	testkit.Eventually(t, 90*time.Second, "every job completed", func() bool {
		for _, id := range ids {
			if j, _ := e.Sim.Job(id); j.Status != "completed" || j.Conclusion != "success" {
				return false
			}
		}
		return true
	})
	e.clean(t, 30*time.Second)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if peak > 2 {
		t.Errorf("%d runner Pods at once, max_runners is 2", peak)
	}
	if len(names) < 5 {
		t.Errorf("%d runner Pods for 5 jobs of ephemeral runners", len(names))
	}
	// The first wave did not wait for capacity: its time is the agent's and the API server's.
	var first []time.Duration
	for name := range names {
		if at, ok := kl.RunningAt(name); ok {
			first = append(first, at.Sub(queued[itoa(ids[0])]))
		}
	}
	slices.Sort(first)
	if len(first) >= 2 {
		t.Logf("figure: webhook -> runner Pod Running: first %s, second %s (of %d Pods; max_runners 2)",
			first[0].Round(time.Millisecond), first[1].Round(time.Millisecond), len(first))
	}
	t.Logf("figure: bare Pod create -> Running on the same harness: %s", barePodRunning(t, e, kl).Round(time.Millisecond))
}

// barePodRunning creates a Pod without Garo and returns how long it took to be Running.
func barePodRunning(t *testing.T, e *env, kl interface {
	RunningAt(string) (time.Time, bool)
}) time.Duration {
	t.Helper()
	start := time.Now()
	pod := podOf("bare-pod")
	if _, err := e.c.Client.CoreV1().Pods(e.ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	testkit.Eventually(t, 10*time.Second, "the bare Pod Running", func() bool {
		var ok bool
		at, ok = kl.RunningAt("bare-pod")
		return ok
	})
	_ = e.c.Client.CoreV1().Pods(e.ns).Delete(t.Context(), "bare-pod", metav1.DeleteOptions{})
	return at.Sub(start)
}

// min_idle is kept by an idle runner Pod; a Pod deleted behind the agent's back is
// replaced, and its Secret goes with it; with min_idle 0 nothing is left.
func TestMinIdleKeptAndADeletedPodReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.kubelet(t, 100*time.Millisecond)
	e.policy(t, "idle", 1, 3, 2*time.Minute)
	e.agent(t, "idle-agent")
	first := idlePod(t, e, "")
	if err := e.c.Client.CoreV1().Pods(e.ns).Delete(t.Context(), first, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := idlePod(t, e, first)
	testkit.Eventually(t, 30*time.Second, "the deleted Pod's Secret removed", func() bool {
		_, err := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), first, metav1.GetOptions{})
		return err != nil
	})
	t.Logf("deleted %s, replaced by %s", first, second)
	if _, err := e.Portal.PatchPolicy(t.Context(), repo, "idle", map[string]any{"min_idle": 0, "idle_grace": "0s"}, ""); err != nil {
		t.Fatal(err)
	}
	e.clean(t, 30*time.Second)
}

// idlePod waits for exactly one runner Pod, Running with its runner idle at GitHub, other
// than not, and returns its name.
func idlePod(t *testing.T, e *env, not string) string {
	t.Helper()
	var name string
	testkit.Eventually(t, 30*time.Second, "one idle runner Pod", func() bool {
		pods, secrets := e.garo(t)
		if len(pods) != 1 || pods[0].Name == not || pods[0].Status.Phase != "Running" || secrets < 1 {
			return false
		}
		rs := e.Sim.Runners(repo)
		if len(rs) != 1 || rs[0].Status != "online" || rs[0].Busy {
			return false
		}
		name = pods[0].Name
		return true
	})
	return name
}

// A runner Pod that cannot be scheduled stays Pending; past bootstrap_timeout the agent
// reaps it (Pod and Secret) and the portal shows why on the queued job, the scheduler's
// reason included; the policy backs off rather than making Pods in a hot loop.
func TestPendingPodReapedAfterBootstrapTimeoutWithItsReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.policy(t, "stuck", 0, 1, 30*time.Second)
	e.agent(t, "stuck-agent")
	j, err := e.Sim.QueueJob(t.Context(), repo, []string{"self-hosted", "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	var first string
	testkit.Eventually(t, 30*time.Second, "a runner Pod", func() bool {
		pods, _ := e.garo(t)
		if len(pods) == 1 {
			first = pods[0].Name
		}
		return first != ""
	})
	// What the scheduler writes when no node fits.
	pod, err := e.c.Client.CoreV1().Pods(e.ns).Get(t.Context(), first, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = append(pod.Status.Conditions, unschedulable())
	if _, err := e.c.Client.CoreV1().Pods(e.ns).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var job *portalapi.Job
	testkit.Eventually(t, 60*time.Second, "the job backing off with the Pod's reason", func() bool {
		job, err = e.Portal.GetJob(t.Context(), repo, j.ID)
		return err == nil && job.AgentState == portalapi.JobBackingOff &&
			strings.Contains(job.AgentReason, "bootstrap timeout") && strings.Contains(job.AgentReason, "Unschedulable: 0/3 nodes are available")
	})
	t.Logf("agent_reason: %s", job.AgentReason)
	testkit.Eventually(t, 30*time.Second, "the stuck Pod and its Secret removed", func() bool {
		_, perr := e.c.Client.CoreV1().Pods(e.ns).Get(t.Context(), first, metav1.GetOptions{})
		_, serr := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), first, metav1.GetOptions{})
		return perr != nil && serr != nil
	})
	// Held back: within the back-off at most one more Pod is tried.
	if pods, _ := e.garo(t); len(pods) > 1 {
		t.Errorf("%d runner Pods while the policy backs off", len(pods))
	}
	if _, err := e.Portal.PatchPolicy(t.Context(), repo, "stuck", map[string]any{"enabled": false}, ""); err != nil {
		t.Fatal(err)
	}
	_, _ = e.Sim.CancelJob(t.Context(), j.ID)
	e.clean(t, 60*time.Second)
}

// Executor groups: two agents of one group share a namespace, each managing its own Pods.
// The one that owns the repository is killed; once the server holds it offline, the
// survivor takes the repository and adopts its Pods and Secrets: it removes them when the
// policy no longer wants them, and nothing is left.
func TestSurvivorOfTwoAgentsInANamespaceCleansTheDeadOnesPods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.kubelet(t, 100*time.Millisecond)
	e.policy(t, "shared", 2, 4, 2*time.Minute)
	a := e.agent(t, "agent-a")
	testkit.Eventually(t, 30*time.Second, "two idle runner Pods", func() bool {
		pods, _ := e.garo(t)
		return len(pods) == 2 && len(e.Sim.Runners(repo)) == 2
	})
	b := e.agent(t, "agent-b")
	pods, _ := e.garo(t)
	for _, p := range pods {
		if p.Labels["garo.dev/agent-id"] != a.ID {
			t.Fatalf("pod %s of agent %s, want %s (the owner)", p.Name, p.Labels["garo.dev/agent-id"], a.ID)
		}
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	// The survivor serves the repository once a is offline: its agent id shows on the
	// policy's serving, and a's Pods are then its own to keep or remove.
	testkit.Eventually(t, 60*time.Second, "agent-b serving the policy", func() bool {
		p, err := e.Portal.GetPolicy(t.Context(), repo, "shared")
		return err == nil && p.Serving != nil && p.Serving.AgentID == b.ID
	})
	// It adopted a's runners: its heartbeat reports them as its own (no new Pod made).
	testkit.Eventually(t, 30*time.Second, "agent-b reporting agent-a's two runners", func() bool {
		ag, err := e.Portal.GetAgent(t.Context(), b.ID)
		return err == nil && ag.Runners["idle"] == 2
	})
	if pods, _ := e.garo(t); len(pods) != 2 || pods[0].Labels["garo.dev/agent-id"] != a.ID || pods[1].Labels["garo.dev/agent-id"] != a.ID {
		t.Fatalf("after the adoption: %d Pods, want agent-a's two", len(pods))
	}
	if _, err := e.Portal.PatchPolicy(t.Context(), repo, "shared", map[string]any{"min_idle": 0, "idle_grace": "0s"}, ""); err != nil {
		t.Fatal(err)
	}
	e.clean(t, 60*time.Second)
}
