package githubsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Sim. The zero value is usable: App id 1, deliveries recorded but not
// sent, served like api.github.com, only installation tokens accepted, real time.
type Options struct {
	AppID         int64            // default 1
	WebhookURL    string           // where deliveries are POSTed; "" records them without sending
	WebhookSecret string           // HMAC key of X-Hub-Signature(-256); "" sends no signature headers
	PathPrefix    string           // "" like api.github.com; "/api/v3" to act as GitHub Enterprise Server
	PATs          []string         // personal access tokens accepted for repo endpoints
	Now           func() time.Time // default time.Now
	Log           *slog.Logger     // default: discard
	HTTPClient    *http.Client     // for deliveries; default with 10 s timeout

	// HookTarget is what the webhook is: "" (or "integration") the App's webhook;
	// "repository" or "organization" a webhook set up on the repository or its
	// organization (see hookHeaders).
	HookTarget string

	// BaseURL is the sim's own root URL as clients reach it, e.g. "http://127.0.0.1:9000".
	// It is used for the API URLs inside payloads (url, run_url, ...) and as sim_url in JIT
	// configs. "" keeps GitHub's own host names in payloads (api.github.com, or
	// github.example.com for a PathPrefix) and takes sim_url from the request's Host.
	BaseURL string

	// RunnerLostAfter is how long a runner with a job may stay silent before GitHub fails
	// the job as "lost communication" (lease.go); default DefaultRunnerLostAfter (10 m).
	RunnerLostAfter time.Duration
	// LeaseCheckEvery is how often lapsed leases are looked for in the background;
	// default DefaultLeaseCheckEvery (1 s); negative: never (tests call FailLostJobs).
	LeaseCheckEvery time.Duration

	// RateLimit is the core rate limit per hour; default 5000, an App installation's
	// floor. GitHub grants an installation up to 12,500, and 15,000 on GitHub Enterprise
	// Cloud ("Rate limits for the REST API", docs.github.com).
	RateLimit int

	// Apps are further GitHub Apps beside the first one (AppID, WebhookSecret), each with
	// its own key, webhook and, on every owner, installation. With several Apps every
	// credential counts against a window of its own (SeparateRateLimits).
	Apps []AppOptions
	// SeparateRateLimits gives each installation and each App's JWT a core window of
	// RateLimit of its own, as GitHub counts them: "GitHub Apps authenticating with an
	// installation access token use the installation's minimum rate limit of 5,000
	// requests per hour" ("Rate limits for the REST API", Primary rate limit for GitHub
	// App installations, https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
	// Off (and one App): one window shared by every caller.
	SeparateRateLimits bool
}

// AppOptions is one more GitHub App of the sim (Options.Apps): its id (unique, not 0) and
// the secret its webhook signs deliveries with ("" sends no signature headers).
type AppOptions struct {
	ID            int64
	WebhookSecret string
}

// Sentinel errors of the Go API.
var (
	ErrUnknownRepository = errors.New("githubsim: unknown repository")
	ErrUnknownJob        = errors.New("githubsim: unknown job")
	ErrUnknownRunner     = errors.New("githubsim: unknown runner")
	ErrSessionConflict   = errors.New("githubsim: session conflict: a session for this runner already exists")
	ErrNotConnected      = errors.New("githubsim: runner is not connected")
	ErrNoJob             = errors.New("githubsim: runner has no job")
	ErrDeliveryFailed    = errors.New("githubsim: webhook delivery failed")
)

// Repository is a repository the App is installed on. InstallationID is the installation
// of the first App installed on its owner; InstallationIDs has each App's (by App id).
type Repository struct {
	ID              int64
	Owner           string
	Name            string
	FullName        string
	InstallationID  int64
	InstallationIDs map[int64]int64
}

