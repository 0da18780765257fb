package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/server/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const secret = "webhook-secret-0123456789"

type env struct {
	t   testing.TB
	st  *store.Store
	url string
}

func newEnv(t *testing.T, b testdb.Backend, secrets ...string) *env {
	t.Helper()
	e := serve(t, b, secrets...)
	e.t = t
	return e
}

// newBenchEnv is newEnv for benchmarks.
func newBenchEnv(b *testing.B, be testdb.Backend) *env { return serve(b, be) }

func serve(t testing.TB, b testdb.Backend, secrets ...string) *env {
	t.Helper()
	st := testdb.Open(t, b)
	if secrets == nil {
		secrets = []string{secret}
	}
	var raw [][]byte
	for _, s := range secrets {
		raw = append(raw, []byte(s))
	}
	h := webhook.NewHandler(webhook.Config{Secrets: raw, MaxBody: 64 << 10}, jobs.NewService(st, testkit.Discard(), nil), st, testkit.Discard(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// Policies of acme/web: a plain Linux one and a GPU one.
	for _, p := range []struct {
		name   string
		labels []string
	}{{"linux", []string{"linux"}}, {"gpu", []string{"linux", "gpu"}}} {
		err := st.CreatePolicy(t.Context(), &store.Policy{
			ID: "policy-" + p.name, Owner: "acme", Repo: "web", OwnerKey: "acme", RepoKey: "acme/web", Name: p.name,
			Labels: p.labels, MaxRunners: 5, Ephemeral: true, AgentGroup: "default", Enabled: true, Provider: "docker",
			RunnerSpec: store.JSONText(`{"image":"x"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, st: st, url: srv.URL}
}

// payload builds a workflow_job delivery body as GitHub sends it.
func payload(action string, jobID int64, repo string, labels ...string) []byte {
	owner, name, _ := strings.Cut(repo, "/")
	p := map[string]any{
		"action": action,
		"workflow_job": map[string]any{
			"id": jobID, "run_id": jobID * 10, "name": "build", "workflow_name": "CI", "labels": labels,
			"status": action, "html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", repo, jobID*10, jobID),
			"created_at": "2026-11-23T10:00:00Z", "runner_name": nil, "runner_id": nil,
		},
		"repository":   map[string]any{"id": 1, "name": name, "full_name": repo, "owner": map[string]any{"login": owner}},
		"installation": map[string]any{"id": 7},
	}
	if action == "in_progress" || action == "completed" {
		wj := p["workflow_job"].(map[string]any)
		wj["runner_name"], wj["runner_id"] = "garo-r1", 42
		if action == "completed" {
			wj["conclusion"] = "success"
		}
	}
	b, _ := json.Marshal(p)
	return b
}

func sign(body []byte, key string) string { return webhook.Sign(body, []byte(key)) }

type delivery struct {
	event, guid, sig256, sig1 string
	body                      []byte
}

func (e *env) send(d delivery) (int, map[string]any) {
	e.t.Helper()
	resp, out := e.post(d)
	return resp.StatusCode, out
}

// post is send with the whole answer (its body already read).
func (e *env) post(d delivery) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.url, bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid, "X-Hub-Signature-256": d.sig256, "X-Hub-Signature": d.sig1} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// job sends a correctly signed workflow_job delivery.
func (e *env) job(guid, action string, jobID int64, labels ...string) (int, map[string]any) {
	body := payload(action, jobID, "acme/web", labels...)
	return e.send(delivery{event: "workflow_job", guid: guid, sig256: sign(body, secret), body: body})
}

func TestSignatures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b, secret, "previous-secret-0123456789")
		body := payload("queued", 1, "acme/web", "self-hosted", "linux")
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(body)
		sha1Sig := "sha1=" + hex.EncodeToString(mac.Sum(nil))
		tampered := bytes.Replace(body, []byte(`"linux"`), []byte(`"gpu!!"`), 1)
		for _, tc := range []struct {
			name string
			d    delivery
			want int
		}{
			{"missing", delivery{event: "workflow_job", guid: "g1", body: body}, 401},
			{"wrong secret", delivery{event: "workflow_job", guid: "g2", sig256: sign(body, "another-secret-0000000"), body: body}, 401},
			{"sha1 only", delivery{event: "workflow_job", guid: "g3", sig1: sha1Sig, body: body}, 401},
			{"body tampered", delivery{event: "workflow_job", guid: "g4", sig256: sign(body, secret), body: tampered}, 401},
			{"not hex", delivery{event: "workflow_job", guid: "g5", sig256: "sha256=zz", body: body}, 401},
			{"no prefix", delivery{event: "workflow_job", guid: "g6", sig256: strings.TrimPrefix(sign(body, secret), "sha256="), body: body}, 401},
			{"previous secret during rotation", delivery{event: "workflow_job", guid: "g7", sig256: sign(body, "previous-secret-0123456789"), sig1: sha1Sig, body: body}, 200},
		} {
			if got, out := e.send(tc.d); got != tc.want {
				t.Errorf("%s: status %d (%v), want %d", tc.name, got, out, tc.want)
			}
		}
		// Only the accepted delivery reached the log.
		if j, err := e.st.GetJob(t.Context(), 1, false); err != nil || j.State != portalapi.JobQueued {
			t.Fatalf("job after the signed delivery = %+v, %v", j, err)
		}
		if _, err := e.st.GetDelivery(t.Context(), "g4"); err == nil {
			t.Fatal("a refused delivery was recorded")
		}
	})
}

func TestOtherEventsAndBadRequests(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
		if got, out := e.send(delivery{event: "ping", guid: "p1", sig256: sign(ping, secret), body: ping}); got != 200 || out["status"] != "pong" {
			t.Fatalf("ping = %d %v", got, out)
		}
		push := []byte(`{"ref":"refs/heads/main"}`)
		if got, out := e.send(delivery{event: "push", guid: "p2", sig256: sign(push, secret), body: push}); got != 200 || out["status"] != "ignored" {
			t.Fatalf("push = %d %v", got, out)
		}
		body := payload("queued", 1, "acme/web", "linux")
		if got, _ := e.send(delivery{event: "workflow_job", sig256: sign(body, secret), body: body}); got != 400 {
			t.Fatalf("no delivery id = %d", got)
		}
		junk := []byte(`{"action":"queued","workflow_job":`)
		if got, _ := e.send(delivery{event: "workflow_job", guid: "p3", sig256: sign(junk, secret), body: junk}); got != 400 {
			t.Fatalf("broken JSON = %d", got)
		}
		big := append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 70<<10)...), []byte(`"}`)...)
		if got, _ := e.send(delivery{event: "workflow_job", guid: "p4", sig256: sign(big, secret), body: big}); got != 413 {
			t.Fatalf("too large = %d", got)
		}
		unknown := bytes.Replace(body, []byte(`"action":"queued"`), []byte(`"action":"exploded"`), 1)
		if got, out := e.send(delivery{event: "workflow_job", guid: "p5", sig256: sign(unknown, secret), body: unknown}); got != 200 || out["status"] != "ignored" {
			t.Fatalf("unknown action = %d %v", got, out)
		}
		unconfigured := httptest.NewServer(webhook.NewHandler(webhook.Config{}, nil, e.st, testkit.Discard(), nil))
		defer unconfigured.Close()
		resp, err := http.Post(unconfigured.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Fatalf("no secret configured = %d", resp.StatusCode)
		}
	})
}

func TestDuplicatesAndOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		if got, out := e.job("d1", "queued", 7, "self-hosted", "Linux"); got != 200 || out["status"] != "processed" || out["state"] != "queued" {
			t.Fatalf("queued = %d %v", got, out)
		}
		first, _ := e.st.GetJob(ctx, 7, false)
		// A redelivery (same GUID) changes nothing and still gets 2xx.
		if got, out := e.job("d1", "queued", 7, "self-hosted", "Linux"); got != 200 || out["status"] != "duplicate" {
			t.Fatalf("redelivery = %d %v", got, out)
		}
		again, _ := e.st.GetJob(ctx, 7, false)
		if !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatal("a redelivery changed the job")
		}
		// completed arrives before in_progress; then a late queued: never backwards.
		for _, step := range []struct{ guid, action, outcome string }{
			{"d2", "completed", "processed"}, {"d3", "in_progress", "stale"}, {"d4", "queued", "stale"},
		} {
			if got, out := e.job(step.guid, step.action, 7, "self-hosted", "linux"); got != 200 || out["status"] != step.outcome {
				t.Fatalf("%s = %d %v, want %s", step.action, got, out, step.outcome)
			}
		}
		j, _ := e.st.GetJob(ctx, 7, false)
		if j.State != portalapi.JobCompleted || j.GitHubStatus != "completed" || j.Conclusion != "success" || j.CompletedAt == nil || j.RunnerName != "garo-r1" {
			t.Fatalf("job after out-of-order events = %+v", j)
		}
		if j.PolicyName != "linux" || j.MatchedAt == nil || j.ReceivedAt.IsZero() || j.GitHubCreatedAt == nil {
			t.Fatalf("match and timeline = policy %q matched %v", j.PolicyName, j.MatchedAt)
		}
		// A completed event for a job never seen creates it completed.
		if got, out := e.job("d5", "completed", 8, "linux", "gpu"); got != 200 || out["state"] != "completed" {
			t.Fatalf("completed first = %d %v", got, out)
		}
		if j, _ := e.st.GetJob(ctx, 8, false); j.PolicyName != "gpu" {
			t.Fatalf("job 8 policy = %q, want gpu", j.PolicyName)
		}
	})
}

func TestUnmatchedJobsAreKept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		if got, out := e.job("u1", "queued", 9, "self-hosted", "windows"); got != 200 || out["state"] != "unmatched" {
			t.Fatalf("windows job = %d %v", got, out)
		}
		body := payload("queued", 10, "other/repo", "self-hosted")
		if got, out := e.send(delivery{event: "workflow_job", guid: "u2", sig256: sign(body, secret), body: body}); got != 200 || out["state"] != "unmatched" {
			t.Fatalf("repository without policy = %d %v", got, out)
		}
		list, _, err := e.st.ListJobs(ctx, store.JobFilter{State: portalapi.JobUnmatched})
		if err != nil || len(list) != 2 {
			t.Fatalf("unmatched jobs = %d, %v", len(list), err)
		}
		for _, j := range list {
			if j.UnmatchedReason == "" {
				t.Errorf("job %d has no unmatched reason", j.ID)
			}
		}
		// When it runs elsewhere, the log still follows it.
		e.job("u3", "in_progress", 9, "self-hosted", "windows")
		if j, _ := e.st.GetJob(ctx, 9, false); j.State != portalapi.JobInProgress || j.InProgressAt == nil {
			t.Fatalf("unmatched job in progress = %+v", j)
		}
	})
}

