package testkit

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer is a bytes.Buffer for writers and readers in different goroutines: the sink of a
// log capture, or of a command's output that a test reads while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TextLogs returns a logger that writes every record, Debug and up, as slog text lines
// to the returned buffer: for tests that check what is (or is not) logged.
func TextLogs() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// JSONLogs is TextLogs with one JSON object a record, for tests that match keys and values
// exactly (`"repo":"acme/api"`).
func JSONLogs() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// Discard returns the logger of tests that do not read logs. It is slog's DiscardHandler;
// production code that needs a default logger uses slog.DiscardHandler itself.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
