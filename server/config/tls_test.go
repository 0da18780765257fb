package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/server/config"
)

// TestTLSValidation: each bad combination of server.tls keys is reported under the key
// to fix; GARO_SERVER_TLS_* variables set them.
func TestTLSValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		tls  config.TLS
		want string
	}{
		"cert without key":   {config.TLS{CertFile: "c.pem"}, "server.tls.key_file: must be set when server.tls.cert_file is"},
		"key without cert":   {config.TLS{KeyFile: "k.pem"}, "server.tls.cert_file: must be set when server.tls.key_file is"},
		"client CA, no TLS":  {config.TLS{ClientCAFile: "ca.pem"}, "server.tls.client_ca_file: needs server.tls.cert_file"},
		"require without CA": {config.TLS{CertFile: "c.pem", KeyFile: "k.pem", RequireAgentClientCert: true}, "server.tls.require_agent_client_cert: needs server.tls.client_ca_file"},
		"reload too often":   {config.TLS{CertFile: "c.pem", KeyFile: "k.pem", ReloadInterval: time.Millisecond}, "server.tls.reload_interval: must be between 100ms and 1h"},
	} {
		c := config.Defaults()
		if tc.tls.ReloadInterval == 0 {
			tc.tls.ReloadInterval = c.Server.TLS.ReloadInterval
		}
		c.Server.TLS = tc.tls
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	t.Setenv("GARO_SERVER_TLS_CERT_FILE", "/etc/garo/tls.crt")
	t.Setenv("GARO_SERVER_TLS_KEY_FILE", "/etc/garo/tls.key")
	t.Setenv("GARO_SERVER_TLS_CLIENT_CA_FILE", "/etc/garo/agents-ca.pem")
	t.Setenv("GARO_SERVER_TLS_REQUIRE_AGENT_CLIENT_CERT", "true")
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.TLS{CertFile: "/etc/garo/tls.crt", KeyFile: "/etc/garo/tls.key", ReloadInterval: 5 * time.Second,
		ClientCAFile: "/etc/garo/agents-ca.pem", RequireAgentClientCert: true}
	if c.Server.TLS != want || !c.Server.TLS.Enabled() {
		t.Fatalf("server.tls = %+v, want %+v", c.Server.TLS, want)
	}
}
