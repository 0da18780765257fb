// Package portalapi holds the northbound contract of garo-server: the wire types of the
// portal REST API under /api/v1 and its OpenAPI description (openapi.yaml, embedded).
// The server maps its store models to these types; the client in portal-api/client and
// garoctl decode them. Nothing here knows about the database or about echo.
package portalapi

import (
	"encoding/json"
	"time"

	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/spec"
)

// Provider names accepted in a policy.
const (
	ProviderDocker     = "docker"
	ProviderKubernetes = "kubernetes"
)

// Registration levels of a policy: where on GitHub its runners register.
const (
	// RegistrationRepository registers the runners in the policy's repository (the default).
	RegistrationRepository = "repository"
	// RegistrationOrganization registers them in the repository owner's organisation, in
	// the GitHub runner group named by runner_group; the group must give the repository
	// access (docs/github.md, "Organisation runners").
	RegistrationOrganization = "organization"
	// DefaultRunnerGroup is the runner group of organisation-level policies that name none:
	// every organisation has it.
	DefaultRunnerGroup = "Default"
)

// Token scopes. ScopeAdmin implies every other scope.
const (
	ScopeAdmin          = "admin"
	ScopePoliciesRead   = "policies:read"
	ScopePoliciesWrite  = "policies:write"
	ScopeAgentsRead     = "agents:read"
	ScopeAgentsWrite    = "agents:write"
	DefaultAgentGroup   = "default"
	MergePatchMediaType = "application/merge-patch+json"
)

// AllScopes lists every scope a token may carry, in a stable order.
var AllScopes = []string{ScopeAdmin, ScopePoliciesRead, ScopePoliciesWrite, ScopeAgentsRead, ScopeAgentsWrite}

// PolicyRequest is the body of a create (POST) or replace (PUT), and the document that a
// JSON merge patch (PATCH, RFC 7396) is applied to. Optional fields left out take their
// documented defaults.
type PolicyRequest struct {
	// Name identifies the policy within its repository: lower-case letters, digits and
	// hyphens, 1-63 characters (it ends up in Kubernetes labels).
	Name string `json:"name"`
	// Labels are the runner labels a job must ask for (case-insensitive).
	Labels     []string `json:"labels"`
	MinIdle    int      `json:"min_idle"`
	MaxRunners int      `json:"max_runners"`
	// Ephemeral runners take one job and are removed. Default true.
	Ephemeral *bool `json:"ephemeral,omitempty"`
	// IdleGrace is how long a runner beyond min_idle may stay idle. Default 5m.
	IdleGrace *Duration `json:"idle_grace,omitempty"`
	// BootstrapTimeout is how long a runner may take to come online. Default 10m.
	BootstrapTimeout *Duration `json:"bootstrap_timeout,omitempty"`
	// AgentGroup is the group of agents that serves this policy. Default "default".
	AgentGroup string `json:"agent_group,omitempty"`
	// Enabled policies are served. Default true.
	Enabled  *bool      `json:"enabled,omitempty"`
	Provider string     `json:"provider"`
	Runner   RunnerSpec `json:"runner"`
	// Schedule overrides min_idle in recurring windows (the first that contains the
	// current time wins), e.g. 0 idle runners outside working hours.
	Schedule []ScheduleWindow `json:"schedule,omitempty"`
	// RegistrationLevel is where the runners register on GitHub: "repository" (default)
	// or "organization".
	RegistrationLevel string `json:"registration_level,omitempty"`
	// RunnerGroup is the GitHub runner group (by name) of an organisation-level policy.
	// Default "Default"; must be left out at repository level.
	RunnerGroup string `json:"runner_group,omitempty"`
	// Priority orders queued jobs across policies when capacity is short (a quota, an
	// agent's capacity): higher first, then oldest first; a job that has waited the
	// server's scheduling.max_wait goes ahead of younger ones whatever their priority.
	// -1000 to 1000, default 0.
	Priority int `json:"priority,omitempty"`
}

// The runner spec types and Duration are shared verbatim with the agent protocol
// (shared/spec).
type (
	// Duration is a Go duration written as a string, e.g. "90s".
	Duration = spec.Duration
	// RunnerSpec is what a policy's runners are.
	RunnerSpec = spec.RunnerSpec
	// DockerSpec holds the Docker provider's settings of a runner.
	DockerSpec = spec.DockerSpec
	// DockerVolume is one volume of a Docker runner.
	DockerVolume = spec.DockerVolume
	// KubernetesSpec holds the Kubernetes provider's settings of a runner.
	KubernetesSpec = spec.KubernetesSpec
	// Toleration is a Kubernetes toleration of a runner pod.
	Toleration = spec.Toleration
	// ScheduleWindow overrides min_idle in a recurring window.
	ScheduleWindow = spec.ScheduleWindow
)

