package kubernetes_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/kubernetes"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	"github.com/garo-dev/garo/shared/spec"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

const jit = "c2VjcmV0LWppdC1jb25maWc=" // what must never show in a Pod

// open starts the provider on the test's own namespace with cfg (the administrator's
// credentials) and stops it when the test ends.
func open(t *testing.T, c *k8stest.Cluster, ns string, cfg kubernetes.Config) *kubernetes.Provider {
	t.Helper()
	p, release, err := kubernetes.OpenConfig(t.Context(), c.Admin, ns, cfg, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return p
}

func request(name string, s spec.RunnerSpec) provider.RunnerRequest {
	return provider.RunnerRequest{
		Name: name, Repository: "acme/widgets", Policy: "linux",
		Labels: map[string]string{
			provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: "agent-1",
			provider.LabelRunner: name, provider.LabelRepository: "acme/widgets", provider.LabelPolicy: "linux",
			provider.LabelSpec: "0123abcd", provider.LabelExpiry: "1900000000",
		},
		Spec: s, Env: map[string]string{provider.EnvJITConfig: jit, "EXTRA": "1"},
	}
}

func TestCreateMakesAPodWithItsSecretAndDeleteRemovesBoth(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	if _, err := c.Client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "runners-" + ns}, Value: 10,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := open(t, c, ns, kubernetes.Config{})
	tolSecs := int64(30)
	req := request("acme-widgets-linux-7f3a", spec.RunnerSpec{
		Image: "ghcr.io/acme/runner:1", CPU: "500m", Memory: "1Gi", Env: map[string]string{"FOO": "bar"},
		Kubernetes: &spec.KubernetesSpec{
			NodeSelector:   map[string]string{"kubernetes.io/arch": "amd64"},
			Tolerations:    []spec.Toleration{{Key: "ci", Operator: "Equal", Value: "yes", Effect: "NoExecute", TolerationSeconds: &tolSecs}},
			ServiceAccount: "runner", PriorityClassName: "runners-" + ns,
			ImagePullSecrets: []string{"regcred"},
		},
	})
	inst, err := p.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if inst.State != provider.StateCreated || inst.Name != req.Name || inst.ID != ns+"/garo-"+req.Name {
		t.Fatalf("instance = %+v", inst)
	}
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, "garo-"+req.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	if strings.Contains(string(raw), jit) {
		t.Fatal("the JIT configuration is in the Pod in clear")
	}
	// Labels: selectable, DNS-safe forms; verbatim in the annotation.
	if pod.Labels[provider.LabelManagedBy] != "garo" || pod.Labels[provider.LabelAgentID] != "agent-1" ||
		pod.Labels[provider.LabelRunner] != req.Name || pod.Labels[provider.LabelSpec] != "0123abcd" ||
		!strings.HasPrefix(pod.Labels[provider.LabelRepository], "acme.widgets_") {
		t.Fatalf("labels = %v", pod.Labels)
	}
	if pod.Annotations[provider.LabelExpiry] != "1900000000" {
		t.Fatalf("annotations = %v", pod.Annotations)
	}
	s := pod.Spec
	ctr := s.Containers[0]
	var ref *corev1.SecretKeySelector
	for _, e := range ctr.Env {
		if e.Name == provider.EnvJITConfig {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != pod.Name || ref.Key != kubernetes.SecretKey {
		t.Fatalf("env = %+v", ctr.Env)
	}
	sc, psc := ctr.SecurityContext, s.SecurityContext
	if *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		*psc.RunAsUser != 1001 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || *s.AutomountServiceAccountToken {
		t.Fatalf("security context = %+v / %+v", sc, psc)
	}
	if q := ctr.Resources.Limits[corev1.ResourceCPU]; q.Cmp(resource.MustParse("500m")) != 0 {
		t.Fatalf("resources = %+v", ctr.Resources)
	}
	if q := ctr.Resources.Requests[corev1.ResourceMemory]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("resources = %+v", ctr.Resources)
	}
	if s.NodeSelector["kubernetes.io/arch"] != "amd64" || len(s.Tolerations) < 1 || s.Tolerations[0].Key != "ci" ||
		s.ServiceAccountName != "runner" || s.PriorityClassName != "runners-"+ns || s.ImagePullSecrets[0].Name != "regcred" ||
		s.RestartPolicy != corev1.RestartPolicyNever || *s.Priority != 10 {
		t.Fatalf("pod spec = %+v", s)
	}
	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(secret.Data[kubernetes.SecretKey]) != jit || secret.Labels[provider.LabelManagedBy] != "garo" {
		t.Fatalf("secret = %+v", secret.ObjectMeta)
	}
	if o := secret.OwnerReferences; len(o) != 1 || o[0].UID != pod.UID || o[0].Kind != "Pod" {
		t.Fatalf("the Secret is not owned by its Pod: %+v", o)
	}

	list, err := p.List(ctx, map[string]string{provider.LabelRepository: "acme/widgets", provider.LabelAgentID: "agent-1"})
	if err != nil || len(list) != 1 || list[0].Labels[provider.LabelRepository] != "acme/widgets" || list[0].Labels[provider.LabelExpiry] != "1900000000" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if none, _ := p.List(ctx, map[string]string{provider.LabelAgentID: "agent-2"}); len(none) != 0 {
		t.Fatalf("List of another agent = %+v", none)
	}

	if err := p.Delete(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, inst.ID); err != nil {
		t.Fatalf("a second Delete: %v", err)
	}
	if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Pod is still there: %v", err)
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret is still there: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the watch sees the Pod go", func() bool {
		in, err := p.State(ctx, inst.ID)
		return err == nil && in.State == provider.StateGone
	})
}

