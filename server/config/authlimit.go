package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// FailureLimit bounds failed authentications (portal tokens, agent credentials,
// registration tokens) per client address: a token bucket of Burst failures, refilled by
// one every Refill, for at most MaxClients addresses at once. Burst 0 turns it off.
type FailureLimit struct {
	Burst      int           `mapstructure:"burst" yaml:"burst"`
	Refill     time.Duration `mapstructure:"refill" yaml:"refill"`
	MaxClients int           `mapstructure:"max_clients" yaml:"max_clients"`
}

// defaultFailureLimit allows 20 failures at once and 20 a minute after that, per address.
var defaultFailureLimit = FailureLimit{Burst: 20, Refill: 3 * time.Second, MaxClients: 10000}

func (c Config) validateFailureLimit(bad func(key, format string, args ...any)) {
	l := c.Auth.FailureLimit
	if l.Burst < 0 || l.Burst > 10000 {
		bad("auth.failure_limit.burst", "must be between 0 (off) and 10000, got %d", l.Burst)
	}
	if l.Burst > 0 && (l.Refill < 10*time.Millisecond || l.Refill > 24*time.Hour) {
		bad("auth.failure_limit.refill", "must be between 10ms and 24h, got %s", l.Refill)
	}
	if l.Burst > 0 && (l.MaxClients < 1 || l.MaxClients > 1000000) {
		bad("auth.failure_limit.max_clients", "must be between 1 and 1000000, got %d", l.MaxClients)
	}
	if _, err := c.Server.TrustedProxyPrefixes(); err != nil {
		bad("server.trusted_proxies", "%v", err)
	}
}

// TrustedProxyPrefixes parses server.trusted_proxies: each an address (one host) or a
// CIDR network.
func (s Server) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, raw := range s.TrustedProxies {
		raw = strings.TrimSpace(raw)
		if p, err := netip.ParsePrefix(raw); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(raw)
		if err != nil {
			return nil, fmt.Errorf("want addresses or CIDR networks such as 10.0.0.0/8, got %q", raw)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
