package api

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// An error of a request whose client went away is the cancellation, whatever the store
// made of it (a Tx rolled back by its context answers sql.ErrTxDone to the next
// statement): 503, not a 500 logged as a bug.
func TestClassifyCancelledRequest(t *testing.T) {
	t.Parallel()
	s := &server{log: slog.New(slog.DiscardHandler)}
	err := fmt.Errorf("admit runner: %w", sql.ErrTxDone)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/agent/runners/credentials", nil)
	c := echo.New().NewContext(req, httptest.NewRecorder())
	if got := s.classify(err, c); got.status != http.StatusServiceUnavailable {
		t.Fatalf("cancelled request: status %d (%s), want 503", got.status, got.msg)
	}
}