// setStatus writes a Pod's status as a kubelet (or the scheduler) would.
func setStatus(t *testing.T, c *k8stest.Cluster, ns, name string, st corev1.PodStatus) {
	t.Helper()
	pod, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = st
	if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestStateFollowsThePodStatusThroughTheWatch(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	p := open(t, c, ns, kubernetes.Config{})
	waiting := func(reason string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: kubernetes.RunnerContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "about " + reason}},
		}}}
	}
	terminated := func(phase corev1.PodPhase, code int32, reason string) corev1.PodStatus {
		return corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: kubernetes.RunnerContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}},
		}}}
	}
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		state  provider.State
		code   int
		reason string
	}{
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available",
		}}}, provider.StateCreated, 0, "Unschedulable: 0/3 nodes are available"},
		{"errimagepull", waiting("ErrImagePull"), provider.StateCreated, 0, "ErrImagePull: about ErrImagePull"},
		{"imagepullbackoff", waiting("ImagePullBackOff"), provider.StateCreated, 0, "ImagePullBackOff: about ImagePullBackOff"},
		{"configerror", waiting("CreateContainerConfigError"), provider.StateCreated, 0, "CreateContainerConfigError: about CreateContainerConfigError"},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: kubernetes.RunnerContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}}, provider.StateRunning, 0, ""},
		{"succeeded", terminated(corev1.PodSucceeded, 0, "Completed"), provider.StateExited, 0, ""},
		{"failed", terminated(corev1.PodFailed, 2, "Error"), provider.StateExited, 2, "Error"},
		{"oomkilled", terminated(corev1.PodFailed, 137, "OOMKilled"), provider.StateExited, 137, "OOMKilled"},
		{"evicted", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"}, provider.StateExited, -1, "Evicted: low on memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request("r-"+tc.name, spec.RunnerSpec{Image: "stub:1"})
			inst, err := p.Create(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			setStatus(t, c, ns, "garo-"+req.Name, tc.status)
			var got provider.Instance
			testkit.Eventually(t, 10*time.Second, "the state "+string(tc.state), func() bool {
				got, err = p.State(t.Context(), inst.ID)
				return err == nil && got.State == tc.state && got.Reason == tc.reason
			})
			if got.ExitCode != tc.code {
				t.Fatalf("exit code = %d, want %d", got.ExitCode, tc.code)
			}
		})
	}
}

func TestWhatGaroDidNotCreateIsNeverTouched(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	p := open(t, c, ns, kubernetes.Config{})
	foreign := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "garo-someone", Namespace: ns, Labels: map[string]string{provider.LabelAgentID: "agent-1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "garo-someone"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if list, _ := p.List(ctx, nil); len(list) != 0 {
		t.Fatalf("List shows a Pod Garo did not create: %+v", list)
	}
	if in, _ := p.State(ctx, ns+"/garo-someone"); in.State != provider.StateGone {
		t.Fatalf("State = %+v", in)
	}
	if err := p.Delete(ctx, ns+"/garo-someone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, "garo-someone", metav1.GetOptions{}); err != nil {
		t.Fatalf("Delete removed a foreign Pod: %v", err)
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "garo-someone", metav1.GetOptions{}); err != nil {
		t.Fatalf("Delete removed a foreign Secret: %v", err)
	}
}

