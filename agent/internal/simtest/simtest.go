// Package simtest is where the agent's tests found the simulator helpers before they
// moved to internal/testkit/simtest, the one home of test support. It only forwards, so
// that the tests being rewritten meanwhile keep building; delete it once they import
// internal/testkit/simtest.
//
// Deprecated: import github.com/garo-dev/garo/internal/testkit/simtest.
package simtest

import (
	"testing"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit/simtest"
)

// PAT is simtest.PAT.
const PAT = simtest.PAT

// Env is simtest.Env.
type Env = simtest.Env

// New is simtest.New.
func New(t testing.TB, opts githubsim.Options, repos ...string) *Env {
	t.Helper()
	return simtest.New(t, opts, repos...)
}
