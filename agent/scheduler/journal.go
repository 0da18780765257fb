package scheduler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

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

// journalCoder encodes the journal: the records sorted by name, so that the same records
// always give the same bytes, each as encoding/json writes it. It keeps each record's
// encoding from the last time, as a part of that journal: a record is never written (a
// change replaces it), so the same pointer has the same encoding. Encoding every record
// on every tick that changed one was a tick's largest cost with thousands of runners
// (15,000 records: 35 ms and 21 MB).
type journalCoder struct {
	done map[*Record][]byte // parts of the last journal
}

func (c *journalCoder) encode(sorted []*Record, sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, sizeHint+sizeHint/8+64)
	buf = append(buf, `{"version":`...)
	buf = strconv.AppendInt(buf, journalVersion, 10)
	buf = append(buf, `,"records":[`...)
	at := make([]int, 2*len(sorted)) // where each record's part starts and ends
	for i, r := range sorted {
		if i > 0 {
			buf = append(buf, ',')
		}
		at[2*i] = len(buf)
		b, ok := c.done[r]
		if !ok {
			var err error
			if b, err = json.Marshal(r); err != nil {
				return nil, fmt.Errorf("runner journal: %w", err)
			}
		}
		buf = append(buf, b...)
		at[2*i+1] = len(buf)
	}
	buf = append(buf, "]}"...)
	done := make(map[*Record][]byte, len(sorted))
	for i, r := range sorted {
		done[r] = buf[at[2*i]:at[2*i+1]:at[2*i+1]]
	}
	c.done = done
	return buf, nil
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

// restoreJournal adds the journal's records to the records (first tick only).
func (s *Scheduler) restoreJournal(inv []provider.Instance) {
	if s.opts.Journal == nil {
		return
	}
	b, err := s.opts.Journal.Load()
	if err == nil {
		var n int
		if s.records, n, err = restore(b, s.records, inv); n > 0 {
			s.log.Info("runners restored from the journal", "runners", n)
		}
	}
	if err != nil {
		s.log.Warn("runner journal not restored: runners whose instances went while the agent was down may stay registered at GitHub", "err", err)
	}
	s.journaled = b
}

// saveJournal writes the records to the journal when they changed since the last save.
// A failed save is logged once per distinct error and tried again next tick.
func (s *Scheduler) saveJournal() {
	if s.opts.Journal == nil || !s.journalDirty {
		return
	}
	// The snapshot publish just made holds the records, sorted.
	b, err := s.journal.encode(s.snap.Load().records, len(s.journaled))
	if err == nil && bytes.Equal(b, s.journaled) {
		s.journalDirty = false
		return
	}
	if err == nil {
		err = s.opts.Journal.Save(b)
	}
	if err != nil {
		if err.Error() != s.journalErr {
			s.journalErr = err.Error()
			s.log.Warn("runner journal not saved", "err", err)
		}
		return
	}
	s.journaled, s.journalErr, s.journalDirty = b, "", false
}
