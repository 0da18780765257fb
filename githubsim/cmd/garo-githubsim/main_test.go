package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

func TestRun(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--listen", "127.0.0.1:0", "--app-id", "77", "--repos", "acme/api, acme/web",
			"--private-key-out", keyFile, "--pat", "ghp_demo", "--log-level", "warn",
			"--runner-group", "acme/ci-fleet=selected:acme/api", "--repository-runners", "acme=none",
		}, pw, io.Discard)
		_ = pw.Close()
	}()
	out := bufio.NewReader(pr)
	first, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("read first line: %v", err)
	}
	m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+) .*app id 77`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q does not say where it listens", first)
	}
	base := m[1]
	for _, repo := range []string{"acme/api", "acme/web"} {
		line, err := out.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "repository "+repo+": id ") || !strings.Contains(line, "installation id ") {
			t.Fatalf("repository line %q, %v", line, err)
		}
	}
	for _, want := range []string{"runner group acme/ci-fleet: id 2, visibility selected", "repository-level runners of acme: none"} {
		if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("line %q, %v; want %q", line, err, want)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // drain until run ends

	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}

	// The written key is the App's: a JWT signed with it reads GET /app.
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(), "iss": "77",
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/app", tok, http.StatusOK},
		{"/repos/acme/web/actions/runners", "ghp_demo", http.StatusOK},
		{"/repos/acme/nope/actions/runners", "ghp_demo", http.StatusNotFound},
		{"/orgs/acme/actions/runner-groups/2/repositories", "ghp_demo", http.StatusOK},
		{"/_sim/healthz", "", http.StatusOK},
		{"/_sim/faults", "", http.StatusOK},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("GET %s: %d %v, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--repos", "not-a-repo", "--listen", "127.0.0.1:0"},
		{"--log-level", "loud", "--listen", "127.0.0.1:0"},
		{"--path-prefix", "api/v3", "--listen", "127.0.0.1:0"},
		{"--runner-lost-after", "0s", "--listen", "127.0.0.1:0"},
		{"--nope"},
		{"extra"},
		{"--repos", "acme/api", "--runner-group", "acme/gpu=everyone", "--listen", "127.0.0.1:0"},
		{"--repos", "acme/api", "--runner-group", "acme=all", "--listen", "127.0.0.1:0"},
		{"--repos", "acme/api", "--runner-group", "acme/gpu=all:acme/api", "--listen", "127.0.0.1:0"},
		{"--repos", "acme/api", "--runner-group", "umbrella/gpu=all", "--listen", "127.0.0.1:0"},
		{"--repos", "acme/api", "--repository-runners", "acme=off", "--listen", "127.0.0.1:0"},
		{"--repos", "acme/api", "--repository-runners", "umbrella=none", "--listen", "127.0.0.1:0"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// --app adds a GitHub App with its own key file and installation on every repository.
func TestRunWithAnotherApp(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "app-2.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--repos", "acme/api", "--app", "2:" + keyFile + ":secret:with:colons", "--log-level", "warn"}, pw, io.Discard)
		_ = pw.Close()
	}()
	out := bufio.NewReader(pr)
	if _, err := out.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	line, err := out.ReadString('\n')
	if err != nil || !regexp.MustCompile(`^repository acme/api: id \d+, installation id \d+, app 2 installation id \d+\n$`).MatchString(line) {
		t.Fatalf("repository line %q, %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes); err != nil {
		t.Fatalf("key file of app 2: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"2", "x:k.pem", "0:k.pem", "2:"} {
		if err := run(context.Background(), []string{"--app", bad, "--listen", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil {
			t.Errorf("--app %q: no error", bad)
		}
	}
}
