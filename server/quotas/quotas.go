// Package quotas is the quota service: an administrator caps what the runners of a team
// (an owner prefix) or of a pool of hardware (an agent group) hold at once, runners and
// the CPU and memory their policies request in total. Writes are audited in the
// transaction that makes them; the routes are admin-only. Admit is where quotas are
// enforced: the agent service calls it before minting a runner's credentials, which is
// where a runner is born, in a transaction that locks the quotas (admission.go).
package quotas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// Service runs the quota use cases on a store.
type Service struct {
	st      *store.Store
	maxWait time.Duration
	now     func() time.Time
}

// NewService returns the quota service on st; maxWait is scheduling.max_wait, the bound
// of the queue's order (Queue).
func NewService(st *store.Store, maxWait time.Duration) *Service {
	return &Service{st: st, maxWait: maxWait, now: time.Now}
}

// Queue returns the server's queue of the jobs quotas hold (Build) as of now; nil when
// there are no quotas.
func (s *Service) Queue(ctx context.Context) (*Queue, error) {
	qs, err := s.st.ListQuotas(ctx)
	if err != nil || len(qs) == 0 {
		return nil, err
	}
	return Load(ctx, s.st, qs, s.now(), s.maxWait, 0)
}

// List returns every quota with what its runners hold now.
func (s *Service) List(ctx context.Context) (*portalapi.QuotaList, error) {
	rows, err := s.st.ListQuotas(ctx)
	if err != nil {
		return nil, err
	}
	live, err := s.live(ctx, s.st)
	if err != nil {
		return nil, err
	}
	out := &portalapi.QuotaList{Items: make([]portalapi.Quota, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, toAPI(&rows[i], live.usage(&rows[i])))
	}
	return out, nil
}

// Get returns the quota id.
func (s *Service) Get(ctx context.Context, id string) (*portalapi.Quota, error) {
	q, err := s.st.GetQuota(ctx, id)
	if err != nil {
		return nil, err
	}
	live, err := s.live(ctx, s.st)
	if err != nil {
		return nil, err
	}
	out := toAPI(q, live.usage(q))
	return &out, nil
}

// Create adds a quota; store.ErrAlreadyExists when its kind and subject have one.
func (s *Service) Create(ctx context.Context, actor store.Actor, req portalapi.QuotaRequest) (*portalapi.Quota, error) {
	q := &store.Quota{ID: uuid.NewString()}
	var errs []portalapi.FieldError
	switch req.Kind {
	case portalapi.QuotaKindOwnerPrefix:
		if p, perrs := checkPrefix(req.Subject); len(perrs) > 0 {
			errs = append(errs, perrs...)
		} else {
			q.Subject = p
		}
	case portalapi.QuotaKindAgentGroup:
		if err := policy.ValidateName(req.Subject); err != nil {
			errs = append(errs, portalapi.FieldError{Field: "subject", Message: "an agent group's name: " + err.Error()})
		}
		q.Subject = req.Subject
	default:
		errs = append(errs, portalapi.FieldError{Field: "kind", Message: fmt.Sprintf("must be %q or %q, got %q", portalapi.QuotaKindOwnerPrefix, portalapi.QuotaKindAgentGroup, req.Kind)})
	}
	q.Kind = req.Kind
	errs = append(errs, setLimits(q, req)...)
	if len(errs) > 0 {
		return nil, &portalapi.ValidationError{Fields: errs}
	}
	var out portalapi.Quota
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		if q.Kind == portalapi.QuotaKindAgentGroup {
			if _, err := tx.GetAgentGroup(ctx, q.Subject); errors.Is(err, store.ErrNotFound) {
				return portalapi.Invalid("subject", "agent group %q does not exist", q.Subject)
			} else if err != nil {
				return err
			}
		}
		if err := tx.CreateQuota(ctx, q); err != nil {
			return err
		}
		out = toAPI(q, portalapi.QuotaUsage{})
		return tx.Audit(ctx, actor, store.Change{Action: "quota.create", ResourceType: "quota", ResourceID: q.ID, After: out})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, out.ID)
}

