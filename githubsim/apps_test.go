package githubsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

const (
	firstSecret  = "secret-of-the-first-app"
	secondSecret = "secret-of-the-second-app"
)

// jwtOf is a good JWT of App id.
func (e *env) jwtOf(t *testing.T, id int64) string {
	now := e.clock.Now()
	return jwtFor(t, e.sim.AppPrivateKeyPEM(id), jwt.MapClaims{
		"iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": id,
	})
}

func newAppsEnv(t *testing.T, rc *receiver, rateLimit int) *env {
	t.Helper()
	url := ""
	if rc != nil {
		url = rc.srv.URL
	}
	return newEnv(t, githubsim.Options{
		AppID: 11, WebhookSecret: firstSecret, WebhookURL: url, RateLimit: rateLimit,
		Apps: []githubsim.AppOptions{{ID: 22, WebhookSecret: secondSecret}},
	})
}

// Each App has its own installation on every owner it is installed on, and sees only its
// own: a repository of an owner without the App is not found.
func TestAppsHaveTheirOwnInstallations(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t, nil, 0)
	ctx := ctxT(t)
	both := e.sim.AddRepository("acme/web")
	solo := e.sim.AddRepositoryFor("solo/api", 22)
	if len(both.InstallationIDs) != 2 || both.InstallationIDs[11] == both.InstallationIDs[22] || both.InstallationID != both.InstallationIDs[11] {
		t.Fatalf("acme/web installations = %+v", both)
	}
	if len(solo.InstallationIDs) != 1 || solo.InstallationID != solo.InstallationIDs[22] {
		t.Fatalf("solo/api installations = %+v", solo)
	}
	for _, tc := range []struct {
		app  int64
		repo string
		want int64 // 0: not installed, 404
	}{{11, "acme/web", both.InstallationIDs[11]}, {22, "acme/web", both.InstallationIDs[22]}, {22, "solo/api", solo.InstallationID}, {11, "solo/api", 0}} {
		owner, name := splitRepo(tc.repo)
		in, _, err := e.client(t, e.jwtOf(t, tc.app)).Apps.FindRepositoryInstallation(ctx, owner, name)
		switch {
		case tc.want == 0 && statusOf(err) != http.StatusNotFound:
			t.Errorf("app %d on %s: %v, want 404", tc.app, tc.repo, err)
		case tc.want != 0 && (err != nil || in.GetID() != tc.want || in.GetAppID() != tc.app):
			t.Errorf("app %d on %s: %+v, %v; want installation %d", tc.app, tc.repo, in, err, tc.want)
		}
	}
	// App 11 lists one installation and cannot mint a token for App 22's.
	list, _, err := e.client(t, e.jwtOf(t, 11)).Apps.ListInstallations(ctx, nil)
	if err != nil || len(list) != 1 || list[0].GetID() != both.InstallationIDs[11] {
		t.Fatalf("installations of app 11 = %+v, %v", list, err)
	}
	if _, _, err := e.client(t, e.jwtOf(t, 11)).Apps.CreateInstallationToken(ctx, solo.InstallationID, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("app 11 minting a token of app 22's installation: %v, want 404", err)
	}
	// A JWT signed with the other App's key is refused.
	now := e.clock.Now()
	forged := jwtFor(t, e.sim.AppPrivateKeyPEM(22), jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "iss": 11})
	if _, _, err := e.client(t, forged).Apps.Get(ctx, ""); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("JWT of app 11 signed with app 22's key: %v, want 401", err)
	}
}