// Job is a snapshot of a workflow job. Status is queued, in_progress or completed;
// Conclusion is "" until the job is completed.
type Job struct {
	ID           int64
	RunID        int64
	Repo         string // full name, owner/name
	Name         string
	WorkflowName string
	HeadBranch   string
	HeadSHA      string
	RunAttempt   int
	Labels       []string
	// RunnerGroup is the runner group its runs-on names ("" for none): the sim's own
	// knowledge, as GitHub's queued webhook does not carry it (QueueJobInGroup).
	RunnerGroup string
	Status      string
	Conclusion  string
	RunnerID    int64
	RunnerName  string
	// RunnerGroupID and RunnerGroupName are the group of the runner that took the job.
	RunnerGroupID   int64
	RunnerGroupName string
	CreatedAt       time.Time
	StartedAt       time.Time
	CompletedAt     time.Time
	// RunnerOnlineAt is when the runner that took the job connected, at full clock
	// resolution: the simulator's own knowledge, not a field of GitHub's API.
	RunnerOnlineAt time.Time
}

// Runner is a snapshot of a self-hosted runner registered on a repository or, with Org
// set, on an organisation (see OrgRunners). Labels holds every label name: for a JIT
// runner exactly those generate-jitconfig was given; for a runner registered with a
// registration token, self-hosted, its OS and architecture, then its custom labels.
type Runner struct {
	ID        int64
	Name      string
	Repo      string
	OS        string
	Status    string // online or offline
	Busy      bool
	Ephemeral bool
	Labels    []string
	GroupID   int64
	JobID     int64 // the job it runs, 0 when idle
	// Org is the organisation of an organisation runner (Repo is then ""), whose group
	// is GroupID.
	Org string
}

// Fault makes the next matching REST requests fail or slow down. Method "" matches every
// method; PathPrefix matches the request path with or without Options.PathPrefix.
// Status 0 only delays (Delay) and then serves the request normally; a 429 or 403
// answer carries Retry-After when RetryAfter is set. Times 0 means forever; a fault with
// Until set ends then (a window, by Options.Now), whichever comes first.
type Fault struct {
	Method     string
	PathPrefix string
	Status     int
	RetryAfter time.Duration
	Delay      time.Duration
	Times      int
	Until      time.Time
}

// RequestRecord is one REST call the sim answered (GitHub routes, not /_sim/).
type RequestRecord struct {
	Method string
	Path   string // as requested, without the query
	Query  string // the raw query
	Route  string // the GitHub route template it matched, "" for unknown routes
	Status int
	At     time.Time
	// App is the GitHub App whose credential made the call (its JWT or one of its
	// installations' tokens); 0 for a PAT or no credential. Installation is the
	// installation whose token made it, 0 for the App's JWT and the rest.
	App          int64
	Installation int64
}

// Sim is an in-memory fake of the parts of GitHub that Garo uses. It is safe for
// concurrent use. Close it to stop redeliveries that are still under way.
type Sim struct {
	opts     Options
	apps     []*simApp // the first is Options.AppID's
	log      *slog.Logger
	client   *http.Client
	hookshot string // the hex part of GitHub-Hookshot/<hex>
	created  time.Time
	simMux   *http.ServeMux // the /_sim/ routes

	ctx    context.Context // lifetime of background redeliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex
	seq           map[string]int64
	owners        map[string]*ownerState // by lower-case login
	repos         map[string]*repoState  // by lower-case full name
	installations map[int64]*installState
	tokens        map[string]*tokenState    // installation access tokens
	regTokens     map[string]*runnerToken   // registration tokens
	removeTokens  map[string]*runnerToken   // remove tokens
	runners       map[int64]*runnerState    // registered runners
	lose          string                    // workflow_job action whose deliveries are lost (LoseJobWebhooks)
	loseUntil     time.Time                 // ... until then (zero: until called again)
	jobs          map[int64]*jobState       // every job ever queued
	runs          map[int64]*runState       // every workflow run
	deliveries    map[int64]*deliveryRecord // by delivery id
	faults        []*faultState
	rate          rateState
	instRates     map[int64]*rateState // installations with a window of their own
	labelIDs      map[string]int64     // by lower-case label name
	changed       chan struct{}        // closed and replaced when jobs or runners change
	delivered     chan struct{}        // closed and replaced when a delivery is recorded

	// requests is guarded by reqMu, not mu: a call is recorded as its status is written,
	// and a handler may write its answer while it holds mu.
	reqMu    sync.Mutex
	requests []RequestRecord
}

