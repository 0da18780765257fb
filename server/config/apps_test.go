package config_test

import (
	"strings"
	"testing"

	"github.com/garo-dev/garo/server/config"
)

const (
	secretA = "webhook-secret-of-app-a"
	secretB = "webhook-secret-of-app-b"
	secretO = "the-previous-secret-of-b"
)

func TestAppsList(t *testing.T) {
	t.Parallel()
	c, err := config.Load(writeFile(t, `github:
  apps:
    - id: 11
      private_key_file: /etc/garo/a.pem
      webhook_secret: `+secretA+`
    - id: 22
      private_key: "-----BEGIN RSA PRIVATE KEY-----"
      webhook_secret: `+secretB+`
      webhook_secret_previous: `+secretO+`
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	apps := c.GitHub.AppList()
	if len(apps) != 2 || apps[0].ID != 11 || apps[0].PrivateKeyFile != "/etc/garo/a.pem" || apps[1].ID != 22 || apps[1].PrivateKey == "" {
		t.Fatalf("apps = %+v", apps)
	}
	if c.GitHub.Mode() != "app" {
		t.Errorf("mode = %q", c.GitHub.Mode())
	}
	got := c.GitHub.WebhookSecrets()
	want := []config.WebhookSecret{{AppID: 11, Secret: secretA}, {AppID: 22, Secret: secretB}, {AppID: 22, Secret: secretO}}
	if len(got) != len(want) {
		t.Fatalf("webhook secrets = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("webhook secret %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	r := c.Redacted()
	if r.GitHub.Apps[1].PrivateKey != "<redacted>" || r.GitHub.Apps[0].WebhookSecret != "<redacted>" || r.GitHub.Apps[1].WebhookSecretPrevious != "<redacted>" {
		t.Errorf("redacted apps = %+v", r.GitHub.Apps)
	}
	if c.GitHub.Apps[0].WebhookSecret != secretA {
		t.Errorf("Redacted changed its receiver's apps")
	}
}

// The single-App keys are a one-element list, from the file or the environment.
func TestSingleAppKeysAreOneApp(t *testing.T) {
	t.Setenv("GARO_GITHUB_WEBHOOK_SECRET", secretA)
	c, err := config.Load(writeFile(t, "github:\n  app_id: 7\n  private_key_file: /k.pem\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	apps := c.GitHub.AppList()
	if len(apps) != 1 || apps[0] != (config.App{ID: 7, PrivateKeyFile: "/k.pem", WebhookSecret: secretA}) {
		t.Fatalf("apps = %+v", apps)
	}
	if s := c.GitHub.WebhookSecrets(); len(s) != 1 || s[0] != (config.WebhookSecret{AppID: 7, Secret: secretA}) {
		t.Errorf("webhook secrets = %+v", s)
	}
	// Without an App, the secret of a webhook set up by hand belongs to no App.
	c, err = config.Load(writeFile(t, "github:\n  pat: ghp_x\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.GitHub.AppList()) != 0 || c.GitHub.Mode() != "pat" {
		t.Errorf("PAT mode: apps %+v, mode %q", c.GitHub.AppList(), c.GitHub.Mode())
	}
	if s := c.GitHub.WebhookSecrets(); len(s) != 1 || s[0].AppID != 0 {
		t.Errorf("webhook secrets = %+v", s)
	}
}

func TestAppsFromEnvironment(t *testing.T) {
	t.Setenv("GARO_GITHUB_APPS", `[{"id": 5, "private_key_file": "/a.pem"}, {"id": 6, "private_key_file": "/b.pem"}]`)
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if apps := c.GitHub.AppList(); len(apps) != 2 || apps[1].ID != 6 {
		t.Fatalf("apps = %+v", apps)
	}
}

func TestAppsRefused(t *testing.T) {
	t.Parallel()
	app := func(fields string) string {
		return "github:\n  apps:\n    - id: 1\n      private_key_file: /a.pem\n    - " + fields + "\n"
	}
	tests := []struct{ name, yaml, key string }{
		{"no id", app("private_key_file: /b.pem"), "github.apps[1].id"},
		{"negative id", app("id: -2\n      private_key_file: /b.pem"), "github.apps[1].id"},
		{"id twice", app("id: 1\n      private_key_file: /b.pem"), "github.apps[1].id"},
		{"no key", app("id: 2"), "github.apps[1].private_key_file"},
		{"both keys", app("id: 2\n      private_key_file: /b.pem\n      private_key: x"), "github.apps[1].private_key"},
		{"short secret", app("id: 2\n      private_key_file: /b.pem\n      webhook_secret: short"), "github.apps[1].webhook_secret"},
		{"previous alone", app("id: 2\n      private_key_file: /b.pem\n      webhook_secret_previous: " + secretO), "github.apps[1].webhook_secret_previous"},
		{"unknown key", app("id: 2\n      private_key_file: /b.pem\n      installation: 3"), "github.apps[1].installation"},
		{"not a number", app("id: two\n      private_key_file: /b.pem"), "github.apps[1].id"},
		{"with app_id", "github:\n  app_id: 3\n  apps:\n    - id: 1\n      private_key_file: /a.pem\n", "github.app_id"},
		{"with webhook_secret", "github:\n  webhook_secret: " + secretA + "\n  apps:\n    - id: 1\n      private_key_file: /a.pem\n", "github.webhook_secret"},
		{"with pat", "github:\n  pat: ghp_x\n  apps:\n    - id: 1\n      private_key_file: /a.pem\n", "github.pat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(writeFile(t, tt.yaml), nil)
			if err == nil {
				t.Fatalf("Load accepted %q", tt.yaml)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.key+": ") || strings.Count(msg, "\n") != 0 {
				t.Errorf("error %q: want one problem, naming %s", msg, tt.key)
			}
		})
	}
}
