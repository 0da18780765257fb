package e2e_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit/browsertest"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// browserWait bounds each wait of the browser test for something to appear: the console
// refreshes a page every 5 s, so a change shows within one or two refreshes.
const browserWait = 30 * time.Second

// do runs browser actions, failing the test with what it was doing.
func do(t *testing.T, b *browsertest.Browser, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\nproblems of the page: %v", what, err, b.Problems())
	}
}

// waitText waits until the element sel's text contains want; the page changes it itself.
func waitText(t *testing.T, b *browsertest.Browser, sel, want string) {
	t.Helper()
	js := `(() => { const e = document.querySelector(` + quote(sel) + `); return !!e && e.textContent.includes(` + quote(want) + `); })()`
	ctx, cancel := context.WithTimeout(b.Ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		var have string
		have, _ = chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		t.Fatalf("%q never showed %q: %v\nthe page shows:\n%s\nproblems of the page: %v", sel, want, err, have, b.Problems())
	}
}

func quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

func signIn(t *testing.T, b *browsertest.Browser, base, token string) {
	t.Helper()
	do(t, b, "sign-in page", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.Screenshot(t, "console-signin")
	do(t, b, "sign in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")))
	waitText(t, b, "main h1", "Overview")
}

// TestConsoleInABrowser drives the web console (server/console) in a real headless
// Chromium against the in-process stack: sign in with a token, the overview, the policy
// list, a policy's queue filling while runners are held and draining live (no reload) as
// they run on the memory provider, a job's timeline, a field error and a 412 conflict in
// the edit form, the agents and audit pages, and a read-only token that cannot edit.
// Screenshots of each page land in .cache/screenshots.
func TestConsoleInABrowser(t *testing.T) {
	b := browsertest.New(t)
	e := newEnv(t)
	e.policy(t, "small", 0, 1)
	readOnly, err := e.portal.CreateToken(t.Context(), portalapi.TokenRequest{Name: "portal-readonly", Scopes: []string{portalapi.ScopePoliciesRead}})
	if err != nil {
		t.Fatal(err)
	}

	// Runners wait at the start line until the test has seen the queue in the browser.
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return e.sim.RunRunner(ctx, r.JITConfig(), 200*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	startAgent(t, e, e.agentConfig(e.registrationToken(t)), prov, app.Options{})
	var ids []int64
	for range 3 {
		j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}

	signIn(t, b, e.server, adminToken)
	waitText(t, b, "main", "Queued jobs")
	waitText(t, b, "main", "Agents")
	// GitHub's budgets, per credential: the App's (finding installations) and the
	// installation's (the runner credentials), live from GET /api/v1/github/rate-limit.
	waitText(t, b, "main", "GitHub rate limit per credential")
	waitText(t, b, "#rates table", "installation/")
	waitText(t, b, "#rates table", "app")
	meters, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#rates meter[aria-label]").length`))
	if err != nil || meters < 2 {
		t.Fatalf("the overview shows %d rate-limit meters (%v), want one per budget", meters, err)
	}
	b.Screenshot(t, "console-overview")

	do(t, b, "policies", chromedp.Navigate(e.server+"/ui/#/policies"))
	waitText(t, b, "main table", "small")
	b.Screenshot(t, "console-policies")

	// A new policy from the form: a field error first, then created.
	do(t, b, "create a policy with duplicate labels",
		chromedp.SendKeys(chromedp.CSS("#c-repository"), "acme/web"),
		chromedp.SendKeys(chromedp.CSS("#c-name"), "linux"),
		chromedp.SendKeys(chromedp.CSS("#c-labels"), "linux, Linux"),
		chromedp.SendKeys(chromedp.CSS("#c-max_runners"), "2"),
		chromedp.SendKeys(chromedp.CSS("#c-image"), "runner:1"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
	)
	waitText(t, b, "#c-labels-error", "duplicate label")
	do(t, b, "create it", chromedp.SetValue(chromedp.CSS("#c-labels"), "linux"), chromedp.Click(chromedp.CSS("#create button[type=submit]")))
	waitText(t, b, "main h1", "linux")
	if p, err := e.portal.GetPolicy(t.Context(), "acme/web", "linux"); err != nil || p.MaxRunners != 2 {
		t.Fatalf("the policy made in the console: %+v, %v", p, err)
	}

	// The queue fills: three jobs wait (max_runners 1, the one runner held).
	do(t, b, "policy page", chromedp.Navigate(e.server+"/ui/#/policies/acme/api/small"))
	waitText(t, b, "main", "3 jobs waiting.")
	waitText(t, b, "main", "waiting for capacity")
	// Its one runner, held at the start line, is listed with its agent.
	waitText(t, b, "#runners", "1 runner: 1 ")
	waitText(t, b, "#runners table", "e2e-agent")
	b.Screenshot(t, "console-policy-queue")

	// The agent's page: its settings and that runner, reached from the agents list.
	do(t, b, "agents list", chromedp.Navigate(e.server+"/ui/#/agents"))
	waitText(t, b, "main table", "e2e-agent")
	do(t, b, "agent page", chromedp.Click(chromedp.CSS(`main table a[href^="#/agents/"]`)))
	waitText(t, b, "main h1", "e2e-agent")
	waitText(t, b, "#runners", "1 runner: 1 ")
	waitText(t, b, "#runners table", "acme/api")
	waitText(t, b, "main dl", "acme/api")
	b.Screenshot(t, "console-agent")
	do(t, b, "back to the policy page", chromedp.Navigate(e.server+"/ui/#/policies/acme/api/small"))
	waitText(t, b, "main", "3 jobs waiting.")

	// ... and drains without a reload once runners may run.
	open()
	waitText(t, b, "main", "0 jobs waiting.")
	waitText(t, b, "#runners", "0 runners.")
	b.Screenshot(t, "console-policy-drained")

	// A field error next to its field.
	do(t, b, "invalid labels",
		chromedp.SetValue(chromedp.CSS("#e-labels"), "small, Small"),
		chromedp.Click(chromedp.CSS("#e-save")),
	)
	waitText(t, b, "#e-labels-error", "duplicate label")
	b.Screenshot(t, "console-policy-field-error")

	// Someone else changes the policy: the form's save is a 412, explained.
	do(t, b, "reload the form", chromedp.Navigate(e.server+"/ui/#/jobs"), chromedp.Navigate(e.server+"/ui/#/policies/acme/api/small"))
	waitText(t, b, "main", "Edit")
	if _, err := e.portal.PatchPolicy(t.Context(), repo, "small", map[string]any{"max_runners": 2}, ""); err != nil {
		t.Fatal(err)
	}
	do(t, b, "stale save",
		chromedp.SetValue(chromedp.CSS("#e-max_runners"), "3"),
		chromedp.Click(chromedp.CSS("#e-save")),
	)
	waitText(t, b, "#conflict", "Someone changed this policy after you opened it")
	b.Screenshot(t, "console-policy-conflict")
	if p, err := e.portal.GetPolicy(t.Context(), repo, "small"); err != nil || p.MaxRunners != 2 {
		t.Fatalf("after the 412 the policy is %+v, %v; want max_runners 2", p, err)
	}

	// The YAML view is a document garoctl reads: a copy of it under another name is created
	// by garoctl policy create -f, and garoctl prints the copy as it prints the original.
	do(t, b, "policy page for its YAML", chromedp.Navigate(e.server+"/ui/#/jobs"), chromedp.Navigate(e.server+"/ui/#/policies/acme/api/small"))
	waitText(t, b, "#yaml", `max_runners: 2`)
	// The history is the last part the page's first refresh draws: the page is whole.
	waitText(t, b, "main", "policy.patch")
	b.Screenshot(t, "console-policy-yaml")
	doc, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#yaml").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	checkYAMLView(t, e.server, doc)

	// A job's timeline as a picture, every step up to completed.
	do(t, b, "job page", chromedp.Navigate(e.server+"/ui/#/jobs/acme/api/"+itoa(ids[0])))
	waitText(t, b, "main", "completed")
	for _, step := range []string{"received", "matched", "runner_online", "completed"} {
		do(t, b, "timeline step "+step, chromedp.WaitVisible(chromedp.CSS(`#timeline circle[data-step="`+step+`"]`)))
	}
	b.Screenshot(t, "console-job-timeline")

	do(t, b, "jobs", chromedp.Navigate(e.server+"/ui/#/jobs"))
	waitText(t, b, "main table", "#"+itoa(ids[2]))
	b.Screenshot(t, "console-jobs")

	do(t, b, "agents", chromedp.Navigate(e.server+"/ui/#/agents"))
	waitText(t, b, "main table", "e2e-agent")
	waitText(t, b, "main table", "active")
	b.Screenshot(t, "console-agents")

	do(t, b, "audit", chromedp.Navigate(e.server+"/ui/#/audit"))
	waitText(t, b, "main table", "policy.patch")
	b.Screenshot(t, "console-audit")

	// Tokens: an API token and a registration token, each secret shown once.
	do(t, b, "tokens", chromedp.Navigate(e.server+"/ui/#/tokens"))
	waitText(t, b, "main table", "bootstrap-admin")
	do(t, b, "create a token",
		chromedp.SendKeys(chromedp.CSS("#t-name"), "portal-web"),
		chromedp.Click(chromedp.CSS("#t-scope-policies-read")),
		chromedp.SendKeys(chromedp.CSS("#t-owners"), "acme/"),
		chromedp.Click(chromedp.CSS("#t-create button[type=submit]")),
	)
	waitText(t, b, "#t-created-secret", "garo_")
	waitText(t, b, "main table", "portal-web")
	do(t, b, "create a registration token", chromedp.Click(chromedp.CSS("#r-create button[type=submit]")))
	waitText(t, b, "#r-created", "Registration token for default")
	b.Screenshot(t, "console-tokens")
	if toks, err := e.portal.ListTokens(t.Context()); err != nil || !slices.ContainsFunc(toks.Items, func(tk portalapi.Token) bool { return tk.Name == "portal-web" }) {
		t.Fatalf("the token made in the console is not listed by the API: %v", err)
	}

	// Drain the agent from its page, then undrain it: the page and the API say so each time.
	do(t, b, "agents for the drain", chromedp.Navigate(e.server+"/ui/#/agents"))
	waitText(t, b, "main table", "e2e-agent")
	do(t, b, "the agent's page", chromedp.Click(chromedp.CSS(`main table a[href^="#/agents/"]`)))
	waitText(t, b, "#drain", "Drain")
	do(t, b, "drain", chromedp.Click(chromedp.CSS("#drain")))
	waitText(t, b, "#drain", "Undrain")
	waitText(t, b, "#draining", "requested by token:bootstrap-admin")
	waitText(t, b, "main dl", "(draining)")
	draining := func() bool {
		l, err := e.portal.ListAgents(t.Context(), client.AgentQuery{})
		if err != nil || len(l.Items) != 1 {
			t.Fatalf("agents: %+v, %v", l, err)
		}
		return l.Items[0].DrainRequestedAt != nil
	}
	if !draining() {
		t.Fatal("the agent drained in the console has no drain request in the API")
	}
	b.Screenshot(t, "console-agent-drained")
	do(t, b, "undrain", chromedp.Click(chromedp.CSS("#drain")))
	waitText(t, b, "#drain", "Drain")
	// The button and the properties are drawn by the same refresh.
	if txt, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#draining").textContent`)); err != nil || txt != "no" {
		t.Fatalf("after undrain the page says draining %q (%v)", txt, err)
	}
	if draining() {
		t.Fatal("the agent undrained in the console still has a drain request in the API")
	}

	// A read-only token sees the policy but cannot edit it, and has no agents or audit pages.
	do(t, b, "sign out", chromedp.Click(chromedp.CSS("#who button")))
	signIn(t, b, e.server, readOnly.Secret)
	waitText(t, b, "main", "needs agents:read and a token without owner prefixes")
	do(t, b, "policy page, read-only", chromedp.Navigate(e.server+"/ui/#/policies/acme/api/small"))
	waitText(t, b, "#readonly", "lacks the scope policies:write")
	disabled, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector("#e-save").disabled && document.querySelector("#e-max_runners").disabled`))
	if err != nil || !disabled {
		t.Fatalf("the read-only token's form is not disabled (%v)", err)
	}
	nav, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#nav").textContent`))
	if err != nil || strings.Contains(nav, "Agents") || strings.Contains(nav, "Audit") || strings.Contains(nav, "Tokens") {
		t.Fatalf("the read-only token's navigation is %q (%v)", nav, err)
	}
	b.Screenshot(t, "console-readonly")

	// Readable on a phone: nothing wider than the screen (tables scroll in their own box).
	do(t, b, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)), chromedp.Navigate(e.server+"/ui/#/jobs"))
	waitText(t, b, "main table", "#"+itoa(ids[2]))
	fits, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("the jobs page is wider than a 390 px screen (%v)", err)
	}
	b.Screenshot(t, "console-phone")

	// The token is in session storage only: no cookie, nothing in the URL.
	cookie, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.cookie + "|" + location.href`))
	if err != nil || strings.Contains(cookie, "garo_") {
		t.Fatalf("the token leaked into %q (%v)", cookie, err)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the page reported problems (exceptions, CSP violations, console errors): %v", p)
	}
}

// garoctlRun runs garoctl against server with the admin token; stdin feeds "-f -".
func garoctlRun(t *testing.T, server, stdin string, args ...string) (int, string, string) {
	t.Helper()
	env := map[string]string{"GARO_SERVER": server, "GARO_TOKEN": adminToken, "GARO_CONFIG": filepath.Join(t.TempDir(), "garoctl.yaml")}
	var out, errb bytes.Buffer
	code := garoctl.Execute(t.Context(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		garoctl.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// checkYAMLView proves that doc, the console's YAML view of acme/api/small, is a document
// garoctl accepts and means the policy it shows: apply --dry-run finds it unchanged;
// renamed, policy create -f makes the copy,
// and garoctl policy get -o yaml prints the copy exactly as it prints the original.
func checkYAMLView(t *testing.T, server, doc string) {
	t.Helper()
	if !strings.HasPrefix(doc, `kind: "Policy"`+"\n") || !strings.Contains(doc, `name: "small"`+"\n") {
		t.Fatalf("the YAML view is not a policy document:\n%s", doc)
	}
	// As it is, apply finds nothing to change: the document means the policy the server holds.
	code, out, errs := garoctlRun(t, server, doc, "apply", "-f", "-", "--dry-run")
	if code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("garoctl apply --dry-run of the console's YAML: exit %d, want 0 and \"unchanged\"\n%s\nstdout: %s\nstderr: %s", code, doc, out, errs)
	}
	copyDoc := strings.Replace(doc, `name: "small"`, `name: "small-copy"`, 1)
	if code, out, errs = garoctlRun(t, server, copyDoc, "policy", "create", "-f", "-"); code != 0 {
		t.Fatalf("garoctl policy create -f refused the console's YAML (exit %d)\n%s\nstdout: %s\nstderr: %s", code, doc, out, errs)
	}
	_, orig, _ := garoctlRun(t, server, "", "policy", "get", "acme/api/small", "-o", "yaml")
	code, cp, errs := garoctlRun(t, server, "", "policy", "get", "acme/api/small-copy", "-o", "yaml")
	if code != 0 {
		t.Fatalf("garoctl policy get of the copy: exit %d: %s", code, errs)
	}
	if want := strings.Replace(orig, "name: small\n", "name: small-copy\n", 1); cp != want || orig == "" {
		t.Fatalf("the copy made from the console's YAML differs from the original:\n--- original\n%s--- copy\n%s--- console\n%s", orig, cp, doc)
	}
}
