package agents

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// Prefixes of the secrets, so that secret scanners recognise them.
const (
	RegistrationTokenPrefix = "garor_"
	CredentialPrefix        = "garoa_"
)

var providerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// newSecret returns prefix followed by 32 random bytes in URL-safe base64.
func newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Register exchanges a registration token for a new agent identity, consuming one use of
// the token in the same transaction that creates the agent. An unknown, expired or used-up
// token gives ErrUnauthenticated.
func (s *Service) Register(ctx context.Context, req protocol.RegisterRequest) (*protocol.RegisterResponse, error) {
	return s.RegisterWithClientKey(ctx, req, "")
}

// RegisterWithClientKey is Register for an agent that presented a verified client
// certificate: clientKey, the hex SHA-256 of its public key, is bound to the new agent,
// whose later calls must present a certificate on the same key.
func (s *Service) RegisterWithClientKey(ctx context.Context, req protocol.RegisterRequest, clientKey string) (*protocol.RegisterResponse, error) {
	if err := validateRegister(&req); err != nil {
		return nil, err
	}
	const unusableMsg = "registration token unknown, expired or used up: ask an admin for a new one"
	unusable := auth.Fail(ErrUnauthenticated, auth.ReasonUnknown, unusableMsg)
	if !strings.HasPrefix(req.Token, RegistrationTokenPrefix) {
		return nil, auth.Fail(ErrUnauthenticated, auth.ReasonMalformed, unusableMsg)
	}
	credential, err := newSecret(CredentialPrefix)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a := &store.Agent{
		ID: uuid.NewString(), Name: req.Name, CredentialHash: auth.Hash(credential), Version: req.Version,
		Provider: req.Provider, Serves: protocol.PolicyProvider(req.Provider), State: store.AgentActive, RegisteredAt: now, LastSeenAt: now,
		ClientKeySHA256: clientKey,
	}
	c := capacityOf(req.Capacity, func(string, string, ...any) {}) // validated above
	a.CapacityMaxRunners, a.CapacityCPUMilli, a.CapacityMemoryBytes = c.MaxRunners, c.CPUMilli, c.MemoryBytes
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		tok, err := tx.ConsumeRegistrationToken(ctx, auth.Hash(req.Token), now)
		if errors.Is(err, store.ErrNotFound) {
			return unusable
		}
		if err != nil {
			return err
		}
		a.AgentGroup = tok.AgentGroup
		if err := tx.CreateAgent(ctx, a); err != nil {
			return err
		}
		return tx.Audit(ctx, store.Actor{Name: "registration-token:" + tok.ID, TokenID: tok.ID}, store.Change{
			Action: "agent.register", ResourceType: "agent", ResourceID: a.ID, After: s.toAPI(a, now, nil, nil),
		})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("agent registered", "agent_id", a.ID, "agent_name", a.Name, "group", a.AgentGroup, "provider", a.Provider, "version", a.Version,
		"client_key_sha256", clientKey)
	s.publish(ctx, TopicSettle(a.AgentGroup))
	return &protocol.RegisterResponse{AgentID: a.ID, Credential: credential, Group: a.AgentGroup, Intervals: s.Intervals()}, nil
}

func validateRegister(req *protocol.RegisterRequest) error {
	var errs []portalapi.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, portalapi.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if req.Token == "" {
		bad("token", "is required")
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 255 || strings.IndexFunc(req.Name, unicode.IsControl) >= 0 {
		bad("name", "must be 1-255 characters without control characters")
	}
	if len(req.Version) > 64 {
		bad("version", "must be at most 64 characters")
	}
	switch {
	case req.Provider == "":
		// An agent that names no provider is taken for a Docker agent (protocol.PolicyProvider).
		req.Provider = protocol.ProviderDocker
	case !providerRe.MatchString(req.Provider):
		bad("provider", "must be empty (docker) or 1-20 lower-case letters, digits or hyphens (docker, kubernetes, memory), got %q", req.Provider)
	}
	capacityOf(req.Capacity, bad)
	if len(errs) > 0 {
		return &portalapi.ValidationError{Fields: errs}
	}
	return nil
}

// Authenticate resolves "Bearer <agent credential>" to its agent and records that the
// agent was seen. A missing, unknown or revoked credential gives ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, authorization string) (*store.Agent, error) {
	scheme, secret, ok := strings.Cut(authorization, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		reason := auth.ReasonMalformed
		if authorization == "" {
			reason = auth.ReasonMissing
		}
		return nil, auth.Fail(ErrUnauthenticated, reason, "Authorization must be \"Bearer <agent credential>\"")
	}
	if !strings.HasPrefix(secret, CredentialPrefix) {
		return nil, auth.Fail(ErrUnauthenticated, auth.ReasonMalformed, "not an agent credential (they start with %s)", CredentialPrefix)
	}
	a, err := s.st.AgentByCredentialHash(ctx, auth.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, auth.Fail(ErrUnauthenticated, auth.ReasonUnknown, "unknown agent credential: register the agent again")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate agent: %w", err)
	}
	if a.RevokedAt != nil {
		return nil, revokedError(a)
	}
	// last_seen_at is written at most once a heartbeat interval by a call that is not a
	// heartbeat (which writes it anyway): what reads it (stale after 3 intervals, offline
	// after offline_after) does not need it finer, and a write per long-poll of every idle
	// agent was most of an idle server's work (issue 15). The row just read says whether
	// the write is due, without asking the database again.
	now := s.now()
	if now.Sub(a.LastSeenAt) >= s.cfg.Heartbeat {
		if err := s.st.TouchAgent(ctx, a.ID, now, 0); err != nil { // 0: never backwards
			return nil, fmt.Errorf("authenticate agent: %w", err)
		}
	}
	if now.After(a.LastSeenAt) {
		a.LastSeenAt = now
	}
	return a, nil
}

