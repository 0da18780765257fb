package config

import "time"

// TLS makes garo-server serve HTTPS itself. Without CertFile and KeyFile it speaks plain
// HTTP (behind a TLS-terminating proxy, or on loopback).
type TLS struct {
	// CertFile and KeyFile are the server's certificate (PEM, the chain after the leaf)
	// and its private key. Both files are watched: a new pair is served, without a
	// restart, at most ReloadInterval after it was written.
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file"`
	// ReloadInterval is how often, at most, the files are checked for a change (on a
	// handshake, so an idle server reads nothing).
	ReloadInterval time.Duration `mapstructure:"reload_interval" yaml:"reload_interval"`
	// ClientCAFile is a PEM bundle of the CAs whose client certificates the server
	// verifies when a client presents one (on every route).
	ClientCAFile string `mapstructure:"client_ca_file" yaml:"client_ca_file"`
	// RequireAgentClientCert refuses agent calls (/agent/v1) without a client
	// certificate of ClientCAFile; the portal API on the same port stays token-only.
	RequireAgentClientCert bool `mapstructure:"require_agent_client_cert" yaml:"require_agent_client_cert"`
}

// Enabled reports whether the server serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (t TLS) validate(bad func(key, format string, args ...any)) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("server.tls.key_file", "must be set when server.tls.cert_file is")
	case t.KeyFile != "" && t.CertFile == "":
		bad("server.tls.cert_file", "must be set when server.tls.key_file is")
	}
	if t.ReloadInterval < 100*time.Millisecond || t.ReloadInterval > time.Hour {
		bad("server.tls.reload_interval", "must be between 100ms and 1h, got %s", t.ReloadInterval)
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		bad("server.tls.client_ca_file", "needs server.tls.cert_file and server.tls.key_file: client certificates travel only over TLS")
	}
	if t.RequireAgentClientCert && t.ClientCAFile == "" {
		bad("server.tls.require_agent_client_cert", "needs server.tls.client_ca_file, the CAs that issue the agents' certificates")
	}
}
