package app_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/docker"
)

// The environment is process-wide: these tests do not run in parallel.

func TestLoadPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "server:\n  url: https://file.example.com\nstate_file: /var/lib/garo/agent.json\nscheduler:\n  interval: 5s\n  parallel: 4\nlog:\n  level: debug\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GARO_AGENT_SERVER_URL", "https://env.example.com")
	t.Setenv("GARO_AGENT_REGISTRATION_TOKEN", "SECRET-token")
	t.Setenv("GARO_AGENT_SCHEDULER_PARALLEL", "16")
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "memory")
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	app.RegisterFlags(fs)
	if err := fs.Parse([]string{"--server-url", "https://flag.example.com", "--status-listen", ""}); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.Load(path, fs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"server.url":          "https://flag.example.com", // flag over env over file
		"registration_token":  "SECRET-token",             // env only
		"state_file":          "/var/lib/garo/agent.json", // file
		"scheduler.interval":  5 * time.Second,            // file
		"scheduler.parallel":  16,                         // env over file
		"log.level":           "debug",
		"status.listen":       "",
		"shutdown.unregister": true, // default
	}
	got := map[string]any{
		"server.url": cfg.Server.URL, "registration_token": cfg.RegistrationToken, "state_file": cfg.StateFile,
		"scheduler.interval": cfg.Scheduler.Interval, "scheduler.parallel": cfg.Scheduler.Parallel,
		"log.level": cfg.Log.Level, "status.listen": cfg.Status.Listen, "shutdown.unregister": cfg.Shutdown.Unregister,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if cfg.Name == "" {
		t.Error("name does not default to the host name")
	}
	red := cfg.Redacted()
	if red.RegistrationToken == "SECRET-token" || cfg.RegistrationToken != "SECRET-token" {
		t.Error("Redacted does not hide the token, or changed the original")
	}
}

