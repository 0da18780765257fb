// Package kubernetes is a provider.Provider that runs each runner as one Pod in a
// Kubernetes namespace, through client-go.
//
// What a runner gets:
//   - a Pod named garo-<runner> in the policy's namespace (runner.kubernetes.namespace,
//     else Config.Namespace) from the spec's image and command, restartPolicy Never;
//   - a Secret of the same name holding the JIT configuration, which the Pod reads as
//     ACTIONS_RUNNER_INPUT_JITCONFIG through a secretKeyRef: the configuration is never in
//     the Pod's spec. The Secret is owned by the Pod (ownerReferences, for the garbage
//     collector) and deleted explicitly with it;
//   - Garo's labels on both, in label form (values made DNS-safe) for selecting, and
//     verbatim in the garo.dev/labels annotation, with the expiry as an annotation too;
//   - CPU and memory requests equal to limits, node selector, tolerations, service
//     account, image pull secrets and priority class from the spec, and a restrictive
//     security context: non-root (Config.RunAsUser), no privilege escalation, every
//     capability dropped, seccomp RuntimeDefault, no service account token, no service
//     links;
//   - with runner.kubernetes.dind and Config.AllowPrivilegedDind, a privileged Docker
//     daemon sidecar (addDind).
//
// State comes from informers (a list and a watch per watched namespace, of Pods labelled
// garo.dev/managed-by=garo), never from polling the API server. Only such Pods and
// Secrets exist for this provider: what Garo did not create is never touched.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/garo-dev/garo/agent/provider"
)

// Errors of the API server, for errors.Is; the scheduler backs the policy off on each.
var (
	ErrForbidden        = errors.New("kubernetes: forbidden (RBAC)")
	ErrQuota            = errors.New("kubernetes: resource quota exceeded")
	ErrNamespaceMissing = errors.New("kubernetes: namespace not found")
	ErrAdmission        = errors.New("kubernetes: refused by admission")
)

// secretGrace is how old a Garo Secret without its Pod must be before the sweep deletes it:
// Create writes the Secret a moment before the Pod.
const secretGrace = 2 * time.Minute

// sweepEvery is how often List looks for Secrets whose Pod is gone.
const sweepEvery = time.Minute

// Provider is the Kubernetes provider. Safe for concurrent use. Close stops its informers.
type Provider struct {
	cs  k8s.Interface
	cfg Config
	ns  string   // the default namespace
	all []string // every watched namespace, ns first
	log *slog.Logger
	now func() time.Time

	stores map[string]cache.Store // by namespace
	stop   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every watch event

	lastSweep atomic.Int64 // unix nanoseconds
}

// New returns the provider of runners through cs in namespace ns (and cfg.WatchNamespaces)
// and starts its informers; it returns once each has listed its namespace, within
// cfg.SyncTimeout. Zero fields of cfg take the values of DefaultConfig.
func New(ctx context.Context, cs k8s.Interface, ns string, cfg Config, log *slog.Logger) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Provider{
		cs: cs, cfg: cfg, ns: ns, all: cfg.namespaces(ns), log: log.With("provider", "kubernetes"),
		now: time.Now, stores: map[string]cache.Store{}, stop: make(chan struct{}), changed: make(chan struct{}),
	}
	sel := metav1.ListOptions{LabelSelector: provider.LabelManagedBy + "=" + provider.ManagedByGaro}
	sctx, cancel := context.WithTimeout(ctx, cfg.SyncTimeout)
	defer cancel()
	var synced []cache.InformerSynced
	for _, n := range p.all {
		// One listing first: a missing namespace or a refused list fails the start with
		// its reason, rather than an informer retrying in silence.
		probe := sel
		probe.Limit = 1
		if _, err := cs.CoreV1().Pods(n).List(sctx, probe); err != nil {
			return nil, fmt.Errorf("list runner pods in namespace %q: %w", n, classify(err, n))
		}
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(n),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.LabelSelector }))
		inf := f.Core().V1().Pods().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { p.notify() }, UpdateFunc: func(any, any) { p.notify() }, DeleteFunc: func(any) { p.notify() },
		}); err != nil {
			return nil, err
		}
		ns := n
		if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { p.watchFailed(ns, err) }); err != nil {
			return nil, err
		}
		p.stores[n] = inf.GetStore()
		synced = append(synced, inf.HasSynced)
		f.Start(p.stop)
	}
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		p.Close()
		return nil, fmt.Errorf("watch runner pods in %s: not synced within %s", strings.Join(p.all, ", "), cfg.SyncTimeout)
	}
	return p, nil
}

// watchFailed logs a failed list or watch of namespace ns with its reason. The informer
// retries on its own, with an exponential back-off (client-go's reflector: 800 ms
// doubling to 30 s), and List serves the last state it saw meanwhile; a watch that ends
// normally (closed, or its resource version expired: it lists again) is no warning.
func (p *Provider) watchFailed(ns string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		p.log.Debug("runner pod watch restarts", "namespace", ns, "err", err)
		return
	}
	p.log.Warn("runner pod watch failed: retrying with back-off", "namespace", ns, "err", classify(err, ns))
}