// The guardrails of an agent group are shared verbatim with the agent protocol
// (shared/guardrails), which checks a policy against them.
type (
	// AgentGroupConstraints are what the runners of a group's policies may be.
	AgentGroupConstraints = guardrails.Constraints
	// ConstraintCeilings bound a policy's numbers.
	ConstraintCeilings = guardrails.Ceilings
	// KubernetesConstraints bound a policy's namespace and service account.
	KubernetesConstraints = guardrails.KubernetesConstraints
)

// Policy is a stored runner policy as the API returns it. Version is the optimistic-lock
// counter; the ETag header of a policy response is its quoted decimal form.
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
	AgentGroup       string           `json:"agent_group"`
	Enabled          bool             `json:"enabled"`
	Provider         string           `json:"provider"`
	Runner           RunnerSpec       `json:"runner"`
	Schedule         []ScheduleWindow `json:"schedule"`
	// RegistrationLevel is "repository" or "organization"; RunnerGroup is "" at
	// repository level.
	RegistrationLevel string    `json:"registration_level"`
	RunnerGroup       string    `json:"runner_group,omitempty"`
	Priority          int       `json:"priority"`
	Version           int64     `json:"version"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Serving says whether an agent can serve the policy now. It is computed when the
	// policy is read (absent from audit records).
	Serving *PolicyServing `json:"serving,omitempty"`
}

// Serving states of a policy.
const (
	// PolicyServed: a live agent of the policy's group runs its provider; AgentID is the
	// one that owns the repository for that provider (empty until it is assigned).
	PolicyServed = "served"
	// PolicyNoAgent: no live agent of the policy's group runs its provider, so nothing
	// serves it; its queued jobs wait (agent_state no_agent) until such an agent comes.
	PolicyNoAgent = "no_agent"
	// PolicyDisabled: the policy is disabled and served by nobody.
	PolicyDisabled = "disabled"
	// PolicyViolatesConstraints: the policy breaks a constraint of its group (tightened
	// after the policy was written); Violations name the fields. No agent serves it until
	// it is changed to fit or the group's constraints allow it again.
	PolicyViolatesConstraints = "violates_constraints"
	// PolicyRefusedByGitHub: an agent serves the policy, but GitHub refused its last
	// runner for a reason retrying does not cure (Reason): its organisation runner group
	// may not serve the repository, or the organisation refuses repository-level runners
	// there. It holds until a runner of the policy is minted or the policy changes.
	PolicyRefusedByGitHub = "github_refused"
)

// PolicyServing is whether, and by which agent, a policy is served.
type PolicyServing struct {
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	AgentID string `json:"agent_id,omitempty"`
	// Violations name the fields that break the group's constraints (state
	// violates_constraints).
	Violations []FieldError `json:"violations,omitempty"`
}

// Request returns the writable part of p, with every optional field set, as the document
// a merge patch applies to.
func (p Policy) Request() PolicyRequest {
	eph, en := p.Ephemeral, p.Enabled
	grace, boot := p.IdleGrace, p.BootstrapTimeout
	return PolicyRequest{
		Name: p.Name, Labels: p.Labels, MinIdle: p.MinIdle, MaxRunners: p.MaxRunners,
		Ephemeral: &eph, IdleGrace: &grace, BootstrapTimeout: &boot,
		AgentGroup: p.AgentGroup, Enabled: &en, Provider: p.Provider, Runner: p.Runner,
		Schedule: p.Schedule, RegistrationLevel: p.RegistrationLevel, RunnerGroup: p.RunnerGroup,
		Priority: p.Priority,
	}
}

// PolicyList is one page of policies. NextCursor is empty on the last page.
type PolicyList struct {
	Items      []Policy `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// AgentGroupRequest creates an agent group.
type AgentGroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// OwnerPrefixes are the repositories the group may serve (prefixes of "owner/name",
	// lower-cased by the server). Empty serves every owner, which only a token without
	// owner prefixes may create; a token with owner prefixes that gives none gets its own.
	OwnerPrefixes []string `json:"owner_prefixes,omitempty"`
	// Constraints are the group's guardrails; left out: the defaults. Only a token
	// without owner prefixes may set them (docs/security.md, "Guardrails").
	Constraints *AgentGroupConstraints `json:"constraints,omitempty"`
}

