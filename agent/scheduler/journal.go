package scheduler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/garo-dev/garo/agent/provider"
)

// Journal keeps the scheduler's records across a restart of the agent (a file next to
// the state file: agent/state.Journal). The provider's listing tells a restarted agent
// only of the runners whose instances still exist; a runner whose instance went while
// the agent was down (removed, its node lost, an ephemeral one that exited and was
// removed), or whose credentials were minted just before a kill -9, still has its
// registration at GitHub, and only the journal remembers it.
type Journal interface {
	Load() ([]byte, error)
	Save([]byte) error
}

// journalVersion is the journal's format; another version is ignored (with a warning).
const journalVersion = 1

type journalFile struct {
	Version int      `json:"version"`
	Records []Record `json:"records"`
}

// encodeJournal returns the records as the journal stores them, sorted by name so that
// the same records always give the same bytes.
func encodeJournal(records map[string]*Record) ([]byte, error) {
	recs := make([]Record, 0, len(records))
	for _, r := range records {
		recs = append(recs, *r)
	}
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.Marshal(journalFile{Version: journalVersion, Records: recs})
	if err != nil {
		return nil, fmt.Errorf("runner journal: %w", err)
	}
	return b, nil
}

// restore returns records with the journal's records added that records lacks. An
// action that ran on one died with the agent (not pending any more). One whose instance
// is not in inv went while the agent was down: Lost, so that its registration is removed
// at GitHub (by name when its GitHub id was not known yet), retried while GitHub calls
// it busy, like a runner whose instance vanished while the agent watched.
func restore(b []byte, records map[string]*Record, inv []provider.Instance) (map[string]*Record, int, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return records, 0, nil
	}
	var f journalFile
	if err := json.Unmarshal(b, &f); err != nil {
		return records, 0, fmt.Errorf("runner journal: not valid JSON: %w", err)
	}
	if f.Version != journalVersion {
		return records, 0, fmt.Errorf("runner journal: version %d, want %d", f.Version, journalVersion)
	}
	present := make(map[string]bool, 2*len(inv))
	for _, inst := range inv {
		if inst.State == provider.StateGone {
			continue
		}
		present[inst.ID] = true
		present["name:"+inst.Labels[provider.LabelRunner]] = true
	}
	out := cloneRecords(records)
	if out == nil {
		out = map[string]*Record{}
	}
	n := 0
	for i := range f.Records {
		r := &f.Records[i]
		if _, have := out[r.Name]; have || r.Name == "" {
			continue
		}
		r.Pending = false
		if !present["name:"+r.Name] && (r.ProviderID == "" || !present[r.ProviderID]) {
			r.Lost = true
		}
		out[r.Name] = r
		n++
	}
	return out, n, nil
}
