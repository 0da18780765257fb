package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// Intervals of the agent tests; liveness and leases follow the fake clock.
const (
	testHeartbeat = 5 * time.Second
	testLongPoll  = 20 * time.Second
	testOffline   = time.Minute
)

// agentEnv is an API server whose agent service runs on a fake clock, with the portal
// env (spec-checked) on the same server.
type agentEnv struct {
	*env
	svc   *agents.Service
	clock *testkit.Clock
	logs  *testkit.Buffer // everything the server logs, to check that no secret is among it
}

// agentOptions are the parts of an agentEnv a test may choose.
type agentOptions struct {
	minter   agents.RunnerMinter
	notifier notify.Notifier
	store    *store.Store // a store to share (a second replica); nil opens a fresh one
	clock    *testkit.Clock
}

func newAgentEnv(t *testing.T, b testdb.Backend, o agentOptions) *agentEnv {
	t.Helper()
	st := o.store
	if st == nil {
		st = openStore(t, b)
	}
	clk := o.clock
	if clk == nil {
		clk = testkit.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	}
	log, logs := testkit.TextLogs()
	var minter agents.RunnerMinter
	if o.minter != nil {
		minter = o.minter
	}
	svc := agents.New(st, agents.Config{
		Heartbeat: testHeartbeat, LongPoll: testLongPoll, Offline: testOffline, Now: clk.Now,
		GitHubURL: "https://github.example.com",
	}, o.notifier, minter, log, nil)
	url := startAPI(t, api.Deps{Store: st, Log: log, Agents: svc})
	return &agentEnv{env: envOn(t, url, st), svc: svc, clock: clk, logs: logs}
}

// registrationToken creates a registration token of group through the portal API.
func (e *agentEnv) registrationToken(group string, uses int) string {
	e.t.Helper()
	tok, err := e.admin.CreateRegistrationToken(e.t.Context(), group, portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.Token
}

// agentClient speaks the agent protocol to one server, as garo-agent would.
type agentClient struct {
	t    testing.TB
	url  string
	cred string
	id   string
}

// answer is a response of the agent protocol with its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorCode decodes the one error body of an error answer.
func (a answer) errorCode() string {
	var eb portalapi.ErrorBody
	if json.Unmarshal(a.body, &eb) != nil {
		return ""
	}
	return eb.Error.Code
}

// register joins the server with a registration token.
func (e *agentEnv) register(token, name string) *agentClient {
	e.t.Helper()
	c := &agentClient{t: e.t, url: e.url}
	ans := c.do(http.MethodPost, "/register", protocol.RegisterRequest{Token: token, Name: name, Version: "test", Provider: "memory"})
	if ans.status != http.StatusCreated {
		e.t.Fatalf("register = %d %s", ans.status, ans.body)
	}
	var r protocol.RegisterResponse
	if err := json.Unmarshal(ans.body, &r); err != nil {
		e.t.Fatal(err)
	}
	c.cred, c.id = r.Credential, r.AgentID
	return c
}

// on returns the same agent talking to the server at url.
func (c *agentClient) on(url string) *agentClient {
	return &agentClient{t: c.t, url: url, cred: c.cred, id: c.id}
}

// do sends one protocol request. Every error answer must carry the one error body, and a
// 401 its challenge.
func (c *agentClient) do(method, path string, body any, headers ...string) answer {
	c.t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.url+protocol.PathPrefix+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cred != "" {
		req.Header.Set("Authorization", "Bearer "+c.cred)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	ans := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if ans.status >= 400 {
		var eb portalapi.ErrorBody
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			c.t.Errorf("%s %s: %d answer is not the one error body: %s", method, path, ans.status, b)
		}
		if ans.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Bearer realm="garo"` {
			c.t.Errorf("%s %s: 401 without its challenge", method, path)
		}
	}
	return ans
}

// must sends a request and fails the test unless the answer has status want; it decodes
// the body into out (when not nil).
func (c *agentClient) must(want int, method, path string, body, out any) answer {
	c.t.Helper()
	ans := c.do(method, path, body)
	if ans.status != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, ans.status, ans.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(ans.body, out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return ans
}

func (c *agentClient) heartbeat(req protocol.HeartbeatRequest) {
	c.t.Helper()
	c.must(http.StatusOK, http.MethodPost, "/heartbeat", req, nil)
}

// config polls the config: without have it answers at once.
func (c *agentClient) config(have, wait string) (answer, protocol.Config) {
	c.t.Helper()
	return c.poll("/config", have, wait)
}

func (c *agentClient) jobs(have, wait string) (answer, protocol.JobsSnapshot) {
	c.t.Helper()
	var s protocol.JobsSnapshot
	ans := c.pollInto("/jobs", have, wait, &s)
	return ans, s
}

func (c *agentClient) poll(path, have, wait string) (answer, protocol.Config) {
	c.t.Helper()
	var cfg protocol.Config
	ans := c.pollInto(path, have, wait, &cfg)
	return ans, cfg
}

func (c *agentClient) pollInto(path, have, wait string, out any) answer {
	c.t.Helper()
	q := ""
	if wait != "" {
		q = "?wait=" + wait
	}
	var headers []string
	if have != "" {
		headers = []string{"If-None-Match", `"` + have + `"`}
	}
	ans := c.do(http.MethodGet, path+q, nil, headers...)
	if ans.status == http.StatusOK {
		if err := json.Unmarshal(ans.body, out); err != nil {
			c.t.Fatalf("GET %s: decode: %v", path, err)
		}
		if etag := ans.header.Get("ETag"); !strings.HasPrefix(etag, `"`) {
			c.t.Errorf("GET %s: ETag %q", path, etag)
		}
	}
	return ans
}

// heldPolls waits until svc holds n polls of kind (see server/agents' tests).
func heldPolls(t testing.TB, svc *agents.Service, kind string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for svc.Waiting(kind) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s polls held, want %d", svc.Waiting(kind), kind, n)
		}
		time.Sleep(time.Millisecond)
	}
}
