package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/tlsfiles"
)

// serverTLS is the listener's TLS configuration, or nil when the server speaks plain
// HTTP. The certificate is reloaded when its files change (shared/tlsfiles). Client certificates
// are verified when given, on every route, against server.tls.client_ca_file: TLS client
// authentication is per connection and the portal API shares the port, so the
// requirement of one for agents is the agent routes' own (api.Deps.RequireAgentClientCert).
func serverTLS(c config.TLS, log *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r, err := tlsfiles.New(tlsfiles.Options{
		CertFile: c.CertFile, KeyFile: c.KeyFile, CertKey: "server.tls.cert_file", KeyKey: "server.tls.key_file",
		Interval: c.ReloadInterval, Log: log.With("component", "tls"),
	})
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.tls.client_ca_file %s: no PEM certificate in it", c.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	log.Info("serving TLS", "cert_file", c.CertFile, "subject", r.Current().Leaf.Subject.String(),
		"not_after", r.Current().Leaf.NotAfter.UTC(), "client_ca_file", c.ClientCAFile)
	return cfg, nil
}
