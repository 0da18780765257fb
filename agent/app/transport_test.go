package app

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/tlstest"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestPlainHTTPRefused: an http:// URL is refused, in one sentence that says why, unless
// its host is loopback or server.allow_insecure_http is set; the sentence shows no password.
func TestPlainHTTPRefused(t *testing.T) {
	cfg := Defaults()
	cfg.Provider.Type = ProviderMemory
	for url, ok := range map[string]bool{
		"http://garo.example.com":             false,
		"http://agent:s3cret@10.0.0.5:8080/x": false,
		"http://127.0.0.1:8080":               true,
		"http://localhost:8080":               true,
		"http://[::1]:8080":                   true,
		"https://garo.example.com":            true,
	} {
		cfg.Server.URL = url
		err := cfg.Validate()
		if ok != (err == nil) {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if err == nil {
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "server.url: ") || !strings.Contains(msg, "unencrypted") ||
			!strings.Contains(msg, "server.allow_insecure_http: true") || strings.Count(msg, ". ") > 0 || strings.Contains(msg, "s3cret") {
			t.Errorf("%s: %q, want one sentence naming server.allow_insecure_http and no password", url, msg)
		}
		allowed := cfg
		allowed.Server.AllowInsecureHTTP = true
		if err := allowed.Validate(); err != nil {
			t.Errorf("%s with server.allow_insecure_http: %v", url, err)
		}
	}
	cfg.Server.URL, cfg.Server.CertFile = "http://127.0.0.1:8080", "agent.pem"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "server.cert_file and server.key_file go together") ||
		!strings.Contains(err.Error(), "server.cert_file: needs an https:// server.url") {
		t.Errorf("a client certificate without its key, over http: %v", err)
	}
}

// TestPrivateCAAndClientCert: the agent's client trusts server.ca_file (not the system's
// CAs) and presents server.cert_file to a server that requires a client certificate.
func TestPrivateCAAndClientCert(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "garo")
	srvPair, agentPair := ca.Server(t, dir, "server"), ca.Client(t, dir, "agent")
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.TLS.PeerCertificates[0].Subject.CommonName)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvPair.TLSCertificate()}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()

	unregister := func(s Server) error {
		hc, err := httpClient(s, testkit.Discard())
		if err != nil {
			return err
		}
		c, err := client.New(client.Options{BaseURL: s.URL, HTTPClient: hc})
		if err != nil {
			return err
		}
		c.SetCredential("a1", "garoa_test")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		return c.Unregister(ctx)
	}
	s := Server{URL: srv.URL, CAFile: ca.File, CertFile: agentPair.CertFile, KeyFile: agentPair.KeyFile}
	if err := unregister(s); err != nil {
		t.Fatalf("with the CA and the client certificate: %v", err)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "agent" {
		t.Fatalf("the server saw client certificates %v", seen)
	}
	mu.Unlock()
	if err := unregister(Server{URL: srv.URL, CertFile: agentPair.CertFile, KeyFile: agentPair.KeyFile}); err == nil ||
		!strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("without server.ca_file: %v, want the private CA unknown", err)
	}
	if err := unregister(Server{URL: srv.URL, CAFile: ca.File}); err == nil {
		t.Error("without a client certificate the call went through")
	}
	if _, err := httpClient(Server{URL: srv.URL, CAFile: agentPair.KeyFile}, testkit.Discard()); err == nil ||
		!strings.Contains(err.Error(), "server.ca_file") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}

// TestProxyFromEnvironment: HTTPS_PROXY carries the agent's calls (a CONNECT to the
// server's host), NO_PROXY exempts a host, and loopback never goes through a proxy. Only
// 127.0.0.1 is dialled: the proxy answers the CONNECT itself.
func TestProxyFromEnvironment(t *testing.T) {
	var mu sync.Mutex
	var connects []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		connects = append(connects, r.Method+" "+r.Host)
		mu.Unlock()
		http.Error(w, "no tunnels here", http.StatusForbidden)
	}))
	defer proxy.Close()
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("NO_PROXY", "exempt.example.com")

	hc, err := httpClient(Server{URL: "https://garo.example.com"}, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://garo.example.com"+protocol.PathPrefix+"/config", nil)
	resp, err := hc.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	if len(connects) != 1 || connects[0] != "CONNECT garo.example.com:443" {
		t.Fatalf("the proxy saw %v, want one CONNECT garo.example.com:443 (err %v)", connects, err)
	}
	mu.Unlock()
	// Where each URL would go, asked without dialling anything.
	tr := hc.Transport.(*http.Transport)
	for url, want := range map[string]string{
		"https://garo.example.com/":   proxy.URL,
		"https://exempt.example.com/": "",
		"https://127.0.0.1:8443/":     "",
	} {
		r, _ := http.NewRequest(http.MethodGet, url, nil)
		got, err := tr.Proxy(r)
		if err != nil || (got == nil) != (want == "") || (got != nil && "http://"+got.Host != want) {
			t.Errorf("proxy for %s = %v, %v; want %q", url, got, err, want)
		}
	}
}

// TestServerURLPasswordNeverLogged: a password in server.url is in no log line and no
// error of the client, nor in the configuration as printed.
func TestServerURLPasswordNeverLogged(t *testing.T) {
	// A port nobody listens on: every attempt fails, and is logged.
	ln := httptest.NewServer(http.NotFoundHandler())
	closed := ln.URL
	ln.Close()
	url := strings.Replace(closed, "http://", "http://agent:s3cret@", 1)
	log, logs := testkit.TextLogs()
	c, err := client.New(client.Options{BaseURL: url, Log: log, Backoff: backoff.Policy{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCredential("a1", "garoa_test")
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = c.Heartbeat(ctx, protocol.HeartbeatRequest{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("heartbeat to a closed port = %v", err)
	}
	// The URL is in the lines (net/http masks the password), so the check below means something.
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "agent:***@") {
		t.Fatalf("no retry was logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the password leaked:\nerr %v\nlogs\n%s", err, logs)
	}
	if _, err := client.New(client.Options{BaseURL: "ftp://agent:s3cret@x"}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad URL error = %v", err)
	}
	cfg := Defaults()
	cfg.Server.URL = url
	if got := cfg.Redacted().Server.URL; strings.Contains(got, "s3cret") || !strings.Contains(got, "agent:") {
		t.Fatalf("redacted server.url = %q", got)
	}
	for raw, want := range map[string]string{
		"https://agent:s3cret@garo.example.com/x": "https://agent:redacted@garo.example.com/x",
		"https://agent@garo.example.com":          "https://agent@garo.example.com",
		"https://garo.example.com":                "https://garo.example.com",
		"https://a:b@%zz":                         "<unparsable URL>",
	} {
		if got := client.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
