package api_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/shared/protocol"
)

// limitEnv is an API server with a small failure limit, its metrics and its log.
type limitEnv struct {
	*env
	reg  *prometheus.Registry
	logs *testkit.Buffer
}

func newLimitEnv(t *testing.T, b testdb.Backend, limit api.AuthLimit, trusted ...string) *limitEnv {
	t.Helper()
	st := openStore(t, b)
	log, logs := testkit.TextLogs()
	reg := prometheus.NewRegistry()
	var prefixes []netip.Prefix
	for _, p := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	url := startAPI(t, api.Deps{Store: st, Log: log, AuthLimit: &limit, TrustedProxies: prefixes, Registry: reg})
	return &limitEnv{env: envOn(t, url, st), reg: reg, logs: logs}
}

// send makes one request with an Authorization bearer and headers (name, value, …), and
// returns its status and Retry-After. Agent routes are not in openapi.yaml, so the plain
// client goes there.
func (e *limitEnv) send(method, path, bearer, body string, headers ...string) (int, string) {
	e.t.Helper()
	if strings.HasPrefix(path, protocol.PathPrefix) {
		req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, strings.NewReader(body))
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	resp, _ := e.do(method, path, bearer, "", body, headers...)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// Failed authentications of every kind (portal token, agent credential, registration
// token) count against the client's address; once its burst is spent, every
// authentication from it, a valid one too, is answered 429 with Retry-After before its
// credential is looked at. Successful ones cost nothing. Both are counted in metrics, and
// the access log names the client's address and the reason.
func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newLimitEnv(t, b, api.AuthLimit{Burst: 3, Refill: time.Hour, MaxClients: 100})

		for range 10 { // successes are free
			if got, _ := e.send(http.MethodGet, "/api/v1/whoami", adminSecret, ""); got != http.StatusOK {
				t.Fatalf("whoami with the admin token = %d", got)
			}
		}
		failures := []struct{ method, path, bearer, body string }{
			{http.MethodGet, "/api/v1/policies", "garo_not-a-token-at-all-0123456789abcdefghijk", ""},
			{http.MethodGet, protocol.PathPrefix + "/config", "garoa_not-a-credential-0123456789abcdefghij", ""},
			{http.MethodPost, protocol.PathPrefix + "/register", "", `{"token":"garor_not-a-registration-token-0123456789","name":"a1"}`},
		}
		for _, f := range failures {
			if got, retry := e.send(f.method, f.path, f.bearer, f.body); got != http.StatusUnauthorized || retry != "" {
				t.Fatalf("%s %s = %d (Retry-After %q), want 401 while the burst lasts", f.method, f.path, got, retry)
			}
		}
		// The burst is spent: every authentication waits, a valid one too, on every kind of route.
		for _, f := range append(failures, struct{ method, path, bearer, body string }{http.MethodGet, "/api/v1/whoami", adminSecret, ""}) {
			got, retry := e.send(f.method, f.path, f.bearer, f.body)
			secs, err := strconv.Atoi(retry)
			if got != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 3600 {
				t.Errorf("%s %s = %d (Retry-After %q), want 429 with Retry-After of at most an hour", f.method, f.path, got, retry)
			}
		}
		// Routes without authentication are not limited.
		if got, _ := e.send(http.MethodGet, "/api/v1/version", "", ""); got != http.StatusOK {
			t.Errorf("version = %d", got)
		}

		for _, m := range []struct {
			credential, reason string
			want               float64
		}{{"api_token", "unknown", 1}, {"agent_credential", "unknown", 1}, {"registration_token", "unknown", 1}} {
			if got := gathered(t, e.reg, "garo_api_auth_failures_total", map[string]string{"credential": m.credential, "reason": m.reason}); got != m.want {
				t.Errorf("garo_api_auth_failures_total{%s,%s} = %v, want %v", m.credential, m.reason, got, m.want)
			}
		}
		if got := gathered(t, e.reg, "garo_api_auth_rate_limited_total", nil); got != 4 {
			t.Errorf("garo_api_auth_rate_limited_total = %v, want 4", got)
		}
		logs := e.logs.String()
		for _, want := range []string{
			"status=401", "client_ip=127.0.0.1", "auth_failure=api_token_unknown", "auth_failure=agent_credential_unknown",
			"auth_failure=registration_token_unknown", "status=429", "auth_failure=rate_limited",
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("the access log lacks %q:\n%s", want, logs)
			}
		}
		for _, secret := range []string{"not-a-token-at-all", "not-a-credential", "not-a-registration-token", adminSecret} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log holds the secret %q", secret)
			}
		}
	})
}

