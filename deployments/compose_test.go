package deployments_test

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	agentapp "github.com/garo-dev/garo/agent/app"
	serverconfig "github.com/garo-dev/garo/server/config"
	"github.com/garo-dev/garo/shared/configload"
)

// service is the part of a compose service this test reads.
type service struct {
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	GroupAdd    []string          `yaml:"group_add"`
}

// TestCompose loads what garo-server and garo-agent would see in compose/compose.yaml
// (the image's ENV, then the service's environment, with .env.example's values) through
// their real configuration loaders, refuses GARO_ variables that name no key (the loaders
// ignore them), and checks that the services fit together.
func TestCompose(t *testing.T) {
	services := loadCompose(t)
	server, agent := services["garo-server"], services["garo-agent"]
	if server == nil || agent == nil {
		t.Fatalf("compose.yaml: want services garo-server and garo-agent, have %v", mapKeys(services))
	}

	serverEnv := containerEnv(t, "garo-server", server)
	setConfigEnv(t, serverEnv, serverconfig.EnvPrefix, configload.Keys(&serverconfig.Config{}))
	scfg, err := serverconfig.Load("", nil)
	if err != nil {
		t.Fatalf("garo-server's configuration:\n%v", err)
	}
	if scfg.Database.Driver != "postgres" {
		t.Errorf("garo-server uses database.driver %s, want postgres", scfg.Database.Driver)
	}
	if dsn, err := url.Parse(scfg.Database.DSN); err != nil || services[dsn.Hostname()] == nil {
		t.Errorf("database.dsn %s: want a postgres:// URL naming a compose service (%v)", scfg.Redacted().Database.DSN, err)
	}
	_, port, _ := net.SplitHostPort(scfg.Server.Listen)
	if !slices.ContainsFunc(server.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
		t.Errorf("garo-server listens on %s, but its ports %v publish no :%s", scfg.Server.Listen, server.Ports, port)
	}
	if scfg.Auth.BootstrapAdminToken == "" {
		mountedDir(t, "garo-server", server, scfg.Auth.AdminTokenFile)
	}

	agentEnv := containerEnv(t, "garo-agent", agent)
	setConfigEnv(t, agentEnv, agentapp.EnvPrefix, configload.Keys(&agentapp.Config{}))
	acfg, err := agentapp.Load("", nil)
	if err != nil {
		t.Fatalf("garo-agent's configuration:\n%v", err)
	}
	if u, err := url.Parse(acfg.Server.URL); err != nil || u.Hostname() != "garo-server" || u.Port() != port {
		t.Errorf("garo-agent's server.url %s: want http://garo-server:%s, where garo-server listens", acfg.Server.URL, port)
	}
	mountedDir(t, "garo-agent", agent, acfg.StateFile)
	if acfg.Provider.Type != "docker" {
		t.Errorf("garo-agent's provider.type is %s, want docker", acfg.Provider.Type)
	}
	socket := "/var/run/docker.sock"
	if h := acfg.Provider.Docker.Host; h != "" {
		socket = strings.TrimPrefix(h, "unix://")
	}
	if !slices.ContainsFunc(agent.Volumes, func(v string) bool { return volumeTarget(v) == socket }) {
		t.Errorf("garo-agent talks to %s, which none of its volumes %v mounts", socket, agent.Volumes)
	}
	if len(agent.GroupAdd) == 0 {
		t.Error("garo-agent runs as uid 65532 and needs the Docker socket's group: group_add")
	}
}

// loadCompose reads compose/compose.yaml with every ${VAR} replaced as docker compose does,
// from compose/.env.example, and fails on a variable the example lacks or does not use.
func loadCompose(t *testing.T) map[string]*service {
	t.Helper()
	vars := map[string]string{}
	f, err := os.Open("compose/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read only
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is not NAME=value", line)
		}
		vars[k] = v
	}

	b, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	used := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			n.Value = interpolate(t, n.Value, n.Line, vars, used)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	for k := range vars {
		if !used[k] {
			t.Errorf(".env.example sets %s, which compose.yaml does not use", k)
		}
	}
	var compose struct {
		Services map[string]*service `yaml:"services"`
	}
	if err := doc.Decode(&compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return compose.Services
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}|\$\$|\$`)

// interpolate replaces ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and
// ${VAR?error} in s as compose does; a bare $ must be written $$.
func interpolate(t *testing.T, s string, line int, vars map[string]string, used map[string]bool) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		p := placeholder.FindStringSubmatch(m)
		if p[1] == "" {
			t.Errorf("compose.yaml:%d: a bare $ in %q: write ${VAR}, or $$ for a dollar", line, s)
			return m
		}
		name, op, arg := p[1], p[2], p[3]
		v, set := vars[name]
		used[name] = true
		switch {
		case op == "" && arg != "":
			t.Errorf("compose.yaml:%d: %s: not a compose placeholder", line, m)
		case op == "" && !set:
			t.Errorf("compose.yaml:%d: %s has no value in .env.example (and no default)", line, m)
		case op == ":-" && v == "", op == "-" && !set:
			return arg
		case op == ":?" && v == "", op == "?" && !set:
			t.Errorf("compose.yaml:%d: %s is required but empty in .env.example", line, m)
		}
		return v
	})
}

// containerEnv is the environment of a container of the service: its image's ENV (from
// the Dockerfile), then the service's environment.
func containerEnv(t *testing.T, name string, s *service) map[string]string {
	t.Helper()
	env := parseDockerfile(t, name).final().env(t)
	for k, v := range s.Environment {
		env[k] = v
	}
	return env
}

// setConfigEnv sets the configuration variables of env for the test, and every other
// variable of a key to empty (unset, for the loaders). A variable with the prefix that
// names no key fails the test: the loaders would ignore it silently.
func setConfigEnv(t *testing.T, env map[string]string, prefix string, keys []string) {
	t.Helper()
	known := map[string]bool{}
	for _, k := range keys {
		known[prefix+"_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
	}
	for k := range env {
		if strings.HasPrefix(k, "GARO_") && !known[k] {
			t.Errorf("%s names no configuration key with prefix %s_ (misspelt?)", k, prefix)
		}
	}
	for k := range known {
		t.Setenv(k, env[k])
	}
}

// mountedDir fails unless the folder of file is the target of one of the service's volumes.
func mountedDir(t *testing.T, name string, s *service, file string) {
	t.Helper()
	dir := path.Dir(file)
	if !slices.ContainsFunc(s.Volumes, func(v string) bool { return volumeTarget(v) == dir }) {
		t.Errorf("%s keeps %s, but none of its volumes %v is mounted at %s: it would be lost with the container", name, file, s.Volumes, dir)
	}
}

// volumeTarget is where a volume of the short syntax (source:target[:mode]) is mounted.
func volumeTarget(v string) string {
	parts := strings.Split(v, ":")
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[1]
}

func mapKeys[V any](m map[string]V) string { return fmt.Sprint(slices.Sorted(maps.Keys(m))) }