// TestConcurrentDeliveries sends 200 deliveries for one repository at once: 100 new jobs,
// each queued then in_progress, in any order. Every one must be answered 200 and be in the
// log, with no job moved backwards.
func TestConcurrentDeliveries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		const jobsN = 100
		var wg sync.WaitGroup
		errs := make(chan string, 2*jobsN)
		for i := range 2 * jobsN {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := int64(1000 + i%jobsN)
				action := "queued"
				if i >= jobsN {
					action = "in_progress"
				}
				if got, out := e.job(fmt.Sprintf("c-%d", i), action, id, "self-hosted", "linux"); got != 200 {
					errs <- fmt.Sprintf("delivery %d: %d %v", i, got, out)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for msg := range errs {
			t.Error(msg)
		}
		list, more, err := e.st.ListJobs(t.Context(), store.JobFilter{RepoKey: "acme/web", Limit: 500})
		if err != nil || more || len(list) != jobsN {
			t.Fatalf("jobs in the log = %d (more %v), %v; want %d", len(list), more, err, jobsN)
		}
		for _, j := range list {
			if j.State != portalapi.JobInProgress {
				t.Errorf("job %d ended %s, want in_progress", j.ID, j.State)
			}
		}
	})
}

// TestNothingWrittenWhenTheDatabaseFails: a delivery that cannot be committed is not
// answered 2xx, so GitHub (and the catch-up loop) sees it failed.
func TestNothingWrittenWhenTheDatabaseFails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		if err := e.st.Close(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if got, out := e.job("x1", "queued", 11, "linux"); got != http.StatusServiceUnavailable {
			t.Fatalf("delivery with the database closed = %d %v (after %v)", got, out, time.Since(start))
		}
	})
}