// AgentGroupPatch changes an agent group (PATCH): a field left out (or null) stays as it
// is. OwnerPrefixes [] makes the group serve every owner. Constraints replace the group's
// constraints whole ({} restores the defaults); only a token without owner prefixes may
// change them.
type AgentGroupPatch struct {
	Description   *string                `json:"description,omitempty"`
	OwnerPrefixes *[]string              `json:"owner_prefixes,omitempty"`
	Constraints   *AgentGroupConstraints `json:"constraints,omitempty"`
}

// AgentGroup is a set of agents that serve the same policies.
type AgentGroup struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// OwnerPrefixes are the repositories the group may serve; empty: every owner.
	OwnerPrefixes []string `json:"owner_prefixes"`
	// Constraints are the group's guardrails ({}: the defaults).
	Constraints AgentGroupConstraints `json:"constraints"`
	PolicyCount int64                 `json:"policy_count"`
	CreatedAt   time.Time             `json:"created_at"`
}

// AgentGroupList is the list of agent groups (there are few: no pagination).
type AgentGroupList struct {
	Items []AgentGroup `json:"items"`
}

// TokenRequest creates an API token.
type TokenRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// OwnerPrefixes, when not empty, restrict the token to repositories whose
	// "owner/name" starts with one of them (case-insensitive), e.g. "acme/" or "acme/web-".
	OwnerPrefixes []string `json:"owner_prefixes,omitempty"`
	// ExpiresIn is the token's lifetime; empty means it does not expire.
	ExpiresIn *Duration `json:"expires_in,omitempty"`
}

// Token describes an API token; the secret itself is never returned after creation.
type Token struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Scopes        []string   `json:"scopes"`
	OwnerPrefixes []string   `json:"owner_prefixes"`
	CreatedBy     string     `json:"created_by"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"`
}

// CreatedToken is the answer to a token creation: the only time the secret is shown.
type CreatedToken struct {
	Token
	Secret string `json:"token"`
}

// TokenList is the list of API tokens.
type TokenList struct {
	Items []Token `json:"items"`
}

// WhoAmI describes the token that made the request.
type WhoAmI struct {
	TokenID       string   `json:"token_id"`
	Name          string   `json:"name"`
	Scopes        []string `json:"scopes"`
	OwnerPrefixes []string `json:"owner_prefixes"`
}

// AuditEvent records one write: who, what, when, and the resource before and after.
type AuditEvent struct {
	ID           int64           `json:"id"`
	Time         time.Time       `json:"time"`
	Actor        string          `json:"actor"`
	ActorTokenID string          `json:"actor_token_id"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Repository   string          `json:"repository,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
}

// AuditEventList is one page of audit events, newest first.
type AuditEventList struct {
	Items      []AuditEvent `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// VersionInfo describes the running server build.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// DurationOf converts a time.Duration, for building requests.
func DurationOf(d time.Duration) *Duration { return spec.DurationOf(d) }

// Job states: what Garo knows of a GitHub Actions job.
const (
	JobQueued     = "queued"      // matched to a policy, waiting for a runner
	JobWaiting    = "waiting"     // GitHub holds it (deployment protection rules)
	JobUnmatched  = "unmatched"   // no enabled policy of its repository offers its labels
	JobInProgress = "in_progress" // a runner took it
	JobCompleted  = "completed"
)

// Job is a GitHub Actions job in Garo's log.
type Job struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	Repository      string     `json:"repository"`
	Name            string     `json:"name"`
	WorkflowName    string     `json:"workflow_name"`
	Labels          []string   `json:"labels"`
	State           string     `json:"state"`
	GitHubStatus    string     `json:"github_status"`
	Conclusion      string     `json:"conclusion,omitempty"`
	Policy          string     `json:"policy,omitempty"`
	UnmatchedReason string     `json:"unmatched_reason,omitempty"`
	RunnerName      string     `json:"runner_name,omitempty"`
	HTMLURL         string     `json:"html_url,omitempty"`
	Source          string     `json:"source"`
	ReceivedAt      time.Time  `json:"received_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	Timeline        []JobEvent `json:"timeline"`
	// AgentState is the serving agent's view of a queued job: waiting_for_capacity (the
	// policy is at max_runners; QueuePosition is the job's 1-based place in the policy's
	// queue), runner_requested, or backing_off (the policy is held back: its runners
	// failed before taking a job, or creations failed; AgentReason says why and
	// AgentRetryAt when the agent tries again); or the server's no_agent when no live
	// agent of the policy's group runs the policy's provider (AgentReason says which).
	// Empty when no agent reported the job, and once a runner took it.
	AgentState    string     `json:"agent_state,omitempty"`
	QueuePosition int        `json:"queue_position,omitempty"`
	AgentID       string     `json:"agent_id,omitempty"`
	AgentReason   string     `json:"agent_reason,omitempty"`
	AgentRetryAt  *time.Time `json:"agent_retry_at,omitempty"`
	// Wait says which limit holds a queued job and its place behind it; absent when no
	// limit holds it (it has a runner coming, or nothing serves it: see AgentState).
	Wait *JobWait `json:"wait,omitempty"`
}

