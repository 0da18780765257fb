package chaos

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
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
		"log":         func(r *Report) { r.LogWrong = 1 },
		"log unread":  func(r *Report) { r.LogWrong = -1 },
	} {
		r := ok
		bad(&r)
		if r.Check() == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}

// With Targets, an outage with capacity to spare is held to the recovery targets; one
// whose backlog was above max_runners fails them as not measurable, not as met.
func TestCheckHoldsTheOutageToItsTargets(t *testing.T) {
	ok := Report{Jobs: 30, Completed: 30, MaxRunners: 30, Targets: true, OutageJobs: 20, OutageWaiting: 25,
		AgentBack: time.Second, OutageWorst: 5 * time.Second, OutageLogged: 2 * time.Second, OutageLogLag: 3 * time.Second}
	if err := ok.Check(); err != nil {
		t.Fatalf("good outage: %v", err)
	}
	for name, bad := range map[string]func(*Report){
		"agent late":     func(r *Report) { r.AgentBack = AgentBackTarget + time.Millisecond },
		"agent never":    func(r *Report) { r.AgentBack = -1 },
		"runner late":    func(r *Report) { r.OutageWorst = RunnerTarget + time.Millisecond },
		"log late":       func(r *Report) { r.OutageLogLag = LogTarget + time.Millisecond },
		"never listed":   func(r *Report) { r.OutageLogged = -1 },
		"no outage":      func(r *Report) { r.OutageJobs = 0 },
		"capacity-bound": func(r *Report) { r.OutageWaiting = 31 },
	} {
		r := ok
		bad(&r)
		if r.Check() == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
	ok.Targets = false
	ok.OutageWorst = time.Hour
	if err := ok.Check(); err != nil {
		t.Fatalf("without Targets the outage's figures are reported, not checked: %v", err)
	}
}

// The log agrees with GitHub on the same status, runner and conclusion, or on a later
// status (GitHub was sampled first); never on an earlier one or a missing entry.
func TestLogAgreesWithGitHub(t *testing.T) {
	sim := &jobSeen{status: "in_progress", runner: "garo-1"}
	for _, tc := range []struct {
		name string
		log  *portalapi.Job
		want bool
	}{
		{"missing", nil, false},
		{"behind", &portalapi.Job{State: portalapi.JobQueued}, false},
		{"same", &portalapi.Job{State: portalapi.JobInProgress, RunnerName: "garo-1"}, true},
		{"other runner", &portalapi.Job{State: portalapi.JobInProgress, RunnerName: "garo-2"}, false},
		{"ahead", &portalapi.Job{State: portalapi.JobCompleted, RunnerName: "garo-1", Conclusion: "success"}, true},
	} {
		if got := agrees(tc.log, sim); got != tc.want {
			t.Errorf("%s: agrees = %v, want %v", tc.name, got, tc.want)
		}
	}
	done := &jobSeen{status: "completed", runner: "garo-1", conclusion: "failure"}
	if agrees(&portalapi.Job{State: portalapi.JobCompleted, RunnerName: "garo-1", Conclusion: "success"}, done) {
		t.Error("another conclusion agrees")
	}
	if agrees(&portalapi.Job{State: portalapi.JobCompleted}, &jobSeen{}) {
		t.Error("a job GitHub was never sampled for agrees")
	}
}

// A job's log lag counts from the return for what changed at GitHub during the outage,
// and from GitHub's change afterwards; the longest disagreement is kept.
func TestLogWatchLag(t *testing.T) {
	back := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return back.Add(d) }
	w := &logWatch{listed: -1, wrongAt: back}
	sim := &jobSeen{status: "queued", changed: at(-30 * time.Second)} // queued during the outage
	w.update(at(time.Second), back, nil, sim)
	if w.listed != -1 || w.lag != 0 || w.wrongAt != back {
		t.Fatalf("not listed yet: %+v", w)
	}
	w.update(at(2*time.Second), back, &portalapi.Job{State: portalapi.JobQueued}, sim)
	if w.listed != 2*time.Second || w.lag != 2*time.Second || !w.wrongAt.IsZero() {
		t.Fatalf("listed 2 s after the return: %+v", w)
	}
	sim = &jobSeen{status: "in_progress", runner: "garo-1", changed: at(5 * time.Second)}
	w.update(at(6*time.Second), back, &portalapi.Job{State: portalapi.JobQueued}, sim)
	w.update(at(6500*time.Millisecond), back, &portalapi.Job{State: portalapi.JobInProgress, RunnerName: "garo-1"}, sim)
	if w.lag != 2*time.Second || w.settled {
		t.Fatalf("a 1.5 s lag after a 2 s one: %+v", w)
	}
	sim = &jobSeen{status: "completed", runner: "garo-1", conclusion: "success", changed: at(10 * time.Second)}
	w.update(at(11*time.Second), back, &portalapi.Job{State: portalapi.JobInProgress, RunnerName: "garo-1"}, sim)
	w.update(at(14*time.Second), back, &portalapi.Job{State: portalapi.JobCompleted, RunnerName: "garo-1", Conclusion: "success"}, sim)
	if w.lag != 4*time.Second || !w.settled {
		t.Fatalf("completed 4 s late, then settled: %+v", w)
	}
}

// The end table shows the outage's figures and its jobs, "never" for what did not happen,
// and a lost-completion window's repair.
func TestReportTable(t *testing.T) {
	r := Report{Jobs: 30, Completed: 30, MaxRunners: 30, OutageJobs: 20, OutageWaiting: 20, AgentBack: -1,
		OutageWorst: 2900 * time.Millisecond, OutageLogged: -1,
		OutageRows: []OutageRow{{ID: 11, Outage: true, Runner: 1160 * time.Millisecond, Listed: -1, LogLag: 340 * time.Millisecond}, {ID: 1, Runner: -1, Listed: 60 * time.Millisecond}},
		Faults:     []FaultResult{{Kind: LoseCompleted, At: 31 * time.Second, Lasted: 5 * time.Second, Recovery: -1, Note: "3 lost; the job log agreed with GitHub 11.2s after the window"}},
		RSS:        map[string]int64{"agent": 30 << 20}}
	var b strings.Builder
	r.write(&b)
	out := b.String()
	for _, want := range []string{
		"| 20 / 30 (capacity to spare: every job has a runner at once) |",
		"agent's first call answered (target 5s) | never |",
		"lists every job queued during it | never |",
		"| 11 | queued during it | 1.16s | never | 340ms |",
		"| 1 | running at its start | never | 60ms | 0s |",
		"GitHub loses completed webhooks: 3 lost; the job log agreed with GitHub 11.2s after the window | 5s | no job waiting |",
		"| agent | 30.0 MiB |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	r.OutageWaiting = 31
	b.Reset()
	r.write(&b)
	if !strings.Contains(b.String(), "above max_runners") {
		t.Errorf("a backlog above max_runners is not said so:\n%s", b.String())
	}
}