// Each installation and each App's JWT counts against a window of its own: one spent
// installation answers 403 with X-RateLimit-Remaining 0, the other App's goes on.
func TestAppsHaveTheirOwnRateLimits(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t, nil, 3)
	ctx := ctxT(t)
	r := e.sim.AddRepository("acme/web")
	firstToken := e.installationToken2(t, 11, r.InstallationIDs[11])
	first := e.client(t, firstToken)
	second := e.client(t, e.installationToken2(t, 22, r.InstallationIDs[22]))
	for i := range 3 {
		if _, _, err := first.Actions.ListRunners(ctx, "acme", "web", nil); err != nil {
			t.Fatalf("call %d of app 11: %v", i+1, err)
		}
	}
	// go-github would refuse the call itself, having seen the spent budget: ask directly.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/repos/acme/web/actions/runners", nil)
	req.Header.Set("Authorization", "token "+firstToken)
	raw, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw.Body.Close()
	if raw.StatusCode != http.StatusForbidden || raw.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("4th call of app 11's installation: %d %v, want 403 with remaining 0", raw.StatusCode, raw.Header)
	}
	_, resp, err := second.Actions.ListRunners(ctx, "acme", "web", nil)
	if err != nil || resp.Header.Get("X-RateLimit-Remaining") != "2" || resp.Header.Get("X-RateLimit-Limit") != "3" {
		t.Fatalf("app 22's installation: %v, headers %v", err, resp.Header)
	}
	// Past the reset the window is full again (the token expired meanwhile: a new one).
	e.clock.Advance(time.Hour)
	if _, _, err := e.client(t, e.installationToken2(t, 11, r.InstallationIDs[11])).Actions.ListRunners(ctx, "acme", "web", nil); err != nil {
		t.Fatalf("app 11 after the reset: %v", err)
	}
	counts := map[int64]int{}
	for _, rec := range e.sim.Requests() {
		counts[rec.App]++
	}
	// App 11: its token, 4 calls, a token and a call after the reset; App 22: its token and
	// 1 call.
	if counts[11] != 7 || counts[22] != 2 {
		t.Errorf("requests per App = %v, want 11:7 22:2", counts)
	}
}

// installationToken2 mints a token of App app's installation.
func (e *env) installationToken2(t *testing.T, app, installation int64) string {
	t.Helper()
	tok, _, err := e.client(t, e.jwtOf(t, app)).Apps.CreateInstallationToken(ctxT(t), installation, nil)
	if err != nil {
		t.Fatalf("token of installation %d: %v", installation, err)
	}
	return tok.GetToken()
}

// Every App installed on the owner delivers the event through its own webhook: its own
// GUID, signature, hook id and installation; each App lists its own deliveries only.
func TestEveryInstalledAppDelivers(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newAppsEnv(t, rc, 0)
	ctx := ctxT(t)
	r := e.sim.AddRepository("acme/web")
	e.sim.AddRepositoryFor("solo/api", 22)
	if _, err := e.sim.QueueJob(ctx, "acme/web", []string{"self-hosted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.QueueJob(ctx, "solo/api", []string{"self-hosted"}); err != nil {
		t.Fatal(err)
	}
	hooks := rc.got()
	if len(hooks) != 3 {
		t.Fatalf("%d deliveries, want 3 (two Apps on acme, one on solo)", len(hooks))
	}
	secrets := map[int64]string{11: firstSecret, 22: secondSecret}
	guids := map[string]bool{}
	for i, h := range hooks {
		var p struct {
			Installation struct{ ID int64 } `json:"installation"`
		}
		if err := json.Unmarshal(h.body, &p); err != nil {
			t.Fatal(err)
		}
		d := e.sim.Deliveries()[i]
		if !validSignature(h, secrets[d.AppID]) || validSignature(h, secrets[33-d.AppID]) {
			t.Errorf("delivery %d of app %d is not signed with its own secret alone", i, d.AppID)
		}
		if h.header.Get("X-GitHub-Hook-Installation-Target-ID") != itoa(d.AppID) || p.Installation.ID != d.InstallationID {
			t.Errorf("delivery %d: target %s, installation %d; record %+v", i, h.header.Get("X-GitHub-Hook-Installation-Target-ID"), p.Installation.ID, d)
		}
		guids[h.header.Get("X-GitHub-Delivery")] = true
	}
	if len(guids) != 3 {
		t.Errorf("GUIDs %v: want one per delivery", guids)
	}
	if ds := e.sim.Deliveries(); ds[0].InstallationID != r.InstallationIDs[11] || ds[1].InstallationID != r.InstallationIDs[22] {
		t.Errorf("acme/web deliveries = %+v", ds[:2])
	}
	for app, want := range map[int64]int{11: 1, 22: 2} {
		list, _, err := e.client(t, e.jwtOf(t, app)).Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 50})
		if err != nil || len(list) != want {
			t.Errorf("deliveries listed by app %d = %d, %v; want %d", app, len(list), err, want)
		}
		for _, d := range list {
			if other := 33 - app; d.GetInstallationID() == r.InstallationIDs[other] {
				t.Errorf("app %d lists a delivery of app %d", app, other)
			}
		}
	}
}

func splitRepo(full string) (string, string) {
	owner, name, _ := strings.Cut(full, "/")
	return owner, name
}
