// Package simtest serves the GitHub simulator for a test (on an httptest server, closed
// when the test ends) and mints runner JIT configurations on it and removes runners, as
// garo-server does through the GitHub App: for the tests of the agent, of the server's
// parts and of the stub runner. It imports nothing of the server or the agent.
package simtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/garo-dev/garo/githubsim"
)

// PAT is the personal access token the simulator accepts for repository endpoints.
const PAT = "ghp_simtest0000000000000000000000000000"

// Env is a running simulator.
type Env struct {
	Sim *githubsim.Sim
	Srv *httptest.Server
}

// New starts a simulator with repos installed; it is closed when t ends. opts.PATs gets
// PAT added.
func New(t testing.TB, opts githubsim.Options, repos ...string) *Env {
	t.Helper()
	opts.PATs = append(opts.PATs, PAT)
	sim, err := githubsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	for _, r := range repos {
		sim.AddRepository(r)
	}
	return &Env{Sim: sim, Srv: srv}
}

// JIT registers a just-in-time runner on repo and returns its GitHub id and encoded JIT
// configuration (a secret). The runner carries exactly labels, as GitHub registers a JIT
// runner: pass self-hosted too when the jobs ask for it.
func (e *Env) JIT(ctx context.Context, repo, name string, labels []string) (int64, string, error) {
	if len(labels) == 0 {
		labels = []string{"self-hosted"}
	}
	body, _ := json.Marshal(map[string]any{"name": name, "runner_group_id": 1, "labels": labels})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		e.Srv.URL+"/repos/"+repo+"/actions/runners/generate-jitconfig", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "token "+PAT)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return 0, "", fmt.Errorf("generate-jitconfig %s on %s: %s", name, repo, resp.Status)
	}
	var out struct {
		Runner struct {
			ID int64 `json:"id"`
		} `json:"runner"`
		EncodedJITConfig string `json:"encoded_jit_config"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, "", err
	}
	return out.Runner.ID, out.EncodedJITConfig, nil
}

// RemoveRunner deletes a runner registration on repo, as the server does for the agent.
// 404 is success; 422 (busy) is returned as an error.
func (e *Env) RemoveRunner(ctx context.Context, repo string, id int64) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete,
		fmt.Sprintf("%s/repos/%s/actions/runners/%d", e.Srv.URL, repo, id), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "token "+PAT)
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
