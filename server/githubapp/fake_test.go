package githubapp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"

	"github.com/garo-dev/garo/internal/testkit"
)

// This file holds a small fake of the GitHub endpoints the client calls, for tests that
// need precise control over answers. Tests against githubsim live in sim_test.go.

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
	testPEM []byte
)

// appKey returns an RSA key and its PEM, generated once per test binary.
func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
		testPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	})
	return testKey, testPEM
}

const testAppID = 4242

// newFakeClock returns the injectable clock of the fake's tests; its After advances the
// clock by the wait and fires at once, recording every wait.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

type fakeRequest struct {
	Method, Path, Auth, Host string
	Body                     string
}

// fakeFault answers matching requests with Status (and Header, Body) Times times.
type fakeFault struct {
	Method   string
	Contains string // substring of the path
	Status   int
	Header   http.Header
	Body     string
	Times    int
}

type fakeRunner struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	OS     string   `json:"os"`
	Status string   `json:"status"`
	Busy   bool     `json:"busy"`
	Labels []string `json:"-"`
}

type fakeGitHub struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // "" or "/api/v3"
	pub    *rsa.PublicKey

	mu            sync.Mutex
	installations map[string]int64 // "owner/repo" → installation id
	tokenTTL      time.Duration    // lifetime of minted installation tokens (real clock)
	tokens        map[string]int64 // token → installation id
	minted        int
	pat           string
	requests      []fakeRequest
	faults        []*fakeFault
	rateHeaders   http.Header // added to every answer
	runners       map[string][]fakeRunner
	nextRunner    int64
	jitConfigs    []string
	regTokens     []string
	runs          map[string][]int64 // repo → run ids (newest first)
	runStatus     map[int64]string   // run id → queued or in_progress
	jobs          map[int64][]map[string]any
	deliveries    []map[string]any // newest first
	redelivered   []int64
}

func newFakeGitHub(t *testing.T, prefix string) *fakeGitHub {
	t.Helper()
	key, _ := appKey(t)
	f := &fakeGitHub{
		t: t, prefix: prefix, pub: &key.PublicKey,
		installations: map[string]int64{},
		tokenTTL:      time.Hour,
		tokens:        map[string]int64{},
		runners:       map[string][]fakeRunner{},
		nextRunner:    100,
		runs:          map[string][]int64{},
		jobs:          map[int64][]map[string]any{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", f.app(f.mintToken))
	mux.HandleFunc("GET /repos/{owner}/{repo}/installation", f.app(f.findInstallation))
	mux.HandleFunc("GET /app/hook/deliveries", f.app(f.listDeliveries))
	mux.HandleFunc("POST /app/hook/deliveries/{id}/attempts", f.app(f.redeliver))
	mux.HandleFunc("POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig", f.repo(f.generateJIT))
	mux.HandleFunc("POST /repos/{owner}/{repo}/actions/runners/registration-token", f.repo(f.registrationToken))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/runners", f.repo(f.listRunners))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/runners/{id}", f.repo(f.getRunner))
	mux.HandleFunc("DELETE /repos/{owner}/{repo}/actions/runners/{id}", f.repo(f.removeRunner))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/jobs/{id}", f.repo(f.getJob))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/runs", f.repo(f.listRuns))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/runs/{id}/jobs", f.repo(f.listJobs))
	var h http.Handler = mux
	if prefix != "" {
		h = http.StripPrefix(prefix, mux)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Host: r.Host, Body: string(body)})
		for k, v := range f.rateHeaders {
			w.Header()[k] = v
		}
		var fault *fakeFault
		for _, ft := range f.faults {
			if ft.Times > 0 && (ft.Method == "" || ft.Method == r.Method) && strings.Contains(r.URL.Path, ft.Contains) {
				ft.Times--
				fault = ft
				break
			}
		}
		f.mu.Unlock()
		if fault != nil {
			for k, v := range fault.Header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fault.Status)
			_, _ = io.WriteString(w, fault.Body)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.URL.Path = strings.ToLower(r.URL.Path) // GitHub's owner and repository names are case-insensitive
		r.URL.RawPath = ""
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the API root to configure.
func (f *fakeGitHub) URL() string { return f.srv.URL + f.prefix + "/" }

func (f *fakeGitHub) install(repo string, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installations[repo] = id
}

func (f *fakeGitHub) fault(ft fakeFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &ft)
}

func (f *fakeGitHub) setRateHeaders(limit, remaining int, reset time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateHeaders = http.Header{
		"X-Ratelimit-Limit":     {strconv.Itoa(limit)},
		"X-Ratelimit-Remaining": {strconv.Itoa(remaining)},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
		"X-Ratelimit-Resource":  {"core"},
	}
}