// countingBody is a request body that counts what the handler read of it: an endless
// stream, as an attacker would send.
type countingBody struct{ read atomic.Int64 }

func (b *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	b.read.Add(int64(len(p)))
	return len(p), nil
}

func (b *countingBody) Close() error { return nil }

// A delivery that cannot be GitHub's by its headers (no X-Hub-Signature-256, or one of the
// wrong form), or that announces a body above the limit, is refused before the handler
// reads any of its body; the 401 says exactly what is missing.
func TestRefusedBeforeTheBodyIsRead(t *testing.T) {
	t.Parallel()
	h := webhook.NewHandler(webhook.Config{Secrets: [][]byte{[]byte(secret)}, MaxBody: 64 << 10}, nil, nil, testkit.Discard(), nil)
	valid := "sha256=" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name         string
		sig256, sig1 string
		length       int64
		status       int
		message      string
		messageLacks string
	}{
		{name: "no signature", status: 401, message: "missing X-Hub-Signature-256 header", messageLacks: "SHA-1"},
		{name: "SHA-1 only", sig1: "sha1=" + strings.Repeat("ab", 20), status: 401,
			message: "missing X-Hub-Signature-256 header: only X-Hub-Signature (SHA-1) was sent, which is not accepted"},
		{name: "no prefix", sig256: strings.Repeat("ab", 32), status: 401, message: `X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits`},
		{name: "short", sig256: "sha256=abcd", status: 401, message: `X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits`},
		{name: "not hex", sig256: "sha256=" + strings.Repeat("zz", 32), status: 401, message: `X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits`},
		{name: "too long", sig256: valid + "ab", status: 401, message: `X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits`},
		{name: "announced too large", sig256: valid, length: 25 << 20, status: 413, message: "webhook body is larger than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := &countingBody{}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/webhooks/github", body)
			req.ContentLength = tc.length
			if tc.length == 0 {
				req.ContentLength = -1 // unknown: chunked
			}
			req.Header.Set("X-GitHub-Event", "workflow_job")
			req.Header.Set("X-GitHub-Delivery", "d-"+tc.name)
			if tc.sig256 != "" {
				req.Header.Set("X-Hub-Signature-256", tc.sig256)
			}
			if tc.sig1 != "" {
				req.Header.Set("X-Hub-Signature", tc.sig1)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var out struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if rec.Code != tc.status || out.Error.Message != tc.message {
				t.Errorf("answer %d %q, want %d %q", rec.Code, out.Error.Message, tc.status, tc.message)
			}
			if tc.messageLacks != "" && strings.Contains(out.Error.Message, tc.messageLacks) {
				t.Errorf("message %q mentions %s, which was not sent", out.Error.Message, tc.messageLacks)
			}
			if n := body.read.Load(); n != 0 {
				t.Errorf("the handler read %d bytes of the body before refusing it", n)
			}
		})
	}
}