func revokedError(a *store.Agent) error {
	return auth.Fail(ErrUnauthenticated, auth.ReasonRevoked, "agent %s was revoked at %s: register it again", a.ID, a.RevokedAt.UTC().Format(time.RFC3339))
}

// current re-reads agent id for a poll that woke up: a revoked agent gets
// ErrUnauthenticated.
func (s *Service) current(ctx context.Context, id string) (*store.Agent, error) {
	a, err := s.st.GetAgent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: agent %s no longer exists", ErrUnauthenticated, id)
	}
	if err != nil {
		return nil, err
	}
	if a.RevokedAt != nil {
		return nil, revokedError(a)
	}
	return a, nil
}

// Unregister marks a offline and lets its repositories go to the other agents of its
// group at once. The agent may come back with the same credential.
func (s *Service) Unregister(ctx context.Context, a *store.Agent) error {
	var released []string
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetAgentState(ctx, a.ID, store.AgentOffline); err != nil {
			return err
		}
		var err error
		if released, err = tx.ReleaseAgent(ctx, a.ID); err != nil {
			return err
		}
		return tx.ClearAgentJobMarks(ctx, a.ID, nil)
	})
	if err != nil {
		return fmt.Errorf("unregister agent %s: %w", a.ID, err)
	}
	s.log.Info("agent unregistered", "agent_id", a.ID, "group", a.AgentGroup, "repositories_released", len(released))
	s.publish(ctx, TopicAgent(a.ID), TopicSettle(a.AgentGroup))
	return nil
}

// authorizedAgent reads agent id and its group in tx and checks that p may verb it
// (auth.ErrForbidden otherwise).
func (s *Service) authorizedAgent(ctx context.Context, tx *store.Store, p *auth.Principal, id, verb string) (*store.Agent, error) {
	a, err := tx.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	g, err := tx.GetAgentGroup(ctx, a.AgentGroup)
	if err != nil {
		return nil, err
	}
	if err := p.AuthorizeAgent(id, g, verb); err != nil {
		return nil, err
	}
	return a, nil
}

// Revoke makes agent id's credential unusable (its next call gets 401, its held polls end
// with 401) and lets its repositories go at once. Revoking a revoked agent changes
// nothing. p must cover the agent's group (auth.ErrForbidden otherwise).
func (s *Service) Revoke(ctx context.Context, p *auth.Principal, actor store.Actor, id string) error {
	var a *store.Agent
	changed := false
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		if a, err = s.authorizedAgent(ctx, tx, p, id, "revoke"); err != nil {
			return err
		}
		now := s.now()
		before := s.toAPI(a, now, nil, nil)
		if changed, err = tx.RevokeAgent(ctx, id, now); err != nil || !changed {
			return err
		}
		if _, err := tx.ReleaseAgent(ctx, id); err != nil {
			return err
		}
		if err := tx.ClearAgentJobMarks(ctx, id, nil); err != nil {
			return err
		}
		a.RevokedAt, a.State = &now, store.AgentOffline
		return tx.Audit(ctx, actor, store.Change{
			Action: "agent.revoke", ResourceType: "agent", ResourceID: id, Before: before, After: s.toAPI(a, now, nil, nil),
		})
	})
	if err != nil {
		return err
	}
	if changed {
		s.log.Info("agent revoked", "agent_id", id, "group", a.AgentGroup, "actor", actor.Name)
		s.publish(ctx, TopicAgent(id), TopicSettle(a.AgentGroup))
	}
	return nil
}
