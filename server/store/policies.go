package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/garo-dev/garo/shared/spec"
)

// Policy is a runner policy of one repository. RepoKey and OwnerKey are the lower-cased
// "owner/name" and owner: GitHub names are case-insensitive, so uniqueness and filters use
// them while Owner and Repo keep the spelling the user gave.
type Policy struct {
	ID               string `gorm:"primaryKey"`
	Owner            string
	Repo             string
	OwnerKey         string
	RepoKey          string
	Name             string
	Labels           StringList
	MinIdle          int
	MaxRunners       int
	Ephemeral        bool
	IdleGrace        time.Duration
	BootstrapTimeout time.Duration
	AgentGroup       string
	Enabled          bool
	Provider         string
	RunnerSpec       JSONText
	Schedule         JSONText // JSON array of spec.ScheduleWindow
	// RegistrationLevel is "repository" or "organization" (migration 0016); RunnerGroup
	// is the GitHub runner group's name at organisation level, "" at repository level.
	RegistrationLevel string
	RunnerGroup       string
	// Priority orders queued jobs across policies when capacity is short (migration 0019).
	Priority  int
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// defaults fills the columns that may not be NULL.
func (p *Policy) defaults() {
	if len(p.Schedule) == 0 {
		p.Schedule = JSONText("[]")
	}
	if p.RegistrationLevel == "" {
		p.RegistrationLevel = LevelRepository
	}
}

// Registration levels stored in policies.registration_level (portal-api's values).
const (
	LevelRepository   = "repository"
	LevelOrganization = "organization"
)

// AtOrganization reports whether the policy's runners register at organisation level.
func (p *Policy) AtOrganization() bool { return p.RegistrationLevel == LevelOrganization }

// Decoded is the JSON columns of a policy, decoded; Labels is never nil, Schedule never nil.
type Decoded struct {
	Labels   []string
	Runner   spec.RunnerSpec
	Schedule []spec.ScheduleWindow
}

// Decode decodes the policy's runner spec and schedule columns.
func (p *Policy) Decode() (Decoded, error) {
	d := Decoded{Labels: []string(p.Labels), Schedule: []spec.ScheduleWindow{}}
	if d.Labels == nil {
		d.Labels = []string{}
	}
	if err := json.Unmarshal(p.RunnerSpec, &d.Runner); err != nil {
		return d, fmt.Errorf("decode runner spec of policy %s: %w", p.ID, err)
	}
	if len(p.Schedule) > 0 {
		if err := json.Unmarshal(p.Schedule, &d.Schedule); err != nil {
			return d, fmt.Errorf("decode schedule of policy %s: %w", p.ID, err)
		}
	}
	return d, nil
}

// Repository returns "owner/name" as the user spelled it.
func (p *Policy) Repository() string { return p.Owner + "/" + p.Repo }

// RepoKey returns the lower-cased "owner/name" used as the repository's identity.
func RepoKey(owner, repo string) string { return strings.ToLower(owner + "/" + repo) }

// PolicyFilter selects policies to list. Empty fields do not filter. OwnerPrefixes, when
// set, keep only repositories whose RepoKey starts with one of them.
type PolicyFilter struct {
	OwnerKey      string
	RepoKey       string
	AgentGroup    string
	Enabled       *bool
	OwnerPrefixes []string
	// After is the keyset cursor: list policies after (AfterRepoKey, AfterName).
	AfterRepoKey string
	AfterName    string
	Limit        int
}

// GetPolicy returns the policy name of repository repoKey. With forUpdate, PostgreSQL
// locks the row until the transaction ends (SQLite's single writer needs no lock).
func (s *Store) GetPolicy(ctx context.Context, repoKey, name string, forUpdate bool) (*Policy, error) {
	q := s.conn(ctx)
	if forUpdate {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var p Policy
	if err := q.Where("repo_key = ? AND name = ?", repoKey, name).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("get policy %s/%s: %w", repoKey, name, notFound(err))
	}
	return &p, nil
}

// ListPolicies returns up to f.Limit policies ordered by repository and name, and whether
// more follow.
func (s *Store) ListPolicies(ctx context.Context, f PolicyFilter) ([]Policy, bool, error) {
	q := s.conn(ctx).Model(&Policy{})
	if f.OwnerKey != "" {
		q = q.Where("owner_key = ?", f.OwnerKey)
	}
	if f.RepoKey != "" {
		q = q.Where("repo_key = ?", f.RepoKey)
	}
	if f.AgentGroup != "" {
		q = q.Where("agent_group = ?", f.AgentGroup)
	}
	if f.Enabled != nil {
		q = q.Where("enabled = ?", *f.Enabled)
	}
	if len(f.OwnerPrefixes) > 0 {
		q = q.Where(prefixCondition(s.db, f.OwnerPrefixes))
	}
	if f.AfterRepoKey != "" || f.AfterName != "" {
		q = q.Where("(repo_key > ?) OR (repo_key = ? AND name > ?)", f.AfterRepoKey, f.AfterRepoKey, f.AfterName)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []Policy
	if err := q.Order("repo_key, name").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, false, fmt.Errorf("list policies: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// prefixCondition matches rows whose repo_key starts with one of prefixes.
func prefixCondition(db *gorm.DB, prefixes []string) *gorm.DB {
	or := db.Session(&gorm.Session{NewDB: true})
	for i, p := range prefixes {
		cond := "repo_key LIKE ? ESCAPE '\\'"
		if i == 0 {
			or = or.Where(cond, likePrefix(strings.ToLower(p)))
		} else {
			or = or.Or(cond, likePrefix(strings.ToLower(p)))
		}
	}
	return or
}

// likePrefix escapes a prefix for LIKE ... ESCAPE '\'.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// CreatePolicy inserts p with version 1.
func (s *Store) CreatePolicy(ctx context.Context, p *Policy) error {
	now := s.now()
	p.Version, p.CreatedAt, p.UpdatedAt = 1, now, now
	p.defaults()
	if err := s.conn(ctx).Create(p).Error; err != nil {
		return fmt.Errorf("create policy %s/%s: %w", p.RepoKey, p.Name, classifyWrite(err))
	}
	return nil
}

// UpdatePolicy writes p over the stored row if the row is still at version expected, and
// moves p to the next version. A row at another version gives ErrVersionMismatch.
func (s *Store) UpdatePolicy(ctx context.Context, p *Policy, expected int64) error {
	p.Version = expected + 1
	p.UpdatedAt = s.now()
	p.defaults()
	res := s.conn(ctx).Model(&Policy{}).
		Where("id = ? AND version = ?", p.ID, expected).
		Select("*").Omit("id", "created_at").
		UpdateColumns(p) // UpdateColumns: keep our UpdatedAt, not a second clock reading

	if res.Error != nil {
		return fmt.Errorf("update policy %s/%s: %w", p.RepoKey, p.Name, classifyWrite(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("update policy %s/%s at version %d: %w", p.RepoKey, p.Name, expected, ErrVersionMismatch)
	}
	return nil
}

// DeletePolicy removes the policy id if it is still at version expected.
func (s *Store) DeletePolicy(ctx context.Context, id string, expected int64) error {
	res := s.conn(ctx).Where("id = ? AND version = ?", id, expected).Delete(&Policy{})
	if res.Error != nil {
		return fmt.Errorf("delete policy %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete policy %s at version %d: %w", id, expected, ErrVersionMismatch)
	}
	return s.ClearRefusal(ctx, id)
}

// classifyWrite maps constraint violations to the store's sentinels.
func classifyWrite(err error) error {
	switch {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
	case isForeignKey(err):
		return fmt.Errorf("%w: %w", ErrUnknownGroup, err)
	}
	return err
}

// PoliciesOfRepos returns every policy of the repositories repoKeys, by repository and
// name.
func (s *Store) PoliciesOfRepos(ctx context.Context, repoKeys []string) ([]Policy, error) {
	var out []Policy
	if len(repoKeys) == 0 {
		return out, nil
	}
	if err := s.conn(ctx).Where("repo_key IN ?", repoKeys).Order("repo_key, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("policies of repositories: %w", err)
	}
	return out, nil
}
