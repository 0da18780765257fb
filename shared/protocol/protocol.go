// Package protocol holds the wire types of the agent protocol: every call goes from
// garo-agent to garo-server (never the other way), HTTPS + JSON, under PathPrefix.
//
//	POST /agent/v1/register              RegisterRequest → 201 RegisterResponse (no credential yet: the registration token is in the body)
//	POST /agent/v1/heartbeat             HeartbeatRequest → 200 HeartbeatResponse
//	GET  /agent/v1/config?wait=30s       If-None-Match: "<version>" → 200 Config (ETag) | 304 after the wait when unchanged
//	GET  /agent/v1/jobs?wait=30s         If-None-Match: "<version>" → 200 JobsSnapshot (ETag) | 304
//	POST /agent/v1/runners/credentials   CredentialsRequest → 201 Credentials
//	POST /agent/v1/runners/remove        RemoveRunnerRequest → 204 | 409 code runner_busy
//	POST /agent/v1/unregister            → 204
//
// Every call but register carries Authorization: Bearer <agent credential>. Errors use the
// API's one error body {"error":{"code","message"}}; errors.go lists the codes and the
// sentinel errors both sides check (ErrUnauthorized, ErrNotOwner, ErrRunnerBusy,
// ErrNotFound). 401 means the credential is revoked
// or unknown: the agent stops provisioning and must be registered again; it never retries
// a 401. 403 means the agent does not serve the repository it named. 429 and 503 carry
// Retry-After. Clients back off exponentially with full jitter (1 s to 60 s).
//
// Details the server holds to:
//   - register: a used-up, expired or unknown registration token is 401 (code
//     unauthorized); a bad body is 400 (code invalid_request, error.fields names the field).
//   - heartbeat: the whole report is checked before anything is stored (400 naming e.g.
//     runners[2].state); state "" means active. Job states are kept only for open jobs of
//     repositories the agent owns; others are ignored, not refused.
//   - providers: an agent is offered only the policies of its provider
//     (PolicyProvider of the kind it reported at registration or in its latest
//     heartbeat) and of its group, in config, jobs and runner credentials (403 not_owner
//     for a policy of another provider). Ownership is per repository, group and
//     provider: a repository with a docker and a kubernetes policy in one group has one
//     owner of each provider.
//   - config and jobs: ?wait is a Go duration, at most Intervals.LongPoll (longer waits are
//     cut to it, 400 for a malformed one); If-None-Match takes the quoted version of the
//     previous answer's ETag. 304 answers carry the same ETag and no body. A held poll ends
//     early with 401 when the agent is revoked, and with 304 when the server shuts down:
//     poll again (another replica answers). Versions are content hashes, equal on every
//     replica.
//   - the jobs snapshot holds the open jobs of the agent's repositories whose matched
//     policy is an enabled policy of the agent's group (Job.Policy is never "" there).
//   - runner credentials: 404 (not_found) for a missing or disabled policy, 403 (not_owner)
//     for a repository the agent does not own or a policy of another group or provider,
//     409 (conflict) when GitHub already has a runner of that name, 503 github_limit with Retry-After
//     for GitHub's rate limit, 503 unavailable when GitHub cannot be reached or the server
//     has no GitHub credentials, 502 github_error when GitHub refuses the server.
//   - runner removal: allowed for a repository the agent owns, and for a runner the agent
//     itself reported (same name, repository and runner_id) so that it can clean up after
//     losing a repository; 403 not_owner otherwise. runner_id 0 finds the runner by name
//     (a runner registered with a token, whose id the agent does not know); a runner
//     GitHub does not have is already removed (204).
//   - unregister releases the agent's repositories at once; the same credential may come
//     back later (its next heartbeat makes it active again).
package protocol

import (
	"time"

	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/spec"
)

// PathPrefix is the versioned root of the agent protocol.
const PathPrefix = "/agent/v1"

// Agent states reported in heartbeats.
const (
	AgentActive   = "active"
	AgentDraining = "draining"
)

// Provider kinds an agent reports (RegisterRequest.Provider, HeartbeatRequest.Provider).
// Docker and Kubernetes are also the values of a policy's provider.
const (
	ProviderDocker     = "docker"
	ProviderKubernetes = "kubernetes"
	// ProviderMemory runs runners in the agent's process against the GitHub simulator,
	// for tests and demos: it stands in for Docker (PolicyProvider).
	ProviderMemory = "memory"
)

// PolicyProvider is the provider of the policies (a policy's "provider") that an agent
// reporting provider kind serves: its own kind, except that the memory provider stands
// in for docker, and that an agent which names no provider (older than the field, or
// another client) is taken for a Docker agent, the only provider such agents had for
// GitHub.
func PolicyProvider(kind string) string {
	switch kind {
	case "", ProviderMemory:
		return ProviderDocker
	}
	return kind
}

