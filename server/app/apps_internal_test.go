package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/config"
)

// newGitHub reads every App's key and names the App's key in its errors.
func TestNewGitHubWithSeveralApps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.pem")
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	apps := func(files ...string) config.GitHub {
		g := config.Defaults().GitHub
		for i, f := range files {
			g.Apps = append(g.Apps, config.App{ID: int64(10 + i), PrivateKeyFile: f, WebhookSecret: "webhook-secret-of-app-" + f})
		}
		return g
	}
	gh, err := newGitHub(apps(good, good), testkit.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := gh.Apps(); !slices.Equal(got, []int64{10, 11}) {
		t.Errorf("Apps = %v", got)
	}
	for _, tc := range []struct {
		g    config.GitHub
		want string
	}{
		{apps(good, filepath.Join(dir, "missing.pem")), "github.apps[1].private_key_file: "},
		{apps(bad), "github.apps[0].private_key_file " + bad + ": github.apps[0].private_key: not a PEM"},
		{config.GitHub{AppID: 3, PrivateKeyFile: bad}, "github.private_key_file " + bad + ": github.private_key: not a PEM"},
	} {
		if _, err := newGitHub(tc.g, testkit.Discard(), nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error %v, want it to start with %q", err, tc.want)
		}
	}
	secrets, owners := webhookSecrets(apps(good, bad))
	if len(secrets) != 2 || !slices.Equal(owners, []int64{10, 11}) || string(secrets[1]) != "webhook-secret-of-app-"+bad {
		t.Errorf("webhook secrets %q of %v", secrets, owners)
	}
}
