package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/api"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestTwoReplicasWakeEachOther: two servers on one PostgreSQL database, each with its own
// LISTEN/NOTIFY notifier. A policy PATCH through one answers a config poll held by the
// other; a job recorded by one answers a jobs poll held by the other; an agent revoked
// through one lets an agent polling the other take its repositories at once.
func TestTwoReplicasWakeEachOther(t *testing.T) {
	b := testdb.Postgres(t)
	ctx := t.Context()
	clk := testkit.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	replica := func() (*agentEnv, notify.Notifier) {
		n, err := notify.StartPostgres(ctx, b.DSN, testkit.Discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return newAgentEnv(t, b, agentOptions{store: openStore(t, b), notifier: n, clock: clk}), n
	}
	one, n1 := replica()
	two, _ := replica()
	if _, err := one.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
		t.Fatal(err)
	}
	x := one.register(one.registrationToken("default", 2), "x")
	xOnTwo := x.on(two.url)
	_, cfg := x.config("", "")

	// Config: PATCH on one, poll held on two.
	done := make(chan protocol.Config, 1)
	go func() {
		ans, c := xOnTwo.config(cfg.Version, "20s")
		if ans.status != http.StatusOK {
			t.Errorf("poll held on replica two = %d %s", ans.status, ans.body)
		}
		done <- c
	}()
	heldPolls(t, two.svc, agents.PollConfig, 1)
	start := time.Now()
	if _, err := one.admin.PatchPolicy(ctx, "acme/web", "linux", map[string]any{"max_runners": 7}, ""); err != nil {
		t.Fatal(err)
	}
	got := <-done
	t.Logf("policy PATCH on replica one answered a config poll held on replica two in %s", time.Since(start))
	if len(got.Policies) != 1 || got.Policies[0].MaxRunners != 7 {
		t.Fatalf("config on replica two = %+v", got)
	}

	// Jobs: recorded through replica one's job log, poll held on two.
	_, snap := xOnTwo.jobs("", "")
	jobsDone := make(chan protocol.JobsSnapshot, 1)
	go func() {
		ans, s := xOnTwo.jobs(snap.Version, "20s")
		if ans.status != http.StatusOK {
			t.Errorf("jobs poll held on replica two = %d", ans.status)
		}
		jobsDone <- s
	}()
	heldPolls(t, two.svc, agents.PollJobs, 1)
	log := agents.NotifyingJobLog(jobs.NewService(one.st, testkit.Discard(), nil), n1)
	if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: 42, RunID: 42, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}); err != nil {
		t.Fatal(err)
	}
	if s := <-jobsDone; len(s.Jobs) != 1 || s.Jobs[0].ID != 42 {
		t.Fatalf("jobs on replica two = %+v", s)
	}

	// Ownership: y polls replica two and owns nothing; revoking x on one hands it over.
	y := one.register(one.registrationToken("default", 1), "y").on(two.url)
	_, ycfg := y.config("", "")
	if len(ycfg.Repositories) != 0 {
		t.Fatalf("y owns %v while x is live", ycfg.Repositories)
	}
	done = make(chan protocol.Config, 1)
	go func() {
		ans, c := y.config(ycfg.Version, "20s")
		if ans.status != http.StatusOK {
			t.Errorf("y's held poll = %d", ans.status)
		}
		done <- c
	}()
	heldPolls(t, two.svc, agents.PollConfig, 1)
	if err := one.admin.RevokeAgent(ctx, x.id); err != nil {
		t.Fatal(err)
	}
	if c := <-done; strings.Join(c.Repositories, " ") != "acme/web" {
		t.Fatalf("y after x was revoked on the other replica = %+v", c)
	}
}

// BenchmarkConfigWakeup measures how long a policy change takes to reach a long-polling
// agent: from sending a PATCH through the portal API to receiving the answer of a config
// poll held over loopback HTTP. Reported as wakeup-p50-ms and wakeup-p99-ms, on each store
// in one server, and on PostgreSQL across two replicas (LISTEN/NOTIFY).
// Run: go test -run '^$' -bench ConfigWakeup ./server/api/
func BenchmarkConfigWakeup(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		st := openStore(b, be)
		n := notify.Notifier(notify.NewLocal())
		if be.Driver == "postgres" {
			pg, err := notify.StartPostgres(b.Context(), be.DSN, testkit.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pg.Close)
			n = pg
		}
		svc := agents.New(st, agents.Config{LongPoll: 20 * time.Second}, n, nil, testkit.Discard(), nil)
		url := startAPI(b, api.Deps{Store: st, Log: testkit.Discard(), Agents: svc})
		benchWakeup(b, url, url, svc)
	})
	b.Run("postgres-two-replicas", func(b *testing.B) {
		be := testdb.Postgres(b)
		var urls []string
		var svcs []*agents.Service
		for range 2 {
			pg, err := notify.StartPostgres(b.Context(), be.DSN, testkit.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pg.Close)
			st := openStore(b, be)
			svc := agents.New(st, agents.Config{LongPoll: 20 * time.Second}, pg, nil, testkit.Discard(), nil)
			urls = append(urls, startAPI(b, api.Deps{Store: st, Log: testkit.Discard(), Agents: svc}))
			svcs = append(svcs, svc)
		}
		benchWakeup(b, urls[0], urls[1], svcs[1])
	})
}

// benchWakeup PATCHes through writeURL while the agent polls pollURL, whose agent service
// is svc.
func benchWakeup(b *testing.B, writeURL, pollURL string, svc *agents.Service) {
	ctx := b.Context()
	admin, err := client.New(writeURL, adminSecret)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.CreatePolicy(ctx, "bench/wakeup", policyRequest("linux")); err != nil {
		b.Fatal(err)
	}
	uses := 1
	tok, err := admin.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		b.Fatal(err)
	}
	e := &agentEnv{env: &env{t: b, url: pollURL}}
	a := e.register(tok.Token, "bench")
	_, cfg := a.config("", "")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		done := make(chan protocol.Config, 1)
		go func(have string) {
			_, c := a.config(have, "20s")
			done <- c
		}(cfg.Version)
		heldPolls(b, svc, agents.PollConfig, 1)
		start := time.Now()
		if _, err := admin.PatchPolicy(ctx, "bench/wakeup", "linux", map[string]any{"max_runners": 5 + i%50}, ""); err != nil {
			b.Fatal(err)
		}
		cfg = <-done
		lat = append(lat, time.Since(start))
		if len(cfg.Policies) != 1 || cfg.Policies[0].MaxRunners != 5+i%50 {
			b.Fatalf("poll answered %+v", cfg)
		}
		i++
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "wakeup-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "wakeup-p99-ms")
	b.Logf("%s: %d wake-ups, p50 %s, p99 %s, max %s", b.Name(), len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
