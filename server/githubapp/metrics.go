package githubapp

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus series, all fed by the rate transport.
type metrics struct {
	remaining   *prometheus.GaugeVec   // garo_github_rate_limit_remaining{credential,resource}
	limit       *prometheus.GaugeVec   // garo_github_rate_limit_limit{resource}
	requests    *prometheus.CounterVec // garo_github_requests_total{status_class}
	rateLimited prometheus.Counter     // garo_github_rate_limited_total
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "garo_github_rate_limit_remaining",
			Help: "Requests left in GitHub's rate-limit window, as last reported by GitHub, per credential (app, or app/<id> with several Apps; pat; installation/<id>) and resource.",
		}, []string{"credential", "resource"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "garo_github_rate_limit_limit",
			Help: "Size of GitHub's rate-limit window, as last reported by GitHub, per credential and resource.",
		}, []string{"credential", "resource"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_github_requests_total",
			Help: "HTTP exchanges with the GitHub API (retries count), by status class: 2xx, 3xx, 4xx, 5xx, or error when no answer came.",
		}, []string{"status_class"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_github_rate_limited_total",
			Help: "Times a GitHub call met a rate limit: a 429 or rate-limit 403 answer, or a request held back because the known budget was spent.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.remaining, m.limit, m.requests, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register github metrics: already registered (one githubapp.Client per registry): %w", err)
			}
			return nil, fmt.Errorf("register github metrics: %w", err)
		}
	}
	return m, nil
}

func statusClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}
