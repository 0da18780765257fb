package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// BenchmarkWebhookDeliveries posts signed workflow_job deliveries (each a new job, matched
// to a policy and committed before the answer) from 16 concurrent senders over loopback
// HTTP, and reports deliveries per second, the p50/p99 answer time and the CPU time of
// the process (server and senders) per delivery.
// Run: go test -run '^$' -bench WebhookDeliveries -benchtime 3000x ./server/webhook/
func BenchmarkWebhookDeliveries(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		e := newBenchEnv(b, be)
		var next atomic.Int64
		var mu sync.Mutex
		var latencies []time.Duration
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.SetParallelism(8) // 8 x GOMAXPROCS(2) = 16 senders
		b.ResetTimer()
		cpu := testkit.StartCPU()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				id := next.Add(1)
				body := payload("queued", id, "acme/web", "self-hosted", "linux")
				req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
				req.Header.Set("X-GitHub-Event", "workflow_job")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", id))
				req.Header.Set("X-Hub-Signature-256", sign(body, secret))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body) // drained: the connection is reused
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Errorf("delivery %d: status %d", id, resp.StatusCode)
					return
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		cpu.Report(b) // server and senders; PostgreSQL's backends are other processes
		b.StopTimer()
		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		if n := len(latencies); n > 0 {
			b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
		}
	})
}