func TestAPIRefusalsAreClassified(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	t.Run("namespace missing", func(t *testing.T) {
		// Listing a missing namespace is empty, not refused: the first Create says it.
		mp := open(t, c, "no-such-namespace", kubernetes.Config{})
		_, err := mp.Create(ctx, request("nowhere", spec.RunnerSpec{Image: "stub:1"}))
		if !errors.Is(err, kubernetes.ErrNamespaceMissing) || !strings.Contains(err.Error(), "no-such-namespace") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forbidden at start", func(t *testing.T) {
		rc := c.ServiceAccount(t, ns, "nobody")
		_, _, err := kubernetes.OpenConfig(ctx, rc, ns, kubernetes.Config{SyncTimeout: 5 * time.Second}, testkit.Discard())
		if !errors.Is(err, kubernetes.ErrForbidden) || !strings.Contains(err.Error(), "system:serviceaccount:"+ns+":nobody") {
			t.Fatalf("err = %v", err)
		}
	})
	p := open(t, c, ns, kubernetes.Config{})
	t.Run("quota exceeded", func(t *testing.T) {
		qns := c.Namespace(t)
		if _, err := c.Client.CoreV1().ResourceQuotas(qns).Create(ctx, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "none"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		qp := open(t, c, qns, kubernetes.Config{})
		var err error
		// The quota admission plugin counts once the quota's status is computed; without a
		// controller manager the test sets it.
		q, _ := c.Client.CoreV1().ResourceQuotas(qns).Get(ctx, "none", metav1.GetOptions{})
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}
		if _, err := c.Client.CoreV1().ResourceQuotas(qns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = qp.Create(ctx, request("quota", spec.RunnerSpec{Image: "stub:1"}))
		if !errors.Is(err, kubernetes.ErrQuota) {
			t.Fatalf("err = %v", err)
		}
		if list, _ := c.Client.CoreV1().Secrets(qns).List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
			t.Fatalf("a failed Create left its Secret: %v", list.Items[0].Name)
		}
	})
	t.Run("admission refuses an unknown priority class", func(t *testing.T) {
		_, err := p.Create(ctx, request("prio", spec.RunnerSpec{Image: "stub:1", Kubernetes: &spec.KubernetesSpec{PriorityClassName: "no-such-class"}}))
		if !errors.Is(err, kubernetes.ErrAdmission) || !strings.Contains(err.Error(), "no-such-class") {
			t.Fatalf("err = %v", err)
		}
		t.Logf("refusal: %v", err)
	})
	t.Run("namespace not watched", func(t *testing.T) {
		_, err := p.Create(ctx, request("elsewhere", spec.RunnerSpec{Image: "stub:1", Kubernetes: &spec.KubernetesSpec{Namespace: "other"}}))
		if !errors.Is(err, provider.ErrInvalidRequest) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad quantity", func(t *testing.T) {
		_, err := p.Create(ctx, request("bad-cpu", spec.RunnerSpec{Image: "stub:1", CPU: "lots"}))
		if !errors.Is(err, provider.ErrInvalidRequest) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDindIsPrivilegedOnlyWhenTheAgentAllowsIt(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	dind := spec.RunnerSpec{Image: "stub:1", Kubernetes: &spec.KubernetesSpec{Dind: true}}
	if _, err := open(t, c, ns, kubernetes.Config{}).Create(ctx, request("dind-refused", dind)); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Fatalf("dind without allow_privileged_dind: err = %v", err)
	}
	p := open(t, c, ns, kubernetes.Config{AllowPrivilegedDind: true})
	inst, err := p.Create(ctx, request("dind", dind))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, strings.TrimPrefix(inst.ID, ns+"/"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.InitContainers) != 1 || !*pod.Spec.InitContainers[0].SecurityContext.Privileged ||
		*pod.Spec.InitContainers[0].RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("init containers = %+v", pod.Spec.InitContainers)
	}
	if sc := pod.Spec.Containers[0].SecurityContext; *sc.AllowPrivilegeEscalation || sc.Privileged != nil {
		t.Fatalf("the runner itself is privileged: %+v", sc)
	}
}

func TestSecretsWithoutTheirPodAreSwept(t *testing.T) {
	t.Parallel()
	c := k8stest.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	mk := func(name string, labels map[string]string) {
		if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("garo-stale", map[string]string{provider.LabelManagedBy: provider.ManagedByGaro})
	mk("not-garos", nil)
	p := open(t, c, ns, kubernetes.Config{})
	live, err := p.Create(ctx, request("live", spec.RunnerSpec{Image: "stub:1"}))
	if err != nil {
		t.Fatal(err)
	}
	p.SetNow(func() time.Time { return time.Now().Add(time.Hour) })
	if _, err := p.List(ctx, nil); err != nil {
		t.Fatal(err)
	}
	list, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "garo-live,not-garos" {
		t.Fatalf("secrets after the sweep = %v (the live runner's is %s)", names, live.ID)
	}
}

func TestNamesAndLabelValuesAreValid(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"acme-widgets-linux-1", "Acme_Widgets.linux", strings.Repeat("x", 80), "a/b"} {
		if o := kubernetes.ObjectName(n); len(validation.IsDNS1123Label(o)) > 0 {
			t.Errorf("ObjectName(%q) = %q is no DNS label", n, o)
		}
	}
	if kubernetes.ObjectName("a/b") == kubernetes.ObjectName("a-b") || kubernetes.ObjectName("A-b") == kubernetes.ObjectName("a-b") {
		t.Error("different runner names map to one Pod name")
	}
	if got := kubernetes.ObjectName("garo-linux-x7k2"); got != "garo-linux-x7k2" {
		t.Errorf("ObjectName of a scheduler's runner name = %q, want it as it is", got)
	}
	for _, v := range []string{"acme/widgets", strings.Repeat("y", 70), "/", "ok"} {
		if l := kubernetes.LabelValue(v); len(validation.IsValidLabelValue(l)) > 0 {
			t.Errorf("LabelValue(%q) = %q is no label value", v, l)
		}
	}
	if kubernetes.LabelValue("ok") != "ok" || kubernetes.LabelValue("a/b") == kubernetes.LabelValue("a.b") {
		t.Error("label values are not kept or not distinct")
	}
}
