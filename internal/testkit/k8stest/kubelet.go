package k8stest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// RunFunc plays a Pod's first container: env is its environment as a kubelet resolves
// it (values, and Secret references read from the Secrets they name). It returns the
// container's exit code; ctx ends when the Pod is deleted or the test ends.
type RunFunc func(ctx context.Context, pod *corev1.Pod, env map[string]string) int32

// Kubelet stands in for the kubelet (and the scheduler) that this control plane does not
// have, for the Pods of one namespace: it registers a Node of its own, binds each new Pod
// to it (the pods/binding subresource, as kube-scheduler does), reports it Running
// through the status subresource (as a kubelet would, with the first container running),
// has run play its first container, and reports the Pod Succeeded (exit code 0) or Failed
// with the exit code run returns. A Pod being deleted has its run cancelled and is then
// removed for good (the kubelet's confirming delete, grace 0). A Secret reference that
// cannot be resolved leaves the Pod Pending with CreateContainerConfigError, as a kubelet
// does. Runs until the test ends.
type Kubelet struct {
	c    *Cluster
	ns   string
	node string
	run  RunFunc
	t    testing.TB

	mu      sync.Mutex
	started map[types.UID]context.CancelFunc
	// Running records, per Pod name, when the Kubelet reported it Running.
	running map[string]time.Time
	wg      sync.WaitGroup
}

// Kubelet starts a Kubelet for namespace ns.
func (c *Cluster) Kubelet(t testing.TB, ns string, run RunFunc) *Kubelet {
	t.Helper()
	k := &Kubelet{c: c, ns: ns, node: "node-" + ns, run: run, t: t, started: map[types.UID]context.CancelFunc{}, running: map[string]time.Time{}}
	if _, err := c.Client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.node, Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: kubelet: register node %s: %v", k.node, err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Nodes().Delete(context.WithoutCancel(t.Context()), k.node, metav1.DeleteOptions{})
	})
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	f := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.saw(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.saw(ctx, obj) },
		DeleteFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				k.stop(pod.UID)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	f.Start(stop)
	t.Cleanup(func() {
		cancel()
		close(stop)
		f.Shutdown()
		k.wg.Wait()
	})
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("k8stest: kubelet: the Pod watch did not sync")
	}
	return k
}

// RunningAt is when the Kubelet reported the Pod name Running (false: not yet).
func (k *Kubelet) RunningAt(name string) (time.Time, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.running[name]
	return at, ok
}

func (k *Kubelet) stop(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cancel, ok := k.started[uid]; ok {
		cancel()
	}
}

// saw starts a Pod seen for the first time, unless it is being deleted or already ended.
func (k *Kubelet) saw(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		k.stop(pod.UID)
		k.finalize(ctx, pod)
		return
	}
	if pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending {
		return
	}
	k.mu.Lock()
	if _, seen := k.started[pod.UID]; seen {
		k.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	k.started[pod.UID] = cancel
	k.wg.Add(1)
	k.mu.Unlock()
	go func() {
		defer k.wg.Done()
		defer cancel()
		k.play(pctx, pod.DeepCopy())
	}()
}

// finalize removes a Pod being deleted once its run ended, as the kubelet confirms a
// graceful deletion (grace 0, for exactly that Pod).
func (k *Kubelet) finalize(ctx context.Context, pod *corev1.Pod) {
	if pod.Spec.NodeName != k.node {
		return // never bound here: the API server deletes it at once
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		zero, uid := int64(0), pod.UID
		_ = k.c.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
		})
	}()
}

// play runs one Pod through Running to its end.
func (k *Kubelet) play(ctx context.Context, pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		err := k.c.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: k.node},
		}, metav1.CreateOptions{})
		if err != nil {
			return // deleted meanwhile
		}
		pod.Spec.NodeName = k.node
	}
	ctr := pod.Spec.Containers[0]
	env, err := k.env(ctx, pod, ctr)
	if err != nil {
		k.status(ctx, pod, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "CreateContainerConfigError", Message: err.Error(),
		}})
		return
	}
	now := metav1.Now()
	if !k.status(ctx, pod, corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}) {
		return
	}
	k.mu.Lock()
	k.running[pod.Name] = time.Now()
	k.mu.Unlock()
	code := k.run(ctx, pod, env)
	if ctx.Err() != nil {
		return // deleted: nothing to report on
	}
	phase := corev1.PodSucceeded
	reason := "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	k.status(ctx, pod, phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: metav1.Now()}})
}

// env resolves the container's environment as a kubelet does.
func (k *Kubelet) env(ctx context.Context, pod *corev1.Pod, ctr corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := k.c.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("secret %q: %w", ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			env[e.Name] = string(v)
		default:
			return nil, fmt.Errorf("k8stest: kubelet: env %s: only values and Secret references are played", e.Name)
		}
	}
	return env, nil
}

// status writes the Pod's phase and its first container's state; false when the Pod is
// gone (or replaced by a namesake).
func (k *Kubelet) status(ctx context.Context, pod *corev1.Pod, phase corev1.PodPhase, st corev1.ContainerState) bool {
	pods := k.c.Client.CoreV1().Pods(pod.Namespace)
	for range 5 { // conflicts with other writers of the status are retried
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.UID != pod.UID || cur.DeletionTimestamp != nil {
			return false
		}
		cur.Status.Phase = phase
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, State: st,
			Ready: st.Running != nil, Started: ptrTo(st.Running != nil),
		}}
		if cur.Status.StartTime == nil {
			now := metav1.Now()
			cur.Status.StartTime = &now
		}
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		switch {
		case err == nil:
			return true
		case apierrors.IsConflict(err):
			continue
		default:
			return false
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }
