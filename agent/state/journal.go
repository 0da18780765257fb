package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Journal is the file of the agent's runner records (next to the state file:
// JournalPath), written atomically like the state file. It outlives a kill -9 of the
// agent: a restarted agent learns from it the runners whose registrations may still
// exist at GitHub although their instances went while it was down, which its provider's
// listing cannot tell it.
type Journal struct{ Path string }

// JournalPath is the journal's path for the state file at statePath.
func JournalPath(statePath string) string { return statePath + ".runners" }

// Load returns the journal's content; nil and no error when there is none yet.
func (j Journal) Load() ([]byte, error) {
	b, err := os.ReadFile(j.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent runner journal: %w", err)
	}
	return b, nil
}

// Save replaces the journal's content with b, atomically (mode 0600).
func (j Journal) Save(b []byte) error { return writeAtomic(j.Path, b) }
