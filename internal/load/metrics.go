package load

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// githubCalls is what the server's garo_github_requests_total says so far: its HTTP
// exchanges with GitHub's API (the simulator), retries included, read from its /metrics.
func (e *env) githubCalls(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.hub.ServerURL+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("load: metrics: %w", err)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("load: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("load: metrics: status %d", resp.StatusCode)
	}
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "garo_github_requests_total") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("load: metrics: %q: %w", line, err)
		}
		total += v
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("load: metrics: %w", err)
	}
	return total, nil
}
