package webhook_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/garo-dev/garo/githubsim/githubspec"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// FuzzWebhook sends any delivery (event, delivery id, body, signature, content type) to
// the handler on SQLite: it never panics and never answers 5xx; a delivery without a
// valid signature is always refused 401.
func FuzzWebhook(f *testing.F) {
	e := serve(f, testdb.Backend{Name: "sqlite", Driver: "sqlite", DSN: filepath.Join(f.TempDir(), "garo.db")})
	for _, event := range []string{"workflow_job", "ping"} {
		ex, err := githubspec.Examples(event)
		if err != nil {
			f.Fatal(err)
		}
		for _, body := range ex { // GitHub's own examples (githubspec/data/webhooks-examples)
			f.Add(event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body, uint8(0), "", "application/json")
		}
	}
	for i, action := range []string{"queued", "waiting", "in_progress", "completed"} {
		f.Add("workflow_job", "guid-"+action, payload(action, int64(100+i), "acme/web", "self-hosted", "linux"), uint8(0), "", "application/json")
	}
	f.Add("workflow_job", "g", []byte(`{"action":"queued","workflow_job":{"id":-1,"labels":null}}`), uint8(0), "", "application/json")
	f.Add("workflow_job", "g", []byte(`{"action":"queued"`), uint8(0), "", "application/x-www-form-urlencoded")
	f.Add("push", "", []byte(`{}`), uint8(1), "sha256=00", "")
	f.Add("workflow_job", "g", []byte(`{}`), uint8(2), "", "application/json")
	f.Fuzz(func(t *testing.T, event, guid string, body []byte, sigMode uint8, sig, contentType string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url, bytes.NewReader(body))
		if err != nil {
			return
		}
		set := func(k, v string) {
			if v != "" {
				req.Header[k] = []string{v} // as sent, not canonicalised or checked
			}
		}
		set("Content-Type", contentType)
		set("X-GitHub-Event", event)
		set("X-GitHub-Delivery", guid)
		signed := false
		switch sigMode % 3 {
		case 0:
			set("X-Hub-Signature-256", sign(body, secret))
			signed = true
		case 1:
			set("X-Hub-Signature-256", sig)
			signed = sig == sign(body, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // a header value net/http refuses to send
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("event %q delivery %q body %q: %d", event, guid, body, resp.StatusCode)
		}
		if !signed && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("unsigned delivery (event %q, body %q) answered %d, want 401", event, body, resp.StatusCode)
		}
	})
}