func (f *fakeGitHub) addRunner(repo string, r fakeRunner) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runners[repo] = append(f.runners[repo], r)
}

func (f *fakeGitHub) Requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// count returns how many recorded requests have method and a path containing part.
func (f *fakeGitHub) count(method, part string) int {
	n := 0
	for _, r := range f.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, part) {
			n++
		}
	}
	return n
}

func (f *fakeGitHub) Minted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minted
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ghError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// app wraps a handler that needs the App's JWT.
func (f *fakeGitHub) app(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			ghError(w, 401, "A JSON web token could not be decoded")
			return
		}
		claims := &jwt.RegisteredClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
			if _, ok := tok.Method.(*jwt.SigningMethodRSA); !ok {
				return nil, fmt.Errorf("unexpected method %v", tok.Header["alg"])
			}
			return f.pub, nil
		})
		if err != nil || claims.Issuer != strconv.Itoa(testAppID) {
			ghError(w, 401, "'Issuer' claim ('iss') must be an Integer")
			return
		}
		h(w, r)
	}
}

// repo wraps a handler that needs an installation token for the repository, or the PAT.
func (f *fakeGitHub) repo(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		full := r.PathValue("owner") + "/" + r.PathValue("repo")
		auth := r.Header.Get("Authorization")
		f.mu.Lock()
		pat, inst := f.pat, f.installations[full]
		var tokInst int64 = -1
		if tok, ok := strings.CutPrefix(auth, "token "); ok {
			if id, ok := f.tokens[tok]; ok {
				tokInst = id
			}
		}
		f.mu.Unlock()
		switch {
		case pat != "" && auth == "Bearer "+pat:
		case tokInst == -1:
			ghError(w, 401, "Bad credentials")
			return
		case tokInst != inst:
			ghError(w, 404, "Not Found")
			return
		}
		h(w, r)
	}
}

func (f *fakeGitHub) mintToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	known := false
	for _, v := range f.installations {
		known = known || v == id
	}
	if !known {
		f.mu.Unlock()
		ghError(w, 404, "Not Found")
		return
	}
	f.minted++
	tok := fmt.Sprintf("ghs_faketoken%06d", f.minted)
	f.tokens[tok] = id
	ttl := f.tokenTTL
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"token": tok, "expires_at": time.Now().Add(ttl).UTC().Format(time.RFC3339)})
}

func (f *fakeGitHub) findInstallation(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	id, ok := f.installations[full]
	f.mu.Unlock()
	if !ok {
		ghError(w, 404, "Not Found")
		return
	}
	writeJSON(w, 200, map[string]any{"id": id, "app_id": testAppID})
}

