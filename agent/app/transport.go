package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/shared/tlsfiles"
)

// clientCertReload is how often, at most, the agent looks at its client certificate's
// files for a renewal.
const clientCertReload = 30 * time.Second

func (s Server) validate(bad func(key, format string, args ...any)) {
	if s.URL == "" {
		bad("server.url", "must be set (GARO_AGENT_SERVER_URL or --server-url)")
		return
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("server.url", "must be an http(s) URL such as https://garo.example.com, got %q", client.RedactURL(s.URL))
		return
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) && !s.AllowInsecureHTTP {
		bad("server.url", "%s is plain HTTP to a host that is not loopback, so the agent's credential and its runners' "+
			"credentials would cross the network unencrypted: use https://, or set server.allow_insecure_http: true "+
			"(GARO_AGENT_SERVER_ALLOW_INSECURE_HTTP) if something else encrypts the path", client.RedactURL(s.URL))
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		bad("server.cert_file", "server.cert_file and server.key_file go together: set both or neither")
	}
	if u.Scheme == "http" {
		for key, v := range map[string]string{"server.ca_file": s.CAFile, "server.cert_file": s.CertFile} {
			if v != "" {
				bad(key, "needs an https:// server.url, got %s", client.RedactURL(s.URL))
			}
		}
	}
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpClient is the client of the server calls: the proxy of the environment
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY; never for loopback hosts), the default transport's
// connection pool and timeouts, with the CA bundle and the
// client certificate of s. No global timeout: each call has its own.
func httpClient(s Server, log *slog.Logger) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The environment as it is now: http.ProxyFromEnvironment would read it once per
	// process, whatever changed before the client was built.
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	tr.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("server.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.ca_file %s: no PEM certificate in it", s.CAFile)
		}
		tc.RootCAs = pool
	}
	if s.CertFile != "" {
		r, err := tlsfiles.New(tlsfiles.Options{
			CertFile: s.CertFile, KeyFile: s.KeyFile, CertKey: "server.cert_file", KeyKey: "server.key_file",
			Interval: clientCertReload, Log: log,
		})
		if err != nil {
			return nil, err
		}
		tc.GetClientCertificate = r.GetClientCertificate
	}
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}
