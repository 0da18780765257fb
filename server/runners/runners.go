// Package runners is the server-side service behind runner credentials and removal: it
// mints a just-in-time runner configuration (or, for long-lived runners and for GitHub
// Enterprise Server versions without JIT, a registration token) for a runner of a policy,
// removes runners from GitHub, and lists them. The agent protocol exposes it to agents,
// after checking that the agent serves the repository; agents never see GitHub
// credentials.
package runners

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/spec"
)

// Credential kinds.
const (
	KindJIT               = "jit"
	KindRegistrationToken = "registration_token"
)

// ErrRunnerBusy means that GitHub refused to remove a runner that is running a job. Keep it.
var ErrRunnerBusy = githubapp.ErrRunnerBusy

// GitHub is the part of the GitHub client the service needs: a *githubapp.Client, or
// githubapp.NotConfigured when the server has no GitHub credentials (every call then
// answers githubapp.ErrNotConfigured).
type GitHub interface {
	GenerateJITConfig(ctx context.Context, owner, repo string, req githubapp.JITRequest) (*githubapp.JITConfig, error)
	RegistrationToken(ctx context.Context, owner, repo string) (*githubapp.RegistrationToken, error)
	RemoveRunner(ctx context.Context, owner, repo string, runnerID int64) error
	ListRunners(ctx context.Context, owner, repo string) ([]githubapp.Runner, error)
	GetRunner(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error)
	FindRunner(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error)
	// Organisation level (policies with registration_level "organization").
	ResolveRunnerGroup(ctx context.Context, owner, repo, name string, public bool) (githubapp.RunnerGroup, error)
	GenerateOrgJITConfig(ctx context.Context, owner, repo, groupName string, req githubapp.JITRequest) (*githubapp.JITConfig, error)
	RemoveOrgRunner(ctx context.Context, owner, repo string, runnerID int64) error
	FindOrgRunner(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error)
	GetOrgRunner(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error)
}

// ErrGroupDenied means that the policy's organisation runner group may not serve its
// repository (or does not exist); the error text is the reason to show.
var ErrGroupDenied = githubapp.ErrGroupDenied

// Credentials let one runner join a repository. Exactly one of JITConfig and
// RegistrationToken is set. They are secrets: String never shows them.
type Credentials struct {
	Kind              string
	RunnerName        string
	RunnerID          int64 // set for JIT; a token-registered runner gets its id when it registers
	Labels            []string
	Ephemeral         bool
	JITConfig         string
	RegistrationToken string
	ExpiresAt         time.Time
}

func (c Credentials) String() string {
	return fmt.Sprintf("runner credentials (%s) for %s", c.Kind, c.RunnerName)
}

// Config of the service.
type Config struct {
	// NoJIT makes every runner register with a registration token: for GitHub Enterprise
	// Server versions without just-in-time runner configuration.
	NoJIT bool
	// RunnerGroupID is the runner group of JIT runners (1, "Default", unless set).
	RunnerGroupID int64
}

// Service mints and revokes runner credentials.
type Service struct {
	cfg Config
	gh  GitHub
}

// NewService returns the service on GitHub client gh.
func NewService(cfg Config, gh GitHub) *Service {
	if cfg.RunnerGroupID == 0 {
		cfg.RunnerGroupID = 1
	}
	return &Service{cfg: cfg, gh: gh}
}

// runnerNameRe is what Garo accepts as a runner name (GitHub allows more; agents use
// garo-<policy>-<random>).
var runnerNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Credentials mints what a new runner of policy p needs. Ephemeral policies get a JIT
// configuration (one job, then the runner is gone) unless NoJIT; other policies get a
// registration token, with which the runner registers itself with p's labels (the
// runner adds self-hosted, its OS and its architecture).
func (s *Service) Credentials(ctx context.Context, p *store.Policy, runnerName string) (*Credentials, error) {
	if !runnerNameRe.MatchString(runnerName) {
		return nil, fmt.Errorf("runner name %q: must be 1-64 letters, digits, '.', '_' or '-'", runnerName)
	}
	c := &Credentials{RunnerName: runnerName, Ephemeral: p.Ephemeral}
	if p.AtOrganization() {
		return s.orgCredentials(ctx, p, c)
	}
	if p.Ephemeral && !s.cfg.NoJIT {
		// A JIT runner gets exactly the labels asked for, none added by GitHub: ask for the
		// whole set the matcher uses (self-hosted, OS, architecture, the policy's labels).
		labels := spec.RunnerLabels(p.Labels)
		c.Labels = labels
		jit, err := s.gh.GenerateJITConfig(ctx, p.Owner, p.Repo, githubapp.JITRequest{
			Name: runnerName, Labels: labels, RunnerGroupID: s.cfg.RunnerGroupID,
		})
		if err != nil {
			return nil, fmt.Errorf("mint jit config for %s on %s: %w", runnerName, p.Repository(), err)
		}
		c.Kind, c.RunnerID, c.JITConfig = KindJIT, jit.RunnerID, jit.EncodedJITConfig
		return c, nil
	}
	// A runner that registers itself (config.sh --labels) adds self-hosted and the OS and
	// architecture of its machine by itself: it is given only the policy's own labels.
	c.Labels = spec.CustomLabels(p.Labels)
	tok, err := s.gh.RegistrationToken(ctx, p.Owner, p.Repo)
	if err != nil {
		return nil, fmt.Errorf("mint registration token for %s on %s: %w", runnerName, p.Repository(), err)
	}
	c.Kind, c.RegistrationToken, c.ExpiresAt = KindRegistrationToken, tok.Token, tok.ExpiresAt
	return c, nil
}

