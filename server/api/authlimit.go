package api

import (
	"container/list"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AuthLimit bounds failed authentications per client address: a token bucket of Burst
// failures per address, refilled by one every Refill. A successful authentication costs
// nothing. While an address's bucket is empty, every authentication from it (portal
// token, agent credential, registration) is answered 429 with Retry-After before its
// credential is looked at. At most MaxClients addresses are tracked: an address whose
// bucket is full again is forgotten, and beyond MaxClients the one that failed longest
// ago is. IPv6 addresses count per /64, the smallest block one holder usually has.
type AuthLimit struct {
	Burst      int
	Refill     time.Duration
	MaxClients int
}

// DefaultAuthLimit is the limit of an API built without one (documented in
// docs/configuration.md as auth.failure_limit.*).
var DefaultAuthLimit = AuthLimit{Burst: 20, Refill: 3 * time.Second, MaxClients: 10000}

// authLimiter is AuthLimit's state. Its methods are safe for concurrent use; the lock is
// never held across anything but the map and list.
type authLimiter struct {
	cfg AuthLimit
	now func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element // of *bucket
	order   *list.List               // front: the address that failed last

	failures *prometheus.CounterVec
	limited  prometheus.Counter
}

type bucket struct {
	key    string
	tokens float64   // failures still allowed, at last
	last   time.Time // when tokens was computed
}

func newAuthLimiter(cfg AuthLimit, now func() time.Time, reg prometheus.Registerer) *authLimiter {
	if now == nil {
		now = time.Now
	}
	l := &authLimiter{
		cfg: cfg, now: now, clients: map[string]*list.Element{}, order: list.New(),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_api_auth_failures_total",
			Help: "Failed authentications, by credential (api_token, agent_credential, registration_token) and reason.",
		}, []string{"credential", "reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_api_auth_rate_limited_total",
			Help: "Authentications answered 429 because their client address failed too often.",
		}),
	}
	if reg != nil {
		reg.MustRegister(l.failures, l.limited)
	}
	return l
}

// enabled is false when the limit is off (Burst 0): failures are still counted.
func (l *authLimiter) enabled() bool { return l.cfg.Burst > 0 && l.cfg.Refill > 0 }

// limitKey is the address the limit counts for ip: itself, or its /64 for IPv6.
func limitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		if host, _, splitErr := net.SplitHostPort(ip); splitErr == nil {
			addr, err = netip.ParseAddr(host)
		}
	}
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// refill brings b up to now; it reports whether b is full (nothing to remember).
func (l *authLimiter) refill(b *bucket, now time.Time) bool {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+float64(elapsed)/float64(l.cfg.Refill))
		b.last = now
	}
	return b.tokens >= float64(l.cfg.Burst)
}

// expire forgets, from the back, the addresses whose bucket is full again.
func (l *authLimiter) expire(now time.Time) {
	for e := l.order.Back(); e != nil; e = l.order.Back() {
		b := e.Value.(*bucket)
		if !l.refill(b, now) {
			return
		}
		l.order.Remove(e)
		delete(l.clients, b.key)
	}
}

// wait returns how long ip must wait before it may try to authenticate again; 0 when it
// may now. A positive answer is counted as rate limited.
func (l *authLimiter) wait(ip string) time.Duration {
	if !l.enabled() {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	e, ok := l.clients[limitKey(ip)]
	if !ok {
		return 0
	}
	b := e.Value.(*bucket)
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	l.limited.Inc()
	return time.Duration((1 - b.tokens) * float64(l.cfg.Refill))
}

// fail records a failed authentication of ip.
func (l *authLimiter) fail(ip, credential, reason string) {
	l.failures.WithLabelValues(credential, reason).Inc()
	if !l.enabled() {
		return
	}
	now := l.now()
	key := limitKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	e, ok := l.clients[key]
	if !ok {
		e = l.order.PushFront(&bucket{key: key, tokens: float64(l.cfg.Burst), last: now})
		l.clients[key] = e
		for l.order.Len() > max(l.cfg.MaxClients, 1) {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.clients, oldest.Value.(*bucket).key)
		}
	}
	b := e.Value.(*bucket)
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
	l.order.MoveToFront(e)
}

// tracked is the number of addresses remembered (for tests).
func (l *authLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
