// Package githubapp is garo-server's GitHub client, the only code of Garo that talks to
// GitHub's REST API and the only holder of the GitHub App private key. It mints
// just-in-time runner configs and registration tokens, removes runners, reads runners,
// jobs and queued work, and replays missed webhook deliveries.
//
// Authentication. A GitHub App (Config.AppID + Config.PrivateKey) is the preferred mode:
// the client finds the App's installation on each repository (cached for
// Config.InstallationCacheTTL) and acts with that installation's token, which
// ghinstallation mints and refreshes by itself one minute before it expires. A personal
// access token (Config.PAT) is the second choice, for setups that cannot register an App;
// it cannot read or redeliver webhook deliveries.
//
// Several Apps (Config.Apps). GitHub counts the rate limit of each installation apart, so
// several Apps installed on the same organisations multiply the budget. The client finds a
// repository's installations across every App and acts through the one whose "core"
// budget, as the transport last saw it, is highest (see pick); webhook deliveries are
// listed and redelivered per App.
//
// Rate limits and retries live in one place, a RoundTripper under go-github (see
// rateTransport): it reads X-RateLimit-* on every answer, exports the budget as metrics,
// waits out a rate limit when the wait is at most Config.MaxRateLimitWait (else
// ErrRateLimited with RetryAt), holds requests back while the known budget is spent, and
// retries idempotent requests (GET, DELETE) on 5xx answers and network errors with
// shared/backoff. A POST is never retried blindly: only a rate-limit answer, which
// means GitHub did not act on it, sends it again.
//
// Secrets: installation tokens, the PAT, JWTs, registration tokens and JIT configs never
// appear in an error or a log line; JITConfig and RegistrationToken redact themselves
// when printed.
package githubapp

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/version"
)

// Defaults of Config.
const (
	DefaultInstallationCacheTTL = time.Hour
	DefaultMaxRateLimitWait     = 60 * time.Second
)

