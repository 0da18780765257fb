package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
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

	httpsClient := func(cert *tlstest.Pair) *http.Client { return tlsClient(ca, cert) }

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

// tlsClient trusts ca and presents cert (nil: none), sent whatever CAs the server names
// (tls.Config.Certificates would leave out one of another CA), as garo-agent does. No
// keep-alives: every request is a new handshake, so it sees the certificate served now.
func tlsClient(ca *tlstest.CA, cert *tlstest.Pair) *http.Client {
	tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		c := cert.TLSCertificate()
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

// TestAgentClientKeyBinding: an agent that registered with a client certificate is bound
// to its key: a renewed certificate on the same key works, another key or none is refused
// with 403 saying what to do. An agent that registered without one is not bound.
func TestAgentClientKeyBinding(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "garo")
	srvPair := ca.Server(t, dir, "server")
	agentPair := ca.Client(t, dir, "agent")
	renewed := ca.ClientWithKey(t, t.TempDir(), "agent", agentPair.Key)
	otherKey := ca.Client(t, dir, "agent-new-key")

	cfg := config.Defaults()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.SQLitePath = filepath.Join(dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = adminToken
	cfg.Server.TLS = config.TLS{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ReloadInterval: time.Second, ClientCAFile: ca.File}
	addr, _, stop := start(t, cfg)
	defer mustStop(t, stop)
	base := "https://" + addr.String()
	admin, err := client.New(base, adminToken, client.WithHTTPClient(tlsClient(ca, nil)))
	if err != nil {
		t.Fatal(err)
	}
	do := func(cert *tlstest.Pair, credential, path string, body any) (int, string, []byte) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+protocol.PathPrefix+path, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		if credential != "" {
			req.Header.Set("Authorization", "Bearer "+credential)
		}
		resp, err := tlsClient(ca, cert).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data), data
	}
	register := func(cert *tlstest.Pair) string {
		tok, err := admin.CreateRegistrationToken(t.Context(), "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		status, msg, data := do(cert, "", "/register", protocol.RegisterRequest{Token: tok.Token, Name: "bound", Provider: "memory"})
		var out protocol.RegisterResponse
		if status != http.StatusCreated || json.Unmarshal(data, &out) != nil {
			t.Fatalf("register = %d %s", status, msg)
		}
		return out.Credential
	}
	heartbeat := func(cert *tlstest.Pair, credential string) (int, string) {
		status, msg, _ := do(cert, credential, "/heartbeat", protocol.HeartbeatRequest{State: protocol.AgentActive})
		return status, msg
	}

	bound := register(agentPair)
	for name, tc := range map[string]struct {
		cert   *tlstest.Pair
		status int
		want   string
	}{
		"the registered certificate":           {agentPair, http.StatusOK, ""},
		"a renewed certificate, same key":      {renewed, http.StatusOK, ""},
		"a certificate of the CA, another key": {otherKey, http.StatusForbidden, "on another key than the one it registered with: renew its certificate on the same key, or register the agent again"},
		"no certificate":                       {nil, http.StatusForbidden, "registered with a client certificate and must present one on the same key"},
	} {
		if status, msg := heartbeat(tc.cert, bound); status != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: heartbeat = %d %s, want %d %q", name, status, msg, tc.status, tc.want)
		}
	}
	// Registered without a certificate: not bound, with or without one.
	free := register(nil)
	for _, cert := range []*tlstest.Pair{nil, otherKey} {
		if status, msg := heartbeat(cert, free); status != http.StatusOK {
			t.Errorf("unbound agent, certificate %v: heartbeat = %d %s", cert != nil, status, msg)
		}
	}
}
