package garoctl_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/stack/hub"
	"github.com/garo-dev/garo/internal/testkit/tlstest"
	"github.com/garo-dev/garo/portal-api/garoctl"
	"github.com/garo-dev/garo/server/config"
)

// TestTLSConnection against a server on HTTPS that verifies client certificates when
// given: the CA bundle makes the server trusted, --insecure-skip-verify works only with a
// warning, a client certificate loads and the handshake with it succeeds (a certificate
// of another CA is simply not sent by Go's TLS client, and the portal API is token-only,
// so there is nothing to refuse); login keeps the TLS settings in the context.
func TestTLSConnection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "garo")
	srv := ca.Server(t, dir, "server")
	good := ca.Client(t, dir, "admin")
	c := newCLIWith(t, hub.Options{ServerCAs: ca.Pool(), Server: func(cfg *config.Config) {
		cfg.Server.TLS = config.TLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ReloadInterval: time.Second, ClientCAFile: ca.File}
	}})
	if !strings.HasPrefix(c.h.ServerURL, "https://") {
		t.Fatalf("server URL %s is not HTTPS", c.h.ServerURL)
	}

	c.fails(garoctl.ExitServer, []string{"certificate"}, "whoami")
	if r := c.run("", "whoami", "--ca-file", ca.File); r.code != 0 || strings.Contains(r.stderr, "WARNING") {
		t.Fatalf("whoami --ca-file: %d %q %q", r.code, r.out, r.stderr)
	}
	r := c.run("", "whoami", "--insecure-skip-verify")
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: not verifying the server's certificate") {
		t.Fatalf("whoami --insecure-skip-verify: %d %q %q", r.code, r.out, r.stderr)
	}
	c.ok("whoami", "--ca-file", ca.File, "--cert-file", good.CertFile, "--key-file", good.KeyFile)
	c.fails(garoctl.ExitUsage, []string{"both --cert-file and --key-file"}, "whoami", "--ca-file", ca.File, "--cert-file", good.CertFile)
	c.fails(garoctl.ExitUsage, []string{"holds no PEM certificate"}, "whoami", "--ca-file", c.write("junk.pem", "junk"))

	c.ok("login", "--server", c.h.ServerURL, "--name", "tls", "--ca-file", ca.File, "--cert-file", good.CertFile, "--key-file", good.KeyFile)
	delete(c.env, "GARO_SERVER")
	delete(c.env, "GARO_TOKEN")
	if out := c.ok("whoami"); !strings.Contains(out, "admin") {
		t.Errorf("whoami through the TLS context = %q", out)
	}
	if out := c.ok("context", "list"); !strings.Contains(out, "mtls") {
		t.Errorf("context list =\n%s", out)
	}
	b, err := os.ReadFile(c.env["GARO_CONFIG"])
	if err != nil || !strings.Contains(string(b), "certificate-authority: "+ca.File) {
		t.Errorf("configuration:\n%s (%v)", b, err)
	}
}