// Close stops the informers. Idempotent.
func (p *Provider) Close() { p.once.Do(func() { close(p.stop) }) }

// Name is "kubernetes".
func (p *Provider) Name() string { return "kubernetes" }

// Namespaces are the watched namespaces, the default first.
func (p *Provider) Namespaces() []string { return slices.Clone(p.all) }

func (p *Provider) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *Provider) events() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Create writes the runner's Secret, then its Pod, then makes the Pod the Secret's owner,
// and returns once the watch has seen the Pod (StateCreated until its container runs).
// On an error it deletes what it wrote; the API server's refusals are classified
// (ErrForbidden, ErrQuota, ErrNamespaceMissing, ErrAdmission) with their reason.
func (p *Provider) Create(ctx context.Context, req provider.RunnerRequest) (provider.Instance, error) {
	if req.Name == "" {
		return provider.Instance{}, fmt.Errorf("kubernetes: %w: empty runner name", provider.ErrInvalidRequest)
	}
	ns := p.ns
	if k := req.Spec.Kubernetes; k != nil && k.Namespace != "" {
		ns = k.Namespace
	}
	if _, ok := p.stores[ns]; !ok {
		return provider.Instance{}, fmt.Errorf("kubernetes: create %s: %w: namespace %q is not watched by this agent "+
			"(provider.kubernetes.namespace and watch_namespaces: %s)", req.Name, provider.ErrInvalidRequest, ns, strings.Join(p.all, ", "))
	}
	secret, pod, err := p.objects(req, ns)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("kubernetes: create %s: %w: %w", req.Name, provider.ErrInvalidRequest, err)
	}
	log := p.log.With("runner", req.Name, "namespace", ns, "pod", pod.Name)
	secrets, pods := p.cs.CoreV1().Secrets(ns), p.cs.CoreV1().Pods(ns)
	s, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
	if err != nil {
		return provider.Instance{}, fmt.Errorf("kubernetes: create secret %s/%s: %w", ns, secret.Name, classify(err, ns))
	}
	// Cleanup runs even when ctx ended: there is no reason to leave the Secret behind.
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := secrets.Delete(cctx, s.Name, deleteUID(s.UID, 0)); err != nil && !apierrors.IsNotFound(err) {
			log.Warn("delete secret after a failed create", "err", err)
		}
	}
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		cleanup()
		return provider.Instance{}, fmt.Errorf("kubernetes: create pod %s/%s: %w", ns, pod.Name, classify(err, ns))
	}
	owner := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":%q,"uid":%q}]}}`, created.Name, created.UID)
	if _, err := secrets.Patch(ctx, s.Name, types.StrategicMergePatchType, []byte(owner), metav1.PatchOptions{}); err != nil {
		// Not fatal: Delete removes the Secret explicitly anyway.
		log.Warn("make the pod its secret's owner", "err", classify(err, ns))
	}
	inst, err := p.waitSeen(ctx, created)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("kubernetes: pod %s/%s: %w", ns, pod.Name, err)
	}
	log.Debug("pod created", "state", inst.State)
	return inst, nil
}

// waitSeen waits until the watch holds pod (by uid), within cfg.SyncTimeout, so that List
// and State know of it as soon as Create returns.
func (p *Provider) waitSeen(ctx context.Context, pod *corev1.Pod) (provider.Instance, error) {
	timer := time.NewTimer(p.cfg.SyncTimeout)
	defer timer.Stop()
	key := podID(pod.Namespace, pod.Name)
	for {
		ch := p.events()
		if obj, ok, _ := p.stores[pod.Namespace].GetByKey(key); ok && obj.(*corev1.Pod).UID == pod.UID {
			return instanceOf(obj.(*corev1.Pod)), nil
		}
		select {
		case <-ctx.Done():
			return provider.Instance{}, ctx.Err()
		case <-timer.C:
			return provider.Instance{}, fmt.Errorf("created but not seen by the watch within %s", p.cfg.SyncTimeout)
		case <-ch:
		}
	}
}

// Delete deletes the runner's Pod (with Config.DeleteGrace) and its Secret, each only when
// it carries Garo's managed-by label, by uid. Missing ones are success.
func (p *Provider) Delete(ctx context.Context, id string) error {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("kubernetes: %w: pod id %q is not namespace/name", provider.ErrInvalidRequest, id)
	}
	pods, secrets := p.cs.CoreV1().Pods(ns), p.cs.CoreV1().Secrets(ns)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("kubernetes: get pod %s: %w", id, classify(err, ns))
	case managed(pod.ObjectMeta):
		grace := int64(p.cfg.DeleteGrace.Seconds())
		if err := pods.Delete(ctx, name, deleteUID(pod.UID, grace)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("kubernetes: delete pod %s: %w", id, classify(err, ns))
		}
	default:
		return nil // not Garo's: neither the Pod nor a Secret of its name is touched
	}
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("kubernetes: get secret %s: %w", id, classify(err, ns))
	case managed(s.ObjectMeta):
		if err := secrets.Delete(ctx, name, deleteUID(s.UID, 0)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("kubernetes: delete secret %s: %w", id, classify(err, ns))
		}
	}
	return nil
}

