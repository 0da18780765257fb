// Package probe is the `healthcheck` subcommand of Garo's binaries: a GET of the process's
// own health endpoint, so that an image without a shell or curl can still have a Docker
// HEALTHCHECK.
package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// LocalURL turns a listen address (":8080", "0.0.0.0:8080", "[::]:9102",
// "127.0.0.1:9102") into a URL of path on it that the same host can dial: an unspecified
// host becomes the loopback address.
func LocalURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// Get asks url and reports an error unless it answers 200 within timeout.
func Get(ctx context.Context, url string, timeout time.Duration) error {
	return get(ctx, http.DefaultClient, url, timeout)
}

// insecureLocal is the client of LocalTLS. It does not verify the server's certificate:
// the probe asks its own process on this host, sends no credential and reads only the
// status, and the certificate names the server's public host, not the loopback address
// the probe dials. It never sends a client certificate (health routes need none).
var insecureLocal = &http.Client{Transport: &http.Transport{
	Proxy:           nil,                                                                 // the probe's own host: never through a proxy
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // see above
}}

func get(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
	}
	return nil
}

// Local asks path on the address a process listens on (LocalURL) and reports an error
// unless it answers 200 within 5 s: the body of a `healthcheck` subcommand.
func Local(ctx context.Context, listen, path string) error {
	url, err := LocalURL(listen, path)
	if err != nil {
		return err
	}
	return Get(ctx, url, 5*time.Second)
}

// LocalTLS is Local for a process that serves HTTPS on listen (garo-server with
// server.tls.cert_file): it asks https:// on the loopback address without verifying the
// certificate (see insecureLocal).
func LocalTLS(ctx context.Context, listen, path string) error {
	url, err := LocalURL(listen, path)
	if err != nil {
		return err
	}
	return get(ctx, insecureLocal, "https"+strings.TrimPrefix(url, "http"), 5*time.Second)
}
