// Package state keeps the agent's identity on disk: its id, credential, server and group,
// in a JSON file of mode 0600 written atomically (temporary file, fsync, rename). A
// restart reads it and is the same agent, so the one-time registration token can be
// dropped from the configuration after the first start.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/garo-dev/garo/agent/client"
)

// ErrNotFound is Load's error when there is no state file yet: the agent must register.
var ErrNotFound = errors.New("no agent state file")

// Identity is what the state file holds. Credential is a secret.
type Identity struct {
	AgentID      string    `json:"agent_id"`
	Credential   string    `json:"credential"`
	ServerURL    string    `json:"server_url"`
	Group        string    `json:"group"`
	Name         string    `json:"name,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// String shows the identity without its credential, nor a password of its server URL.
func (i Identity) String() string {
	return fmt.Sprintf("agent %s of group %s at %s", i.AgentID, i.Group, client.RedactURL(i.ServerURL))
}

// GoString keeps %#v from printing the credential too.
func (i Identity) GoString() string { return i.String() }

// SameServer reports whether url names the server the identity belongs to (trailing
// slashes and case of scheme and host aside).
func (i Identity) SameServer(url string) bool {
	return normalize(i.ServerURL) == normalize(url)
}

func normalize(u string) string {
	u = strings.TrimRight(u, "/")
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		host, path, _ := strings.Cut(rest, "/")
		u = strings.ToLower(scheme) + "://" + strings.ToLower(host)
		if path != "" {
			u += "/" + path
		}
	}
	return u
}

// Load reads the identity at path. ErrNotFound when the file does not exist. A file that
// others may read is refused: the credential would be exposed.
func Load(path string) (Identity, error) {
	var id Identity
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return id, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return id, fmt.Errorf("agent state: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return id, fmt.Errorf("agent state %s: mode %04o lets others read the credential; chmod 600 it", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return id, fmt.Errorf("agent state: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("agent state %s: not valid JSON: %w", path, err)
	}
	if id.AgentID == "" || id.Credential == "" || id.ServerURL == "" {
		return Identity{}, fmt.Errorf("agent state %s: agent_id, credential and server_url must all be set", path)
	}
	return id, nil
}

// Save writes id to path atomically with mode 0600, creating the directory (0700) if
// needed. A crash leaves either the old file or the new one, never half of one.
func Save(path string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	return writeAtomic(path, append(b, '\n'))
}

// writeAtomic writes b to path with mode 0600 through a temporary file, fsync and rename,
// creating the directory (0700) if needed.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	// On a failure below, the file is removed (deferred above); its close error joins
	// the failure's.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("agent state: %w", errors.Join(err, tmp.Close()))
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("agent state: write %s: %w", tmp.Name(), errors.Join(err, tmp.Close()))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("agent state: sync: %w", errors.Join(err, tmp.Close()))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		// Best effort: the file is written and renamed; a directory that cannot be synced
		// (some filesystems refuse) or closed (read-only, nothing buffered) loses nothing
		// the caller could act on.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
