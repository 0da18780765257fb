package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/protocol"
)

const adminToken = "garo_app-test-admin-token-0123456789abcdefghijkl"

// TestAgentProtocolWired: the whole server, as garo-server serve builds it, on each store.
// An agent registers with a token made through the portal API, a policy created meanwhile
// answers its held config poll (the notifier the store's driver chose), and a shutdown
// answers a held poll at once instead of waiting out its hold.
func TestAgentProtocolWired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		cfg := config.Defaults()
		cfg.Server.Listen = "127.0.0.1:0"
		cfg.Database.Driver = b.Driver
		if b.Driver == "sqlite" {
			cfg.Database.SQLitePath = b.DSN
		} else {
			cfg.Database.DSN = b.DSN
		}
		cfg.Auth.BootstrapAdminToken = adminToken
		cfg.Auth.AdminTokenFile = filepath.Join(t.TempDir(), "admin.token")
		addr, _, stop := start(t, cfg)
		defer mustStop(t, stop)
		base := "http://" + addr.String()
		admin, err := client.New(base, adminToken)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var reg protocol.RegisterResponse
		if status := call(t, base, "", http.MethodPost, "/register", "", protocol.RegisterRequest{Token: tok.Token, Name: "h", Provider: "memory"}, &reg); status != http.StatusCreated {
			t.Fatalf("register = %d", status)
		}
		if reg.Intervals.Heartbeat.D() != 15*time.Second || reg.Intervals.LongPoll.D() != 30*time.Second || reg.Intervals.Offline.D() != 3*time.Minute {
			t.Fatalf("intervals = %+v", reg.Intervals)
		}
		var cfg0 protocol.Config
		if status := call(t, base, reg.Credential, http.MethodGet, "/config", "", nil, &cfg0); status != http.StatusOK || len(cfg0.Policies) != 0 {
			t.Fatalf("first config = %d %+v", status, cfg0)
		}

		type polled struct {
			status int
			cfg    protocol.Config
			took   time.Duration
		}
		poll := func() <-chan polled {
			out := make(chan polled, 1)
			go func() {
				start := time.Now()
				var p polled
				p.status = call(t, base, reg.Credential, http.MethodGet, "/config?wait=20s", cfg0.Version, nil, &p.cfg)
				p.took = time.Since(start)
				out <- p
			}()
			return out
		}
		got := poll()
		waitHeld(t, base)
		if _, err := admin.CreatePolicy(ctx, "acme/web", portalapi.PolicyRequest{
			Name: "linux", Labels: []string{"linux"}, MaxRunners: 2, Provider: portalapi.ProviderDocker,
			Runner: portalapi.RunnerSpec{Image: "runner:1"},
		}); err != nil {
			t.Fatal(err)
		}
		p := <-got
		if p.status != http.StatusOK || strings.Join(p.cfg.Repositories, " ") != "acme/web" || p.took > 15*time.Second {
			t.Fatalf("held poll after a policy was created = %d %+v after %s", p.status, p.cfg, p.took)
		}

		cfg0 = p.cfg
		got = poll()
		waitHeld(t, base)
		stopped := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if took := time.Since(stopped); took > 10*time.Second {
			t.Fatalf("shutdown took %s with a held poll", took)
		}
		if p := <-got; p.status != http.StatusNotModified {
			t.Fatalf("held poll at shutdown = %d", p.status)
		}
	})
}

// waitHeld waits until the server's metrics show one held config poll.
func waitHeld(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `garo_agent_polls_waiting{kind="config"} 1`) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the config poll was never held")
}

// call sends one agent protocol request and decodes a 2xx body into out.
func call(t *testing.T, base, credential, method, path, ifNoneMatch string, body, out any) int {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+protocol.PathPrefix+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", `"`+ifNoneMatch+`"`)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Error(err)
		}
	}
	return resp.StatusCode
}