// simApp is one GitHub App: its key, its webhook and its JWT's own rate window.
type simApp struct {
	id       int64
	key      *rsa.PrivateKey
	keyPEM   []byte
	secret   string // webhook secret
	hookID   int64
	clientID string
	rate     *rateState // its JWT's window with SeparateRateLimits; nil until first used
	firstID  int64      // the id of the sim's first App
}

// slug is the App's URL name: appSlug for the first App, appSlug-<id> for the others.
func (a *simApp) slug() string {
	if a.id == a.firstID {
		return appSlug
	}
	return fmt.Sprintf("%s-%d", appSlug, a.id)
}

type ownerState struct {
	id       int64
	login    string
	installs []*installState     // one per App installed, in the Apps' order
	groups   []*runnerGroupState // beyond the Default group, in creation order
	// repoRunners is the organisation's setting for repository-level runners: "all"
	// ("" too), "selected" (only repoRunnersFor) or "none" (see SetRepositoryRunners).
	repoRunners    string
	repoRunnersFor []string // lower-case full names
}

// installOf returns the installation of app on o, nil when app is not installed there.
func (o *ownerState) installOf(app *simApp) *installState {
	for _, in := range o.installs {
		if in.app == app {
			return in
		}
	}
	return nil
}

type installState struct {
	id      int64
	app     *simApp
	owner   *ownerState
	created time.Time
}

type repoState struct {
	id         int64
	owner      *ownerState
	name       string
	fullName   string
	created    time.Time
	workflowID int64
	runNumber  int
	queue      []*jobState // queued jobs, oldest first: what runners are offered
}

type runState struct {
	id          int64
	repo        *repoState
	number      int
	checkSuite  int64
	headSHA     string
	treeSHA     string
	created     time.Time
	updated     time.Time
	jobIDs      []int64
	blocked     []RunJob // jobs waiting for the jobs they need (see runs.go)
	workflowNam string
}

type jobState struct {
	id           int64
	run          *runState
	name         string
	labels       []string
	status       string
	conclusion   string
	runnerID     int64
	runnerName   string
	created      time.Time
	started      time.Time
	completed    time.Time
	assignable   bool      // false until its queued webhook has been sent, so hooks stay in order
	cancelledBy  bool      // cancelled while a runner had it: the runner's complete only releases it
	runnerOnline time.Time // when its runner connected (see Job.RunnerOnlineAt)
	// group is the runner group the job's runs-on names ({group: NAME}), "" for none;
	// runnerGroupID and runnerGroupName are the group of the runner that took it.
	group           string
	runnerGroupID   int64
	runnerGroupName string
}

type runnerState struct {
	id   int64
	name string
	runnerScope
	labels    []string
	os        string
	ephemeral bool
	secret    string // inside the JIT config; proves the holder may connect
	session   string // "" when offline
	jobID     int64
	lastJobID int64
	created   time.Time
	online    time.Time // when its session opened, at full clock resolution
	renewed   time.Time // last renewal of the lease on its job (lease.go)
}

const (
	defaultLimit     = 5000
	tokenLifetime    = time.Hour
	defaultGroupID   = 1
	defaultGroupName = "Default"
)

// readOnlyLabels are the label names GitHub types "read-only": self-hosted, operating
// systems and architectures (the default labels of
// https://docs.github.com/en/actions/how-tos/managing-self-hosted-runners/using-self-hosted-runners-in-a-workflow).
var readOnlyLabels = map[string]bool{
	"self-hosted": true, "linux": true, "windows": true, "macos": true, "x64": true, "arm": true, "arm64": true,
}

