package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

// fakeServer is a small garo-server for the agent's smoke tests: one agent group, one
// registration token, policies set by the test, jobs read from the GitHub simulator,
// runners minted and removed there.
type fakeServer struct {
	t       *testing.T
	env     *simtest.Env
	runners *agenttest.Server // mints and removes the runners on the simulator
	srv     *httptest.Server

	mu          sync.Mutex
	token       string
	credential  string
	revoked     bool
	drain       bool // heartbeats answer drain=true
	config      protocol.Config
	heartbeats  []protocol.HeartbeatRequest
	registers   int
	unregisters int
	creds       int
	calls       map[string]int
	// beatsBeforeConfig is how many heartbeats had arrived when the first config poll
	// came (-1: none came yet).
	beatsBeforeConfig int
}

func newFakeServer(t *testing.T, env *simtest.Env, token string, policies ...protocol.Policy) *fakeServer {
	f := &fakeServer{t: t, env: env, runners: &agenttest.Server{Env: env}, token: token, calls: map[string]int{}, beatsBeforeConfig: -1}
	f.config = protocol.Config{Version: "1", Group: "default", Repositories: []string{"acme/api"}, Policies: policies}
	mux := http.NewServeMux()
	p := protocol.PathPrefix
	mux.HandleFunc("POST "+p+"/register", f.register)
	mux.HandleFunc("POST "+p+"/heartbeat", f.auth(f.heartbeat))
	mux.HandleFunc("GET "+p+"/config", f.auth(f.getConfig))
	mux.HandleFunc("GET "+p+"/jobs", f.auth(f.jobs))
	mux.HandleFunc("POST "+p+"/runners/credentials", f.auth(f.credentials))
	mux.HandleFunc("POST "+p+"/runners/remove", f.auth(f.remove))
	mux.HandleFunc("POST "+p+"/unregister", f.auth(func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.unregisters++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var req protocol.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "invalid_json", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Token == "" || req.Token != f.token {
		writeErr(w, 401, "unauthorized", "unknown registration token")
		return
	}
	f.registers++
	f.token = "" // one use
	f.credential = fmt.Sprintf("garo_agent_%d_credential", f.registers)
	writeJSON(w, 201, protocol.RegisterResponse{
		AgentID: "agent-1", Credential: f.credential, Group: "default",
		Intervals: protocol.Intervals{Heartbeat: protocol.Duration(50 * time.Millisecond), LongPoll: protocol.Duration(500 * time.Millisecond)},
	})
}

func (f *fakeServer) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		ok := !f.revoked && f.credential != "" && r.Header.Get("Authorization") == "Bearer "+f.credential
		f.calls[r.URL.Path]++
		f.mu.Unlock()
		if !ok {
			writeErr(w, 401, "unauthorized", "agent credential revoked or unknown")
			return
		}
		next(w, r)
	}
}

func (f *fakeServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req protocol.HeartbeatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "invalid_json", err.Error())
		return
	}
	for _, j := range req.Jobs {
		if j.State != protocol.JobWaitingForCapacity && j.State != protocol.JobRunnerRequested && j.State != protocol.JobBackingOff {
			writeErr(w, 400, "invalid_request", "job state "+j.State)
			return
		}
	}
	f.mu.Lock()
	f.heartbeats = append(f.heartbeats, req)
	drain := f.drain
	f.mu.Unlock()
	writeJSON(w, 200, protocol.HeartbeatResponse{Drain: drain, Intervals: protocol.Intervals{
		Heartbeat: protocol.Duration(50 * time.Millisecond), LongPoll: protocol.Duration(500 * time.Millisecond)}})
}

// hold answers a long-poll: at once when the version differs, else when it changes or
// after wait (304).
func hold(w http.ResponseWriter, r *http.Request, current func() (string, any)) {
	have := strings.Trim(r.Header.Get("If-None-Match"), `"`)
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	deadline := time.Now().Add(wait)
	for {
		v, body := current()
		if v != have {
			w.Header().Set("ETag", `"`+v+`"`)
			writeJSON(w, 200, body)
			return
		}
		if time.Now().After(deadline) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *fakeServer) getConfig(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.beatsBeforeConfig < 0 {
		f.beatsBeforeConfig = len(f.heartbeats)
	}
	f.mu.Unlock()
	hold(w, r, func() (string, any) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.config.Version, f.config
	})
}

func (f *fakeServer) setConfig(update func(*protocol.Config)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	update(&f.config)
	f.config.Version = fmt.Sprint(time.Now().UnixNano())
}

func (f *fakeServer) jobs(w http.ResponseWriter, r *http.Request) {
	hold(w, r, func() (string, any) {
		snap := agenttest.Jobs(f.env.Sim, "acme/api")
		return snap.Version, snap
	})
}

func (f *fakeServer) credentials(w http.ResponseWriter, r *http.Request) {
	var req protocol.CredentialsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "invalid_json", err.Error())
		return
	}
	if req.Repository != "acme/api" {
		writeErr(w, 403, protocol.CodeNotOwner, "not yours")
		return
	}
	creds, err := f.runners.Credentials(r.Context(), req)
	if err != nil {
		writeErr(w, 502, "github_error", err.Error())
		return
	}
	f.mu.Lock()
	f.creds++
	f.mu.Unlock()
	writeJSON(w, 201, creds)
}

func (f *fakeServer) remove(w http.ResponseWriter, r *http.Request) {
	var req protocol.RemoveRunnerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "invalid_json", err.Error())
		return
	}
	switch err := f.runners.RemoveRunner(r.Context(), req); {
	case errors.Is(err, protocol.ErrRunnerBusy):
		writeErr(w, 409, protocol.CodeRunnerBusy, "busy")
	case err != nil:
		writeErr(w, 502, "github_error", err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// setDrain makes the heartbeats' answers ask the agent to drain, or no longer.
func (f *fakeServer) setDrain(d bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drain = d
}

func (f *fakeServer) revoke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = true
}

func (f *fakeServer) snapshot() (hbs []protocol.HeartbeatRequest, registers, unregisters, creds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]protocol.HeartbeatRequest(nil), f.heartbeats...), f.registers, f.unregisters, f.creds
}
