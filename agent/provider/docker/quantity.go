package docker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// nanoCPUs reads a Kubernetes-style CPU quantity ("2", "1.5", "500m") as Docker's
// NanoCPUs. Empty is 0: no limit.
func nanoCPUs(q string) (int64, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return 0, nil
	}
	scale := 1e9
	if s, ok := strings.CutSuffix(q, "m"); ok {
		q, scale = s, 1e6
	}
	v, err := strconv.ParseFloat(q, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("cpu %q: want a positive quantity like \"2\" or \"500m\"", q)
	}
	n := v * scale
	if n < 1e6 || n > math.MaxInt64/2 {
		return 0, fmt.Errorf("cpu %q: out of range (at least 1m)", q)
	}
	return int64(math.Round(n)), nil
}

var memorySuffixes = []struct {
	suffix string
	factor float64
}{
	// Binary before decimal: "Mi" must not be read as "M" followed by garbage.
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15},
}

// memoryBytes reads a Kubernetes-style memory quantity ("512Mi", "4Gi", "1G",
// "1048576") as bytes. Empty is 0: no limit. Docker refuses limits under 6 MiB; so do
// we, with a clearer message.
func memoryBytes(q string) (int64, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return 0, nil
	}
	num, factor := q, 1.0
	for _, s := range memorySuffixes {
		if n, ok := strings.CutSuffix(q, s.suffix); ok {
			num, factor = n, s.factor
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("memory %q: want a positive quantity like \"512Mi\" or \"4Gi\"", q)
	}
	b := v * factor
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("memory %q: out of range", q)
	}
	if b < 6<<20 {
		return 0, fmt.Errorf("memory %q: Docker needs at least 6Mi", q)
	}
	return int64(math.Round(b)), nil
}