// New creates a Sim and generates its App's RSA 2048 key.
func New(opts Options) (*Sim, error) {
	if opts.AppID == 0 {
		opts.AppID = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	opts.PathPrefix = strings.TrimRight(opts.PathPrefix, "/")
	if opts.PathPrefix != "" && !strings.HasPrefix(opts.PathPrefix, "/") {
		return nil, fmt.Errorf("githubsim: path prefix %q must start with /", opts.PathPrefix)
	}
	if strings.HasPrefix(opts.PathPrefix, "/_sim") {
		return nil, fmt.Errorf("githubsim: path prefix %q collides with /_sim", opts.PathPrefix)
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	switch opts.HookTarget {
	case "", "integration", "repository", "organization":
	default:
		return nil, fmt.Errorf("githubsim: hook target %q: want integration, repository or organization", opts.HookTarget)
	}
	if opts.RunnerLostAfter <= 0 {
		opts.RunnerLostAfter = DefaultRunnerLostAfter
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = defaultLimit
	}
	if opts.LeaseCheckEvery == 0 {
		opts.LeaseCheckEvery = DefaultLeaseCheckEvery
	}
	if len(opts.Apps) > 0 {
		opts.SeparateRateLimits = true
	}
	var apps []*simApp
	for _, a := range append([]AppOptions{{ID: opts.AppID, WebhookSecret: opts.WebhookSecret}}, opts.Apps...) {
		if a.ID <= 0 || slices.ContainsFunc(apps, func(b *simApp) bool { return b.id == a.ID }) {
			return nil, fmt.Errorf("githubsim: app id %d: want a positive id, each App its own", a.ID)
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("githubsim: generate the key of app %d: %w", a.ID, err)
		}
		apps = append(apps, &simApp{
			id: a.ID, key: key, secret: a.WebhookSecret, hookID: 480000000 + a.ID, clientID: "Iv1." + randomHex(16), firstID: opts.AppID,
			keyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := opts.Now()
	s := &Sim{
		opts:          opts,
		apps:          apps,
		log:           opts.Log,
		client:        opts.HTTPClient,
		hookshot:      randomHex(7),
		created:       now.Add(-30 * 24 * time.Hour).UTC().Truncate(time.Second),
		ctx:           ctx,
		cancel:        cancel,
		seq:           map[string]int64{},
		owners:        map[string]*ownerState{},
		repos:         map[string]*repoState{},
		installations: map[int64]*installState{},
		tokens:        map[string]*tokenState{},
		regTokens:     map[string]*runnerToken{},
		removeTokens:  map[string]*runnerToken{},
		runners:       map[int64]*runnerState{},
		jobs:          map[int64]*jobState{},
		runs:          map[int64]*runState{},
		deliveries:    map[int64]*deliveryRecord{},
		rate:          rateState{limit: opts.RateLimit, remaining: opts.RateLimit, reset: now.Add(time.Hour)},
		labelIDs:      map[string]int64{"self-hosted": 1, "linux": 2, "x64": 3},
		changed:       make(chan struct{}),
		delivered:     make(chan struct{}),
	}
	s.simMux = s.newSimMux()
	if opts.LeaseCheckEvery > 0 {
		s.wg.Add(1)
		go s.watchLeases()
	}
	return s, nil
}

// Close stops redeliveries still under way and waits for them.
func (s *Sim) Close() {
	s.cancel()
	s.wg.Wait()
}

// PrivateKeyPEM returns the (first) App's private key as GitHub hands it out: PKCS#1 PEM.
func (s *Sim) PrivateKeyPEM() []byte { return slices.Clone(s.apps[0].keyPEM) }

// AppID returns the (first) App's id.
func (s *Sim) AppID() int64 { return s.apps[0].id }

// AppIDs returns the ids of every App, the first one first.
func (s *Sim) AppIDs() []int64 {
	out := make([]int64, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a.id)
	}
	return out
}

// AppPrivateKeyPEM returns the private key of App id (PKCS#1 PEM), nil for no such App.
func (s *Sim) AppPrivateKeyPEM(id int64) []byte {
	if a := s.appByID(id); a != nil {
		return slices.Clone(a.keyPEM)
	}
	return nil
}

func (s *Sim) appByID(id int64) *simApp {
	for _, a := range s.apps {
		if a.id == id {
			return a
		}
	}
	return nil
}

// nextID hands out realistic ids: each kind counts up from a base of GitHub's magnitude.
func (s *Sim) nextID(kind string) int64 {
	bases := map[string]int64{
		"owner":       90000000,
		"repo":        700000000,
		"install":     40000000,
		"run":         9000000000,
		"checksuite":  24000000000,
		"job":         25000000000,
		"runner":      100,
		"delivery":    12000000000,
		"label":       100,
		"workflow":    80000000,
		"hookrequest": 0,
		// Default is group 1 (defaultGroupID); groups a test adds come after it.
		"runner_group": defaultGroupID,
	}
	s.seq[kind]++
	return bases[kind] + s.seq[kind]
}

// broadcastLocked wakes every waiter of s.changed. s.mu must be held.
func (s *Sim) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// AddRepository registers owner/name and installs every App on its owner (when the owner
// is new): one installation per owner and App, repository selection "all". Adding a
// repository twice returns the first one. It panics on a name that is not owner/name, as
// a test set-up error.
func (s *Sim) AddRepository(fullName string) Repository {
	return s.AddRepositoryFor(fullName)
}

// AddRepositoryFor is AddRepository installing only the Apps appIDs on the owner (none
// given: every App); on an owner that exists already the Apps not yet installed there are
// installed. It panics on an unknown App id, as a test set-up error.
func (s *Sim) AddRepositoryFor(fullName string, appIDs ...int64) Repository {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("githubsim: repository %q is not owner/name", fullName))
	}
	apps := s.apps
	if len(appIDs) > 0 {
		apps = nil
		for _, id := range appIDs {
			a := s.appByID(id)
			if a == nil {
				panic(fmt.Sprintf("githubsim: no App %d", id))
			}
			apps = append(apps, a)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now().UTC().Truncate(time.Second)
	o, ok := s.owners[strings.ToLower(owner)]
	if !ok {
		o = &ownerState{id: s.nextID("owner"), login: owner}
		s.owners[strings.ToLower(owner)] = o
	}
	if !ok || len(appIDs) > 0 {
		for _, a := range s.apps { // the Apps' order
			if slices.Contains(apps, a) && o.installOf(a) == nil {
				in := &installState{id: s.nextID("install"), app: a, owner: o, created: now}
				o.installs = append(o.installs, in)
				s.installations[in.id] = in
			}
		}
		slices.SortFunc(o.installs, func(x, y *installState) int {
			return slices.Index(s.apps, x.app) - slices.Index(s.apps, y.app)
		})
	}
	if r, ok := s.repos[strings.ToLower(fullName)]; ok {
		return r.public()
	}
	r := &repoState{
		id:         s.nextID("repo"),
		owner:      o,
		name:       name,
		fullName:   o.login + "/" + name,
		created:    now,
		workflowID: s.nextID("workflow"),
	}
	s.repos[strings.ToLower(fullName)] = r
	return r.public()
}

// dequeueLocked takes js out of the queue of jobs offered to runners.
func (r *repoState) dequeueLocked(js *jobState) {
	if i := slices.Index(r.queue, js); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
	}
}

func (r *repoState) public() Repository {
	out := Repository{ID: r.id, Owner: r.owner.login, Name: r.name, FullName: r.fullName, InstallationIDs: map[int64]int64{}}
	for _, in := range r.owner.installs {
		out.InstallationIDs[in.app.id] = in.id
	}
	if len(r.owner.installs) > 0 {
		out.InstallationID = r.owner.installs[0].id
	}
	return out
}

func (s *Sim) repoLocked(fullName string) (*repoState, bool) {
	r, ok := s.repos[strings.ToLower(fullName)]
	return r, ok
}

// Repositories lists the repositories the App is installed on, in the order they were added.
func (s *Sim) Repositories() []Repository {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Repository, 0, len(s.repos))
	for _, r := range s.repos {
		out = append(out, r.public())
	}
	slices.SortFunc(out, func(a, b Repository) int { return cmpInt64(a.ID, b.ID) })
	return out
}

// SetInstallationRateLimit gives installation id a core window of its own, as GitHub
// counts each installation apart: its token's calls spend it, and other callers keep the
// shared window of SetRateLimit. The limit stays 5000; past reset the window refills.
func (s *Sim) SetInstallationRateLimit(id int64, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instRates == nil {
		s.instRates = map[int64]*rateState{}
	}
	s.instRates[id] = &rateState{limit: s.rate.limit, remaining: max(0, min(remaining, s.rate.limit)), reset: reset}
}

// InstallationRateLimit returns the core window installation id spends (its own one, or
// the shared one): its limit, what is left and when it resets, as the X-RateLimit-*
// headers of its next answer would say before that call is counted.
func (s *Sim) InstallationRateLimit(id int64) (limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.instRates[id]
	if w == nil {
		if s.opts.SeparateRateLimits {
			return s.opts.RateLimit, s.opts.RateLimit, time.Time{} // not used yet
		}
		s.refillLocked()
		w = &s.rate
	}
	if now := s.opts.Now(); !now.Before(w.reset) {
		return w.limit, w.limit, now.Add(time.Hour)
	}
	return w.limit, w.remaining, w.reset
}

// SetRateLimit sets the core rate limit's remaining calls and its reset time. The limit
// itself stays 5000. Once the clock passes reset, the window refills.
func (s *Sim) SetRateLimit(remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate.remaining = max(0, min(remaining, s.rate.limit))
	s.rate.reset = reset
}

// AddFault adds a fault; faults are tried in the order they were added.
func (s *Sim) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, left: f.Times})
}

