package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/tlstest"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/probe"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestServeTLS runs the whole server on TLS with a private CA and agent client
// certificates required: the portal API answers on the same port without one, an agent
// call without one is refused with its sentence, one of another CA fails the handshake,
// one of the configured CA registers; the healthcheck probe speaks TLS; and a new pair
// written over the certificate files is served without a restart.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "garo")
	srvPair := ca.Server(t, dir, "server")
	agentPair := ca.Client(t, dir, "agent")
	other := tlstest.NewCA(t, dir, "other")
	stranger := other.Client(t, dir, "stranger")

	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = adminToken
	cfg.Server.TLS = config.TLS{
		CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ReloadInterval: 100 * time.Millisecond,
		ClientCAFile: ca.File, RequireAgentClientCert: true,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	addr, _, stop := start(t, cfg)
	defer mustStop(t, stop)
	base := "https://" + addr.String()

	// A client of its own per certificate, without keep-alives: every request is a new
	// handshake, so it sees the certificate served now.
	httpsClient := func(cert *tlstest.Pair) *http.Client {
		tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			// Sent whatever CAs the server names (Certificates would leave out one of
			// another CA), as garo-agent does.
			c := cert.TLSCertificate()
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}

	// The portal API needs no client certificate.
	admin, err := client.New(base, adminToken, client.WithHTTPClient(httpsClient(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if who, err := admin.WhoAmI(t.Context()); err != nil || who.Name == "" {
		t.Fatalf("whoami over TLS without a client certificate = %+v, %v", who, err)
	}
	// Plain HTTP on the TLS port is no way around it.
	if resp, err := http.Get("http://" + addr.String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP on the TLS port answered 200")
		}
	}
	if err := probe.LocalTLS(t.Context(), addr.String(), "/healthz"); err != nil {
		t.Fatalf("healthcheck probe over TLS: %v", err)
	}

	register := func(hc *http.Client) (int, string, error) {
		tok, err := admin.CreateRegistrationToken(t.Context(), "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(protocol.RegisterRequest{Token: tok.Token, Name: "tls-agent", Provider: "memory"})
		resp, err := hc.Post(base+protocol.PathPrefix+"/register", "application/json", strings.NewReader(string(body)))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Message, nil
	}
	status, msg, err := register(httpsClient(nil))
	if err != nil || status != http.StatusForbidden || !strings.Contains(msg, "requires a client certificate") || !strings.Contains(msg, "server.cert_file") {
		t.Fatalf("register without a client certificate = %d %q, %v; want 403 naming server.cert_file", status, msg, err)
	}
	if status, msg, err := register(httpsClient(stranger)); err == nil {
		t.Fatalf("register with a certificate of another CA = %d %q, want a refused handshake", status, msg)
	}
	if status, msg, err := register(httpsClient(agentPair)); err != nil || status != http.StatusCreated {
		t.Fatalf("register with the agent's certificate = %d %q, %v", status, msg, err)
	}

	// Rotation: a new pair over the same files is served without a restart.
	served := func() *x509.Certificate {
		conn, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0]
	}
	if got := served(); !got.Equal(srvPair.Cert) {
		t.Fatalf("served serial %s, want the first pair's %s", got.SerialNumber, srvPair.Cert.SerialNumber)
	}
	rotated := ca.Server(t, t.TempDir(), "server")
	rotated.WriteTo(t, srvPair)
	testkit.Eventually(t, 10*time.Second, "the rotated certificate to be served", func() bool {
		return served().Equal(rotated.Cert)
	})
}
