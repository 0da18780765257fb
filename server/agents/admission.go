package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// admit reserves the room of the runner name of policy p in every quota that covers it,
// before its credentials are minted, which is where a runner is born: in one Tx, the
// quotas are locked (quotas.Admit) and the runner is recorded as minted and unreported,
// so that it counts against the quotas from then on, on every replica. GitHub is called
// after the Tx, with no lock held; a mint that fails forgets the record again. A full
// quota gives an error that wraps protocol.ErrQuotaFull (409 quota_full), naming it.
// A name on record already (fresh false: the agent asks again for a runner it was minted
// before) keeps its record and is not reserved again.
func (s *Service) admit(ctx context.Context, a *store.Agent, p *store.Policy, key, name string, jobID int64, fresh bool) error {
	d, err := p.Decode()
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		now := s.now()
		if err := quotas.Admit(ctx, tx, quotas.Request{
			AgentGroup: a.AgentGroup, RepoKey: key, Policy: p.Name, Runner: d.Runner, JobID: jobID, Now: now, MaxWait: s.cfg.MaxWait,
		}); err != nil {
			return err
		}
		if !fresh {
			return nil
		}
		if err := tx.RecordMinted(ctx, store.MintedRunner{Name: name, RepoKey: key, Policy: p.Name, AgentID: a.ID, MintedAt: now, RegistrationLevel: p.RegistrationLevel, MintAttempts: 1}); err != nil {
			return err
		}
		// Its usage runs from now until it no longer counts against quotas.
		cpu, mem := guardrails.Requests(d.Runner)
		return tx.StartUsage(ctx, store.RunnerUsage{
			Name: name, RepoKey: key, Policy: p.Name, AgentGroup: a.AgentGroup, AgentID: a.ID, CPUMilli: cpu, MemoryBytes: mem, StartedAt: now,
		})
	})
	if errors.Is(err, quotas.ErrQuotaFull) {
		s.credentials.WithLabelValues("quota_full").Inc()
		s.log.Info("runner held back by a quota", "agent_id", a.ID, "repo", key, "policy", p.Name, "runner", name, "err", err)
		return fmt.Errorf("runner %s of %s/%s: %w", name, key, p.Name, err)
	}
	return err
}
