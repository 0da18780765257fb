package main

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "garo-agent dev") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	t.Setenv("GARO_AGENT_REGISTRATION_TOKEN", "garo_reg_SECRET")
	out, err := run(t, "config", "print", "--server-url", "https://user:pw@garo.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, "pw@") || !strings.Contains(out, "registration_token: '[redacted]'") {
		t.Fatalf("config print:\n%s", out)
	}
	if _, err := run(t, "config", "print", "--server-url", "https://x", "--provider", "nope"); err == nil || !strings.Contains(err.Error(), "provider.type") {
		t.Fatalf("bad provider: %v", err)
	}
}

func TestConfigPrintShowsDockerKeys(t *testing.T) {
	out, err := run(t, "config", "print", "--server-url", "https://x", "--provider", "docker")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: docker", "docker:\n    host: \"\"\n    pull_policy: if-missing\n    stop_timeout: 10s\n    log_tail_lines: 20\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	t.Setenv("GARO_AGENT_PROVIDER_DOCKER_PULL_POLICY", "sometimes")
	if _, err := run(t, "config", "print", "--server-url", "https://x", "--provider", "docker"); err == nil ||
		!strings.Contains(err.Error(), "provider.docker.pull_policy") {
		t.Fatalf("bad pull policy: %v", err)
	}
}