// RegisterRequest exchanges a one-time registration token for the agent's own identity.
type RegisterRequest struct {
	Token   string `json:"token"`
	Name    string `json:"name"`    // a human name, e.g. the host name
	Version string `json:"version"` // garo-agent's version
	// Provider is the agent's provider kind: "docker", "kubernetes" or "memory" ("" is
	// taken for docker). The server offers the agent only the policies of
	// PolicyProvider(Provider).
	Provider string `json:"provider"`
	// Capacity is what the agent may hold at once (nil: no limit).
	Capacity *Capacity `json:"capacity,omitempty"`
}

// RegisterResponse is shown once: the credential is stored only as a hash on the server.
type RegisterResponse struct {
	AgentID    string    `json:"agent_id"`
	Credential string    `json:"credential"`
	Group      string    `json:"group"`
	Intervals  Intervals `json:"intervals"`
}

// Intervals are chosen by the server.
type Intervals struct {
	Heartbeat Duration `json:"heartbeat"` // how often to send a heartbeat (±10 % jitter)
	LongPoll  Duration `json:"long_poll"` // how long the server holds config and jobs polls
	Offline   Duration `json:"offline"`   // silence after which the agent's repositories move
}

// RunnerState is a runner's life as the agent sees it.
type RunnerState string

// Runner states.
const (
	RunnerCreating RunnerState = "creating" // provider asked to create it
	RunnerBooting  RunnerState = "booting"  // created, not yet online at GitHub
	RunnerIdle     RunnerState = "idle"     // online, no job
	RunnerBusy     RunnerState = "busy"     // running a job
	RunnerFinished RunnerState = "finished" // exited after its job; to be removed
	RunnerFailed   RunnerState = "failed"   // did not start or crashed; to be removed
)

