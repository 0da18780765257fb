package githubsim_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

func TestAppJWT(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{AppID: 4242})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	now := e.clock.Now()
	good := func(iss any) jwt.MapClaims {
		return jwt.MapClaims{"iat": now.Add(-60 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": iss}
	}
	repo := e.sim.AddRepository("acme/api")
	inst := e.installationToken(t, repo.InstallationID, nil)

	for _, tc := range []struct {
		name    string
		token   string
		status  int
		message string
	}{
		{"numeric iss", jwtFor(t, e.sim.PrivateKeyPEM(), good(4242)), http.StatusOK, ""},
		{"string iss", jwtFor(t, e.sim.PrivateKeyPEM(), good("4242")), http.StatusOK, ""},
		{"wrong key", jwtFor(t, otherPEM, good(4242)), http.StatusUnauthorized, "could not be decoded"},
		{"other app", jwtFor(t, e.sim.PrivateKeyPEM(), good(7)), http.StatusUnauthorized, "Integration not found"},
		{"expired", jwtFor(t, e.sim.PrivateKeyPEM(), jwt.MapClaims{
			"iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-11 * time.Minute).Unix(), "iss": 4242,
		}), http.StatusUnauthorized, "'Expiration time' claim"},
		{"longer than 10 minutes", jwtFor(t, e.sim.PrivateKeyPEM(), jwt.MapClaims{
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(), "iss": 4242,
		}), http.StatusUnauthorized, "too far in the future"},
		{"issued in the future", jwtFor(t, e.sim.PrivateKeyPEM(), jwt.MapClaims{
			"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(8 * time.Minute).Unix(), "iss": 4242,
		}), http.StatusUnauthorized, "'Issued at' claim"},
		{"installation token", inst, http.StatusUnauthorized, "could not be decoded"},
		{"none", "", http.StatusUnauthorized, "could not be decoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, _, err := e.client(t, tc.token).Apps.Get(ctxT(t), "")
			if tc.status == http.StatusOK {
				if err != nil {
					t.Fatalf("GET /app: %v", err)
				}
				if app.GetID() != 4242 || app.GetSlug() == "" || app.GetOwner().GetLogin() == "" {
					t.Fatalf("GET /app = %+v, want id 4242 with slug and owner", app)
				}
				return
			}
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tc.status {
				t.Fatalf("GET /app error %v, want status %d", err, tc.status)
			}
			if !strings.Contains(er.Message, tc.message) || er.DocumentationURL == "" {
				t.Fatalf("error body %q (%q), want message containing %q and a documentation_url", er.Message, er.DocumentationURL, tc.message)
			}
		})
	}
}

func TestInstallationTokenScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{PATs: []string{"ghp_testpat"}})
	api := e.sim.AddRepository("acme/api")
	web := e.sim.AddRepository("acme/web")
	other := e.sim.AddRepository("globex/app")
	if api.InstallationID != web.InstallationID || api.InstallationID == other.InstallationID {
		t.Fatalf("installations: acme %d/%d, globex %d: want one per owner", api.InstallationID, web.InstallationID, other.InstallationID)
	}
	acme := e.installationToken(t, api.InstallationID, nil)
	onlyWeb := e.installationToken(t, api.InstallationID, &github.InstallationTokenOptions{Repositories: []string{"web"}})
	readOnly := e.installationToken(t, api.InstallationID, &github.InstallationTokenOptions{
		Permissions: &github.InstallationPermissions{Metadata: github.String("read")},
	})

	for _, tc := range []struct {
		name   string
		token  string
		repo   githubsim.Repository
		status int
	}{
		{"own installation", acme, api, http.StatusOK},
		{"own installation, other repo", acme, web, http.StatusOK},
		{"other installation", acme, other, http.StatusNotFound},
		{"selected repository", onlyWeb, web, http.StatusOK},
		{"not selected repository", onlyWeb, api, http.StatusNotFound},
		{"without administration permission", readOnly, api, http.StatusForbidden},
		{"unknown token", "ghs_" + strings.Repeat("x", 36), api, http.StatusUnauthorized},
		{"no credential", "", api, http.StatusUnauthorized},
		{"PAT", "ghp_testpat", other, http.StatusOK},
		{"wrong PAT", "ghp_nope", other, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, resp, err := e.client(t, tc.token).Actions.ListRunners(ctxT(t), tc.repo.Owner, tc.repo.Name, nil)
			if resp == nil {
				t.Fatalf("list runners: no answer: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("list runners on %s = %d (%v), want %d", tc.repo.FullName, resp.StatusCode, err, tc.status)
			}
		})
	}
}

func TestInstallationTokenExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	tok, _, err := e.client(t, e.appJWT(t)).Apps.CreateInstallationToken(ctxT(t), repo.InstallationID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 {
		t.Fatalf("token %q: want ghs_ and 36 characters", tok.GetToken())
	}
	if got := tok.GetExpiresAt().Sub(e.clock.Now()); got != time.Hour {
		t.Fatalf("token lives %v, want 1h", got)
	}
	if tok.GetPermissions().GetAdministration() != "write" {
		t.Fatalf("permissions %+v: want administration write", tok.GetPermissions())
	}
	gh := e.client(t, tok.GetToken())
	if _, _, err := gh.Actions.ListRunners(ctxT(t), "acme", "api", nil); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	e.clock.Advance(time.Hour)
	_, _, err = gh.Actions.ListRunners(ctxT(t), "acme", "api", nil)
	if statusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("expired token: %v, want 401 Bad credentials", err)
	}
}

func TestRepositoryInstallation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{AppID: 9})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.appJWT(t))
	in, _, err := gh.Apps.FindRepositoryInstallation(ctxT(t), "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	if in.GetID() != repo.InstallationID || in.GetAppID() != 9 || in.GetAccount().GetLogin() != "acme" {
		t.Fatalf("installation %+v: want id %d of app 9 on acme", in, repo.InstallationID)
	}
	_, _, err = gh.Apps.FindRepositoryInstallation(ctxT(t), "acme", "nope")
	if statusOf(err) != http.StatusNotFound {
		t.Fatalf("unknown repository: %v, want 404", err)
	}
	all, _, err := gh.Apps.ListInstallations(ctxT(t), nil)
	if err != nil || len(all) != 1 || all[0].GetID() != repo.InstallationID {
		t.Fatalf("list installations = %v, %v", all, err)
	}
	_, _, err = gh.Apps.CreateInstallationToken(ctxT(t), repo.InstallationID+1000, nil)
	if statusOf(err) != http.StatusNotFound {
		t.Fatalf("token of unknown installation: %v, want 404", err)
	}
	_, _, err = gh.Apps.CreateInstallationToken(ctxT(t), repo.InstallationID, &github.InstallationTokenOptions{Repositories: []string{"nope"}})
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("token for unknown repository: %v, want 422", err)
	}
}
