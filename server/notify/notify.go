// Package notify wakes held long-polls when what they wait for may have changed. A change
// is announced on a topic (a short string such as "group:default"); subscribers of the
// topic are woken and look again. Wake-ups carry no data and may be lost or duplicated:
// a woken poll recomputes a version and compares, so a lost wake-up only delays an answer
// to the end of the hold and a spurious one costs a recomputation.
//
// Local serves one process. Postgres adds PostgreSQL LISTEN/NOTIFY (channel garo_changes,
// payload = topic) so that a change made through one server replica wakes polls held by
// the others.
package notify

import (
	"context"
	"sync"
)

// Publisher announces that topics may have changed. It never fails the caller: the change
// it announces is already committed, and a lost wake-up only delays.
type Publisher interface {
	Publish(ctx context.Context, topics ...string)
}

// Notifier publishes and subscribes.
type Notifier interface {
	Publisher
	// Subscribe returns a subscription to topics (more may be added); Close it when done.
	Subscribe(topics ...string) *Subscription
}

// Subscription is a wake-up channel for a set of topics. C has room for one pending
// wake-up: many publications before the subscriber looks make one wake-up.
type Subscription struct {
	hub    *Local
	c      chan struct{}
	topics []string // guarded by hub.mu
	closed bool     // guarded by hub.mu
}

// C is signalled when one of the subscription's topics is published.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Add subscribes to more topics. Topics already subscribed are ignored.
func (s *Subscription) Add(topics ...string) { s.hub.add(s, topics) }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.hub.remove(s) }

func (s *Subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Local is the in-process notifier.
type Local struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
}

// NewLocal returns an in-process notifier.
func NewLocal() *Local {
	return &Local{subs: map[string]map[*Subscription]struct{}{}}
}

// Publish wakes the subscribers of topics.
func (l *Local) Publish(_ context.Context, topics ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range topics {
		for s := range l.subs[t] {
			s.wake()
		}
	}
}

// WakeAll wakes every subscriber, e.g. after wake-ups may have been lost.
func (l *Local) WakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, set := range l.subs {
		for s := range set {
			s.wake()
		}
	}
}

// Subscribe returns a subscription to topics.
func (l *Local) Subscribe(topics ...string) *Subscription {
	s := &Subscription{hub: l, c: make(chan struct{}, 1)}
	l.add(s, topics)
	return s
}

// Subscribers counts the subscriptions of topic (for tests).
func (l *Local) Subscribers(topic string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs[topic])
}

func (l *Local) add(s *Subscription, topics []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return
	}
	for _, t := range topics {
		set := l.subs[t]
		if set == nil {
			set = map[*Subscription]struct{}{}
			l.subs[t] = set
		}
		if _, ok := set[s]; !ok {
			set[s] = struct{}{}
			s.topics = append(s.topics, t)
		}
	}
}

func (l *Local) remove(s *Subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.closed = true
	for _, t := range s.topics {
		if set := l.subs[t]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(l.subs, t)
			}
		}
	}
	s.topics = nil
}
