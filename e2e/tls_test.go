package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/tlstest"
	"github.com/garo-dev/garo/server/config"
)

// TestAgentOverMutualTLS: garo-server serves TLS with a private CA and requires agent
// client certificates; garo-agent, given the CA bundle and its certificate in its
// configuration, registers, gets a job's runner and the job runs. An agent without a
// client certificate gets no further than its registration, refused with the reason.
func TestAgentOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "garo")
	srvPair, agentPair := ca.Server(t, dir, "server"), ca.Client(t, dir, "agent")
	e := newEnvWith(t, envOptions{serverCAs: ca.Pool(), server: func(c *config.Config) {
		c.Server.TLS = config.TLS{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ReloadInterval: time.Second,
			ClientCAFile: ca.File, RequireAgentClientCert: true}
	}})
	if !strings.HasPrefix(e.server, "https://127.0.0.1:") {
		t.Fatalf("server URL %s, want https", e.server)
	}
	e.policy(t, "small", 0, 2)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 100*time.Millisecond)
	})
	t.Cleanup(prov.Close)

	// Without a client certificate: refused at registration, saying what is missing.
	bare := e.AgentConfig(e.registrationToken(t), "no-cert")
	bare.Provider.Type, bare.Server.CAFile = app.ProviderMemory, ca.File
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := app.Run(ctx, bare, testkit.Discard(), app.Options{Provider: memory.New(memory.Hang)})
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "requires a client certificate") {
		t.Fatalf("agent without a client certificate: %v", err)
	}

	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Server.CAFile, cfg.Server.CertFile, cfg.Server.KeyFile = ca.File, agentPair.CertFile, agentPair.KeyFile
	startAgent(t, e, cfg, prov, app.Options{})
	job, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the job to run on a runner of the TLS agent", func() bool {
		return e.completed([]int64{job.ID}) == 1
	})
}
