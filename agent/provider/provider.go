// Package provider is the contract between the agent's scheduler and whatever runs the
// runners: a Docker engine, a Kubernetes namespace, or memory in tests. A provider only
// creates, lists, inspects and deletes runner instances; it makes no decisions. The
// scheduler is the only caller, and it finds everything it created again through labels.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/garo-dev/garo/shared/spec"
)

// Label keys that the agent sets on every resource it creates. A provider stores them in
// whatever form its backend allows (Docker labels as they are, Kubernetes labels and
// annotations with encoded values) and must return them unchanged from List and State.
const (
	LabelManagedBy  = "garo.dev/managed-by" // always ManagedByGaro
	LabelAgentID    = "garo.dev/agent-id"   // the id of the agent that created it
	LabelRunner     = "garo.dev/runner"     // the runner name, unique per agent
	LabelRepository = "garo.dev/repository" // owner/name
	LabelPolicy     = "garo.dev/policy"     // the policy name inside the repository
	LabelRunnerID   = "garo.dev/runner-id"  // GitHub's runner id, decimal, when known
	LabelCreated    = "garo.dev/created"    // Unix seconds when the agent decided to create it
	LabelExpiry     = "garo.dev/expiry"     // Unix seconds after which nothing should keep it
	LabelSpec       = "garo.dev/spec"       // fingerprint of the policy's runner definition it was made from
	LabelPolicyID   = "garo.dev/policy-id"  // the server's id of the policy: unique to one Garo installation
)

// ManagedByGaro is the value of LabelManagedBy.
const ManagedByGaro = "garo"

// EnvJITConfig is the environment variable that carries a runner's just-in-time
// configuration. It is a secret: it goes only into the runner's environment (or a
// Kubernetes Secret), never into argv, labels, logs or errors.
const EnvJITConfig = "ACTIONS_RUNNER_INPUT_JITCONFIG"

// State is what the backend says about an instance.
type State string

// Instance states.
const (
	// StateCreated: the resource exists but its process has not started (image pull,
	// pending pod).
	StateCreated State = "created"
	// StateRunning: the runner process runs.
	StateRunning State = "running"
	// StateExited: the process ended; ExitCode says how. The resource still exists until
	// Delete.
	StateExited State = "exited"
	// StateGone: no such resource (deleted, or never existed).
	StateGone State = "gone"
)

// RunnerRequest is one runner to create.
type RunnerRequest struct {
	// Name is the runner's name at GitHub; unique among the agent's runners. Providers
	// may derive their resource name from it.
	Name       string
	Repository string
	Policy     string
	// Labels are Garo's labels (the Label* keys) to set on every resource of the
	// instance, verbatim.
	Labels map[string]string
	// Spec is the policy's runner spec: image, resources, provider-specific parts.
	Spec spec.RunnerSpec
	// Env is added to Spec.Env (and wins over it). It carries the runner's credentials
	// (EnvJITConfig): secret, never logged.
	Env map[string]string
}

// String describes r without its environment, which holds secrets.
func (r RunnerRequest) String() string {
	return fmt.Sprintf("runner %s of %s/%s (image %q)", r.Name, r.Repository, r.Policy, r.Spec.Image)
}

// Instance is one runner resource as the backend sees it.
type Instance struct {
	ID        string            // the provider's id: container id, pod name, ...
	Name      string            // the runner name (LabelRunner)
	Labels    map[string]string // Garo's labels, as set at creation
	State     State
	ExitCode  int       // meaningful when State is StateExited
	Reason    string    // a short human explanation of State (OOMKilled, ImagePullBackOff, ...)
	CreatedAt time.Time // when the backend created the resource
}

// Provider creates and removes runner instances. Implementations are safe for concurrent
// use.
//
// Contract:
//   - Create starts one runner with req.Labels on all of its resources and req.Env in
//     its environment. It returns when the resource exists (it may still be in
//     StateCreated). On error nothing is left behind as far as the provider can help it;
//     whatever is left carries the labels, so the agent's orphan sweep removes it. Create
//     must not log or return req.Env.
//   - Delete stops and removes the instance and everything created with it. It is
//     idempotent: deleting an instance that does not exist (any more) succeeds.
//   - List returns every instance whose labels include all of selector (keys and
//     values), in any state but StateGone. It selects by labels only: instances of other
//     agents or other tools are returned if the selector says so.
//   - State returns one instance; a missing one is reported as StateGone with a nil
//     error, not as an error.
//   - Every call honours ctx: when ctx ends, the call returns ctx's error promptly. A
//     Create cancelled half-way may leave a labelled resource behind (see above); a
//     Delete cancelled half-way is simply repeated by the agent.
type Provider interface {
	// Name is the provider's kind: "docker", "kubernetes", "memory".
	Name() string
	Create(ctx context.Context, req RunnerRequest) (Instance, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context, selector map[string]string) ([]Instance, error)
	State(ctx context.Context, id string) (Instance, error)
}

// ErrInvalidRequest is returned by Create for a request it cannot honour (bad image
// reference, bad resource quantity). Retrying the same request does not help.
var ErrInvalidRequest = errors.New("provider: invalid runner request")

// Matches reports whether labels hold every key and value of selector.
func Matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Unix formats t as the decimal Unix seconds used by LabelCreated and LabelExpiry.
func Unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// ParseUnix reads a LabelCreated or LabelExpiry value; false when missing or malformed.
func ParseUnix(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