// Limits that hold a queued job (JobWait.Limit).
const (
	// WaitMaxRunners: its policy has max_runners runners.
	WaitMaxRunners = "max_runners"
	// WaitTeamQuota: a quota of an owner prefix that covers its repository is full, or
	// jobs that rank ahead wait for its room.
	WaitTeamQuota = "team_quota"
	// WaitGroupQuota: the same of the quota of its policy's agent group.
	WaitGroupQuota = "group_quota"
	// WaitAgentCapacity: the capacity of the agent that serves it (its capacity.*) is
	// taken.
	WaitAgentCapacity = "agent_capacity"
)

// JobWait is what holds a queued job. Position is its 1-based place among the jobs that
// limit holds, in the order they get runners (policy priority, then age; past
// scheduling.max_wait, age alone); for max_runners, in its policy's queue (oldest first).
// The quotas' places are the server's, computed when the job is read, as admission
// decides them; max_runners and agent_capacity are the serving agent's, from its last
// heartbeat.
type JobWait struct {
	Limit    string `json:"limit"`
	Position int    `json:"position"`
	// QuotaID and QuotaSubject name the quota (team_quota, group_quota); QuotaLimit is
	// which of its limits is reached: max_runners, cpu or memory.
	QuotaID      string `json:"quota_id,omitempty"`
	QuotaSubject string `json:"quota_subject,omitempty"`
	QuotaLimit   string `json:"quota_limit,omitempty"`
	Reason       string `json:"reason"`
}

// Agent states of a queued job: as the serving agent reports them, and no_agent, which
// the server sets when nothing can serve the job's policy.
const (
	JobWaitingForCapacity = "waiting_for_capacity"
	JobRunnerRequested    = "runner_requested"
	JobBackingOff         = "backing_off"
	JobNoAgent            = "no_agent"
)

