package chaos

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"
)

// proxy is the load balancer in front of the replicas: round robin, and a backend that
// refuses the connection (a replica that is down) is skipped for the next one, as a load
// balancer's health check would soon do. When every backend refuses, the answer is 502.
type proxy struct {
	backends []string // host:port
	next     atomic.Uint64
	client   *http.Client
	// observe, when set, hears of every request a backend answered: when it arrived and
	// the backend's status.
	observe func(r *http.Request, arrived time.Time, status int)
}

func newProxy(backends []string) *proxy {
	return &proxy{backends: backends, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "proxy: read body", http.StatusBadRequest)
		return
	}
	start := p.next.Add(1)
	for i := range p.backends {
		host := p.backends[(start+uint64(i))%uint64(len(p.backends))]
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+host+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, "proxy: bad request", http.StatusBadRequest)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Set("X-Forwarded-For", hostOf(r.RemoteAddr))
		resp, err := p.client.Do(out)
		if err != nil {
			if refused(err) {
				continue // nothing was sent: the next replica may serve it
			}
			http.Error(w, "proxy: backend failed", http.StatusBadGateway)
			return
		}
		if p.observe != nil {
			p.observe(r, arrived, resp.StatusCode)
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		flushCopy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, "proxy: no replica answers", http.StatusBadGateway)
}

// flushCopy copies a (possibly long-polled) answer, flushing as it goes.
func flushCopy(w http.ResponseWriter, r io.Reader) {
	buf := make([]byte, 32<<10)
	f, _ := w.(http.Flusher)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
