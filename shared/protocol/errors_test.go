package protocol_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/garo-dev/garo/shared/protocol"
)

var sentinels = []error{protocol.ErrUnauthorized, protocol.ErrNotOwner, protocol.ErrRunnerBusy, protocol.ErrNotFound}

// TestAnswerAndSentinelAgree: what the server answers for a (wrapped) sentinel, the
// client turns back into that sentinel and no other.
func TestAnswerAndSentinelAgree(t *testing.T) {
	t.Parallel()
	want := map[error]struct {
		status int
		code   string
	}{
		protocol.ErrUnauthorized: {http.StatusUnauthorized, protocol.CodeUnauthorized},
		protocol.ErrNotOwner:     {http.StatusForbidden, protocol.CodeNotOwner},
		protocol.ErrRunnerBusy:   {http.StatusConflict, protocol.CodeRunnerBusy},
		protocol.ErrNotFound:     {http.StatusNotFound, protocol.CodeNotFound},
	}
	for _, sentinel := range sentinels {
		err := fmt.Errorf("remove runner r of acme/web: %w", sentinel)
		status, code, ok := protocol.Answer(err)
		if !ok || status != want[sentinel].status || code != want[sentinel].code {
			t.Errorf("Answer(%v) = %d %q %v, want %d %q", err, status, code, ok, want[sentinel].status, want[sentinel].code)
		}
		if got := protocol.Sentinel(status, code); got != sentinel {
			t.Errorf("Sentinel(%d, %q) = %v, want %v", status, code, got, sentinel)
		}
		answer := &protocol.Error{Method: "POST", Path: "/agent/v1/x", Status: status, Code: code, Message: "m"}
		for _, other := range sentinels {
			if got := errors.Is(fmt.Errorf("call: %w", answer), other); got != (other == sentinel) {
				t.Errorf("errors.Is(%v, %v) = %v", answer, other, got)
			}
		}
	}
	if _, _, ok := protocol.Answer(errors.New("disk full")); ok {
		t.Error("Answer took an error that is no sentinel")
	}
}

// TestSentinelOfAnswers: 401 and 404 stand for their sentinels whatever the code (a
// proxy's answer has none); 403 and 409 only with theirs; other answers for none.
func TestSentinelOfAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{401, "", protocol.ErrUnauthorized},
		{401, protocol.CodeUnauthorized, protocol.ErrUnauthorized},
		{404, "", protocol.ErrNotFound},
		{404, protocol.CodeNotFound, protocol.ErrNotFound},
		{403, protocol.CodeNotOwner, protocol.ErrNotOwner},
		{403, "forbidden", nil},
		{409, protocol.CodeRunnerBusy, protocol.ErrRunnerBusy},
		{422, protocol.CodeRunnerBusy, protocol.ErrRunnerBusy},
		{409, protocol.CodeConflict, nil},
		{400, protocol.CodeInvalidRequest, nil},
		{503, protocol.CodeUnavailable, nil},
		{503, protocol.CodeGitHubLimit, nil},
		{502, protocol.CodeGitHubError, nil},
		{422, protocol.CodeGitHubRefused, nil},
		{500, protocol.CodeRunnerBusy, nil},
	} {
		if got := protocol.Sentinel(tc.status, tc.code); got != tc.want {
			t.Errorf("Sentinel(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	e := &protocol.Error{Method: "POST", Path: "/agent/v1/runners/remove", Status: 409, Code: protocol.CodeRunnerBusy, Message: "runner is busy"}
	if got, want := e.Error(), "POST /agent/v1/runners/remove: 409 runner_busy: runner is busy"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&protocol.Error{Status: 404, Code: "not_found", Message: "no"}).Error(), "404 not_found: no"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