// TestSessionsEndedByARestartAnswer503: a PostgreSQL restart that is over before a ping
// could tell (its sessions ended with SQLSTATE 57P01, the server already back) answers the
// delivery 503 with Retry-After, not 500, by the error itself; GitHub's redelivery of the
// same delivery is then recorded once (issue 14, finding 4).
func TestSessionsEndedByARestartAnswer503(t *testing.T) {
	b := testdb.Postgres(t)
	e := newEnv(t, b)
	if got, out := e.job("r0", "queued", 20, "self-hosted", "linux"); got != http.StatusOK {
		t.Fatalf("delivery before: %d %v", got, out)
	}
	admin, err := pgx.Connect(t.Context(), b.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(t.Context()) }()
	// Every session of the handler's pool, as `pg_ctl restart -m fast` ends them.
	if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	body := payload("queued", 21, "acme/web", "self-hosted", "linux")
	d := delivery{event: "workflow_job", guid: "r1", sig256: sign(body, secret), body: body}
	resp, out := e.post(d)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("delivery on ended sessions: %d (Retry-After %q), want 503 with Retry-After (%v)", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
	if got, out := e.send(d); got != http.StatusOK || out["status"] != "processed" {
		t.Fatalf("the redelivery: %d %v, want 200 processed", got, out)
	}
}
