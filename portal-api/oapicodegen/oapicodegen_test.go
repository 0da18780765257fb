package oapicodegen_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/serverproc"
)

// root is the module's root, seen from this package's folder.
const root = "../.."

// goCmd runs the go command in dir, outside any workspace and without changing go.mod or
// go.sum, and returns its combined output and error.
func goCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// module makes a copy of the tools/oapi-codegen module in a temporary folder, with
// package garoapi generated from openapi.yaml now, and returns the folder.
func module(t *testing.T) string {
	t.Helper()
	tools, err := filepath.Abs(filepath.Join(root, "tools", "oapi-codegen"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "scenario/main.go"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gen := filepath.Join(dir, "garoapi", "garoapi.gen.go")
	if err := os.MkdirAll(filepath.Dir(gen), 0o755); err != nil {
		t.Fatal(err)
	}
	spec, err := filepath.Abs(filepath.Join(root, "portal-api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := goCmd(t, tools, "tool", "oapi-codegen", "-config", "config.yaml", "-o", gen, spec); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, out)
	}
	return dir
}

// TestScenario compiles tools/oapi-codegen/scenario, a program that uses only the
// generated types and client, and runs it against a real garo-server: every request body
// of the lifecycle is a typed value of the generated package, without casts or raw JSON.
func TestScenario(t *testing.T) {
	dir := module(t)
	bin := filepath.Join(dir, "scenario.bin")
	if out, err := goCmd(t, dir, "build", "-o", bin, "./scenario"); err != nil {
		t.Fatalf("build the scenario on the generated package: %v\n%s", err, out)
	}
	s := serverproc.Start(t, serverproc.Build(t))
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = append(os.Environ(), "GARO_SERVER="+s.URL, "GARO_TOKEN="+s.AdminToken, "GARO_OWNER=go-team")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scenario: %v\n%s", err, out)
	}
	want := []string{
		`created linux-small: version 1, ETag "1", min_idle 0, idle_grace 5m0s`,
		`patched: max_runners 10, min_idle 1, ETag "2"`,
		`stale ETag "1": 412 precondition_failed`,
		`reset: min_idle 0, version 3`,
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("scenario:\n%s", out)
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("line %d: want %q\ngot:\n%s", i+1, w, out)
		}
	}
	for _, w := range []string{
		"refused: invalid_request labels[1]: ",
		"page 1: [b c]",
		"page 2: [linux-small]",
		"registration token for go-team-agents: 2 uses, secret shown once: true",
		"deleted; again: 404 not_found",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("no %q in the scenario's output", w)
		}
	}
}

// TestRefusedBodies: the generated request types refuse at compile time what the server
// would refuse as unknown or read-only members.
func TestRefusedBodies(t *testing.T) {
	dir := module(t)
	src := `package main

import "github.com/garo-dev/garo/tools/oapi-codegen/garoapi"

func main() {
	_ = garoapi.PolicyCreate{Name: "x", MaxRunner: 3}
	_ = garoapi.PolicyCreate{Name: "x", Version: 3}
	_ = garoapi.PolicyPatch{Id: nil}
}
`
	if err := os.MkdirAll(filepath.Join(dir, "refused"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "refused", "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := goCmd(t, dir, "build", "-o", os.DevNull, "./refused")
	if err == nil {
		t.Fatal("a program with unknown and read-only members in request bodies compiled")
	}
	for _, w := range []string{"unknown field MaxRunner", "unknown field Version", "unknown field Id"} {
		if !strings.Contains(out, w) {
			t.Errorf("the compiler did not say %q:\n%s", w, out)
		}
	}
}