// Config configures a Client. Exactly one of (AppID with PrivateKey) or PAT is set.
type Config struct {
	// APIURL is the REST API root. "" means https://api.github.com/. For GitHub
	// Enterprise Server give https://ghe.example.com/api/v3/ ("/api/v3/" is added when
	// missing, as go-github's WithEnterpriseURLs does, unless the host starts with "api.").
	APIURL string
	// AppID and PrivateKey (PEM, RSA) select GitHub App mode, the preferred one.
	AppID      int64
	PrivateKey []byte
	// Apps are several GitHub Apps, instead of AppID and PrivateKey; errors name them
	// github.apps[i].
	Apps []App
	// PAT is a personal access token, used only when AppID is 0: the second choice,
	// for setups without a GitHub App. It needs the repository "administration" scope
	// (fine-grained) or "repo" (classic) to manage runners.
	PAT string
	// InstallationCacheTTL is how long the installation of a repository is remembered.
	// 0 means 1h.
	InstallationCacheTTL time.Duration
	// MaxRateLimitWait is the longest wait for a rate limit to lift before a call gives
	// up with ErrRateLimited. 0 means 60s.
	MaxRateLimitWait time.Duration
	// Transport is the base transport. nil means a clone of http.DefaultTransport with
	// dial, TLS and response-header timeouts.
	Transport http.RoundTripper
	// Now and After are the clock and timer of cache expiry and rate-limit waits; nil
	// means time.Now and time.After. (ghinstallation reads the real clock for token
	// expiry and JWT timestamps; that cannot be injected.)
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// App is one GitHub App of Config.Apps: its id and PEM (RSA) private key.
type App struct {
	ID         int64
	PrivateKey []byte
}

// Client talks to GitHub for garo-server. It is safe for concurrent use.
type Client struct {
	log   *slog.Logger
	now   func() time.Time
	lim   *limiter
	mode  string
	ttl   time.Duration
	base  http.RoundTripper
	api   *url.URL // go-github BaseURL, with trailing slash
	up    *url.URL // go-github UploadURL
	agent string   // User-Agent

	// PAT mode: the one client.
	pat *github.Client

	// App mode: the Apps in their configured order.
	apps []*appClient

	mu       sync.Mutex
	repos    map[string]repoInstall  // lower-case "owner/repo"
	installs map[int64]*installation // by installation id
	lookups  singleflight.Group      // one FindRepositoryInstallation per repo at a time
	groups   groupCache              // organisation runner groups by name
	listings singleflight.Group      // one listing of an organisation's runner groups at a time
}

// repoInstall is what the cache knows of a repository: its installations, one per App
// installed there, in the Apps' order.
type repoInstall struct {
	ids     []int64
	expires time.Time
}

// appClient is one GitHub App: its key and the go-github client acting as the App (JWT).
type appClient struct {
	id         int64
	key        *rsa.PrivateKey
	gh         *github.Client
	credential string // its JWT's budget: "app" with one App, "app/<id>" with several
}

// installation is the go-github client acting as one installation of an App.
type installation struct {
	id  int64
	app *appClient
	gh  *github.Client
}

// New validates cfg and builds a Client. Errors name the configuration key at fault
// (github.app_id, github.private_key, github.pat, github.api_url). log may be nil; reg may
// be nil (metrics are then kept but not exported).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		log:      log,
		now:      cfg.Now,
		ttl:      cfg.InstallationCacheTTL,
		base:     cfg.Transport,
		agent:    "garo/" + version.Version,
		repos:    map[string]repoInstall{},
		installs: map[int64]*installation{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	after := cfg.After
	if after == nil {
		after = time.After
	}
	if c.base == nil {
		c.base = defaultTransport()
	}
	switch {
	case c.ttl < 0:
		return nil, fmt.Errorf("github installation cache TTL %v: must not be negative", c.ttl)
	case c.ttl == 0:
		c.ttl = DefaultInstallationCacheTTL
	}
	maxWait := cfg.MaxRateLimitWait
	switch {
	case maxWait < 0:
		return nil, fmt.Errorf("github max rate-limit wait %v: must not be negative", maxWait)
	case maxWait == 0:
		maxWait = DefaultMaxRateLimitWait
	}

	if err := c.setURLs(cfg.APIURL); err != nil {
		return nil, err
	}
	if err := c.setCredentials(cfg); err != nil {
		return nil, err
	}

	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c.lim = &limiter{
		now:     c.now,
		after:   after,
		maxWait: maxWait,
		policy:  backoff.Default(),
		log:     log,
		m:       m,
		budgets: map[budgetKey]RateState{},
	}

	if c.mode == "pat" {
		c.pat = c.newGitHub(c.transport(patCredential, appCredential)).WithAuthToken(cfg.PAT)
	} else {
		for _, a := range c.apps {
			atr := ghinstallation.NewAppsTransportFromPrivateKey(c.transport(a.credential, a.credential), a.id, a.key)
			atr.BaseURL = c.ghinstallationBaseURL()
			a.gh = c.newGitHub(atr)
		}
	}
	log.Debug("github client ready", "mode", c.mode, "api_url", c.api.String())
	return c, nil
}

func (c *Client) setURLs(raw string) error {
	if raw == "" {
		c.api, _ = url.Parse("https://api.github.com/")
		c.up, _ = url.Parse("https://uploads.github.com/")
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("github.api_url %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("github.api_url %q: want an absolute http(s) URL such as https://ghe.example.com/api/v3/", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("github.api_url %q: must not carry credentials, a query or a fragment", u.Redacted())
	}
	if u.Host == "api.github.com" && (u.Path == "" || u.Path == "/") {
		return c.setURLs("")
	}
	upload := *u
	upload.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3") + "/api/uploads/"
	gh, err := github.NewClient(nil).WithEnterpriseURLs(u.String(), upload.String())
	if err != nil {
		return fmt.Errorf("github.api_url %q: %w", raw, err)
	}
	c.api, c.up = gh.BaseURL, gh.UploadURL
	return nil
}

func (c *Client) setCredentials(cfg Config) error {
	if len(cfg.Apps) > 0 {
		return c.setApps(cfg)
	}
	switch {
	case cfg.AppID < 0:
		return fmt.Errorf("github.app_id %d: must be a positive GitHub App id", cfg.AppID)
	case cfg.AppID > 0 && cfg.PAT != "":
		return fmt.Errorf("github.app_id and github.pat are both set: configure a GitHub App (preferred) or a personal access token, not both")
	case cfg.AppID > 0:
		if len(cfg.PrivateKey) == 0 {
			return fmt.Errorf("github.private_key: required with github.app_id (the App's PEM private key)")
		}
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKey)
		if err != nil {
			// The parser's message never quotes the key; still, keep only its verdict.
			return fmt.Errorf("github.private_key: not a PEM-encoded RSA private key (%v)", err)
		}
		c.mode = "app"
		c.apps = []*appClient{{id: cfg.AppID, key: key, credential: appCredential}}
		return nil
	case len(cfg.PrivateKey) != 0:
		return fmt.Errorf("github.private_key is set but github.app_id is not: set the App's id")
	case cfg.PAT == "":
		return fmt.Errorf("github: no credentials: set github.app_id and github.private_key (GitHub App, preferred) or github.pat (personal access token)")
	case strings.ContainsAny(cfg.PAT, " \t\r\n"):
		return fmt.Errorf("github.pat: contains white space; paste the token alone")
	}
	c.mode = "pat"
	return nil
}

// setApps takes the several Apps of cfg.Apps.
func (c *Client) setApps(cfg Config) error {
	if cfg.AppID != 0 || len(cfg.PrivateKey) != 0 || cfg.PAT != "" {
		return fmt.Errorf("github.apps: set several Apps, or github.app_id with github.private_key, or github.pat: only one of them")
	}
	seen := map[int64]bool{}
	for i, a := range cfg.Apps {
		switch {
		case a.ID <= 0:
			return fmt.Errorf("github.apps[%d].id %d: must be a positive GitHub App id", i, a.ID)
		case seen[a.ID]:
			return fmt.Errorf("github.apps[%d].id %d: App listed twice", i, a.ID)
		case len(a.PrivateKey) == 0:
			return fmt.Errorf("github.apps[%d].private_key: required (the App's PEM private key)", i)
		}
		seen[a.ID] = true
		key, err := jwt.ParseRSAPrivateKeyFromPEM(a.PrivateKey)
		if err != nil {
			return fmt.Errorf("github.apps[%d].private_key: not a PEM-encoded RSA private key (%v)", i, err)
		}
		cred := appCredential
		if len(cfg.Apps) > 1 {
			cred = fmt.Sprintf("%s/%d", appCredential, a.ID)
		}
		c.apps = append(c.apps, &appClient{id: a.ID, key: key, credential: cred})
	}
	c.mode = "app"
	return nil
}

// defaultTransport is http.DefaultTransport with bounds on every step but the body: a
// rate-limit wait happens inside RoundTrip, so there is no overall client timeout; callers
// bound calls with their context.
func defaultTransport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.ExpectContinueTimeout = time.Second
	return tr
}