// RunnerStatus is one runner in a heartbeat's inventory.
type RunnerStatus struct {
	Name       string      `json:"name"`
	Repository string      `json:"repository"`
	Policy     string      `json:"policy"`
	ProviderID string      `json:"provider_id,omitempty"`
	RunnerID   int64       `json:"runner_id,omitempty"` // GitHub's id, once known
	State      RunnerState `json:"state"`
	JobID      int64       `json:"job_id,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	// RunningSince is when the agent first saw the runner's process running; absent
	// when it does not know (not running yet, or adopted after a restart).
	RunningSince *time.Time `json:"running_since,omitempty"`
	Reason       string     `json:"reason,omitempty"` // why it failed
}

// Job states the agent reports (in addition to GitHub's).
const (
	JobWaitingForCapacity = "waiting_for_capacity" // queued in the agent: the policy is at max_runners
	JobRunnerRequested    = "runner_requested"     // a runner is being created for it
	// JobBackingOff: the policy is held back (its runners failed before taking a job, or
	// creations failed); Reason says why, RetryAt when it tries again.
	JobBackingOff = "backing_off"
)

// Limits that hold a waiting job (JobStatus.Limit).
const (
	LimitMaxRunners    = "max_runners"
	LimitAgentCapacity = "agent_capacity"
)

// JobStatus is the agent's view of one job, reported in heartbeats.
type JobStatus struct {
	JobID    int64  `json:"job_id"`
	State    string `json:"state"`
	Position int    `json:"position,omitempty"` // 1-based place in the queue of Limit
	Runner   string `json:"runner,omitempty"`
	// Limit goes with waiting_for_capacity: which limit holds the job, LimitMaxRunners
	// (its policy's, Position in the policy's queue) or LimitAgentCapacity (the agent's,
	// Position among the agent's jobs that wait for it, in the order they get runners).
	Limit string `json:"limit,omitempty"`
	// Reason and RetryAt go with backing_off: why the policy is held back, and when it
	// tries again (absent while it tries one runner at a time).
	Reason  string     `json:"reason,omitempty"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// HeartbeatRequest reports the agent's state, runners and jobs. It is idempotent: the
// server replaces what it knew with it.
type HeartbeatRequest struct {
	State   string         `json:"state"`
	Version string         `json:"version"`
	Runners []RunnerStatus `json:"runners"`
	Jobs    []JobStatus    `json:"jobs"`

	// Provider is the agent's provider kind, as at registration; it may change when the
	// agent restarts with another provider.type and the same state file. Empty means
	// unchanged (agents older than the field do not send it).
	Provider string `json:"provider,omitempty"`
	// Capacity is what the agent may hold at once, as configured now; nil (an older
	// agent, or none configured) is no limit. The server weighs it when it hands
	// repositories over to the agents of a group.
	Capacity *Capacity `json:"capacity,omitempty"`
}

// HeartbeatResponse may carry commands and new intervals.
type HeartbeatResponse struct {
	Intervals Intervals `json:"intervals"`
	// Drain asks the agent to stop creating runners and let busy ones finish.
	Drain bool `json:"drain,omitempty"`
	// Ignored names the runner and job entries the server dropped as malformed (the rest
	// of the heartbeat was taken), for the agent to log.
	Ignored []string `json:"ignored,omitempty"`
}

// Config is what an agent serves: the enabled policies of the repositories it owns.
// Version changes whenever any of it changes.
type Config struct {
	Version      string   `json:"version"`
	AgentID      string   `json:"agent_id"`
	Group        string   `json:"group"`
	Repositories []string `json:"repositories"` // owned, "owner/name" as GitHub spells it
	Policies     []Policy `json:"policies"`
	// Constraints are the guardrails of the agent's group. The server leaves out the
	// policies that break them; the agent checks every runner it creates against them
	// again (guardrails.Check) and refuses one that breaks them, before it asks for
	// credentials. Absent (an older server): the defaults.
	Constraints guardrails.Constraints `json:"constraints"`
	// Scheduling is the server's scheduling.* configuration that the agent applies too
	// (absent from an older server: no bound on waiting).
	Scheduling Scheduling `json:"scheduling"`
}

// Scheduling is how queued jobs are ordered when capacity is short (Rank).
type Scheduling struct {
	// MaxWait is how long a job may wait before it goes ahead of every job that has
	// waited less, whatever their priorities; 0 is no bound (priority always wins).
	MaxWait Duration `json:"max_wait,omitempty"`
}

// Capacity is what an agent may hold at once, from its capacity.* configuration: most
// runners, and the CPU and memory its runners request in total (quantities as a runner
// spec's, "16", "64Gi"). Zero values and "" are no limit.
type Capacity struct {
	MaxRunners int    `json:"max_runners,omitempty"`
	CPU        string `json:"cpu,omitempty"`
	Memory     string `json:"memory,omitempty"`
}

// Policy is a runner policy as the agent needs it.
type Policy struct {
	ID               string           `json:"id"`
	Repository       string           `json:"repository"`
	Name             string           `json:"name"`
	Labels           []string         `json:"labels"`
	MinIdle          int              `json:"min_idle"`
	MaxRunners       int              `json:"max_runners"`
	Ephemeral        bool             `json:"ephemeral"`
	IdleGrace        Duration         `json:"idle_grace"`
	BootstrapTimeout Duration         `json:"bootstrap_timeout"`
	Provider         string           `json:"provider"`
	Runner           spec.RunnerSpec  `json:"runner"`
	Version          int64            `json:"version"`
	Schedule         []ScheduleWindow `json:"schedule,omitempty"`
	// Priority orders the queued jobs of the agent's policies when its capacity is short
	// (Rank). Absent (an older server): 0.
	Priority int `json:"priority,omitempty"`
}

// ScheduleWindow overrides min_idle during a recurring window (shared/spec).
type ScheduleWindow = spec.ScheduleWindow

// Job is an open job of an owned repository, as the agent needs it.
type Job struct {
	ID         int64     `json:"id"`
	Repository string    `json:"repository"`
	Policy     string    `json:"policy"` // the matched policy's name ("" when unmatched: not served)
	Labels     []string  `json:"labels"`
	Status     string    `json:"status"` // GitHub's: queued, waiting, in_progress
	RunnerName string    `json:"runner_name,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// JobsSnapshot is every open (not completed) job of the agent's repositories that is
// matched to an enabled policy of the agent's group, oldest first.
type JobsSnapshot struct {
	Version string `json:"version"`
	Jobs    []Job  `json:"jobs"`
}

// CredentialsRequest asks for what a new runner needs to join GitHub.
type CredentialsRequest struct {
	Repository string `json:"repository"`
	Policy     string `json:"policy"`
	RunnerName string `json:"runner_name"`
	JobID      int64  `json:"job_id,omitempty"` // the job it is created for, if any (for latency records)
}

// Credentials are secrets: pass them to the runner in its environment, never in argv or
// logs. Exactly one of JITConfig and RegistrationToken is set.
type Credentials struct {
	Kind              string    `json:"kind"` // "jit" or "registration_token"
	RunnerName        string    `json:"runner_name"`
	RunnerID          int64     `json:"runner_id,omitempty"`
	Labels            []string  `json:"labels"`
	Ephemeral         bool      `json:"ephemeral"`
	JITConfig         string    `json:"jit_config,omitempty"`
	RegistrationToken string    `json:"registration_token,omitempty"`
	ExpiresAt         time.Time `json:"expires_at,omitempty"`
	RepositoryURL     string    `json:"repository_url,omitempty"` // for config.sh with a registration token
}

// RemoveRunnerRequest asks the server to remove a runner from GitHub before the agent
// deletes its container or pod.
type RemoveRunnerRequest struct {
	Repository string `json:"repository"`
	RunnerID   int64  `json:"runner_id"` // 0: find it by RunnerName
	RunnerName string `json:"runner_name"`
}
