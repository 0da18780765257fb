package docker

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

const authFile = `{
  "auths": {
    "https://index.docker.io/v1/": {"auth": "%s"},
    "ghcr.io": {"username": "bot", "password": "ghcr-secret"},
    "registry.example.com:5000": {"identitytoken": "id-token-secret"},
    "quay.io": {}
  },
  "credsStore": "desktop"
}`

func writeAuthFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	body := fmt.Sprintf(authFile, base64.StdEncoding.EncodeToString([]byte("hubuser:hub:secret")))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRegistryAuth(t *testing.T) {
	t.Parallel()
	a, warnings, err := LoadRegistryAuth(writeAuthFile(t))
	if err != nil {
		t.Fatal(err)
	}
	want := RegistryAuth{
		"docker.io":                 {Username: "hubuser", Password: "hub:secret", ServerAddress: "docker.io"},
		"ghcr.io":                   {Username: "bot", Password: "ghcr-secret", ServerAddress: "ghcr.io"},
		"registry.example.com:5000": {IdentityToken: "id-token-secret", ServerAddress: "registry.example.com:5000"},
	}
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Errorf("auth = %+v, want %+v", a, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "credential helpers") {
		t.Errorf("warnings = %q, want one about credential helpers", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, "secret") {
			t.Errorf("a warning quotes a credential: %s", w)
		}
	}

	for ref, user := range map[string]string{
		"ubuntu:22.04":                          "hubuser",
		"docker.io/library/ubuntu":              "hubuser",
		"ghcr.io/acme/runner:2":                 "bot",
		"registry.example.com:5000/ci/runner:1": "",
		"quay.io/acme/runner":                   "-",
		"registry.example.com/other":            "-",
	} {
		enc, err := a.For(ref)
		if err != nil {
			t.Fatalf("For(%s): %v", ref, err)
		}
		if user == "-" {
			if enc != "" {
				t.Errorf("For(%s) = credentials, want none", ref)
			}
			continue
		}
		got, err := registry.DecodeAuthConfig(enc)
		if err != nil || got.Username != user {
			t.Errorf("For(%s) = %+v, %v; want user %q", ref, got, err, user)
		}
	}

	for name, body := range map[string]string{
		"not JSON":     "{",
		"bad auth":     `{"auths":{"ghcr.io":{"auth":"bm8tY29sb24="}}}`, // "no-colon"
		"not base64":   `{"auths":{"ghcr.io":{"auth":"%%%"}}}`,
		"missing file": "",
	} {
		path := filepath.Join(t.TempDir(), "config.json")
		if body != "" {
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := LoadRegistryAuth(path); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "bm8tY29sb24") {
			t.Errorf("%s: the error quotes the credential: %v", name, err)
		}
	}
}

// fakeEngine answers the calls of a pull and records the X-Registry-Auth of each.
type fakeEngine struct {
	mu    sync.Mutex
	auths []string
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/images/create") && r.Method == http.MethodPost:
		f.mu.Lock()
		f.auths = append(f.auths, r.Header.Get("X-Registry-Auth"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"Pulling from acme/runner"}`)
		fmt.Fprintln(w, `{"status":"Downloaded newer image"}`)
	default:
		http.NotFound(w, r)
	}
}

// A pull carries the credentials of the image's registry, and none for another one.
func TestPullWithRegistryAuth(t *testing.T) {
	t.Parallel()
	engine := &fakeEngine{}
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	a, _, err := LoadRegistryAuth(writeAuthFile(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cli, Config{PullPolicy: PullAlways}, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"ghcr.io/acme/runner:2", "quay.io/acme/runner:1"} {
		if err := p.ensureImage(context.Background(), ref); err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
	}
	engine.mu.Lock()
	defer engine.mu.Unlock()
	if len(engine.auths) != 2 || engine.auths[1] != "" {
		t.Fatalf("X-Registry-Auth headers = %q; want ghcr.io's, then none", engine.auths)
	}
	got, err := registry.DecodeAuthConfig(engine.auths[0])
	if err != nil || got.Username != "bot" || got.Password != "ghcr-secret" || got.ServerAddress != "ghcr.io" {
		t.Errorf("ghcr.io pull credentials = %+v, %v", got, err)
	}
}
