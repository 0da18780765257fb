package config

import (
	"net/url"
	"time"
)

// Mode says how the server authenticates to GitHub: "app", "pat" or "" (not configured).
func (g GitHub) Mode() string {
	switch {
	case g.AppID > 0:
		return "app"
	case g.PAT != "":
		return "pat"
	}
	return ""
}

func (g GitHub) validate(bad func(key, format string, args ...any)) {
	if g.APIURL != "" {
		u, err := url.Parse(g.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("github.api_url", "must be an http(s) URL such as https://ghe.example.com/api/v3/, got %q", g.APIURL)
		}
	}
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
