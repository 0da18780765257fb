package portalapi

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// WriteUsageCSV writes r as CSV (RFC 4180) with a header line: day, the key columns of its
// grouping, runners, runner_minutes, cpu_minutes, memory_gib_minutes. The totals are not
// a line of it: a spreadsheet sums the columns.
func WriteUsageCSV(w io.Writer, r *UsageReport) error {
	cw := csv.NewWriter(w)
	var keys []string
	switch r.By {
	case UsageByPolicy:
		keys = []string{"repository", "policy", "agent_group"}
	case UsageByAgentGroup:
		keys = []string{"agent_group"}
	default:
		keys = []string{"owner_prefix"}
	}
	head := append(append([]string{"day"}, keys...), "runners", "runner_minutes", "cpu_minutes", "memory_gib_minutes")
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write usage csv: %w", err)
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, row := range r.Items {
		rec := []string{row.Day}
		for _, k := range keys {
			rec = append(rec, map[string]string{
				"repository": row.Repository, "policy": row.Policy, "agent_group": row.AgentGroup, "owner_prefix": row.OwnerPrefix,
			}[k])
		}
		rec = append(rec, strconv.FormatInt(row.Runners, 10), num(row.RunnerMinutes), num(row.CPUMinutes), num(row.MemoryGiBMinutes))
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write usage csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write usage csv: %w", err)
	}
	return nil
}
