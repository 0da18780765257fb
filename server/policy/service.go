package policy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/jsonbody"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// ErrPreconditionFailed means If-Match named a version the policy is no longer at.
var ErrPreconditionFailed = errors.New("precondition failed")

// Precondition is a parsed If-Match header. The zero value matches anything.
type Precondition struct {
	Set      bool    // an If-Match header was given
	Any      bool    // If-Match: *
	Versions []int64 // the versions named by its entity tags
}

// Matches reports whether a policy at version satisfies the precondition.
func (p Precondition) Matches(version int64) bool {
	if !p.Set || p.Any {
		return true
	}
	for _, v := range p.Versions {
		if v == version {
			return true
		}
	}
	return false
}

// Service runs the policy use cases on a store.
type Service struct {
	st *store.Store
}

// NewService returns the policy service on st.
func NewService(st *store.Store) *Service { return &Service{st: st} }

// Ref names one policy: its repository and name, as given in the URL.
type Ref struct {
	Owner, Repo, Name string
}

func (r Ref) key() string        { return store.RepoKey(r.Owner, r.Repo) }
func (r Ref) resourceID() string { return r.key() + "/" + r.Name }

// Get returns one policy.
func (s *Service) Get(ctx context.Context, ref Ref) (*portalapi.Policy, error) {
	p, err := s.st.GetPolicy(ctx, ref.key(), ref.Name, false)
	if err != nil {
		return nil, err
	}
	return toAPI(p)
}

// ListQuery selects policies to list; see store.PolicyFilter.
type ListQuery struct {
	Owner, Repository, AgentGroup string
	Enabled                       *bool
	OwnerPrefixes                 []string
	Limit                         int
	Cursor                        string
}

// cursor is the decoded form of a policy list cursor.
type cursor struct {
	RepoKey string `json:"r"`
	Name    string `json:"n"`
}

// List returns one page of policies.
func (s *Service) List(ctx context.Context, q ListQuery) (*portalapi.PolicyList, error) {
	f := store.PolicyFilter{AgentGroup: q.AgentGroup, Enabled: q.Enabled, OwnerPrefixes: q.OwnerPrefixes, Limit: q.Limit}
	if q.Owner != "" {
		f.OwnerKey = strings.ToLower(q.Owner)
	}
	if q.Repository != "" {
		f.RepoKey = strings.ToLower(q.Repository)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		f.AfterRepoKey, f.AfterName = c.RepoKey, c.Name
	}
	rows, more, err := s.st.ListPolicies(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &portalapi.PolicyList{Items: make([]portalapi.Policy, 0, len(rows))}
	for i := range rows {
		p, err := toAPI(&rows[i])
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *p)
	}
	if more {
		last := rows[len(rows)-1]
		b, _ := json.Marshal(cursor{RepoKey: last.RepoKey, Name: last.Name})
		out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, nil
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.RepoKey == "" {
		return c, portalapi.Invalid("cursor", "is not a cursor this server handed out")
	}
	return c, nil
}

// Create stores a new policy for ref's repository; ref.Name is ignored (the request names it).
func (s *Service) Create(ctx context.Context, actor store.Actor, ref Ref, req portalapi.PolicyRequest) (*portalapi.Policy, error) {
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	p := &store.Policy{
		ID: uuid.NewString(), Owner: ref.Owner, Repo: ref.Repo,
		OwnerKey: strings.ToLower(ref.Owner), RepoKey: ref.key(),
	}
	if err := fromRequest(p, &req); err != nil {
		return nil, err
	}
	var out *portalapi.Policy
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		if err := checkGroup(ctx, tx, &req, ref); err != nil {
			return err
		}
		if err := tx.CreatePolicy(ctx, p); err != nil {
			return groupOrConflict(err, req.AgentGroup)
		}
		var err error
		if out, err = toAPI(p); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "policy.create", ResourceType: "policy", ResourceID: p.RepoKey + "/" + p.Name,
			Repository: p.RepoKey, After: out,
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Replace overwrites every writable field of a policy (PUT).
func (s *Service) Replace(ctx context.Context, actor store.Actor, ref Ref, req portalapi.PolicyRequest, pre Precondition) (*portalapi.Policy, error) {
	if req.Name == "" {
		req.Name = ref.Name
	}
	if req.Name != ref.Name {
		return nil, portalapi.Invalid("name", "must match the name in the path (%q); a policy cannot be renamed", ref.Name)
	}
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	return s.update(ctx, actor, ref, pre, "policy.replace", func(*portalapi.Policy) (portalapi.PolicyRequest, error) {
		return req, nil
	})
}

// Patch applies a JSON merge patch (RFC 7396) to a policy's writable fields.
func (s *Service) Patch(ctx context.Context, actor store.Actor, ref Ref, patch []byte, pre Precondition) (*portalapi.Policy, error) {
	var doc any
	if err := json.Unmarshal(patch, &doc); err != nil {
		return nil, portalapi.Invalid("body", "must be a JSON merge patch: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, portalapi.Invalid("body", "a merge patch of a policy must be a JSON object")
	}
	return s.update(ctx, actor, ref, pre, "policy.patch", func(cur *portalapi.Policy) (portalapi.PolicyRequest, error) {
		req, err := applyMergePatch(cur.Request(), doc)
		if err != nil {
			return req, err
		}
		if req.Name != ref.Name {
			return req, portalapi.Invalid("name", "a policy cannot be renamed")
		}
		return req, validateRequest(&req)
	})
}

// update is the read-check-write of Replace and Patch, in one transaction: the row is read
// with a lock (PostgreSQL) or under SQLite's single writer, so the version checked is the
// version overwritten, and the UPDATE's version guard backs that up.
func (s *Service) update(ctx context.Context, actor store.Actor, ref Ref, pre Precondition, action string,
	next func(cur *portalapi.Policy) (portalapi.PolicyRequest, error)) (*portalapi.Policy, error) {
	var out *portalapi.Policy
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		p, before, err := lockForWrite(ctx, tx, ref, pre)
		if err != nil {
			return err
		}
		req, err := next(before)
		if err != nil {
			return err
		}
		if err := checkGroup(ctx, tx, &req, ref); err != nil {
			return err
		}
		if err := fromRequest(p, &req); err != nil {
			return err
		}
		if err := tx.UpdatePolicy(ctx, p, before.Version); err != nil {
			return groupOrConflict(err, req.AgentGroup)
		}
		if out, err = toAPI(p); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: action, ResourceType: "policy", ResourceID: ref.resourceID(),
			Repository: p.RepoKey, Before: before, After: out,
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes a policy.
func (s *Service) Delete(ctx context.Context, actor store.Actor, ref Ref, pre Precondition) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		p, before, err := lockForWrite(ctx, tx, ref, pre)
		if err != nil {
			return err
		}
		if err := tx.DeletePolicy(ctx, p.ID, p.Version); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "policy.delete", ResourceType: "policy", ResourceID: ref.resourceID(),
			Repository: p.RepoKey, Before: before,
		})
	})
}

