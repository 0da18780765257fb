package config

import (
	"fmt"
	"net/url"
	"time"
)

// Mode says how the server authenticates to GitHub: "app" (one App or several), "pat" or
// "" (not configured).
func (g GitHub) Mode() string {
	switch {
	case len(g.AppList()) > 0:
		return "app"
	case g.PAT != "":
		return "pat"
	}
	return ""
}

// AppList returns the configured GitHub Apps in their configured order: github.apps, or
// the single-App keys (github.app_id, github.private_key_file, github.private_key,
// github.webhook_secret, github.webhook_secret_previous) as a one-element list when
// github.app_id is set. Empty without an App.
func (g GitHub) AppList() []App {
	if len(g.Apps) > 0 {
		return g.Apps
	}
	if g.AppID > 0 {
		return []App{{
			ID: g.AppID, PrivateKeyFile: g.PrivateKeyFile, PrivateKey: g.PrivateKey,
			WebhookSecret: g.WebhookSecret, WebhookSecretPrevious: g.WebhookSecretPrevious,
		}}
	}
	return nil
}

// WebhookSecrets lists every accepted webhook secret with the id of the App it belongs to
// (0 for github.webhook_secret without an App: a webhook set up by hand in PAT mode), each
// App's current secret before its previous one, Apps in their configured order.
func (g GitHub) WebhookSecrets() []WebhookSecret {
	var out []WebhookSecret
	add := func(app int64, secrets ...string) {
		for _, s := range secrets {
			if s != "" {
				out = append(out, WebhookSecret{AppID: app, Secret: s})
			}
		}
	}
	if apps := g.AppList(); len(apps) > 0 {
		for _, a := range apps {
			add(a.ID, a.WebhookSecret, a.WebhookSecretPrevious)
		}
		return out
	}
	add(0, g.WebhookSecret, g.WebhookSecretPrevious)
	return out
}

// WebhookSecret is one accepted webhook secret and the App that signs with it.
type WebhookSecret struct {
	AppID  int64
	Secret string
}

// validateApps checks github.apps, each error naming the item's key
// (github.apps[1].private_key_file).
func (g GitHub) validateApps(bad func(key, format string, args ...any)) {
	if len(g.Apps) == 0 {
		return
	}
	for key, set := range map[string]bool{
		"github.app_id": g.AppID != 0, "github.private_key_file": g.PrivateKeyFile != "", "github.private_key": g.PrivateKey != "",
		"github.webhook_secret": g.WebhookSecret != "", "github.webhook_secret_previous": g.WebhookSecretPrevious != "",
	} {
		if set {
			bad(key, "set github.apps or the single-App keys, not both (with github.apps each App has its own key and webhook secret)")
		}
	}
	if g.PAT != "" {
		bad("github.pat", "set GitHub Apps (github.apps) or a personal access token, not both")
	}
	seen := map[int64]int{}
	for i, a := range g.Apps {
		key := func(k string) string { return fmt.Sprintf("github.apps[%d].%s", i, k) }
		if a.ID <= 0 {
			bad(key("id"), "must be the App's id (a positive number), got %d", a.ID)
		} else if j, dup := seen[a.ID]; dup {
			bad(key("id"), "App %d is listed twice (also github.apps[%d])", a.ID, j)
		} else {
			seen[a.ID] = i
		}
		switch {
		case a.PrivateKeyFile == "" && a.PrivateKey == "":
			bad(key("private_key_file"), "must be set (or %s)", key("private_key"))
		case a.PrivateKeyFile != "" && a.PrivateKey != "":
			bad(key("private_key"), "set %s or %s, not both", key("private_key_file"), key("private_key"))
		}
		if s := a.WebhookSecret; s != "" && len(s) < 16 {
			bad(key("webhook_secret"), "must be at least 16 characters long")
		}
		if s := a.WebhookSecretPrevious; s != "" && len(s) < 16 {
			bad(key("webhook_secret_previous"), "must be at least 16 characters long")
		}
		if a.WebhookSecretPrevious != "" && a.WebhookSecret == "" {
			bad(key("webhook_secret_previous"), "needs %s (the new secret) too", key("webhook_secret"))
		}
	}
}

func (g GitHub) validate(bad func(key, format string, args ...any)) {
	g.validateApps(bad)
	if g.APIURL != "" {
		u, err := url.Parse(g.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("github.api_url", "must be an http(s) URL such as https://ghe.example.com/api/v3/, got %q", g.APIURL)
		}
	}
	if len(g.Apps) == 0 { // else validateApps refuses these keys
		if g.AppID < 0 {
			bad("github.app_id", "must not be negative, got %d", g.AppID)
		}
		hasKey := g.PrivateKeyFile != "" || g.PrivateKey != ""
		switch {
		case g.AppID > 0 && !hasKey:
			bad("github.private_key_file", "must be set (or github.private_key) when github.app_id is set")
		case g.AppID == 0 && hasKey:
			bad("github.app_id", "must be set when a GitHub App private key is configured")
		case g.PrivateKeyFile != "" && g.PrivateKey != "":
			bad("github.private_key", "set github.private_key_file or github.private_key, not both")
		}
		if g.AppID > 0 && g.PAT != "" {
			bad("github.pat", "set a GitHub App (github.app_id) or a personal access token, not both")
		}
		if s := g.WebhookSecret; s != "" && len(s) < 16 {
			bad("github.webhook_secret", "must be at least 16 characters long")
		}
		if s := g.WebhookSecretPrevious; s != "" && len(s) < 16 {
			bad("github.webhook_secret_previous", "must be at least 16 characters long")
		}
		if g.WebhookSecretPrevious != "" && g.WebhookSecret == "" {
			bad("github.webhook_secret_previous", "needs github.webhook_secret (the new secret) too")
		}
	}
	if g.WebhookMaxBodyBytes < 1<<10 || g.WebhookMaxBodyBytes > 100<<20 {
		bad("github.webhook_max_body_bytes", "must be between 1024 and 104857600, got %d", g.WebhookMaxBodyBytes)
	}
	c := g.Catchup
	for key, d := range map[string]time.Duration{
		"github.catchup.redeliver_interval": c.RedeliverInterval, "github.catchup.reconcile_interval": c.ReconcileInterval,
	} {
		if d != 0 && (d < 10*time.Second || d > 24*time.Hour) {
			bad(key, "must be 0 (off) or between 10s and 24h, got %s", d)
		}
	}
	if c.RedeliverLookback < time.Minute || c.RedeliverLookback > 72*time.Hour {
		bad("github.catchup.redeliver_lookback", "must be between 1m and 72h (GitHub keeps deliveries for 3 days), got %s", c.RedeliverLookback)
	}
	for key, n := range map[string]int{
		"github.catchup.redeliver_max": c.RedeliverMax, "github.catchup.reconcile_max_repos": c.ReconcileMaxRepos,
		"github.catchup.reconcile_max_jobs": c.ReconcileMaxJobs, "github.catchup.reconcile_max_calls": c.ReconcileMaxCalls,
		"github.catchup.redeliver_max_pages": c.RedeliverMaxPages,
	} {
		if n < 1 || n > 10000 {
			bad(key, "must be between 1 and 10000, got %d", n)
		}
	}
	if c.InProgressCheck < 10*time.Second || c.InProgressCheck > 24*time.Hour {
		bad("github.catchup.in_progress_check", "must be between 10s and 24h, got %s", c.InProgressCheck)
	}
	if c.ReconcileMinRemaining < 0 {
		bad("github.catchup.reconcile_min_remaining", "must not be negative, got %d", c.ReconcileMinRemaining)
	}
}