// Replace sets the limits and description of the quota id. Kind and subject may be
// given, but only as they are. A limit below what the runners hold now is taken at once:
// no new runner is admitted until they are under it; none is stopped.
func (s *Service) Replace(ctx context.Context, actor store.Actor, id string, req portalapi.QuotaRequest) (*portalapi.Quota, error) {
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		q, err := tx.GetQuota(ctx, id)
		if err != nil {
			return err
		}
		var errs []portalapi.FieldError
		if req.Kind != "" && req.Kind != q.Kind {
			errs = append(errs, portalapi.FieldError{Field: "kind", Message: fmt.Sprintf("is %q and may not change; delete the quota and create another", q.Kind)})
		}
		if req.Subject != "" && !strings.EqualFold(req.Subject, q.Subject) {
			errs = append(errs, portalapi.FieldError{Field: "subject", Message: fmt.Sprintf("is %q and may not change; delete the quota and create another", q.Subject)})
		}
		before := toAPI(q, portalapi.QuotaUsage{})
		errs = append(errs, setLimits(q, req)...)
		if len(errs) > 0 {
			return &portalapi.ValidationError{Fields: errs}
		}
		if err := tx.UpdateQuota(ctx, q); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{Action: "quota.update", ResourceType: "quota", ResourceID: id,
			Before: before, After: toAPI(q, portalapi.QuotaUsage{})})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Delete removes the quota id.
func (s *Service) Delete(ctx context.Context, actor store.Actor, id string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		q, err := tx.GetQuota(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteQuota(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{Action: "quota.delete", ResourceType: "quota", ResourceID: id, Before: toAPI(q, portalapi.QuotaUsage{})})
	})
}

// checkPrefix checks and lower-cases an owner prefix subject.
func checkPrefix(subject string) (string, []portalapi.FieldError) {
	if len(subject) < 1 || len(subject) > 140 || strings.TrimSpace(subject) != subject {
		return "", []portalapi.FieldError{{Field: "subject", Message: fmt.Sprintf("an owner prefix must be 1-140 characters without surrounding spaces, got %q", subject)}}
	}
	return strings.ToLower(subject), nil
}

// setLimits checks the limits of req and writes them to q.
func setLimits(q *store.Quota, req portalapi.QuotaRequest) []portalapi.FieldError {
	var errs []portalapi.FieldError
	q.MaxRunners, q.MaxCPUMilli, q.MaxMemoryBytes = nil, nil, nil
	if req.MaxRunners != nil {
		if *req.MaxRunners < 0 || *req.MaxRunners > 1_000_000 {
			errs = append(errs, portalapi.FieldError{Field: "max_runners", Message: fmt.Sprintf("must be 0-1000000, got %d", *req.MaxRunners)})
		}
		v := *req.MaxRunners
		q.MaxRunners = &v
	}
	if req.CPU != "" {
		v, err := guardrails.MilliCPU(req.CPU)
		if err != nil {
			errs = append(errs, portalapi.FieldError{Field: "cpu", Message: err.Error() + ` (as a runner spec's: "16", "500m")`})
		}
		q.MaxCPUMilli = &v
	}
	if req.Memory != "" {
		v, err := guardrails.MemoryBytes(req.Memory)
		if err != nil {
			errs = append(errs, portalapi.FieldError{Field: "memory", Message: err.Error() + ` (as a runner spec's: "64Gi", "512Mi")`})
		}
		q.MaxMemoryBytes = &v
	}
	if len(req.Description) > 1000 {
		errs = append(errs, portalapi.FieldError{Field: "description", Message: fmt.Sprintf("must be at most 1000 characters, got %d", len(req.Description))})
	}
	q.Description = req.Description
	return errs
}

func toAPI(q *store.Quota, use portalapi.QuotaUsage) portalapi.Quota {
	out := portalapi.Quota{
		ID: q.ID, Kind: q.Kind, Subject: q.Subject, MaxRunners: q.MaxRunners, Description: q.Description,
		InUse: use, CreatedAt: q.CreatedAt.UTC(), UpdatedAt: q.UpdatedAt.UTC(),
	}
	if q.MaxCPUMilli != nil {
		out.CPU = guardrails.FormatMilliCPU(*q.MaxCPUMilli)
	}
	if q.MaxMemoryBytes != nil {
		out.Memory = guardrails.FormatBytes(*q.MaxMemoryBytes)
	}
	return out
}