// transport returns the rate transport for one credential; requests under /app/ (a
// token refresh) count against app, the credential of the App's JWT.
func (c *Client) transport(credential, app string) http.RoundTripper {
	return &rateTransport{base: c.base, lim: c.lim, credential: credential, app: app, basePath: c.api.Path}
}

// ghinstallationBaseURL is the API root as ghinstallation wants it: no trailing slash.
func (c *Client) ghinstallationBaseURL() string {
	return strings.TrimSuffix(c.api.String(), "/")
}

func (c *Client) newGitHub(rt http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: rt})
	// Equivalent to WithEnterpriseURLs, whose result setURLs computed once.
	base, up := *c.api, *c.up
	gh.BaseURL, gh.UploadURL = &base, &up
	gh.UserAgent = c.agent
	return gh
}

// Mode returns "app" or "pat".
func (c *Client) Mode() string { return c.mode }

// RateLimitFor returns the "core" budget of the credential that acts on owner/repo next:
// the installation pick chooses among the repository's (once they are known), or the
// PAT's. GitHub counts each installation apart, so one organisation's spent budget says
// nothing of another's. The zero RateState means not known yet.
func (c *Client) RateLimitFor(owner, repo string) RateState {
	cred := patCredential
	if c.mode != "pat" {
		inst := c.cached(repoKey(owner, repo))
		if inst == nil {
			return RateState{}
		}
		cred = installationCredential(inst.id)
	}
	return c.lim.budget(budgetKey{cred, "core"})
}