func (f *fakeGitHub) generateJIT(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name          string   `json:"name"`
		RunnerGroupID int64    `json:"runner_group_id"`
		WorkFolder    string   `json:"work_folder"`
		Labels        []string `json:"labels"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || len(req.Labels) == 0 || req.RunnerGroupID == 0 || req.WorkFolder == "" {
		ghError(w, 422, "Invalid request")
		return
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	for _, rn := range f.runners[full] {
		if rn.Name == req.Name {
			f.mu.Unlock()
			ghError(w, 409, "Already exists - A runner with the name "+req.Name+" already exists.")
			return
		}
	}
	f.nextRunner++
	rn := fakeRunner{ID: f.nextRunner, Name: req.Name, OS: "linux", Status: "offline", Labels: req.Labels}
	f.runners[full] = append(f.runners[full], rn)
	cfg := fmt.Sprintf("eyJGQUtFLUpJVCI6%dc2VjcmV0", rn.ID)
	f.jitConfigs = append(f.jitConfigs, cfg)
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"runner": runnerJSON(rn), "encoded_jit_config": cfg})
}

func runnerJSON(rn fakeRunner) map[string]any {
	var labels []map[string]any
	for i, l := range rn.Labels {
		labels = append(labels, map[string]any{"id": i + 1, "name": l, "type": "custom"})
	}
	return map[string]any{"id": rn.ID, "name": rn.Name, "os": rn.OS, "status": rn.Status, "busy": rn.Busy, "labels": labels}
}

func (f *fakeGitHub) registrationToken(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	tok := fmt.Sprintf("AREGTOKEN%04dSECRET", len(f.regTokens)+1)
	f.regTokens = append(f.regTokens, tok)
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"token": tok, "expires_at": "2030-01-02T04:04:05Z"})
}

func (f *fakeGitHub) listRunners(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	all := append([]fakeRunner(nil), f.runners[full]...)
	f.mu.Unlock()
	from, to := f.paginate(w, r, len(all))
	var page []map[string]any
	for _, rn := range all[from:to] {
		page = append(page, runnerJSON(rn))
	}
	writeJSON(w, 200, map[string]any{"total_count": len(all), "runners": page})
}

// paginate sets a Link header like GitHub's and returns the slice bounds of the page.
func (f *fakeGitHub) paginate(w http.ResponseWriter, r *http.Request, total int) (int, int) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	from := min((page-1)*per, total)
	to := min(from+per, total)
	if to < total {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		next := url.URL{Scheme: "http", Host: r.Host, Path: f.prefix + r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
	}
	return from, to
}

func (f *fakeGitHub) findRunner(full, idText string) (int, bool) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	for i, rn := range f.runners[full] {
		if rn.ID == id {
			return i, true
		}
	}
	return 0, false
}

func (f *fakeGitHub) getRunner(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	i, ok := f.findRunner(full, r.PathValue("id"))
	var rn fakeRunner
	if ok {
		rn = f.runners[full][i]
	}
	f.mu.Unlock()
	if !ok {
		ghError(w, 404, "Not Found")
		return
	}
	writeJSON(w, 200, runnerJSON(rn))
}

func (f *fakeGitHub) removeRunner(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.findRunner(full, r.PathValue("id"))
	switch {
	case !ok:
		ghError(w, 404, "Not Found")
	case f.runners[full][i].Busy:
		ghError(w, 422, "Bad request - Runner \""+f.runners[full][i].Name+"\" is still running a job\"")
	default:
		f.runners[full] = append(f.runners[full][:i], f.runners[full][i+1:]...)
		w.WriteHeader(204)
	}
}

func (f *fakeGitHub) addRun(repo string, runID int64, status string, jobs ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runStatus == nil {
		f.runStatus = map[int64]string{}
	}
	f.runStatus[runID] = status
	f.runs[repo] = append(f.runs[repo], runID)
	f.jobs[runID] = jobs
}

func (f *fakeGitHub) getJob(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, jobs := range f.jobs {
		for _, j := range jobs {
			if j["id"] == id {
				writeJSON(w, 200, j)
				return
			}
		}
	}
	ghError(w, 404, "Not Found")
}

func (f *fakeGitHub) listRuns(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "queued" && status != "in_progress" {
		ghError(w, 422, "want status=queued or in_progress in this fake")
		return
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	f.mu.Lock()
	var all []int64
	for _, id := range f.runs[full] {
		if f.runStatus[id] == status {
			all = append(all, id)
		}
	}
	f.mu.Unlock()
	from, to := f.paginate(w, r, len(all))
	var page []map[string]any
	for _, id := range all[from:to] {
		page = append(page, map[string]any{"id": id, "status": status})
	}
	writeJSON(w, 200, map[string]any{"total_count": len(all), "workflow_runs": page})
}

func (f *fakeGitHub) listJobs(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	all := append([]map[string]any(nil), f.jobs[id]...)
	f.mu.Unlock()
	from, to := f.paginate(w, r, len(all))
	writeJSON(w, 200, map[string]any{"total_count": len(all), "jobs": all[from:to]})
}

func (f *fakeGitHub) listDeliveries(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	all := append([]map[string]any(nil), f.deliveries...)
	f.mu.Unlock()
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	from, _ := strconv.Atoi(r.URL.Query().Get("cursor")) // the fake's cursor is an offset
	from = min(from, len(all))
	to := min(from+per, len(all))
	if to < len(all) {
		next := url.URL{Scheme: "http", Host: r.Host, Path: f.prefix + r.URL.Path, RawQuery: fmt.Sprintf("per_page=%d&cursor=%d", per, to)}
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
	}
	writeJSON(w, 200, all[from:to])
}

func (f *fakeGitHub) redeliver(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deliveries {
		if d["id"] == id {
			f.redelivered = append(f.redelivered, id)
			writeJSON(w, 202, map[string]any{})
			return
		}
	}
	ghError(w, 404, "Not Found")
}

// redirect sends every request to the fake whatever its URL, keeping the path: it lets a
// test configure https://api.github.com/ or a GHES host and still stay on 127.0.0.1.
type redirect struct{ to *url.URL }

func (rd redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Scheme, out.URL.Host = rd.to.Scheme, rd.to.Host
	return http.DefaultTransport.RoundTrip(out)
}