func TestInvalidValuesAreNamedByKey(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		yaml string
		want []string
	}{
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "ftp://x"}, want: []string{"server.url"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "capacity:\n  max_runners: -1\n  cpu: lots\n  memory: 1Zi\nscheduler:\n  quota_retry: 1ms\n",
			want: []string{"capacity.max_runners: must be between 0", "capacity.cpu: cpu \"lots\" is not a positive quantity",
				"capacity.memory: memory \"1Zi\"", "scheduler.quota_retry: must be between 100ms and 5m"}},
		{env: map[string]string{}, want: []string{"server.url: must be set"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_SCHEDULER_INTERVAL": "10"}, want: []string{"scheduler.interval: want a duration"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_SCHEDULER_PARALLEL": "many"}, want: []string{"scheduler.parallel: want an integer"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "kubernetes", "GARO_AGENT_LOG_LEVEL": "loud",
			"GARO_AGENT_STATUS_LISTEN": "nope", "GARO_AGENT_SHUTDOWN_UNREGISTER": "maybe"},
			want: []string{"shutdown.unregister: want true or false"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "lxd", "GARO_AGENT_LOG_LEVEL": "loud", "GARO_AGENT_STATUS_LISTEN": "nope"},
			want: []string{"provider.type", "log.level", "status.listen"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "kubernetes"},
			yaml: "provider:\n  kubernetes:\n    namespace: Not_A_Label\n    run_as_user: -1\n    watch_namespaces: [ok, BAD]\n",
			want: []string{"provider.kubernetes.namespace: must be a namespace name", "provider.kubernetes.run_as_user: must be a uid above 0",
				`provider.kubernetes.watch_namespaces: each must be a namespace name (a DNS label), got "BAD"`}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "podman"},
			want: []string{`provider.type: must be "docker" (`, `or "memory" (`, `got "podman"`}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "provider:\n  docker:\n    host: /var/run/docker.sock\n    pull_policy: sometimes\n    stop_timeout: 0s\n    log_tail_lines: 0\n",
			want: []string{"provider.docker.host: must be empty", "provider.docker.pull_policy: must be one of never, if-missing, always, got \"sometimes\"",
				"provider.docker.stop_timeout: must be between 1s and 10m, got 0s", "provider.docker.log_tail_lines: must be between 1 and 1000, got 0"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "provider:\n  docker:\n    stop_timeout: 10\n    log_tail_lines: many\n    pul_policy: never\n",
			want: []string{"provider.docker.pul_policy: unknown key"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "provider:\n  docker:\n    stop_timeout: 10\n    log_tail_lines: many\n",
			want: []string{"provider.docker.stop_timeout: want a duration", "provider.docker.log_tail_lines: want an integer"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "provider:\n  docker:\n    host: ssh://me@host\n    stop_timeout: 11m\n    log_tail_lines: 1001\n",
			want: []string{"provider.docker.host", "provider.docker.stop_timeout", "provider.docker.log_tail_lines"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1"}, yaml: "schedular:\n  interval: 1s\n", want: []string{"schedular.interval: unknown key"}},
		{env: map[string]string{"GARO_AGENT_SERVER_URL": "http://127.0.0.1:1", "GARO_AGENT_PROVIDER_TYPE": "docker"},
			yaml: "provider:\n  docker:\n    allowed_bind_paths: [/srv/ci, relative, /srv/../etc, /]\n    network_mode: my net\n",
			want: []string{`provider.docker.allowed_bind_paths: each must be an absolute, clean host path other than /, got "relative"`, `got "/srv/../etc"`, `got "/"`, `provider.docker.network_mode: must be bridge, host, none or a network name, got "my net"`}},
	} {
		t.Run(strings.Join(tc.want, ","), func(t *testing.T) {
			for _, k := range []string{"GARO_AGENT_SERVER_URL", "GARO_AGENT_SCHEDULER_INTERVAL", "GARO_AGENT_SCHEDULER_PARALLEL",
				"GARO_AGENT_PROVIDER_TYPE", "GARO_AGENT_LOG_LEVEL", "GARO_AGENT_STATUS_LISTEN", "GARO_AGENT_SHUTDOWN_UNREGISTER"} {
				if v, ok := tc.env[k]; ok {
					t.Setenv(k, v)
				} else {
					unsetenv(t, k)
				}
			}
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "a.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := app.Load(path, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestDockerProviderDefaultsAndOverrides(t *testing.T) {
	d := app.Defaults()
	if d.Provider.Type != "" {
		t.Errorf("provider.type defaults to %q, want no default", d.Provider.Type)
	}
	want := docker.Config{Host: "", PullPolicy: "if-missing", StopTimeout: 10 * time.Second, LogTailLines: 20, NetworkMode: "bridge"}
	if !reflect.DeepEqual(d.Provider.Docker, want) {
		t.Errorf("provider.docker defaults = %+v, want %+v", d.Provider.Docker, want)
	}

	// The defaults of docker are valid as they are: choosing the provider is enough.
	for _, k := range []string{"GARO_AGENT_PROVIDER_DOCKER_HOST", "GARO_AGENT_PROVIDER_DOCKER_PULL_POLICY",
		"GARO_AGENT_PROVIDER_DOCKER_STOP_TIMEOUT", "GARO_AGENT_PROVIDER_DOCKER_LOG_TAIL_LINES"} {
		unsetenv(t, k)
	}
	t.Setenv("GARO_AGENT_SERVER_URL", "http://127.0.0.1:1")
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "docker")
	cfg, err := app.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider.Type != "docker" || !reflect.DeepEqual(cfg.Provider.Docker, want) {
		t.Errorf("docker with defaults: %+v", cfg.Provider)
	}

	// File, then environment.
	path := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "provider:\n  docker:\n    host: tcp://10.0.0.5:2376\n    pull_policy: always\n    stop_timeout: 30s\n    log_tail_lines: 50\n    allowed_bind_paths: [/srv/ci, /opt/tools]\n    network_mode: host\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GARO_AGENT_PROVIDER_DOCKER_PULL_POLICY", "never")
	t.Setenv("GARO_AGENT_PROVIDER_DOCKER_HOST", "unix:///run/user/1000/docker.sock")
	cfg, err = app.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = docker.Config{Host: "unix:///run/user/1000/docker.sock", PullPolicy: "never", StopTimeout: 30 * time.Second, LogTailLines: 50,
		NetworkMode: "host", AllowedBindPaths: []string{"/srv/ci", "/opt/tools"}}
	if !reflect.DeepEqual(cfg.Provider.Docker, want) {
		t.Errorf("provider.docker = %+v, want %+v", cfg.Provider.Docker, want)
	}

	// The settings of a provider that is not chosen are not checked.
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "memory")
	t.Setenv("GARO_AGENT_PROVIDER_DOCKER_PULL_POLICY", "sometimes")
	if _, err := app.Load("", nil); err != nil {
		t.Errorf("memory with an unused bad docker setting: %v", err)
	}
}

// provider.type has no default: without it the agent does not start, and says so in one
// sentence that names the key and the choices.
func TestProviderTypeIsRequired(t *testing.T) {
	t.Setenv("GARO_AGENT_SERVER_URL", "http://127.0.0.1:1")
	unsetenv(t, "GARO_AGENT_PROVIDER_TYPE")
	_, err := app.Load("", nil)
	want := `provider.type: must be set (GARO_AGENT_PROVIDER_TYPE or --provider) to "docker" (runners as containers on a Docker engine), ` +
		`"kubernetes" (runners as Pods in a namespace) or "memory" (in-process runners against the GitHub simulator, for tests and demos)`
	if err == nil || err.Error() != want {
		t.Fatalf("Load without provider.type = %v\nwant %s", err, want)
	}
	t.Setenv("GARO_AGENT_PROVIDER_TYPE", "memory")
	cfg, err := app.Load("", nil)
	if err != nil || cfg.Provider.Type != "memory" || cfg.Provider.Memory.JobDuration != time.Second {
		t.Fatalf("memory chosen explicitly: %+v, %v", cfg.Provider, err)
	}
	t.Setenv("GARO_AGENT_PROVIDER_MEMORY_JOB_DURATION", "-1s")
	if _, err := app.Load("", nil); err == nil || !strings.Contains(err.Error(), "provider.memory.job_duration: must not be negative") {
		t.Fatalf("negative job duration: %v", err)
	}
}

// unsetenv removes k from the environment until the test ends (t.Setenv restores it):
// an empty value is not the same as none to the configuration loader.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatalf("unset %s: %v", k, err)
	}
}
