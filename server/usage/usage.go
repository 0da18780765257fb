// Package usage reports what runners held, derived from the runner records
// (store.RunnerUsage): per day and owner prefix, policy or agent group, runner-minutes
// and the CPU- and memory-minutes their policies requested, for /api/v1/usage (JSON or
// CSV) and the garo_usage_* counters (Meter), so that an organisation can show costs
// back to its teams.
package usage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// DayLayout is how days are written.
const DayLayout = time.DateOnly

// MaxDays bounds one report.
const MaxDays = 366

// Service reads usage from a store.
type Service struct {
	st  *store.Store
	now func() time.Time
}

// NewService returns the usage service on st; now nil is the wall clock.
func NewService(st *store.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Filter selects a report.
type Filter struct {
	// Since and Until are days (UTC), both included.
	Since, Until time.Time
	// By is a portalapi.UsageBy* grouping.
	By string
	// Prefixes are the owner prefixes of the rows of UsageByOwnerPrefix (lower-case);
	// nil: Scope, else each repository's owner.
	Prefixes []string
	// Scope confines the report to repositories within these owner prefixes (the
	// token's; nil: every repository).
	Scope []string
}

type key struct{ day, prefix, repo, policy, group string }

type sums struct {
	runners              map[string]bool
	seconds, cpuS, memBS float64 // runner-seconds, milli-CPU-seconds, byte-seconds
}

func (s *sums) add(name string, secs float64, u *store.RunnerUsage) {
	s.runners[name] = true
	s.seconds += secs
	s.cpuS += secs * float64(u.CPUMilli)
	s.memBS += secs * float64(u.MemoryBytes)
}

// Report sums the usage f selects, day by day.
func (s *Service) Report(ctx context.Context, f Filter) (*portalapi.UsageReport, error) {
	since := day(f.Since)
	until := day(f.Until).AddDate(0, 0, 1)
	rows, err := s.st.UsageBetween(ctx, since, until)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	prefixes := f.Prefixes
	if len(prefixes) == 0 {
		prefixes = f.Scope
	}
	buckets := map[key]*sums{}
	total := &sums{runners: map[string]bool{}}
	for i := range rows {
		u := &rows[i]
		if !within(f.Scope, u.RepoKey) {
			continue
		}
		end := now
		if u.EndedAt != nil {
			end = u.EndedAt.UTC()
		}
		from, to := later(u.StartedAt.UTC(), since), earlier(end, until)
		if !to.After(from) {
			continue
		}
		var keys []key
		switch f.By {
		case portalapi.UsageByPolicy:
			keys = []key{{repo: u.RepoKey, policy: u.Policy, group: u.AgentGroup}}
		case portalapi.UsageByAgentGroup:
			keys = []key{{group: u.AgentGroup}}
		default:
			if len(prefixes) == 0 {
				owner, _, _ := strings.Cut(u.RepoKey, "/")
				keys = []key{{prefix: owner + "/"}}
			}
			for _, p := range prefixes {
				if strings.HasPrefix(u.RepoKey, p) {
					keys = append(keys, key{prefix: p})
				}
			}
		}
		if len(keys) == 0 {
			continue
		}
		total.add(u.ID, to.Sub(from).Seconds(), u)
		for d := day(from); d.Before(to); d = d.AddDate(0, 0, 1) {
			secs := earlier(to, d.AddDate(0, 0, 1)).Sub(later(from, d)).Seconds()
			if secs <= 0 {
				continue
			}
			for _, k := range keys {
				k.day = d.Format(DayLayout)
				b := buckets[k]
				if b == nil {
					b = &sums{runners: map[string]bool{}}
					buckets[k] = b
				}
				b.add(u.ID, secs, u)
			}
		}
	}
	by := cmp.Or(f.By, portalapi.UsageByOwnerPrefix)
	out := &portalapi.UsageReport{
		Since: since.Format(DayLayout), Until: day(f.Until).Format(DayLayout), By: by, Items: make([]portalapi.UsageRow, 0, len(buckets)),
	}
	for k, b := range buckets {
		r := portalapi.UsageRow{Day: k.day, OwnerPrefix: k.prefix, Policy: k.policy, AgentGroup: k.group}
		if k.repo != "" {
			r.Repository = k.repo
		}
		r.Runners, r.RunnerMinutes, r.CPUMinutes, r.MemoryGiBMinutes = b.figures()
		out.Items = append(out.Items, r)
	}
	slices.SortFunc(out.Items, func(a, b portalapi.UsageRow) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.OwnerPrefix, b.OwnerPrefix),
			strings.Compare(a.Repository, b.Repository), strings.Compare(a.Policy, b.Policy), strings.Compare(a.AgentGroup, b.AgentGroup))
	})
	t := &out.Total
	t.Runners, t.RunnerMinutes, t.CPUMinutes, t.MemoryGiBMinutes = total.figures()
	return out, nil
}

// figures are s in the report's units, to the thousandth.
func (s *sums) figures() (runners int64, minutes, cpuMinutes, memGiBMinutes float64) {
	return int64(len(s.runners)), round(s.seconds / 60), round(s.cpuS / 1000 / 60), round(s.memBS / (1 << 30) / 60)
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// within reports whether repoKey is within one of prefixes (none: every repository).
func within(prefixes []string, repoKey string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(repoKey, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// ParseDays reads the since and until of a report ("" each: the last seven days up to
// today), checking that since is not after until and that they span at most MaxDays.
func ParseDays(since, until string, now time.Time) (time.Time, time.Time, []portalapi.FieldError) {
	var errs []portalapi.FieldError
	u := day(now)
	if until != "" {
		t, err := time.Parse(DayLayout, until)
		if err != nil {
			errs = append(errs, portalapi.FieldError{Field: "until", Message: fmt.Sprintf("must be a day, YYYY-MM-DD, got %q", until)})
		}
		u = t
	}
	s := u.AddDate(0, 0, -6)
	if since != "" {
		t, err := time.Parse(DayLayout, since)
		if err != nil {
			errs = append(errs, portalapi.FieldError{Field: "since", Message: fmt.Sprintf("must be a day, YYYY-MM-DD, got %q", since)})
		}
		s = t
	}
	switch {
	case len(errs) > 0:
	case s.After(u):
		errs = append(errs, portalapi.FieldError{Field: "since", Message: fmt.Sprintf("must not be after until (%s), got %s", u.Format(DayLayout), s.Format(DayLayout))})
	case u.Sub(s) >= MaxDays*24*time.Hour:
		errs = append(errs, portalapi.FieldError{Field: "since", Message: fmt.Sprintf("a report spans at most %d days", MaxDays)})
	}
	return s, u, errs
}