// Apps returns the ids of the configured GitHub Apps in their configured order (none in
// PAT mode).
func (c *Client) Apps() []int64 {
	out := make([]int64, 0, len(c.apps))
	for _, a := range c.apps {
		out = append(out, a.id)
	}
	return out
}

// AppRateLimit returns the "core" budget of App appID itself (its JWT: installations,
// hook deliveries); the zero RateState means not known yet (or no such App).
func (c *Client) AppRateLimit(appID int64) RateState {
	a := c.appByID(appID)
	if a == nil {
		return RateState{}
	}
	return c.lim.budget(budgetKey{a.credential, "core"})
}

func (c *Client) appByID(id int64) *appClient {
	for _, a := range c.apps {
		if a.id == id {
			return a
		}
	}
	return nil
}

// Credential names of the rate-limit budgets.
const (
	patCredential = "pat"
	appCredential = "app"
)

func installationCredential(id int64) string { return fmt.Sprintf("installation/%d", id) }

func repoKey(owner, repo string) string { return strings.ToLower(owner + "/" + repo) }

// forRepo returns the go-github client that acts on owner/repo, and the installation id
// behind it (0 in PAT mode).
func (c *Client) forRepo(ctx context.Context, owner, repo string) (*github.Client, int64, error) {
	if c.mode == "pat" {
		return c.pat, 0, nil
	}
	key := repoKey(owner, repo)
	if inst := c.cached(key); inst != nil {
		return inst.gh, inst.id, nil
	}
	v, err, _ := c.lookups.Do(key, func() (any, error) {
		if inst := c.cached(key); inst != nil {
			return inst, nil // a lookup that just finished filled the cache
		}
		return c.lookup(ctx, owner, repo)
	})
	if err != nil {
		return nil, 0, err
	}
	inst := v.(*installation)
	return inst.gh, inst.id, nil
}

// cached returns the installation that acts on a repository next (see pick) while the
// repository's cache entry is fresh.
func (c *Client) cached(key string) *installation {
	c.mu.Lock()
	ri, ok := c.repos[key]
	var insts []*installation
	if ok && c.now().Before(ri.expires) {
		for _, id := range ri.ids {
			if inst := c.installs[id]; inst != nil {
				insts = append(insts, inst)
			}
		}
	}
	c.mu.Unlock()
	if len(insts) == 0 {
		return nil
	}
	return insts[c.pick(insts)]
}

// pick chooses among the installations of a repository (in the Apps' order) the one with
// the most of its "core" budget left, as the transport last saw it, less the requests
// under way on it (so that a burst of concurrent calls spreads before their answers
// come back): a budget never seen counts as full (nothing was spent yet), one whose reset
// has passed as its whole limit. Ties go to the earlier App, so the choice is
// deterministic. A spent budget (0 left,
// reset ahead) loses to any with calls left; when all are spent, the one that resets
// first wins (the transport then waits for it or reports ErrRateLimited).
func (c *Client) pick(insts []*installation) int {
	now := c.now()
	best, bestLeft := 0, -1
	var bestReset time.Time
	for i, inst := range insts {
		cred := installationCredential(inst.id)
		st := c.lim.budget(budgetKey{cred, "core"})
		left := st.Remaining
		switch {
		case st.Limit == 0:
			left = math.MaxInt
		case !st.Reset.After(now):
			left = st.Limit
		}
		if left > 0 {
			left = max(left-c.lim.underWay(cred), 1) // spent only when GitHub says so
		}
		if left > bestLeft || (left == 0 && bestLeft == 0 && st.Reset.Before(bestReset)) {
			best, bestLeft, bestReset = i, left, st.Reset
		}
	}
	return best
}

// partialTTL bounds how long a repository's installations are cached when an App could
// not answer whether it is installed there (rate-limited, unreachable): that App is asked
// again soon.
const partialTTL = time.Minute