// lockForWrite reads the policy for a write in tx (locked on PostgreSQL) and checks the
// precondition against the version it read. It returns the row and its wire form.
func lockForWrite(ctx context.Context, tx *store.Store, ref Ref, pre Precondition) (*store.Policy, *portalapi.Policy, error) {
	p, err := tx.GetPolicy(ctx, ref.key(), ref.Name, true)
	if err != nil {
		return nil, nil, err
	}
	if !pre.Matches(p.Version) {
		return nil, nil, fmt.Errorf("policy %s is at version %d: %w", ref.resourceID(), p.Version, ErrPreconditionFailed)
	}
	before, err := toAPI(p)
	if err != nil {
		return nil, nil, err
	}
	return p, before, nil
}

// checkGroup turns an unknown agent group, one that does not serve ref's repository
// (auth.CheckPolicyGroup), or a request that breaks the group's constraints
// (guardrails.Check: one field error per broken rule) into field errors before the
// write. The group's row stays locked (PostgreSQL) until the write commits, so a change
// of its owner prefixes (groups.Service.Update) waits for this write and then counts
// it, or this write waits for the change and checks the new prefixes and constraints.
func checkGroup(ctx context.Context, tx *store.Store, req *portalapi.PolicyRequest, ref Ref) error {
	g, err := tx.LockAgentGroup(ctx, req.AgentGroup, false)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return unknownGroup(req.AgentGroup)
		}
		return err
	}
	if err := auth.CheckPolicyGroup(g, ref.Owner+"/"+ref.Repo); err != nil {
		return err
	}
	vs := guardrails.Check(g.Name, g.Constraints, Subject(ref.Owner+"/"+ref.Repo, req))
	if len(vs) == 0 {
		return nil
	}
	return &portalapi.ValidationError{Fields: FieldErrors(vs)}
}

// Subject is what the guardrails judge of a policy request of repository "owner/name".
func Subject(repository string, req *portalapi.PolicyRequest) guardrails.Subject {
	s := guardrails.Subject{Repository: repository, MinIdle: req.MinIdle, MaxRunners: req.MaxRunners, Runner: req.Runner}
	for _, w := range req.Schedule {
		s.ScheduleMinIdle = append(s.ScheduleMinIdle, w.MinIdle)
	}
	return s
}

// FieldErrors maps violations of the guardrails to the API's field errors.
func FieldErrors(vs []guardrails.Violation) []portalapi.FieldError {
	out := make([]portalapi.FieldError, len(vs))
	for i, v := range vs {
		out[i] = portalapi.FieldError{Field: v.Field, Message: v.Message}
	}
	return out
}

// groupOrConflict maps a foreign-key failure (the group went away meanwhile) to the same
// field error as checkGroup.
func groupOrConflict(err error, group string) error {
	if errors.Is(err, store.ErrUnknownGroup) {
		return unknownGroup(group)
	}
	return err
}

func unknownGroup(group string) error {
	return portalapi.Invalid("agent_group", "unknown agent group %q: create it first", group)
}

// applyMergePatch applies an RFC 7396 merge patch to req and decodes the result strictly,
// so that a patch cannot add fields the API does not know.
func applyMergePatch(req portalapi.PolicyRequest, patch any) (portalapi.PolicyRequest, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return req, fmt.Errorf("encode policy for patch: %w", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return req, fmt.Errorf("decode policy for patch: %w", err)
	}
	merged, err := json.Marshal(portalapi.MergePatch(doc, patch))
	if err != nil {
		return req, fmt.Errorf("encode patched policy: %w", err)
	}
	var out portalapi.PolicyRequest
	if err := jsonbody.Decode(bytes.NewReader(merged), &out); err != nil {
		var fe portalapi.FieldError
		if errors.As(err, &fe) {
			return req, &portalapi.ValidationError{Fields: []portalapi.FieldError{fe}}
		}
		return req, err
	}
	return out, nil
}
