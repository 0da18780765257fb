package githubapp

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
)

// appsEnv is a simulator with two Apps (11 and 22) and a client configured with both.
type appsEnv struct {
	sim   *githubsim.Sim
	c     *Client
	clock *testkit.Clock
}

func newAppsEnv(t *testing.T) *appsEnv {
	t.Helper()
	e := &appsEnv{clock: testkit.NewClock(time.Now())}
	sim, err := githubsim.New(githubsim.Options{AppID: 11, PathPrefix: "/api/v3", Now: e.clock.Now,
		Apps: []githubsim.AppOptions{{ID: 22}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e.sim = sim
	cfg := Config{APIURL: srv.URL + "/api/v3/", Now: e.clock.Now, After: e.clock.After, Apps: []App{
		{ID: 11, PrivateKey: sim.AppPrivateKeyPEM(11)}, {ID: 22, PrivateKey: sim.AppPrivateKeyPEM(22)},
	}}
	if e.c, err = New(cfg, testkit.Discard(), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// appOfJIT returns the App whose installation minted the last JIT config.
func (e *appsEnv) appOfJIT(t *testing.T) int64 {
	t.Helper()
	reqs := e.sim.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if strings.HasSuffix(reqs[i].Path, "/generate-jitconfig") {
			return reqs[i].App
		}
	}
	t.Fatal("no generate-jitconfig request")
	return 0
}

func TestInstallationsAcrossApps(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	ctx := context.Background()
	e.sim.AddRepository("acme/api")        // both Apps
	e.sim.AddRepositoryFor("solo/api", 22) // the second only
	if got := e.c.Apps(); len(got) != 2 || got[0] != 11 || got[1] != 22 {
		t.Fatalf("Apps = %v", got)
	}
	jit := func(repo, name string) error {
		owner, r, _ := strings.Cut(repo, "/")
		_, err := e.c.GenerateJITConfig(ctx, owner, r, JITRequest{Name: name, Labels: []string{"self-hosted"}})
		return err
	}
	if err := jit("solo/api", "r1"); err != nil || e.appOfJIT(t) != 22 {
		t.Fatalf("solo/api: %v, minted by app %d; want app 22, the one installed there", err, e.appOfJIT(t))
	}
	// Unknown budgets: the first App; then the other, whose budget is fuller.
	if err := jit("acme/api", "r2"); err != nil || e.appOfJIT(t) != 11 {
		t.Fatalf("acme/api: %v, minted by app %d; want 11", err, e.appOfJIT(t))
	}
	if err := jit("acme/api", "r3"); err != nil || e.appOfJIT(t) != 22 {
		t.Fatalf("acme/api again: %v, minted by app %d; want 22 (11 spent one call more)", err, e.appOfJIT(t))
	}
	// App 11's installation spent with a reset ahead: every call goes through App 22; the
	// first, which the client sent to App 11 not knowing yet, goes again through App 22
	// (GitHub did not act on a rate-limited call).
	acme := e.sim.Repositories()[0]
	e.sim.SetInstallationRateLimit(acme.InstallationIDs[11], 0, e.clock.Now().Add(time.Hour))
	for i := range 3 {
		if err := jit("acme/api", "spent-"+string(rune('a'+i))); err != nil {
			t.Fatalf("with app 11 spent: %v", err)
		}
		if a := e.appOfJIT(t); a != 22 {
			t.Fatalf("call %d with app 11 spent went through app %d", i, a)
		}
	}
	refused := 0
	for _, r := range e.sim.Requests() {
		if r.App == 11 && r.Status == 403 {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("app 11 answered 403 %d times; want once: a spent budget is not used while another has calls", refused)
	}
	if st := e.c.RateLimitFor("acme", "api"); st.Remaining == 0 {
		t.Errorf("RateLimitFor(acme/api) = %+v: the budget of the App used next has calls left", st)
	}
	// A repository no App can see.
	if err := jit("other/api", "r9"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("unknown repository: %v, want ErrNotInstalled", err)
	}
}

func TestSeveralAppsConfig(t *testing.T) {
	t.Parallel()
	_, key := appKey(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no id", Config{Apps: []App{{ID: 1, PrivateKey: key}, {PrivateKey: key}}}, "github.apps[1].id"},
		{"twice", Config{Apps: []App{{ID: 1, PrivateKey: key}, {ID: 1, PrivateKey: key}}}, "github.apps[1].id 1: App listed twice"},
		{"no key", Config{Apps: []App{{ID: 1, PrivateKey: key}, {ID: 2}}}, "github.apps[1].private_key: required"},
		{"bad key", Config{Apps: []App{{ID: 1, PrivateKey: []byte("nope")}}}, "github.apps[0].private_key: not a PEM"},
		{"with app_id", Config{AppID: 3, PrivateKey: key, Apps: []App{{ID: 1, PrivateKey: key}}}, "github.apps: set several Apps"},
	} {
		if _, err := New(tc.cfg, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	c, err := New(Config{Apps: []App{{ID: 1, PrivateKey: key}, {ID: 2, PrivateKey: key}}}, nil, nil)
	if err != nil || c.Mode() != "app" || len(c.Apps()) != 2 {
		t.Fatalf("two Apps: %v", err)
	}
	if c.AppRateLimit(3) != (RateState{}) {
		t.Error("AppRateLimit of an App not configured")
	}
	if _, _, err := c.ListDeliveriesPage(context.Background(), 3, "", 10); err == nil || !strings.Contains(err.Error(), "GitHub App 3 is not configured") {
		t.Errorf("deliveries of an App not configured: %v", err)
	}
}
