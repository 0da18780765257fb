package scheduler

import (
	"maps"
	"strconv"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// Key names one policy: policy names are unique per repository only.
type Key struct {
	Repository string
	Policy     string
}

func (k Key) String() string { return k.Repository + ":" + k.Policy }

// Record is the agent's memory of one runner it created or adopted.
type Record struct {
	Name string
	Key
	ProviderID string
	RunnerID   int64 // GitHub's id, 0 until known
	State      protocol.RunnerState
	Ephemeral  bool
	ForJob     int64 // the job it was created for (0: for min_idle)
	JobID      int64 // the job it runs (busy) or last ran
	TookJob    bool  // it has run a job since the agent knows it
	CreatedAt  time.Time
	Since      time.Time // when it entered State
	Reason     string    // why it failed or is being removed
	Expiry     time.Time // nothing keeps a runner past this, unless it is busy
	// Spec is the fingerprint (SpecOf) of the policy it was made from; "" when unknown
	// (adopted from an agent that did not label it).
	Spec string
	// PolicyID is the server's id of its policy; "" when unknown (made by an older agent).
	PolicyID string

	// Pending: an action (create or reap) runs on it; Reconcile plans nothing else for it.
	Pending bool
	// RetryAt: a reap was refused (busy, not owner) or failed; not before this again.
	RetryAt time.Time
	// Attempts counts failed removals, for their backoff.
	Attempts int
	// Provisioned: it was seen running once (the provisioning latency is recorded then).
	Provisioned bool
	// RunningSince is when it was first seen running (zero when adopted: unknown).
	RunningSince time.Time
	// Lost: its instance disappeared while it was busy (see Reap.Lost).
	Lost bool
}

// Status is the record as a heartbeat reports it.
func (r Record) Status() protocol.RunnerStatus {
	s := protocol.RunnerStatus{
		Name: r.Name, Repository: r.Repository, Policy: r.Policy, ProviderID: r.ProviderID,
		RunnerID: r.RunnerID, State: r.State, CreatedAt: r.CreatedAt, Reason: r.Reason,
	}
	if r.State == protocol.RunnerBusy || r.Lost {
		s.JobID = r.JobID // a lost runner's: the job it was running when it went
	}
	if !r.RunningSince.IsZero() {
		t := r.RunningSince
		s.RunningSince = &t
	}
	return s
}

// live reports whether the record holds capacity: every runner that is, or may soon be,
// running counts against max_runners.
func (r Record) live() bool {
	switch r.State {
	case protocol.RunnerCreating, protocol.RunnerBooting, protocol.RunnerIdle, protocol.RunnerBusy:
		return true
	}
	return false
}

// Labels are the provider labels of a runner that agentID creates for r.
func Labels(agentID string, r Record) map[string]string {
	l := map[string]string{
		provider.LabelManagedBy:  provider.ManagedByGaro,
		provider.LabelAgentID:    agentID,
		provider.LabelRunner:     r.Name,
		provider.LabelRepository: r.Repository,
		provider.LabelPolicy:     r.Policy,
		provider.LabelCreated:    provider.Unix(r.CreatedAt),
	}
	if !r.Expiry.IsZero() {
		l[provider.LabelExpiry] = provider.Unix(r.Expiry)
	}
	if r.RunnerID != 0 {
		l[provider.LabelRunnerID] = strconv.FormatInt(r.RunnerID, 10)
	}
	if r.Spec != "" {
		l[provider.LabelSpec] = r.Spec
	}
	if r.PolicyID != "" {
		l[provider.LabelPolicyID] = r.PolicyID
	}
	return l
}

// fromInstance rebuilds a record from an instance's labels; false when they do not say
// enough (no runner name, repository or policy).
func fromInstance(in provider.Instance, now time.Time) (Record, bool) {
	l := in.Labels
	r := Record{
		Name:       l[provider.LabelRunner],
		Key:        Key{Repository: l[provider.LabelRepository], Policy: l[provider.LabelPolicy]},
		ProviderID: in.ID,
		State:      protocol.RunnerBooting,
		Ephemeral:  true,
		CreatedAt:  in.CreatedAt,
		Since:      now,
		Spec:       l[provider.LabelSpec],
		PolicyID:   l[provider.LabelPolicyID],
	}
	if r.Name == "" || r.Repository == "" || r.Policy == "" {
		return Record{}, false
	}
	if t, ok := provider.ParseUnix(l[provider.LabelCreated]); ok {
		r.CreatedAt = t
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if t, ok := provider.ParseUnix(l[provider.LabelExpiry]); ok {
		r.Expiry = t
	}
	if id, err := strconv.ParseInt(l[provider.LabelRunnerID], 10, 64); err == nil && id > 0 {
		r.RunnerID = id
	}
	return r, true
}

func cloneRecords(in map[string]*Record) map[string]*Record { return maps.Clone(in) }

// String describes the record for logs and test failures (Key's String would be promoted
// otherwise).
func (r Record) String() string {
	s := r.Name + " " + string(r.State) + " " + r.Key.String()
	if r.ProviderID != "" {
		s += " " + r.ProviderID
	}
	if r.Pending {
		s += " pending"
	}
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}