// List returns the runner Pods of the watched namespaces whose Garo labels match
// selector, from the informers' caches; Pods being deleted are left out. Once a minute it
// also deletes Garo's Secrets whose Pod is gone (sweepSecrets).
func (p *Provider) List(ctx context.Context, selector map[string]string) ([]provider.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []provider.Instance
	for _, ns := range p.all {
		for _, obj := range p.stores[ns].List() {
			pod := obj.(*corev1.Pod)
			if pod.DeletionTimestamp != nil || !managed(pod.ObjectMeta) {
				continue
			}
			if in := instanceOf(pod); provider.Matches(in.Labels, selector) {
				out = append(out, in)
			}
		}
	}
	slices.SortFunc(out, func(a, b provider.Instance) int { return strings.Compare(a.ID, b.ID) })
	if now := p.now(); now.UnixNano()-p.lastSweep.Load() >= int64(sweepEvery) {
		p.lastSweep.Store(now.UnixNano())
		p.sweepSecrets(ctx, now)
	}
	return out, nil
}

// State returns the runner Pod id from the informer's cache; a missing Pod, or one being
// deleted, is StateGone.
func (p *Provider) State(ctx context.Context, id string) (provider.Instance, error) {
	if err := ctx.Err(); err != nil {
		return provider.Instance{}, err
	}
	ns, _, _ := strings.Cut(id, "/")
	if st, ok := p.stores[ns]; ok {
		if obj, ok, _ := st.GetByKey(id); ok {
			if pod := obj.(*corev1.Pod); pod.DeletionTimestamp == nil && managed(pod.ObjectMeta) {
				return instanceOf(pod), nil
			}
		}
	}
	return provider.Instance{ID: id, State: provider.StateGone}, nil
}

// sweepSecrets deletes the Secrets labelled managed-by=garo in the watched namespaces that
// have no Pod of their name and are older than secretGrace: what a Create interrupted
// between its Secret and its Pod, or an agent that died in between, left behind. Any
// Garo agent sharing the namespace may sweep them (executor groups). Errors are logged.
func (p *Provider) sweepSecrets(ctx context.Context, now time.Time) {
	for _, ns := range p.all {
		list, err := p.cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: provider.LabelManagedBy + "=" + provider.ManagedByGaro})
		if err != nil {
			p.log.Warn("list runner secrets", "namespace", ns, "err", classify(err, ns))
			continue
		}
		for _, s := range list.Items {
			if now.Sub(s.CreationTimestamp.Time) < secretGrace || !managed(s.ObjectMeta) {
				continue
			}
			if _, ok, _ := p.stores[ns].GetByKey(podID(ns, s.Name)); ok {
				continue
			}
			if err := p.cs.CoreV1().Secrets(ns).Delete(ctx, s.Name, deleteUID(s.UID, 0)); err != nil && !apierrors.IsNotFound(err) {
				p.log.Warn("delete a runner secret without its pod", "namespace", ns, "secret", s.Name, "err", err)
				continue
			}
			p.log.Info("deleted a runner secret without its pod", "namespace", ns, "secret", s.Name)
		}
	}
}

// managed reports whether an object carries Garo's managed-by label.
func managed(m metav1.ObjectMeta) bool {
	return m.Labels[provider.LabelManagedBy] == provider.ManagedByGaro
}

// deleteUID deletes exactly the object of uid (not a namesake created since), in the
// foreground of nothing: dependents are the garbage collector's.
func deleteUID(uid types.UID, grace int64) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, GracePeriodSeconds: &grace}
}

// classify wraps an API server's error with the sentinel of its kind and a reason a
// person can act on; others are returned as they are.
func classify(err error, ns string) error {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err
	}
	msg := st.Status().Message
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(msg, "exceeded quota"):
		return fmt.Errorf("%w in namespace %q: %w", ErrQuota, ns, err)
	case apierrors.IsForbidden(err) && strings.Contains(msg, "being terminated"):
		return fmt.Errorf("%w: %q is being deleted: %w", ErrNamespaceMissing, ns, err)
	case apierrors.IsForbidden(err) && strings.Contains(msg, `User "`) && strings.Contains(msg, " cannot "):
		// The authorizer's wording: `User "x" cannot create resource "pods" ...`.
		return fmt.Errorf("%w: the agent's credentials may not do this in namespace %q (see the Role in docs/kubernetes.md): %w", ErrForbidden, ns, err)
	case apierrors.IsForbidden(err):
		// Every other 403 of a write comes from an admission plugin or webhook
		// (PodSecurity, Priority, LimitRanger, a policy engine).
		return fmt.Errorf("%w: %w", ErrAdmission, err)
	case apierrors.IsNotFound(err) && st.Status().Details != nil && st.Status().Details.Kind == "namespaces":
		return fmt.Errorf("%w: %q: %w", ErrNamespaceMissing, ns, err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("%w: %w", provider.ErrInvalidRequest, err)
	}
	return err
}
