package githubsim_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
)

// env is a Sim served by an httptest server.
type env struct {
	sim   *githubsim.Sim
	srv   *httptest.Server
	clock *testkit.Clock // Options.Now, unless the test sets its own
}

func newEnv(t *testing.T, opts githubsim.Options) *env {
	t.Helper()
	e := &env{clock: testkit.NewClock(time.Now().Truncate(time.Second))}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	sim, err := githubsim.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.sim = sim
	e.srv = httptest.NewServer(sim)
	t.Cleanup(func() {
		e.srv.Close()
		sim.Close()
	})
	return e
}

// jwtFor signs an App JWT with key (PEM) and the given claims.
func jwtFor(t *testing.T, keyPEM []byte, claims jwt.MapClaims) string {
	t.Helper()
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatalf("parse key: %v", err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// appJWT is a good JWT of the sim's App, as octokit and ghinstallation make them.
func (e *env) appJWT(t *testing.T) string {
	now := e.clock.Now()
	return jwtFor(t, e.sim.PrivateKeyPEM(), jwt.MapClaims{
		"iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": e.sim.AppID(),
	})
}

// client is a go-github client of the sim with token as Bearer credential.
func (e *env) client(t *testing.T, token string) *github.Client {
	t.Helper()
	c := github.NewClient(e.srv.Client())
	if token != "" {
		c = c.WithAuthToken(token)
	}
	u, err := url.Parse(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// installationToken mints an installation token through the REST API.
func (e *env) installationToken(t *testing.T, installationID int64, opts *github.InstallationTokenOptions) string {
	t.Helper()
	tok, _, err := e.client(t, e.appJWT(t)).Apps.CreateInstallationToken(context.Background(), installationID, opts)
	if err != nil {
		t.Fatalf("create installation token: %v", err)
	}
	return tok.GetToken()
}

// hook is one request a receiver got.
type hook struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that answers with the statuses given in turn (the last
// one repeats) and records what it gets.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	hooks    []hook
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusOK}
	}
	rc := &receiver{statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hooks)
		rc.hooks = append(rc.hooks, hook{header: r.Header.Clone(), body: body})
		status := rc.statuses[min(n, len(rc.statuses)-1)]
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "received")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.hooks...)
}

// validSignature checks X-Hub-Signature-256 and X-Hub-Signature the way a receiver must.
func validSignature(h hook, secret string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(h.body)
	want256 := "sha256=" + hex.EncodeToString(m.Sum(nil))
	m1 := hmac.New(sha1.New, []byte(secret))
	m1.Write(h.body)
	want1 := "sha1=" + hex.EncodeToString(m1.Sum(nil))
	return hmac.Equal([]byte(h.header.Get("X-Hub-Signature-256")), []byte(want256)) &&
		hmac.Equal([]byte(h.header.Get("X-Hub-Signature")), []byte(want1))
}

// statusOf returns the HTTP status of a go-github error (0 when none).
func statusOf(err error) int {
	switch e := err.(type) {
	case *github.ErrorResponse:
		return e.Response.StatusCode
	case *github.RateLimitError:
		return e.Response.StatusCode
	case *github.AbuseRateLimitError:
		return e.Response.StatusCode
	}
	return 0
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
