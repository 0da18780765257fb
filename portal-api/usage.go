package portalapi

// Usage groupings (GET /api/v1/usage?by=).
const (
	// UsageByOwnerPrefix: one row per day and owner prefix (a team): the prefixes asked
	// for, else the token's own, else each repository's owner ("acme/").
	UsageByOwnerPrefix = "owner_prefix"
	// UsageByPolicy: one row per day, repository and policy.
	UsageByPolicy = "policy"
	// UsageByAgentGroup: one row per day and agent group (a pool of hardware).
	UsageByAgentGroup = "agent_group"
)

// UsageRow is what the runners of one key held on one day (UTC): how many lived that
// day, their runner-minutes, and the CPU- and memory-minutes their policies requested
// (CPUs × minutes, GiB × minutes). A runner counts from the minting of its credentials
// until it no longer counts against quotas (it left its agent's inventory).
type UsageRow struct {
	Day              string  `json:"day"` // YYYY-MM-DD
	OwnerPrefix      string  `json:"owner_prefix,omitempty"`
	Repository       string  `json:"repository,omitempty"`
	Policy           string  `json:"policy,omitempty"`
	AgentGroup       string  `json:"agent_group,omitempty"`
	Runners          int64   `json:"runners"`
	RunnerMinutes    float64 `json:"runner_minutes"`
	CPUMinutes       float64 `json:"cpu_minutes"`
	MemoryGiBMinutes float64 `json:"memory_gib_minutes"`
}

// UsageTotals sums the usage of every runner the report covers, each counted once
// (owner prefixes that overlap count a runner in each of their rows, not twice here).
type UsageTotals struct {
	Runners          int64   `json:"runners"`
	RunnerMinutes    float64 `json:"runner_minutes"`
	CPUMinutes       float64 `json:"cpu_minutes"`
	MemoryGiBMinutes float64 `json:"memory_gib_minutes"`
}

// UsageReport is the answer of GET /api/v1/usage: the days from Since to Until (both
// YYYY-MM-DD, Until included), rows by day then key.
type UsageReport struct {
	Since string      `json:"since"`
	Until string      `json:"until"`
	By    string      `json:"by"`
	Items []UsageRow  `json:"items"`
	Total UsageTotals `json:"total"`
}
