package portalapi

import "time"

// Quota kinds.
const (
	// QuotaKindOwnerPrefix: the quota caps the runners of the repositories within an
	// owner prefix ("acme" or "acme/team-", as on tokens and agent groups): a team.
	QuotaKindOwnerPrefix = "owner_prefix"
	// QuotaKindAgentGroup: the quota caps the runners of an agent group: a pool of
	// hardware.
	QuotaKindAgentGroup = "agent_group"
)

// QuotaRequest creates a quota (POST /api/v1/quotas) or replaces its limits (PUT
// /api/v1/quotas/{id}, where kind and subject may be left out but not changed). A limit
// left out is no limit.
type QuotaRequest struct {
	Kind    string `json:"kind,omitempty"`
	Subject string `json:"subject,omitempty"`
	// MaxRunners is the most runners at once, 0 or more.
	MaxRunners *int64 `json:"max_runners,omitempty"`
	// CPU and Memory are the most CPU and memory the runners' policies request, in
	// total, as quantities of a runner spec ("16", "500m"; "64Gi").
	CPU         string `json:"cpu,omitempty"`
	Memory      string `json:"memory,omitempty"`
	Description string `json:"description,omitempty"`
}

// QuotaUsage is what the live runners within a quota hold now: runners minted and not
// yet reported, and runners in agents' inventories. CPU and memory are what their
// policies request (runner.cpu, runner.memory); a runner whose policy requests none
// counts none.
type QuotaUsage struct {
	Runners     int64 `json:"runners"`
	CPUMilli    int64 `json:"cpu_milli"`
	MemoryBytes int64 `json:"memory_bytes"`
}

// Quota caps what the runners of a team or of an agent group may hold at once.
type Quota struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	Subject     string     `json:"subject"`
	MaxRunners  *int64     `json:"max_runners,omitempty"`
	CPU         string     `json:"cpu,omitempty"`
	Memory      string     `json:"memory,omitempty"`
	Description string     `json:"description"`
	InUse       QuotaUsage `json:"in_use"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// QuotaList is the answer of GET /api/v1/quotas.
type QuotaList struct {
	Items []Quota `json:"items"`
}
