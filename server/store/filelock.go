package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked means another process (another garo-server) holds the SQLite database.
var ErrLocked = errors.New("in use by another garo-server")

// lockPath is the advisory lock file beside a SQLite database.
func lockPath(dbPath string) string { return dbPath + ".lock" }

// lockSQLite takes the advisory lock of the SQLite database at dbPath: an exclusive
// flock on "<dbPath>.lock", created beside it (mode 0600), held until the returned file is
// closed. flock belongs to the open file description, so a second Open of the same file
// fails also within one process. The file holds the holder's process id, for the error a
// second server gets; it is not removed on close (removing it would race with a server
// starting at that moment).
func lockSQLite(dbPath string) (*os.File, error) {
	path := lockPath(dbPath)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open the lock file %s: %w", path, err)
	}
	if err := flockExclusive(f); err != nil {
		holder := "which holds " + path
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d, which holds %s", pid, path)
			}
		}
		_ = f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("the SQLite database %s is %w (%s): run one garo-server per SQLite file, or PostgreSQL for several replicas", dbPath, ErrLocked, holder)
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
