package chaos

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The proxy passes a request to a replica that is up when the other refuses connections.
func TestProxySkipsARefusingReplica(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(b))
	}))
	defer up.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close() // nothing listens there now
	p := httptest.NewServer(newProxy([]string{down, strings.TrimPrefix(up.URL, "http://")}))
	defer p.Close()
	for range 4 { // both orders of the round robin
		resp, err := http.Post(p.URL+"/x?y=1", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "POST /x?y=1 body" {
			t.Fatalf("through the proxy: %d %q", resp.StatusCode, b)
		}
	}
	all := httptest.NewServer(newProxy([]string{down}))
	defer all.Close()
	resp, err := http.Get(all.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("every replica down: %d, want 502", resp.StatusCode)
	}
}

func TestLogfmtField(t *testing.T) {
	line := `time=2026-12-03T22:55:48.941Z level=INFO msg="runner created" runner=garo-1 xmsg=no`
	for key, want := range map[string]string{"msg": "runner created", "runner": "garo-1", "time": "2026-12-03T22:55:48.941Z", "nope": ""} {
		if got := field(line, key); got != want {
			t.Errorf("field %s = %q, want %q", key, got, want)
		}
	}
}

func TestCheckFailsEachBrokenInvariant(t *testing.T) {
	ok := Report{Jobs: 10, Completed: 10, PeakRunners: 5, MaxRunners: 5}
	if err := ok.Check(); err != nil {
		t.Fatalf("good run: %v", err)
	}
	for name, bad := range map[string]func(*Report){
		"lost":        func(r *Report) { r.Lost = 1 },
		"twice":       func(r *Report) { r.RunTwice = 1 },
		"peak":        func(r *Report) { r.PeakRunners = 6 },
		"container":   func(r *Report) { r.OrphanContainers = 1 },
		"registered":  func(r *Report) { r.OrphanRegistrations = 1 },
		"uncountable": func(r *Report) { r.OrphanRegistrations = -1 },
	} {
		r := ok
		bad(&r)
		if r.Check() == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}
