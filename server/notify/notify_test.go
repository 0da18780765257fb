package notify_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/notify"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// woken reports whether sub was signalled within d (a failing test waits d; a passing one
// returns as soon as the wake-up arrives).
func woken(sub *notify.Subscription, d time.Duration) bool {
	select {
	case <-sub.C():
		return true
	case <-time.After(d):
		return false
	}
}

// pending reports whether a wake-up is pending on sub right now.
func pending(sub *notify.Subscription) bool {
	select {
	case <-sub.C():
		return true
	default:
		return false
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := notify.NewLocal()
	a := n.Subscribe("group:default")
	b := n.Subscribe("agent:b")
	defer b.Close()

	n.Publish(ctx, "group:other", "agent:x")
	if pending(a) || pending(b) {
		t.Fatal("a topic nobody subscribed woke a subscriber")
	}
	n.Publish(ctx, "group:default")
	n.Publish(ctx, "group:default")
	if !pending(a) || pending(a) {
		t.Fatal("two publications before the subscriber looked should make exactly one wake-up")
	}
	if pending(b) {
		t.Fatal("b was woken by a's topic")
	}

	a.Add("policies:acme/web", "group:default")
	if got := n.Subscribers("group:default"); got != 1 {
		t.Fatalf("subscribers of group:default = %d after adding it twice, want 1", got)
	}
	n.Publish(ctx, "policies:acme/web")
	if !pending(a) {
		t.Fatal("an added topic did not wake")
	}

	n.WakeAll()
	if !pending(a) || !pending(b) {
		t.Fatal("WakeAll missed a subscriber")
	}

	a.Close()
	a.Close()
	a.Add("late")
	n.Publish(ctx, "group:default", "policies:acme/web", "late")
	if pending(a) {
		t.Fatal("a closed subscription was woken")
	}
	for _, topic := range []string{"group:default", "policies:acme/web", "late"} {
		if got := n.Subscribers(topic); got != 0 {
			t.Errorf("subscribers of %s after Close = %d", topic, got)
		}
	}
}

// TestPostgresAcrossReplicas: a publication on one notifier wakes the subscribers of
// another on the same database, and of itself; after the listening connection is killed,
// the notifier reconnects, wakes everyone (notifications may have been lost meanwhile)
// and relays again.
func TestPostgresAcrossReplicas(t *testing.T) {
	b := testdb.Postgres(t)
	ctx := t.Context()
	one, err := notify.StartPostgres(ctx, b.DSN, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := notify.StartPostgres(ctx, b.DSN, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()

	onTwo := two.Subscribe("group:default")
	defer onTwo.Close()
	onOne := one.Subscribe("group:default")
	defer onOne.Close()
	other := two.Subscribe("group:gpu")
	defer other.Close()

	start := time.Now()
	one.Publish(ctx, "group:default")
	if !woken(onTwo, 10*time.Second) {
		t.Fatal("a publication on replica one did not wake replica two")
	}
	t.Logf("cross-replica wake-up in %s", time.Since(start))
	if !woken(onOne, time.Second) {
		t.Fatal("a publication did not wake its own replica")
	}
	if pending(other) {
		t.Fatal("another topic was woken")
	}

	// Kill every listening connection of the database: the notifiers must come back.
	admin, err := pgx.Connect(ctx, b.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.WithoutCancel(ctx)) }()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	if !woken(other, 30*time.Second) {
		t.Fatal("no wake-up after the listener was reconnected")
	}
	// Reconnected: publications flow again (retry: the reconnect of one may lag).
	deadline := time.Now().Add(30 * time.Second)
	for {
		two.Publish(ctx, "group:default")
		if woken(onOne, 200*time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica one hears nothing after its listener was killed")
		}
	}
}

// TestPostgresBurst: a burst of publications from many goroutines (a webhook delivery
// each), coalesced into few NOTIFY statements, wakes the other replica on every topic;
// what is queued when the notifier closes is still sent.
func TestPostgresBurst(t *testing.T) {
	b := testdb.Postgres(t)
	ctx := t.Context()
	one, err := notify.StartPostgres(ctx, b.DSN, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	two, err := notify.StartPostgres(ctx, b.DSN, testkit.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	const n = 50
	subs := make([]*notify.Subscription, n)
	for i := range subs {
		subs[i] = two.Subscribe(fmt.Sprintf("jobs:acme/r%d", i))
		defer subs[i].Close()
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one.Publish(ctx, fmt.Sprintf("jobs:acme/r%d", i), "jobs:acme/shared")
		}()
	}
	wg.Wait()
	one.Close() // sends what is still queued
	for i, sub := range subs {
		if !woken(sub, 10*time.Second) {
			t.Fatalf("topic %d did not reach the other replica", i)
		}
	}
}
