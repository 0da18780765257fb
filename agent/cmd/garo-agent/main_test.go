package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
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
	out, err := run(t, "config", "print", "--server-url", "https://user:pw@garo.example.com", "--provider", "memory")
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

// healthcheck asks the agent at status.listen: 0 on 200, an error otherwise, and a clear
// one when the status endpoint is off.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if _, err := w.Write([]byte(`{"status":"ok"}`)); err != nil {
			t.Errorf("healthz answer: %v", err)
		}
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")
	if _, err := run(t, "healthcheck", "--server-url", "https://x", "--provider", "docker", "--status-listen", listen); err != nil {
		t.Errorf("healthcheck: %v", err)
	}
	if _, err := run(t, "healthcheck", "--server-url", "https://x", "--provider", "docker", "--status-listen", ""); err == nil || !strings.Contains(err.Error(), "status.listen is empty") {
		t.Errorf("healthcheck without a status endpoint: %v", err)
	}
	srv.Close()
	if _, err := run(t, "healthcheck", "--server-url", "https://x", "--provider", "docker", "--status-listen", listen); err == nil {
		t.Error("healthcheck passed with no agent")
	}
}

// --help names every provider this build runs, and provider.type as required.
func TestHelpNamesTheBuiltProviders(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(out), " ")
	want := `provider.type (--provider, GARO_AGENT_PROVIDER_TYPE) is required: "docker", "kubernetes"`
	if !strings.Contains(text, want) {
		t.Errorf("--help does not say that provider.type is required and name the providers:\n%s", out)
	}
	if strings.Contains(strings.ToLower(text), "not in this build") {
		t.Errorf("--help still calls a provider missing from this build:\n%s", out)
	}
}

// Without provider.type, run stops before anything else with one sentence naming the key
// and the choices.
func TestRunWithoutProviderType(t *testing.T) {
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "")
	_, err := run(t, "run", "--server-url", "http://127.0.0.1:1")
	want := "invalid configuration:\nprovider.type: must be set (GARO_AGENT_PROVIDER_TYPE or --provider) to \"docker\""
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("run without provider.type: %v", err)
	}
}

// A GARO_AGENT_* variable that names no key is reported at start (config print: on
// standard error), never with its value; GARO_AGENT_STRICT_ENV=1 refuses it.
func TestUnknownEnvironmentVariable(t *testing.T) {
	t.Setenv("GARO_AGENT_REGISTRATON_TOKEN", "garor_SECRET")
	t.Setenv("GARO_AGENT_CONFIG", "") // the config file's variable is no key, and not reported
	out, err := run(t, "config", "print", "--server-url", "https://x", "--provider", "memory")
	if err != nil {
		t.Fatal(err)
	}
	want := "garo-agent: warning: GARO_AGENT_REGISTRATON_TOKEN: names no configuration key (did you mean GARO_AGENT_REGISTRATION_TOKEN?)"
	if !strings.Contains(out, want) || strings.Contains(out, "SECRET") {
		t.Fatalf("config print:\n%s\nwant the warning %q, and no value", out, want)
	}
	t.Setenv("GARO_AGENT_STRICT_ENV", "1")
	_, err = run(t, "config", "print", "--server-url", "https://x", "--provider", "memory")
	if err == nil || !strings.Contains(err.Error(), "GARO_AGENT_REGISTRATON_TOKEN: names no configuration key") || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("with GARO_AGENT_STRICT_ENV=1: %v, want the variable refused", err)
	}
}
