package githubapp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ModeNone is the Mode of NotConfigured: the server has no GitHub credentials.
const ModeNone = "none"

// ErrNotConfigured means that garo-server has no GitHub credentials, so every GitHub call is
// refused. Webhooks still work; runner credentials, runner removal and the catch-up loops
// do not. Worth another try only after the configuration changes.
var ErrNotConfigured = errors.New("garo-server has no GitHub credentials (github.app_id or github.pat)")

// NotConfigured stands in for a Client when no GitHub credentials are configured (a null
// object): Mode is ModeNone, rate-limit budgets are unknown (the zero RateState), and
// every call answers ErrNotConfigured without a request. Consumers need no nil checks.
type NotConfigured struct{}

// Mode returns ModeNone.
func (NotConfigured) Mode() string { return ModeNone }

// RateLimitFor returns the zero RateState: not known.
func (NotConfigured) RateLimitFor(string, string) RateState { return RateState{} }

// Apps returns none.
func (NotConfigured) Apps() []int64 { return nil }

// AppRateLimit returns the zero RateState: not known.
func (NotConfigured) AppRateLimit(int64) RateState { return RateState{} }

// ListDeliveries answers ErrNotConfigured.
func (NotConfigured) ListDeliveries(context.Context, int64, time.Time, int) ([]Delivery, error) {
	return nil, notConfigured("list webhook deliveries")
}

// ListDeliveriesPage answers ErrNotConfigured.
func (NotConfigured) ListDeliveriesPage(context.Context, int64, string, int) ([]Delivery, string, error) {
	return nil, "", notConfigured("list webhook deliveries")
}

// Redeliver answers ErrNotConfigured.
func (NotConfigured) Redeliver(context.Context, int64, int64) error {
	return notConfigured("redeliver a webhook delivery")
}

// ListOpenJobs answers ErrNotConfigured.
func (NotConfigured) ListOpenJobs(_ context.Context, owner, repo string, _ int, _ int64) (OpenJobs, error) {
	return OpenJobs{}, notConfigured("list open jobs of " + owner + "/" + repo)
}

// GetJob answers ErrNotConfigured.
func (NotConfigured) GetJob(_ context.Context, owner, repo string, _ int64) (*Job, error) {
	return nil, notConfigured("get a job of " + owner + "/" + repo)
}

// GenerateJITConfig answers ErrNotConfigured.
func (NotConfigured) GenerateJITConfig(_ context.Context, owner, repo string, _ JITRequest) (*JITConfig, error) {
	return nil, notConfigured("mint a JIT runner config for " + owner + "/" + repo)
}

// RegistrationToken answers ErrNotConfigured.
func (NotConfigured) RegistrationToken(_ context.Context, owner, repo string) (*RegistrationToken, error) {
	return nil, notConfigured("mint a runner registration token for " + owner + "/" + repo)
}

// RemoveRunner answers ErrNotConfigured.
func (NotConfigured) RemoveRunner(_ context.Context, owner, repo string, _ int64) error {
	return notConfigured("remove a runner of " + owner + "/" + repo)
}

// ListRunners answers ErrNotConfigured.
func (NotConfigured) ListRunners(_ context.Context, owner, repo string) ([]Runner, error) {
	return nil, notConfigured("list the runners of " + owner + "/" + repo)
}

// GetRunner answers ErrNotConfigured.
func (NotConfigured) GetRunner(_ context.Context, owner, repo string, _ int64) (*Runner, error) {
	return nil, notConfigured("get a runner of " + owner + "/" + repo)
}

func notConfigured(op string) error {
	return fmt.Errorf("%s: %w", op, ErrNotConfigured)
}

// ResolveRunnerGroup answers ErrNotConfigured.
func (NotConfigured) ResolveRunnerGroup(_ context.Context, owner, _, name string, _ bool) (RunnerGroup, error) {
	return RunnerGroup{}, notConfigured("resolve runner group " + name + " of " + owner)
}

// GenerateOrgJITConfig answers ErrNotConfigured.
func (NotConfigured) GenerateOrgJITConfig(_ context.Context, owner, _, _ string, _ JITRequest) (*JITConfig, error) {
	return nil, notConfigured("mint an organisation JIT runner config for " + owner)
}

// OrgRegistrationToken answers ErrNotConfigured.
func (NotConfigured) OrgRegistrationToken(_ context.Context, owner, _ string) (*RegistrationToken, error) {
	return nil, notConfigured("mint an organisation runner registration token for " + owner)
}

// RemoveOrgRunner answers ErrNotConfigured.
func (NotConfigured) RemoveOrgRunner(_ context.Context, owner, _ string, _ int64) error {
	return notConfigured("remove a runner of organisation " + owner)
}

// FindOrgRunner answers ErrNotConfigured.
func (NotConfigured) FindOrgRunner(_ context.Context, owner, _, name string) (*Runner, error) {
	return nil, notConfigured("find runner " + name + " of organisation " + owner)
}

// FindRunner answers ErrNotConfigured.
func (NotConfigured) FindRunner(_ context.Context, owner, repo, name string) (*Runner, error) {
	return nil, notConfigured("find runner " + name + " of " + owner + "/" + repo)
}

// GetOrgRunner answers ErrNotConfigured.
func (NotConfigured) GetOrgRunner(_ context.Context, owner, _ string, _ int64) (*Runner, error) {
	return nil, notConfigured("get a runner of organisation " + owner)
}
