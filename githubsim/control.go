package githubsim

import (
	"net/http"
	"time"
)

// The fault-injection routes of /_sim/: what AddFault, Faults and ClearFaults do for Go
// tests, for the garo-githubsim binary and the chaos suite (docs/simulator.md). The
// answers injected are GitHub's own kinds of trouble: 5xx from its front end, 429 or 403
// with Retry-After from its secondary rate limit ("Rate limits for the REST API",
// docs.github.com), and slow answers.

// faultJSON is a Fault on the wire; durations are Go durations ("10s", "250ms").
type faultJSON struct {
	Method     string    `json:"method,omitempty"`
	PathPrefix string    `json:"path_prefix,omitempty"`
	Status     int       `json:"status,omitempty"`
	RetryAfter string    `json:"retry_after,omitempty"`
	Delay      string    `json:"delay,omitempty"`
	Times      int       `json:"times,omitempty"`
	For        string    `json:"for,omitempty"`  // request only: the window, from now
	Until      time.Time `json:"until,omitzero"` // answer: when the window ends
}

// maxFaultDelay bounds an injected delay, so a typo cannot hang every call for hours.
const maxFaultDelay = 5 * time.Minute

func (s *Sim) simAddFault(w http.ResponseWriter, r *http.Request) {
	var body faultJSON
	if !decodeSim(w, r, &body) {
		return
	}
	f := Fault{Method: body.Method, PathPrefix: body.PathPrefix, Status: body.Status, Times: body.Times}
	var window time.Duration
	for _, d := range []struct {
		name string
		v    string
		to   *time.Duration
	}{{"retry_after", body.RetryAfter, &f.RetryAfter}, {"delay", body.Delay, &f.Delay}, {"for", body.For, &window}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < 0 {
			simError(w, http.StatusUnprocessableEntity, d.name+": want a duration such as 10s")
			return
		}
		*d.to = v
	}
	switch {
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		simError(w, http.StatusUnprocessableEntity, "status: want 0 (delay only) or 400-599")
		return
	case f.Status == 0 && f.Delay == 0:
		simError(w, http.StatusUnprocessableEntity, "a fault needs a status or a delay")
		return
	case f.Delay > maxFaultDelay:
		simError(w, http.StatusUnprocessableEntity, "delay: at most 5m")
		return
	case f.Times < 0:
		simError(w, http.StatusUnprocessableEntity, "times: want 0 (no limit) or more")
		return
	}
	if window > 0 {
		f.Until = s.opts.Now().Add(window)
	}
	s.AddFault(f)
	s.log.Info("fault added", "method", f.Method, "path_prefix", f.PathPrefix, "status", f.Status,
		"fault_delay", f.Delay, "times", f.Times, "until", f.Until)
	writeJSON(w, http.StatusCreated, map[string]faultJSON{"fault": toFaultJSON(f)})
}

func (s *Sim) simListFaults(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Faults []faultJSON `json:"faults"`
	}{Faults: []faultJSON{}}
	for _, f := range s.Faults() {
		out.Faults = append(out.Faults, toFaultJSON(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) simClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	s.log.Info("faults cleared")
	w.WriteHeader(http.StatusNoContent)
}

func toFaultJSON(f Fault) faultJSON {
	out := faultJSON{Method: f.Method, PathPrefix: f.PathPrefix, Status: f.Status, Times: f.Times, Until: f.Until.UTC()}
	if f.Until.IsZero() {
		out.Until = time.Time{}
	}
	if f.RetryAfter > 0 {
		out.RetryAfter = f.RetryAfter.String()
	}
	if f.Delay > 0 {
		out.Delay = f.Delay.String()
	}
	return out
}

// loseJSON is a window of lost workflow_job deliveries on the wire.
type loseJSON struct {
	Action string    `json:"action"`
	For    string    `json:"for,omitempty"`  // request only: the window, from now
	Until  time.Time `json:"until,omitzero"` // answer: when the window ends
}

// simLoseWebhooks is LoseJobWebhooksFor: deliveries GitHub never makes, which no
// redelivery brings back (see LoseJobWebhooks), for the chaos suite's lost completions.
func (s *Sim) simLoseWebhooks(w http.ResponseWriter, r *http.Request) {
	var body loseJSON
	if !decodeSim(w, r, &body) {
		return
	}
	var window time.Duration
	if body.For != "" {
		v, err := time.ParseDuration(body.For)
		if err != nil || v < 0 {
			simError(w, http.StatusUnprocessableEntity, "for: want a duration such as 10s")
			return
		}
		window = v
	}
	switch body.Action {
	case "queued", "waiting", "in_progress", "completed":
	default:
		simError(w, http.StatusUnprocessableEntity, "action: want queued, waiting, in_progress or completed")
		return
	}
	until := s.LoseJobWebhooksFor(body.Action, window)
	s.log.Info("webhooks lost from now", "action", body.Action, "until", until)
	writeJSON(w, http.StatusCreated, map[string]loseJSON{"lose": {Action: body.Action, Until: until.UTC()}})
}

func (s *Sim) simKeepWebhooks(w http.ResponseWriter, _ *http.Request) {
	s.LoseJobWebhooks("")
	s.log.Info("webhooks no longer lost")
	w.WriteHeader(http.StatusNoContent)
}