// orgCredentials mints a JIT configuration in the organisation runner group of p, after
// checking that the group may serve p's repository. The repository's visibility is not
// known here, so it counts as private: a public repository in a group without
// allows_public_repositories is refused by GitHub when the job is assigned, not here.
func (s *Service) orgCredentials(ctx context.Context, p *store.Policy, c *Credentials) (*Credentials, error) {
	if !p.Ephemeral || s.cfg.NoJIT {
		// A self-registering runner would need the organisation's URL and the group in its
		// config.sh arguments, which the agent protocol does not carry yet.
		return nil, fmt.Errorf("mint credentials for %s on %s: organisation-level policies need ephemeral JIT runners (registration tokens are repository-level only for now)", c.RunnerName, p.Repository())
	}
	g, err := s.gh.ResolveRunnerGroup(ctx, p.Owner, p.Repo, p.RunnerGroup, false)
	if err != nil {
		return nil, fmt.Errorf("mint jit config for %s on %s: %w", c.RunnerName, p.Repository(), err)
	}
	labels := spec.RunnerLabels(p.Labels)
	c.Labels = labels
	jit, err := s.gh.GenerateOrgJITConfig(ctx, p.Owner, p.Repo, p.RunnerGroup, githubapp.JITRequest{
		Name: c.RunnerName, Labels: labels, RunnerGroupID: g.ID,
	})
	if err != nil {
		return nil, fmt.Errorf("mint organisation jit config for %s on %s (runner group %q): %w", c.RunnerName, p.Repository(), p.RunnerGroup, err)
	}
	c.Kind, c.RunnerID, c.JITConfig = KindJIT, jit.RunnerID, jit.EncodedJITConfig
	return c, nil
}

// Remove deletes a runner from GitHub. A runner GitHub no longer knows is already gone
// (nil); a busy runner gives ErrRunnerBusy and must be kept, not retried blindly.
func (s *Service) Remove(ctx context.Context, owner, repo string, runnerID int64) error {
	err := s.gh.RemoveRunner(ctx, owner, repo, runnerID)
	if errors.Is(err, githubapp.ErrRunnerBusy) {
		return fmt.Errorf("remove runner %d of %s/%s: %w", runnerID, owner, repo, ErrRunnerBusy)
	}
	return err
}

// List returns the repository's self-hosted runners as GitHub sees them.
func (s *Service) List(ctx context.Context, owner, repo string) ([]githubapp.Runner, error) {
	return s.gh.ListRunners(ctx, owner, repo)
}

// Get returns one runner; githubapp.ErrNotFound when GitHub does not know it.
func (s *Service) Get(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error) {
	return s.gh.GetRunner(ctx, owner, repo, id)
}

// FindByName returns the repository's runner called name, or nil when GitHub has none.
func (s *Service) FindByName(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error) {
	return s.gh.FindRunner(ctx, owner, repo, name)
}

// The organisation-level counterparts of Remove, Get and FindByName, for runners of
// organisation-level policies: owner is the organisation, owner/repo the repository whose
// installation makes the calls.

// RemoveOrg deletes a runner from the organisation; gone is nil, busy is ErrRunnerBusy.
func (s *Service) RemoveOrg(ctx context.Context, owner, repo string, runnerID int64) error {
	err := s.gh.RemoveOrgRunner(ctx, owner, repo, runnerID)
	if errors.Is(err, githubapp.ErrRunnerBusy) {
		return fmt.Errorf("remove runner %d of organisation %s: %w", runnerID, owner, ErrRunnerBusy)
	}
	return err
}

// GetOrg returns one runner of the organisation; githubapp.ErrNotFound when unknown.
func (s *Service) GetOrg(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error) {
	return s.gh.GetOrgRunner(ctx, owner, repo, id)
}

// FindByNameOrg returns the organisation's runner called name, or nil when it has none.
func (s *Service) FindByNameOrg(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error) {
	return s.gh.FindOrgRunner(ctx, owner, repo, name)
}
