package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/garo-dev/garo/server/store"
)

// Group commit of webhook deliveries. Every delivery must be committed before it is
// answered; one transaction per delivery spends six round trips and a commit (a WAL
// flush, with fsync on) on each, and most of the intake's CPU, the database's and the
// server's, went there (issue 15: 5 statements a delivery, 0.27 ms of PostgreSQL's CPU).
// Deliveries that arrive while a transaction is being written are queued and applied
// together in the next one, with one read of their jobs and one of their repositories'
// policies, and one multi-row INSERT of the new jobs and one of the deliveries.
//
// The queue has no goroutine of its own (no loop to start, stop or drain): the first
// delivery of the queue leads. It takes what is queued when it starts (at most
// maxBatch: it waits for nobody), applies it in one transaction, answers every delivery of
// the batch once that transaction has committed, and hands the lead to the first of those
// that arrived meanwhile. A server that shuts down waits for its requests, and so for
// every batch, as it does for a single delivery.
//
// A batch whose transaction fails (a GUID recorded before, a job created meanwhile by
// reconciliation or another server replica, a database error) is applied again one
// delivery at a time, each in its own transaction as without batching, so that one bad
// delivery fails alone and a duplicate is told as one.

// maxBatch bounds the deliveries of one transaction.
const maxBatch = 128

// batchTimeout bounds a batch's transaction, which the deliveries of the batch share
// (none of their requests' cancellation stops it): GitHub gives up on a delivery after
// 10 s.
const batchTimeout = 10 * time.Second

// intake is the queue of deliveries waiting for their transaction.
type intake struct {
	mu    sync.Mutex
	queue []*pending // queue[0] leads, or is about to
	// Seams of the tests: hold, when set, is called by a leader before it takes its
	// batch; beforeWrites inside the batch's transaction, after its reads and updates,
	// before its inserts (an error fails the transaction).
	hold         func()
	beforeWrites func(ctx context.Context, tx *store.Store) error
}

// pending is one delivery in the queue and, once done, its result.
type pending struct {
	d  Delivery
	ev Event
	// wake is sent once: when the delivery's batch committed or failed (done), or when
	// the delivery became the first of the queue and leads.
	wake chan struct{}
	// taken and done are written under intake.mu: taken in a batch, its result set.
	taken, done bool
	outcome     string
	job         *store.WorkflowJob
	err         error
}

// HandleDelivery applies ev and records the delivery d, committed together: when it
// returns nil, both are durable. A delivery seen before changes nothing
// (OutcomeDuplicate). Concurrent deliveries share a transaction (group commit, see
// intake).
func (s *Service) HandleDelivery(ctx context.Context, d Delivery, ev Event) (string, *store.WorkflowJob, error) {
	in := &s.intake
	p := &pending{d: d, ev: ev, wake: make(chan struct{}, 1)}
	in.mu.Lock()
	in.queue = append(in.queue, p)
	first := len(in.queue) == 1
	in.mu.Unlock()
	if !first {
		if err := in.await(ctx, p); err != nil {
			return "", nil, fmt.Errorf("apply %s delivery %s: %w", d.Event, d.GUID, err)
		}
	}
	in.mu.Lock()
	done := p.done
	in.mu.Unlock()
	if !done {
		s.lead(ctx)
	}
	return p.outcome, p.job, p.err
}

// await waits until p is done or leads. When ctx ends first and p is in no batch yet
// nor first of the queue, p leaves the queue and await returns ctx's cause; otherwise
// p's wake is sent or about to be, and await waits for it.
func (in *intake) await(ctx context.Context, p *pending) error {
	select {
	case <-p.wake:
		return nil
	case <-ctx.Done():
	}
	in.mu.Lock()
	if p.taken || in.queue[0] == p {
		in.mu.Unlock()
		<-p.wake // its batch is bounded by batchTimeout
		return nil
	}
	in.queue = slices.DeleteFunc(in.queue, func(q *pending) bool { return q == p })
	in.mu.Unlock()
	return context.Cause(ctx)
}

// lead applies the deliveries queued now (the leader's own first), answers them and
// passes the lead on.
func (s *Service) lead(ctx context.Context) {
	in := &s.intake
	if in.hold != nil {
		in.hold()
	}
	in.mu.Lock()
	batch := slices.Clone(in.queue[:min(len(in.queue), maxBatch)])
	for _, p := range batch {
		p.taken = true
	}
	in.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	defer func() {
		// A panic must not leave the queue behind it waiting forever.
		r := recover()
		in.finish(batch, r)
		if r != nil {
			panic(r)
		}
	}()
	s.applyBatch(ctx, batch)
}

// finish answers the deliveries of batch, which leave the queue, and wakes the next
// leader; panicked is what a panic of the batch's leader recovered (nil: none).
func (in *intake) finish(batch []*pending, panicked any) {
	if panicked != nil {
		for _, p := range batch {
			p.outcome, p.job, p.err = "", nil, fmt.Errorf("apply %s delivery %s: the batch's leader panicked: %v", p.d.Event, p.d.GUID, panicked)
		}
	}
	in.mu.Lock()
	rest := copy(in.queue, in.queue[len(batch):])
	clear(in.queue[rest:])
	in.queue = in.queue[:rest]
	for i, p := range batch {
		p.done = true
		if i > 0 { // batch[0] is the leader
			p.wake <- struct{}{}
		}
	}
	if len(in.queue) > 0 {
		in.queue[0].wake <- struct{}{}
	}
	in.mu.Unlock()
}

