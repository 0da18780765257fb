// Package serverproc runs the real garo-server binary as a process of its own for one test:
// built with `go build` from this checkout, on SQLite in the test's temporary folder,
// listening on a free loopback port, with a bootstrap admin token and a webhook secret the
// test knows. Tests of clients that are not Go (the TypeScript SDK) and of generated
// clients (oapi-codegen) talk to it over HTTP, as a portal would.
package serverproc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverPackage is garo-server's main package, built by Build.
const serverPackage = "github.com/garo-dev/garo/server/cmd/garo-server"

// startTimeout bounds how long a start may take before the test fails: migrations on a
// fresh SQLite file and the first listen take well under a second on a quiet machine.
const startTimeout = 60 * time.Second

// Server is a running garo-server.
type Server struct {
	// URL is the server's base URL, "http://127.0.0.1:<port>", without a trailing slash.
	URL string
	// AdminToken is the bootstrap admin token (scope admin, no owner prefixes).
	AdminToken string
	// WebhookSecret is the secret that /webhooks/github checks signatures with.
	WebhookSecret string
	// Log is the file that receives the server's standard error.
	Log string
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Build builds garo-server once per test binary (go's build cache makes later builds of
// other test binaries cheap) and returns the path of the executable.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "garo-serverproc-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "garo-server")
		start := time.Now()
		// "go" is the toolchain running this test: go test puts its GOROOT/bin first on PATH.
		cmd := exec.Command("go", "build", "-o", buildBin, serverPackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %s: %w\n%s", serverPackage, err, out)
			return
		}
		t.Logf("garo-server built in %s", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Start runs bin (from Build) until the test ends, with extra "GARO_KEY=value" settings
// after its own. Every GARO_* variable of the test's environment is left out, so that a
// developer's settings cannot change the server under test. The server is stopped with
// SIGTERM when the test ends (killed if it does not exit within 10 s), and its log is
// shown when the test failed.
func Start(t testing.TB, bin string, extra ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{
		AdminToken:    "garo_" + secret(t),
		WebhookSecret: secret(t),
		Log:           filepath.Join(dir, "garo-server.log"),
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GARO_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GARO_SERVER_LISTEN=127.0.0.1:0",
		"GARO_DATABASE_DRIVER=sqlite",
		"GARO_DATABASE_SQLITE_PATH="+filepath.Join(dir, "garo.db"),
		"GARO_AUTH_ADMIN_TOKEN_FILE="+filepath.Join(dir, "admin.token"),
		// Secrets travel in the environment, never in argv.
		"GARO_AUTH_BOOTSTRAP_ADMIN_TOKEN="+s.AdminToken,
		"GARO_GITHUB_WEBHOOK_SECRET="+s.WebhookSecret,
		"GARO_LOG_FORMAT=json",
	)
	env = append(env, extra...)

	logFile, err := os.Create(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start garo-server: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	addr := make(chan string, 1)
	go func() {
		addr <- readAddress(stdout)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		waitErr = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		stop(cmd, exited)
		if t.Failed() {
			if b, err := os.ReadFile(s.Log); err == nil {
				t.Logf("garo-server log (%s):\n%s", s.Log, b)
			}
		}
	})

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		if a == "" {
			<-exited
			t.Fatalf("garo-server exited before listening: %v", waitErr)
		}
		s.URL = "http://" + a
	case <-exited:
		t.Fatalf("garo-server exited before listening: %v", waitErr)
	case <-timer.C:
		t.Fatalf("garo-server did not listen within %s", startTimeout)
	}
	return s
}

// listening matches the line garo-server prints once it listens (docs/operations.md).
var listening = regexp.MustCompile(`listening on http://(\S+) `)

// readAddress returns the address of the "listening on" line, or "" when stdout ends first.
func readAddress(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}

// stop ends the process: SIGTERM, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = cmd.Process.Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-exited:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
	}
}

// secret returns 43 URL-safe base64 characters (32 random bytes).
func secret(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
