// Command garo-githubsim serves the GitHub simulator (package githubsim) on a local
// address, for the local demo, the stub runner image and manual tests.
//
//	garo-githubsim --listen 127.0.0.1:9000 --repos acme/api,acme/web \
//	    --webhook-url http://127.0.0.1:8080/webhooks/github --webhook-secret s3cret \
//	    --private-key-out app.pem
//
// It prints where it listens, the App id and each repository's installation id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/shared/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "garo-githubsim:", err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx ends, then shuts the server down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("garo-githubsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	webhookURL := fs.String("webhook-url", "", "where webhook deliveries are POSTed (empty: recorded, not sent)")
	webhookSecret := fs.String("webhook-secret", "", "secret of X-Hub-Signature-256")
	appID := fs.Int64("app-id", 1, "the GitHub App's id")
	repos := fs.String("repos", "", "comma-separated owner/name repositories the App is installed on")
	keyOut := fs.String("private-key-out", "", "write the App's private key (PKCS#1 PEM) to this file, mode 0600")
	pat := fs.String("pat", "", "comma-separated personal access tokens to accept on repository endpoints")
	pathPrefix := fs.String("path-prefix", "", `serve the REST API under this prefix, "/api/v3" for GitHub Enterprise Server`)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	rateLimit := fs.Int("rate-limit", 5000, "the core rate limit per hour (GitHub: 5000 for an App installation, up to 15000 on Enterprise Cloud)")
	lostAfter := fs.Duration("runner-lost-after", githubsim.DefaultRunnerLostAfter,
		"fail a running job whose runner has not renewed its lock for this long (GitHub: 10m)")
	var groups []runnerGroupFlag
	fs.Func("runner-group", "an organisation runner group, ORG/NAME=VISIBILITY[:OWNER/REPO,...] (visibility all, selected or private; repeatable)", func(v string) error {
		g, err := parseRunnerGroup(v)
		groups = append(groups, g)
		return err
	})
	var apps []appFlag
	fs.Func("app", "another GitHub App, ID:KEY_FILE[:WEBHOOK_SECRET]: its private key is written to KEY_FILE (mode 0600), its webhook signs with WEBHOOK_SECRET; installed on every repository of --repos (repeatable)", func(v string) error {
		a, err := parseApp(v)
		apps = append(apps, a)
		return err
	})
	var repoRunners []repoRunnersFlag
	fs.Func("repository-runners", "an organisation's setting for repository-level runners, ORG=all|none|selected:OWNER/REPO,... (repeatable; default all)", func(v string) error {
		r, err := parseRepoRunners(v)
		repoRunners = append(repoRunners, r)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *lostAfter <= 0 {
		return fmt.Errorf("--runner-lost-after: want a positive duration, got %s", *lostAfter)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, err := logging.New(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	repoNames := splitList(*repos)
	owners := map[string]bool{}
	for _, name := range repoNames {
		owner, repo, ok := strings.Cut(name, "/")
		if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
			return fmt.Errorf("--repos: %q is not owner/name", name)
		}
		owners[strings.ToLower(owner)] = true
	}
	for _, g := range groups {
		if !owners[strings.ToLower(g.org)] {
			return fmt.Errorf("--runner-group %s/%s: no repository of %s in --repos", g.org, g.name, g.org)
		}
	}
	for _, r := range repoRunners {
		if !owners[strings.ToLower(r.org)] {
			return fmt.Errorf("--repository-runners %s: no repository of %s in --repos", r.org, r.org)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	sim, err := githubsim.New(githubsim.Options{
		AppID:         *appID,
		WebhookURL:    *webhookURL,
		WebhookSecret: *webhookSecret,
		PathPrefix:    *pathPrefix,
		PATs:          splitList(*pat),
		Log:           log,
		BaseURL:       base,

		RunnerLostAfter: *lostAfter,
		RateLimit:       *rateLimit,
		Apps:            appOptions(apps),
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	if *keyOut != "" {
		if err := writeKey(*keyOut, sim.PrivateKeyPEM()); err != nil {
			return err
		}
	}
	for _, a := range apps {
		if err := writeKey(a.keyFile, sim.AppPrivateKeyPEM(a.id)); err != nil {
			return fmt.Errorf("--app %d: %w", a.id, err)
		}
	}
	fmt.Fprintf(stdout, "garo-githubsim listening on %s (REST API %s%s, app id %d)\n", base, base, *pathPrefix, sim.AppID())
	for _, name := range repoNames {
		r := sim.AddRepository(name)
		more := ""
		for _, a := range apps {
			more += fmt.Sprintf(", app %d installation id %d", a.id, r.InstallationIDs[a.id])
		}
		fmt.Fprintf(stdout, "repository %s: id %d, installation id %d%s\n", r.FullName, r.ID, r.InstallationID, more)
	}
	for _, g := range groups {
		rg := sim.AddRunnerGroup(g.org, g.name, g.visibility, g.repos...)
		fmt.Fprintf(stdout, "runner group %s/%s: id %d, visibility %s\n", g.org, rg.Name, rg.ID, rg.Visibility)
	}
	for _, r := range repoRunners {
		sim.SetRepositoryRunners(r.org, r.enabled, r.repos...)
		fmt.Fprintf(stdout, "repository-level runners of %s: %s\n", r.org, r.enabled)
	}

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// writeKey writes the key with mode 0600, also over an existing file.
func writeKey(path string, pem []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--private-key-out: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close() // the first error is the one to report
		return fmt.Errorf("--private-key-out: %w", err)
	}
	if _, err := f.Write(pem); err != nil {
		_ = f.Close() // the first error is the one to report
		return fmt.Errorf("--private-key-out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--private-key-out: %w", err)
	}
	return nil
}

// appFlag is one --app.
type appFlag struct {
	id      int64
	keyFile string
	secret  string
}

func parseApp(v string) (appFlag, error) {
	parts := strings.SplitN(v, ":", 3)
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if len(parts) < 2 || err != nil || id <= 0 || parts[1] == "" {
		return appFlag{}, fmt.Errorf("%q: want ID:KEY_FILE[:WEBHOOK_SECRET] with a positive id", v)
	}
	a := appFlag{id: id, keyFile: parts[1]}
	if len(parts) == 3 {
		a.secret = parts[2]
	}
	return a, nil
}

func appOptions(apps []appFlag) []githubsim.AppOptions {
	var out []githubsim.AppOptions
	for _, a := range apps {
		out = append(out, githubsim.AppOptions{ID: a.id, WebhookSecret: a.secret})
	}
	return out
}

// runnerGroupFlag is one --runner-group.
type runnerGroupFlag struct {
	org, name, visibility string
	repos                 []string
}

// parseRunnerGroup reads ORG/NAME=VISIBILITY[:OWNER/REPO,...].
func parseRunnerGroup(v string) (runnerGroupFlag, error) {
	where, spec, ok := strings.Cut(v, "=")
	org, name, ok2 := strings.Cut(where, "/")
	if !ok || !ok2 || org == "" || strings.TrimSpace(name) == "" {
		return runnerGroupFlag{}, fmt.Errorf("%q: want ORG/NAME=VISIBILITY[:OWNER/REPO,...]", v)
	}
	visibility, list, _ := strings.Cut(spec, ":")
	g := runnerGroupFlag{org: org, name: name, visibility: visibility, repos: splitList(list)}
	switch {
	case visibility != "all" && visibility != "selected" && visibility != "private":
		return g, fmt.Errorf("%q: visibility %q is not all, selected or private", v, visibility)
	case visibility != "selected" && len(g.repos) > 0:
		return g, fmt.Errorf("%q: repositories are for visibility selected only", v)
	}
	return g, nil
}

// repoRunnersFlag is one --repository-runners.
type repoRunnersFlag struct {
	org, enabled string
	repos        []string
}

// parseRepoRunners reads ORG=all|none|selected:OWNER/REPO,....
func parseRepoRunners(v string) (repoRunnersFlag, error) {
	org, spec, ok := strings.Cut(v, "=")
	enabled, list, _ := strings.Cut(spec, ":")
	r := repoRunnersFlag{org: org, enabled: enabled, repos: splitList(list)}
	switch {
	case !ok || org == "":
		return r, fmt.Errorf("%q: want ORG=all, ORG=none or ORG=selected:OWNER/REPO,OWNER/REPO", v)
	case enabled != "all" && enabled != "none" && enabled != "selected":
		return r, fmt.Errorf("%q: %q is not all, none or selected", v, enabled)
	case enabled != "selected" && len(r.repos) > 0:
		return r, fmt.Errorf("%q: repositories are for selected only", v)
	}
	return r, nil
}