// JobEvent is one step of a job's life and when Garo saw it. Steps: created (on GitHub),
// received, matched, runner_requested, runner_online, in_progress, completed.
type JobEvent struct {
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// JobList is one page of jobs, newest first.
type JobList struct {
	Items      []Job  `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Agent statuses, computed by the server from when it last heard from the agent.
const (
	AgentStatusActive  = "active"  // heard from within three heartbeat intervals
	AgentStatusStale   = "stale"   // three heartbeats missed
	AgentStatusOffline = "offline" // silent for longer than the offline interval, or unregistered
	AgentStatusRevoked = "revoked" // its credential no longer works
)

// Agent is a registered garo-agent as the portal sees it.
type Agent struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Group    string `json:"group"`
	Version  string `json:"version"`
	Provider string `json:"provider"`
	// Status is computed from LastSeenAt with the server's intervals (AgentStatus*).
	Status string `json:"status"`
	// State is what the agent last reported: active, draining, or offline once it
	// unregistered.
	State        string     `json:"state"`
	RegisteredAt time.Time  `json:"registered_at"`
	LastSeenAt   time.Time  `json:"last_seen_at"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	// Draining: the agent takes no new work (an administrator drained it, or it reported
	// draining as it stops); its repositories move to other agents of its group.
	Draining bool `json:"draining"`
	// DrainRequestedAt and DrainRequestedBy say when and by whom (an audit actor) a
	// drain was asked for (PUT /api/v1/agents/{id}/drain); absent when none is.
	DrainRequestedAt *time.Time `json:"drain_requested_at,omitempty"`
	DrainRequestedBy string     `json:"drain_requested_by,omitempty"`
	// Repositories are those it serves now ("owner/name"), limited to what the token may see.
	Repositories []string `json:"repositories"`
	// Runners counts its runners by state (creating, booting, idle, busy, finished, failed).
	Runners map[string]int64 `json:"runners"`
	// Jobs counts the jobs it reported in its last heartbeat by agent state.
	Jobs map[string]int64 `json:"jobs"`
	// Capacity is what the agent reported it may hold at once (its capacity.* keys);
	// absent: no limit.
	Capacity *AgentCapacity `json:"capacity,omitempty"`
}

// AgentCapacity is an agent's capacity: most runners, and the CPU and memory its
// runners' policies may request in total (quantities as a runner spec's). A member left
// out is no limit.
type AgentCapacity struct {
	MaxRunners int    `json:"max_runners,omitempty"`
	CPU        string `json:"cpu,omitempty"`
	Memory     string `json:"memory,omitempty"`
}

// AgentList is the list of agents, oldest registration first (not paginated).
type AgentList struct {
	Items []Agent `json:"items"`
}

// RegistrationTokenRequest creates a registration token for an agent group.
type RegistrationTokenRequest struct {
	Description string `json:"description,omitempty"`
	// ExpiresIn is the token's lifetime: default 1h, at most 720h (30 days).
	ExpiresIn *Duration `json:"expires_in,omitempty"`
	// Uses is how many agents may register with it: default 1, at most 1000.
	Uses *int `json:"uses,omitempty"`
}

// RegistrationToken describes a registration token; the secret is never shown again.
type RegistrationToken struct {
	ID          string    `json:"id"`
	Group       string    `json:"group"`
	Description string    `json:"description"`
	ExpiresAt   time.Time `json:"expires_at"`
	UsesLeft    int       `json:"uses_left"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreatedRegistrationToken is the answer to a creation: the only time the secret is shown.
type CreatedRegistrationToken struct {
	RegistrationToken
	Token string `json:"token"`
}

// RegistrationTokenList lists the registration tokens of a group, oldest first.
type RegistrationTokenList struct {
	Items []RegistrationToken `json:"items"`
}

// Runner is one runner as the agent that runs it last reported it in a heartbeat.
type Runner struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Policy     string `json:"policy"`
	Agent      string `json:"agent"`
	AgentName  string `json:"agent_name"`
	AgentGroup string `json:"agent_group"`
	// State is creating, booting, idle, busy, finished or failed.
	State string `json:"state"`
	// GitHubRunnerID is GitHub's id of its registration, 0 while it has none.
	GitHubRunnerID int64 `json:"github_runner_id"`
	// JobID is the GitHub job it runs, 0 when none.
	JobID int64 `json:"job_id"`
	// Reason says why it failed, empty otherwise.
	Reason string `json:"reason,omitempty"`
	// ProviderID is the provider's id of its instance (container or pod).
	ProviderID   string     `json:"provider_id,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	RunningSince *time.Time `json:"running_since,omitempty"`
}

// RunnerList is the list of runners, ordered by repository, policy and name, at most
// limit of them; Truncated says more matched.
type RunnerList struct {
	Items     []Runner `json:"items"`
	Truncated bool     `json:"truncated"`
}

// GitHub credential modes of GitHubRateLimits.Mode.
const (
	GitHubModeApp  = "app"
	GitHubModePAT  = "pat"
	GitHubModeNone = "none"
)

// GitHubRateLimits is what garo-server has seen of GitHub's rate limits: one budget per
// credential and resource, as GitHub last reported it in its X-RateLimit-* headers.
type GitHubRateLimits struct {
	// Mode is the server's GitHub credential: app (a GitHub App), pat (a personal access
	// token) or none (no credentials: no budget is spent, the list is empty).
	Mode    string         `json:"mode"`
	Budgets []GitHubBudget `json:"budgets"`
}

// GitHubBudget is one rate-limit budget.
type GitHubBudget struct {
	// Credential is what GitHub counts the calls against: "app" (the App's own JWT;
	// "app/<id>" per App when several are configured), "installation/<id>" (one
	// installation of an App) or "pat". Never a secret.
	Credential string `json:"credential"`
	// Resource is GitHub's rate-limit resource: core, search, actions_runner_registration, ...
	Resource  string `json:"resource"`
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Used      int    `json:"used"`
	// ResetAt is when GitHub renews the budget; nil when GitHub did not say.
	ResetAt *time.Time `json:"reset_at,omitempty"`
}
