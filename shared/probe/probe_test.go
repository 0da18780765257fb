package probe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/shared/probe"
)

func TestLocalURL(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		"[::]:9102":      "http://127.0.0.1:9102/healthz",
		"127.0.0.1:9102": "http://127.0.0.1:9102/healthz",
		"10.0.0.5:9102":  "http://10.0.0.5:9102/healthz",
		"[::1]:9102":     "http://[::1]:9102/healthz",
	} {
		if got, err := probe.LocalURL(listen, "/healthz"); err != nil || got != want {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := probe.LocalURL("8080", "/healthz"); err == nil {
		t.Error("a listen address without a port was accepted")
	}
}

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, `{"status":"revoked"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := probe.Get(ctx, srv.URL+"/healthz", time.Second); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := probe.Get(ctx, srv.URL+"/down", time.Second); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("unhealthy: %v, want the status and the body", err)
	}
	srv.Close()
	if err := probe.Get(ctx, srv.URL+"/healthz", time.Second); err == nil {
		t.Error("a closed server passed")
	}
}
