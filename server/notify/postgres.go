package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/garo-dev/garo/shared/backoff"
)

// Channel is the PostgreSQL notification channel; the payload of a notification is a topic.
const Channel = "garo_changes"

// publishTimeout bounds one NOTIFY: a publisher must not hang on a sick database.
const publishTimeout = 5 * time.Second

// Postgres is a notifier for several server replicas on one PostgreSQL database. Publish
// wakes this process's subscribers at once and queues its topics for a NOTIFY on Channel:
// one goroutine sends them, every topic queued since its last statement in one statement,
// each once, so that publishers (a webhook delivery each) never wait on the database and
// a burst costs a few statements, not one each. A dedicated connection LISTENs on Channel
// and wakes this process's subscribers for every notification, its own included (a
// duplicate wake-up only costs a recomputation). When the listening connection breaks it
// reconnects with backoff and then wakes every subscriber, because notifications sent
// meanwhile are lost.
type Postgres struct {
	local  *Local
	pool   *pgxpool.Pool
	cfg    *pgx.ConnConfig
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{} // the listener's
	sent   chan struct{} // the sender's, closed when it ends

	mu      sync.Mutex
	pending map[string]struct{} // topics to send, each once (bounded by the topics there are)
	kick    chan struct{}       // 1-buffered: pending has topics
}

// notifyChunk bounds the topics of one NOTIFY statement.
const notifyChunk = 500

// StartPostgres connects to the database dsn, starts listening, and keeps listening until
// ctx ends or Close is called. It returns once the first LISTEN is in place, so that a
// notification sent after it returns is received.
func StartPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("notify: parse database DSN: %w", err)
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("notify: parse database DSN: %w", err)
	}
	poolCfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("notify: connect: %w", err)
	}
	p := &Postgres{local: NewLocal(), pool: pool, cfg: cfg, log: log, done: make(chan struct{}), sent: make(chan struct{}),
		pending: map[string]struct{}{}, kick: make(chan struct{}, 1)}
	conn, err := p.listen(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	go p.run(loopCtx, conn)
	go p.send(loopCtx)
	return p, nil
}

// Publish wakes local subscribers and queues the NOTIFY of the other replicas.
func (p *Postgres) Publish(ctx context.Context, topics ...string) {
	if len(topics) == 0 {
		return
	}
	p.local.Publish(ctx, topics...)
	p.mu.Lock()
	for _, t := range topics {
		p.pending[t] = struct{}{}
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default: // the sender is kicked already
	}
}

// send NOTIFYs the queued topics until ctx ends, and those queued by then.
func (p *Postgres) send(ctx context.Context) {
	defer close(p.sent)
	for {
		select {
		case <-ctx.Done():
			p.flush(context.WithoutCancel(ctx))
			return
		case <-p.kick:
			p.flush(ctx)
		}
	}
}

// flush sends the queued topics.
func (p *Postgres) flush(ctx context.Context) {
	p.mu.Lock()
	topics := make([]string, 0, len(p.pending))
	for t := range p.pending {
		topics = append(topics, t)
	}
	clear(p.pending)
	p.mu.Unlock()
	for chunk := range slices.Chunk(topics, notifyChunk) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		_, err := p.pool.Exec(ctx, "SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t", Channel, chunk)
		cancel()
		if err != nil {
			// Other replicas' polls learn of the change at the end of their hold.
			p.log.Warn("notify other server replicas failed", "err", err, "topics", len(chunk))
		}
	}
}

// Subscribe returns a subscription to topics.
func (p *Postgres) Subscribe(topics ...string) *Subscription { return p.local.Subscribe(topics...) }

// Close stops listening, sends what is queued and closes the connections.
func (p *Postgres) Close() {
	p.cancel()
	<-p.done
	<-p.sent
	p.pool.Close()
}

// listen opens the listening connection.
func (p *Postgres) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, fmt.Errorf("notify: connect listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("notify: listen on %s: %w", Channel, err)
	}
	return conn, nil
}

// run relays notifications to local subscribers until ctx ends, reconnecting as needed.
func (p *Postgres) run(ctx context.Context, conn *pgx.Conn) {
	defer close(p.done)
	policy := backoff.Default()
	for attempt := 0; ; {
		if conn != nil {
			err := p.relay(ctx, conn)
			_ = conn.Close(context.WithoutCancel(ctx))
			conn = nil
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("lost the database notification listener; reconnecting", "err", err)
		}
		t := time.NewTimer(policy.Delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c, err := p.listen(ctx)
		if err != nil {
			attempt++
			p.log.Warn("database notification listener: reconnect failed", "err", err, "attempt", attempt)
			continue
		}
		conn, attempt = c, 0
		p.log.Info("database notification listener reconnected")
		p.local.WakeAll() // notifications sent while we were away are lost
	}
}

// relay waits for notifications on conn and wakes local subscribers.
func (p *Postgres) relay(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		p.local.Publish(ctx, n.Payload)
	}
}
