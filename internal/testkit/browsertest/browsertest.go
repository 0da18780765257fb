// Package browsertest is a real headless Chromium for one test, driven with chromedp: the
// browser tests of garo-server's web console (server/console) use it. Chromium is Debian's
// `chromium` package (.ci/run installs it); without it a test skips, loudly, or fails when
// CI=true. Screenshots go to .cache/screenshots at the module's root, kept as CI artifacts.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// candidates are the names Chromium goes by on Debian and elsewhere; GARO_CHROMIUM, when
// set, is tried first.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"}

// Browser is a running Chromium with one tab.
type Browser struct {
	// Ctx is the tab's context: pass it to chromedp.Run.
	Ctx context.Context

	mu       sync.Mutex
	problems []string
}

// New starts a headless Chromium until the test ends and returns its one tab. Uncaught
// exceptions and console errors of the page (Content-Security-Policy violations among
// them) are collected: Problems returns them.
func New(t testing.TB) *Browser {
	t.Helper()
	if find() == "" {
		msg := noChromium("the browser tests did NOT run")
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return start(t, find())
}

// Optional is New for a test whose browser part is one check among others: without
// Chromium it returns nil and logs, loudly, that the browser part did not run (and fails
// the test with CI=true) instead of skipping the whole test.
func Optional(t testing.TB) *Browser {
	t.Helper()
	if find() == "" {
		msg := noChromium("the browser part of " + t.Name() + " did NOT run")
		if inCI() {
			t.Fatal(msg)
		}
		t.Log(msg)
		return nil
	}
	return start(t, find())
}

func noChromium(what string) string {
	return "\n\n*** NO CHROMIUM: " + what + " (none of " + strings.Join(candidates, ", ") + " on PATH).\n" +
		"*** Install Debian's chromium (see .ci/run) to run it.\n"
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

func start(t testing.TB, exe string) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// CI runs as root, where Chromium's sandbox cannot start; the pages are our own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &Browser{Ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if e := ev.ExceptionDetails.Exception; e != nil {
				msg += " " + e.Description
			}
			b.add("exception: " + msg)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.add("console " + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	return b
}

func (b *Browser) add(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

// Problems returns the exceptions and console errors and warnings seen so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Screenshot saves the whole page as .cache/screenshots/<name>.png at the module's root
// and returns the file's path. It also fails the test if the page has controls, links or
// drawings without an accessible name (Unlabelled).
func (b *Browser) Screenshot(t *testing.T, name string) string {
	t.Helper()
	if u := b.Unlabelled(t); len(u) > 0 {
		t.Errorf("%s: without an accessible name: %v", name, u)
	}
	path, err := b.SaveScreenshot(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

// SaveScreenshot is Screenshot without a test: for a goroutine that drives the browser
// beside the test's own (which may not call t.Fatal). It checks no labels.
func (b *Browser) SaveScreenshot(name string) (string, error) {
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", fmt.Errorf("screenshot %s: %w", name, err)
	}
	dir, err := screenshotDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", fmt.Errorf("screenshot %s: %w", name, err)
	}
	return path, nil
}

func find() string {
	names := candidates
	if p := os.Getenv("GARO_CHROMIUM"); p != "" {
		names = append([]string{p}, names...)
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is .cache/screenshots beside the go.mod above the working directory.
func screenshotDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			out := filepath.Join(dir, ".cache", "screenshots")
			return out, os.MkdirAll(out, 0o755)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// unlabelled lists, as short descriptions, the form controls of the page without an
// accessible name (a <label for>, a wrapping <label>, aria-label or aria-labelledby), the
// buttons and links without text or aria-label, and the role="img" drawings without
// aria-label.
const unlabelled = `(() => {
  const out = [];
  const named = (el) => (el.labels && el.labels.length > 0) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) if (!named(el)) out.push(el.tagName.toLowerCase() + "#" + el.id);
  for (const el of document.querySelectorAll("button, a[href]")) if (!el.textContent.trim() && !el.getAttribute("aria-label")) out.push(el.tagName.toLowerCase() + " " + el.outerHTML.slice(0, 60));
  for (const el of document.querySelectorAll("[role=img]")) if (!el.getAttribute("aria-label")) out.push("img " + (el.id || el.tagName));
  return out;
})()`

// Unlabelled returns the controls, links and drawings of the page that a screen reader
// could not name; a test fails on any.
func (b *Browser) Unlabelled(t *testing.T) []string {
	t.Helper()
	out, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](unlabelled))
	if err != nil {
		t.Fatalf("check labels: %v", err)
	}
	return out
}
