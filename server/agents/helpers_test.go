package agents_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var admin = store.Actor{Name: "token:test", TokenID: "t1"}

// operator is the token behind admin: without owner prefixes, it covers every group.
var operator = &auth.Principal{TokenID: "t1", Name: "test", Scopes: []string{portalapi.ScopeAdmin}}

// Intervals of the tests: short, and driven by the fake clock anyway.
const (
	heartbeat = 5 * time.Second
	offline   = time.Minute
)

// newClock returns the fake clock of a test, at the same start every time.
func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
}

// minter stands in for server/runners: it counts the credentials it mints.
type minter struct {
	mu    sync.Mutex
	calls int
}

func (m *minter) Credentials(_ context.Context, p *store.Policy, name string) (*runners.Credentials, error) {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	return &runners.Credentials{Kind: runners.KindJIT, RunnerName: name, RunnerID: 7, Labels: p.Labels, Ephemeral: true, JITConfig: "jit-secret"}, nil
}

func (m *minter) Remove(context.Context, string, string, int64) error { return nil }

func (m *minter) FindByName(context.Context, string, string, string) (*githubapp.Runner, error) {
	return nil, nil
}

func (m *minter) Get(_ context.Context, _, _ string, id int64) (*githubapp.Runner, error) {
	return nil, fmt.Errorf("runner %d: %w", id, githubapp.ErrNotFound)
}

func newService(st *store.Store, c *testkit.Clock, n notify.Notifier, m agents.RunnerMinter) *agents.Service {
	return agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Now: c.Now}, n, m, testkit.Discard(), nil)
}

// agent is a registered agent as a test drives it.
type agent struct {
	svc        *agents.Service
	credential string
	id         string
}

// register creates a registration token for group and registers an agent with it.
func register(t testing.TB, svc *agents.Service, group, name string) *agent {
	t.Helper()
	ctx := t.Context()
	tok, err := svc.CreateRegistrationToken(ctx, operator, admin, group, portalapi.RegistrationTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Register(ctx, protocol.RegisterRequest{Token: tok.Token, Name: name, Version: "test", Provider: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	return &agent{svc: svc, credential: r.Credential, id: r.AgentID}
}

// on returns the same agent talking to another replica.
func (a *agent) on(svc *agents.Service) *agent {
	return &agent{svc: svc, credential: a.credential, id: a.id}
}

// auth authenticates the agent as every protocol call does (and records it seen).
func (a *agent) auth(t *testing.T) *store.Agent {
	t.Helper()
	row, err := a.svc.Authenticate(t.Context(), "Bearer "+a.credential)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (a *agent) heartbeat(t *testing.T, req protocol.HeartbeatRequest) {
	t.Helper()
	if _, err := a.svc.Heartbeat(t.Context(), a.auth(t), req); err != nil {
		t.Fatal(err)
	}
}

// config polls the config without holding.
func (a *agent) config(t *testing.T) *protocol.Config {
	t.Helper()
	cfg, changed, err := a.svc.WaitConfig(t.Context(), a.auth(t), "", 0)
	if err != nil || !changed {
		t.Fatalf("config = %v, %v", changed, err)
	}
	return cfg
}

func (a *agent) repos(t *testing.T) string {
	t.Helper()
	return strings.Join(a.config(t).Repositories, " ")
}

var policySeq struct {
	sync.Mutex
	n int
}

// addPolicy stores an enabled policy name of repo ("owner/name") for group.
func addPolicy(t testing.TB, st *store.Store, repo, name, group string) *store.Policy {
	t.Helper()
	owner, r, _ := strings.Cut(repo, "/")
	policySeq.Lock()
	policySeq.n++
	id := fmt.Sprintf("p-%d", policySeq.n)
	policySeq.Unlock()
	p := &store.Policy{
		ID: id, Owner: owner, Repo: r, OwnerKey: strings.ToLower(owner), RepoKey: store.RepoKey(owner, r), Name: name,
		Labels: store.StringList{"self-hosted", "linux"}, MaxRunners: 3, Ephemeral: true, IdleGrace: time.Minute,
		BootstrapTimeout: 10 * time.Minute, AgentGroup: group, Enabled: true, Provider: "docker",
		RunnerSpec: store.JSONText(`{"image":"runner:1"}`),
	}
	if err := st.CreatePolicy(context.WithoutCancel(t.Context()), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The organisation routes behave as the repository ones in this fake.
func (m *minter) RemoveOrg(ctx context.Context, owner, repo string, id int64) error {
	return m.Remove(ctx, owner, repo, id)
}

func (m *minter) FindByNameOrg(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error) {
	return m.FindByName(ctx, owner, repo, name)
}

func (m *minter) GetOrg(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error) {
	return m.Get(ctx, owner, repo, id)
}