// Faults returns the faults still in force, in the order they are tried; Times is what
// is left of each count.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	out := []Fault{}
	for _, fs := range s.faults {
		if !fs.Until.IsZero() && !now.Before(fs.Until) {
			continue
		}
		f := fs.Fault
		if f.Times > 0 {
			f.Times = fs.left
		}
		out = append(out, f)
	}
	return out
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns every REST call answered so far, oldest first.
func (s *Sim) Requests() []RequestRecord {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return slices.Clone(s.requests)
}

// Runners returns the runners registered on repo, by id.
func (s *Sim) Runners(repo string) []Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Runner
	for _, rs := range s.runnersLocked(repo) {
		out = append(out, rs.public())
	}
	return out
}

func (s *Sim) runnersLocked(repo string) []*runnerState {
	var out []*runnerState
	for _, rs := range s.runners {
		if rs.repo != nil && strings.EqualFold(rs.repo.fullName, repo) {
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, func(a, b *runnerState) int { return cmpInt64(a.id, b.id) })
	return out
}

func (rs *runnerState) public() Runner {
	status := "offline"
	if rs.session != "" {
		status = "online"
	}
	out := Runner{
		ID:        rs.id,
		Name:      rs.name,
		OS:        rs.os,
		Status:    status,
		Busy:      rs.jobID != 0,
		Ephemeral: rs.ephemeral,
		Labels:    slices.Clone(rs.labels),
		GroupID:   rs.groupID(),
		JobID:     rs.jobID,
	}
	if rs.repo != nil {
		out.Repo = rs.repo.fullName
	} else {
		out.Org = rs.org.login
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
