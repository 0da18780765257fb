package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// SpecOf fingerprints what a runner is made from: the policy's runner definition, its
// labels (they go into the runner's registration), whether it is ephemeral and the
// provider. Changing any of them makes idle runners outdated; changing min_idle,
// max_runners, the grace or the schedule does not. The fingerprint is stored as the
// runner's LabelSpec, so it survives an agent restart.
func SpecOf(pol protocol.Policy) string {
	labels := make([]string, len(pol.Labels))
	for i, l := range pol.Labels {
		labels[i] = strings.ToLower(l)
	}
	slices.Sort(labels)
	b, err := json.Marshal(struct {
		Labels    []string        `json:"labels"`
		Ephemeral bool            `json:"ephemeral"`
		Provider  string          `json:"provider"`
		Runner    spec.RunnerSpec `json:"runner"`
	}{labels, pol.Ephemeral, pol.Provider, pol.Runner})
	if err != nil { // a RunnerSpec always marshals; be safe: no fingerprint, no recycling
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