// Without trusted proxies, X-Forwarded-For is not believed: a client cannot escape the
// limit by naming another address. With the proxy's network trusted, the address the
// proxy reports is the client: clients behind one proxy are limited apart, and the access
// log names them.
func TestAuthLimitClientAddress(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		testAuthLimitClientAddress(t, b)
	})
}

func testAuthLimitClientAddress(t *testing.T, b testdb.Backend) {
	bad := "garo_not-a-token-at-all-0123456789abcdefghijk"
	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newLimitEnv(t, testdb.Fresh(t, b), api.AuthLimit{Burst: 2, Refill: time.Hour, MaxClients: 100})
		for i, want := range []int{401, 401, 429, 429} {
			xff := "203.0.113." + strconv.Itoa(i+1)
			if got, _ := e.send(http.MethodGet, "/api/v1/whoami", bad, "", "X-Forwarded-For", xff, "X-Real-IP", xff); got != want {
				t.Errorf("attempt %d from 127.0.0.1 claiming %s = %d, want %d", i+1, xff, got, want)
			}
		}
		if logs := e.logs.String(); strings.Contains(logs, "203.0.113.") || !strings.Contains(logs, "client_ip=127.0.0.1") {
			t.Errorf("the access log must name the peer, not the header's claim:\n%s", logs)
		}
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newLimitEnv(t, testdb.Fresh(t, b), api.AuthLimit{Burst: 2, Refill: time.Hour, MaxClients: 100}, "127.0.0.0/8")
		from := func(client string) []string { return []string{"X-Forwarded-For", "198.51.100.9, " + client} }
		for i, want := range []int{401, 401, 429} {
			if got, _ := e.send(http.MethodGet, "/api/v1/whoami", bad, "", from("203.0.113.7")...); got != want {
				t.Errorf("attempt %d of 203.0.113.7 = %d, want %d", i+1, got, want)
			}
		}
		if got, _ := e.send(http.MethodGet, "/api/v1/whoami", bad, "", from("203.0.113.8")...); got != http.StatusUnauthorized {
			t.Errorf("another client behind the proxy = %d, want 401: it has its own limit", got)
		}
		if got, _ := e.send(http.MethodGet, "/api/v1/whoami", adminSecret, "", from("203.0.113.8")...); got != http.StatusOK {
			t.Errorf("a valid token of another client behind the proxy = %d", got)
		}
		// IPv6 clients count per /64.
		for i, want := range []int{401, 401, 429} {
			client := "2001:db8:1:2::" + strconv.Itoa(i+1)
			if got, _ := e.send(http.MethodGet, "/api/v1/whoami", bad, "", from(client)...); got != want {
				t.Errorf("attempt %d from %s (one /64) = %d, want %d", i+1, client, got, want)
			}
		}
		if logs := e.logs.String(); !strings.Contains(logs, "client_ip=203.0.113.7") || !strings.Contains(logs, "client_ip=203.0.113.8") {
			t.Errorf("the access log must name the client the proxy reports:\n%s", logs)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newLimitEnv(t, testdb.Fresh(t, b), api.AuthLimit{})
		for i := range 30 {
			if got, _ := e.send(http.MethodGet, "/api/v1/whoami", bad, ""); got != http.StatusUnauthorized {
				t.Fatalf("attempt %d with the limit off = %d, want 401", i+1, got)
			}
		}
		if got := gathered(t, e.reg, "garo_api_auth_failures_total", map[string]string{"credential": "api_token", "reason": "unknown"}); got != 30 {
			t.Errorf("failures counted with the limit off = %v, want 30", got)
		}
	})
}

// A 429 of the portal API carries the one error body with its code.
func TestRateLimitedAnswerBody(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		testRateLimitedAnswerBody(t, b)
	})
}

func testRateLimitedAnswerBody(t *testing.T, b testdb.Backend) {
	e := newLimitEnv(t, b, api.AuthLimit{Burst: 1, Refill: time.Minute, MaxClients: 10})
	_, err := e.client("garo_wrong").WhoAmI(t.Context())
	wantStatus(t, err, http.StatusUnauthorized, "")
	_, err = e.client(adminSecret).WhoAmI(t.Context())
	ae := apiError(t, err)
	if ae.Status != http.StatusTooManyRequests || ae.Code != portalapi.CodeRateLimited || !strings.Contains(ae.Message, "too many failed authentications") {
		t.Errorf("answer = %+v, want 429 rate_limited", ae)
	}
}

// gathered returns the value of the metric name with labels (nil: the only series).
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
