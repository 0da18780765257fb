package webhook_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/webhook"
)

// Several Apps, each with its own secret: a delivery signed with any of them is accepted
// and its App is known (logged, counted); one signed with none is still 401.
func TestSecretsOfSeveralApps(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		log, logs := testkit.JSONLogs()
		reg := prometheus.NewRegistry()
		const a, bNew, bOld = "secret-of-app-eleven-0123", "secret-of-app-twelve-0123", "old-secret-of-app-twelve"
		h := webhook.NewHandler(webhook.Config{
			Secrets:    [][]byte{[]byte(a), []byte(bNew), []byte(bOld)},
			SecretApps: []int64{11, 12, 12},
		}, jobs.NewService(st, testkit.Discard(), nil), st, log, reg)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		e := &env{t: t, st: st, url: srv.URL}
		for i, tc := range []struct {
			key  string
			want int
		}{{a, 200}, {bNew, 200}, {bOld, 200}, {"secret-of-no-app-at-all-0", 401}} {
			body := payload("queued", int64(100+i), "acme/web", "self-hosted", "linux")
			if got, out := e.send(delivery{event: "workflow_job", guid: "apps-" + tc.key, sig256: sign(body, tc.key), body: body}); got != tc.want {
				t.Errorf("signed with %s: status %d (%v), want %d", tc.key, got, out, tc.want)
			}
		}
		for app, want := range map[string]float64{"11": 1, "12": 2} {
			if got := appDeliveries(t, reg, app); got != want {
				t.Errorf("deliveries of app %s = %v, want %v", app, got, want)
			}
		}
		out := logs.String()
		if !strings.Contains(out, `"delivery_id":"apps-`+a+`"`) || !strings.Contains(out, `"app_id":11`) || !strings.Contains(out, `"app_id":12`) {
			t.Errorf("logs do not name the Apps:\n%s", out)
		}
		for _, s := range []string{a, bNew, bOld} {
			if strings.Contains(strings.ReplaceAll(out, `"apps-`+s+`"`, ""), s) {
				t.Errorf("a webhook secret reached the log")
			}
		}
	})
}

// appDeliveries returns the value of garo_webhook_app_deliveries_total{app_id=app}.
func appDeliveries(t *testing.T, reg *prometheus.Registry, app string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "garo_webhook_app_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == app {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestMatchSaysWhichSecret(t *testing.T) {
	t.Parallel()
	body := []byte(`{"zen":"x"}`)
	secrets := [][]byte{[]byte("one-secret-0123456"), []byte("two-secret-0123456")}
	if i, err := webhook.Match(webhook.Sign(body, secrets[1]), body, secrets); err != nil || i != 1 {
		t.Errorf("Match = %d, %v; want 1", i, err)
	}
	if i, err := webhook.Match(webhook.Sign(body, []byte("three")), body, secrets); err == nil || i != -1 {
		t.Errorf("Match of a foreign signature = %d, %v", i, err)
	}
}