// applyBatch sets the result of every delivery of batch.
func (s *Service) applyBatch(ctx context.Context, batch []*pending) {
	s.batches.Observe(float64(len(batch)))
	if len(batch) > 1 {
		err := s.st.Tx(ctx, func(tx *store.Store) error { return s.applyInTx(ctx, tx, batch) })
		if err == nil {
			for _, p := range batch {
				if p.err == nil {
					s.events.WithLabelValues(p.ev.Action, p.ev.Source, p.outcome).Inc()
				}
			}
			return
		}
		s.log.Warn("a batch of webhook deliveries failed; applying them one by one", "deliveries", len(batch), "err", err)
	}
	for _, p := range batch {
		p.outcome, p.job, p.err = s.handleOne(ctx, p.d, p.ev)
	}
}

// applyInTx applies batch in tx, in order, and records its deliveries: the result of
// each is set; an error fails the whole transaction (the results are then overwritten).
func (s *Service) applyInTx(ctx context.Context, tx *store.Store, batch []*pending) error {
	ids := make([]int64, 0, len(batch))
	for _, p := range batch {
		ids = append(ids, p.ev.JobID)
	}
	slices.Sort(ids)
	jobs, err := tx.GetJobs(ctx, slices.Compact(ids), true)
	if err != nil {
		return err
	}
	var repos []string
	for _, p := range batch {
		if _, ok := jobs[p.ev.JobID]; !ok {
			repos = append(repos, store.RepoKey(p.ev.Owner, p.ev.Repo))
		}
	}
	slices.Sort(repos)
	repos = slices.Compact(repos)
	policies, err := tx.EnabledPoliciesOf(ctx, repos)
	if err != nil {
		return err
	}
	view := &batchLog{Store: tx, jobs: jobs, created: map[int64]*store.WorkflowJob{}, policies: policies, loaded: repos}
	seen := make(map[string]bool, len(batch))
	deliveries := make([]store.WebhookDelivery, 0, len(batch))
	for _, p := range batch {
		// A GUID recorded before this batch fails the batch's INSERT of the deliveries:
		// it falls back, one by one, and the delivery is a duplicate there. GitHub sends
		// a GUID again only when asked to redeliver it: not worth a read of every batch.
		if seen[p.d.GUID] {
			p.outcome, p.job, p.err = OutcomeDuplicate, nil, nil
			continue
		}
		outcome, job, err := s.apply(ctx, view, p.ev)
		if errors.Is(err, ErrInvalidEvent) {
			// Refused before it wrote anything: as alone, it fails and is not recorded.
			p.outcome, p.job, p.err = "", nil, fmt.Errorf("apply %s delivery %s: %w", p.d.Event, p.d.GUID, err)
			continue
		}
		if err != nil {
			return err
		}
		seen[p.d.GUID] = true
		p.outcome, p.job, p.err = outcome, job, nil
		deliveries = append(deliveries, store.WebhookDelivery{GUID: p.d.GUID, Event: p.d.Event, Action: p.d.Action, JobID: p.ev.JobID, Outcome: outcome})
	}
	if hook := s.intake.beforeWrites; hook != nil {
		if err := hook(ctx, tx); err != nil {
			return err
		}
	}
	if err := view.flush(ctx); err != nil {
		return err
	}
	return tx.RecordDeliveries(ctx, deliveries)
}

// batchLog is the job log as a batch sees it: the jobs it locked at the start and the
// enabled policies of the repositories of its new jobs, read once; the jobs it creates,
// kept until flush inserts them together. Updates of existing jobs and everything about
// runners go to the transaction at once, in the order of the batch's events, as they
// would one delivery at a time: what a later statement reads of workflow_jobs
// (EndUsageIfGone looks for in-progress jobs of a runner) is then what it would read
// without batching, the created jobs aside, which no event of the batch has moved to
// in_progress in the database either.
type batchLog struct {
	*store.Store
	jobs     map[int64]*store.WorkflowJob // the existing jobs, as the batch left them
	created  map[int64]*store.WorkflowJob // the jobs the batch creates
	order    []int64                      // of created
	policies map[string][]store.Policy
	loaded   []string // the repositories whose policies were read (sorted)
}

func (b *batchLog) GetJob(_ context.Context, id int64, _ bool) (*store.WorkflowJob, error) {
	j := b.created[id]
	if j == nil {
		j = b.jobs[id]
	}
	if j == nil {
		return nil, fmt.Errorf("get job %d: %w", id, store.ErrNotFound)
	}
	c := *j // the caller changes its copy, and saves it
	return &c, nil
}

func (b *batchLog) EnabledPolicies(ctx context.Context, repoKey string) ([]store.Policy, error) {
	if _, ok := slices.BinarySearch(b.loaded, repoKey); ok {
		return b.policies[repoKey], nil
	}
	return txLog{b.Store}.EnabledPolicies(ctx, repoKey)
}

func (b *batchLog) CreateJob(_ context.Context, j *store.WorkflowJob) error {
	if b.created[j.ID] != nil || b.jobs[j.ID] != nil {
		return fmt.Errorf("create job %d: %w", j.ID, store.ErrAlreadyExists)
	}
	b.created[j.ID] = j
	b.order = append(b.order, j.ID)
	return nil
}

func (b *batchLog) SaveJob(ctx context.Context, j *store.WorkflowJob) error {
	if b.created[j.ID] != nil {
		b.created[j.ID] = j
		return nil
	}
	if err := b.Store.SaveJob(ctx, j); err != nil {
		return err
	}
	b.jobs[j.ID] = j
	return nil
}

// flush inserts the jobs the batch created.
func (b *batchLog) flush(ctx context.Context) error {
	if len(b.order) == 0 {
		return nil
	}
	rows := make([]*store.WorkflowJob, 0, len(b.order))
	for _, id := range b.order {
		rows = append(rows, b.created[id])
	}
	return b.CreateJobs(ctx, rows)
}