// lookup finds the installations of every App on owner/repo, caches them and returns the
// one to act through. A repository no App is installed on is ErrNotInstalled.
func (c *Client) lookup(ctx context.Context, owner, repo string) (*installation, error) {
	type found struct {
		app *appClient
		id  int64
	}
	var hits []found
	var errs []error
	for _, a := range c.apps {
		inst, _, err := a.gh.Apps.FindRepositoryInstallation(ctx, owner, repo)
		if err != nil {
			err = classify(err, c.now())
			if !errors.Is(err, ErrNotFound) {
				errs = append(errs, fmt.Errorf("app %d: %w", a.id, err))
			}
			continue
		}
		if inst.GetID() == 0 {
			errs = append(errs, fmt.Errorf("app %d: answer without an installation id", a.id))
			continue
		}
		hits = append(hits, found{a, inst.GetID()})
	}
	if len(hits) == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("find app installation of %s/%s: %w", owner, repo, ErrNotInstalled)
		}
		return nil, fmt.Errorf("find app installation of %s/%s: %w", owner, repo, errors.Join(errs...))
	}
	ttl := c.ttl
	if len(errs) > 0 {
		ttl = min(ttl, partialTTL)
		c.log.Warn("github app installation lookup incomplete; using the Apps that answered", "repo", owner+"/"+repo, "err", errors.Join(errs...))
	}
	c.mu.Lock()
	ri := repoInstall{expires: c.now().Add(ttl)}
	insts := make([]*installation, 0, len(hits))
	for _, h := range hits {
		inst := c.installs[h.id]
		if inst == nil {
			// Each installation gets its own AppsTransport: ghinstallation's token refresh
			// writes fields of the AppsTransport it was built from, so sharing one between
			// installations would race.
			atr := ghinstallation.NewAppsTransportFromPrivateKey(c.transport(installationCredential(h.id), h.app.credential), h.app.id, h.app.key)
			atr.BaseURL = c.ghinstallationBaseURL()
			itr := ghinstallation.NewFromAppsTransport(atr, h.id)
			inst = &installation{id: h.id, app: h.app, gh: c.newGitHub(itr)}
			c.installs[h.id] = inst
		}
		ri.ids = append(ri.ids, h.id)
		insts = append(insts, inst)
	}
	c.repos[repoKey(owner, repo)] = ri
	c.mu.Unlock()
	for _, inst := range insts {
		c.log.Debug("github app installation found", "repo", owner+"/"+repo, "app_id", inst.app.id, "installation_id", inst.id)
	}
	return insts[c.pick(insts)], nil
}

// elsewhere reports whether a call for owner/repo that failed with err through
// installation id (its attempt-th try) may go again through another App's installation
// there: GitHub refused it for its rate limit, which means it did not act on it, and the
// installation pick now chooses (its budget seen spent) is another one. At most one try
// per App.
func (c *Client) elsewhere(owner, repo string, id int64, err error, attempt int) bool {
	if attempt >= len(c.apps) || !errors.Is(err, ErrRateLimited) {
		return false
	}
	next := c.cached(repoKey(owner, repo))
	if next == nil || next.id == id {
		return false
	}
	c.log.Info("github installation rate-limited; trying another App's", "repo", owner+"/"+repo,
		"installation_id", id, "next_installation_id", next.id, "app_id", next.app.id)
	return true
}

// done classifies the error of a call made for owner/repo through installation id and
// keeps the cache honest: a 401 or 404 forgets the repository's installation so that a
// reinstall is found on the next call; a 401 or a failed token refresh also drops the
// installation's token.
func (c *Client) done(owner, repo string, id int64, err error) error {
	if err == nil {
		return nil
	}
	refresh := tokenRefreshStatus(err)
	code := statusOf(err)
	err = classify(err, c.now())
	if id == 0 {
		return err
	}
	switch {
	case refresh != 0 && refresh < 500:
		c.forgetInstallation(id)
		c.log.Warn("github app installation token refused; forgetting the installation", "repo", owner+"/"+repo, "installation_id", id, "status", refresh)
	case code == http.StatusUnauthorized:
		c.forgetInstallation(id)
		c.log.Warn("github rejected the installation token; forgetting the installation", "repo", owner+"/"+repo, "installation_id", id)
	case code == http.StatusNotFound:
		c.mu.Lock()
		delete(c.repos, repoKey(owner, repo))
		c.mu.Unlock()
	}
	return err
}

func (c *Client) forgetInstallation(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.installs, id)
	for k, ri := range c.repos {
		if slices.Contains(ri.ids, id) {
			delete(c.repos, k)
		}
	}
}
