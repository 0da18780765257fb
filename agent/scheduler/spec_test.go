package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/protocol"
)

func TestSpecOf(t *testing.T) {
	t.Parallel()
	base := policy("small", 1, 5)
	base.Runner.Image = "runner:1"
	fp := scheduler.SpecOf(base)
	if len(fp) != 16 {
		t.Fatalf("fingerprint %q", fp)
	}
	same := base
	same.MinIdle, same.MaxRunners, same.IdleGrace, same.Version = 3, 9, protocol.Duration(time.Hour), 7
	same.Labels = []string{"SMALL", "self-hosted"} // order and case do not matter
	if got := scheduler.SpecOf(same); got != fp {
		t.Errorf("capacity, grace, version and label order changed the fingerprint: %s → %s", fp, got)
	}
	for name, change := range map[string]func(p *protocol.Policy){
		"image":     func(p *protocol.Policy) { p.Runner.Image = "runner:2" },
		"memory":    func(p *protocol.Policy) { p.Runner.Memory = "4Gi" },
		"env":       func(p *protocol.Policy) { p.Runner.Env = map[string]string{"A": "1"} },
		"labels":    func(p *protocol.Policy) { p.Labels = append(p.Labels, "gpu") },
		"ephemeral": func(p *protocol.Policy) { p.Ephemeral = false },
	} {
		p := base
		p.Labels = append([]string(nil), base.Labels...)
		change(&p)
		if scheduler.SpecOf(p) == fp {
			t.Errorf("changing the %s kept the fingerprint", name)
		}
	}
}

// A changed runner definition replaces idle runners at once (their replacement after
// the removal, within max_runners); busy ones finish, and a runner of unknown make
// stays.
func TestOutdatedIdleRunnersAreReplaced(t *testing.T) {
	t.Parallel()
	old := policy("small", 2, 3)
	old.Runner.Image = "runner:1"
	cur := old
	cur.Runner.Image = "runner:2"
	withSpec := func(r scheduler.Record, p protocol.Policy) scheduler.Record { r.Spec = scheduler.SpecOf(p); return r }
	recs := records(
		withSpec(rec("i-old", "small", protocol.RunnerIdle, t0), old),
		withSpec(rec("i-new", "small", protocol.RunnerIdle, t0), cur),
		withSpec(rec("b-old", "small", protocol.RunnerBusy, t0), old),
	)
	inv := []provider.Instance{inst("i-old", "small", provider.StateRunning), inst("i-new", "small", provider.StateRunning), inst("b-old", "small", provider.StateRunning)}
	js := jobs(running(1, "small", "b-old"))
	p := scheduler.Reconcile(input(config(cur), js, inv, recs))
	equal(t, "reaped", reaped(p), []string{"i-old"})
	if r := p.Reaps[0]; !r.Running || !strings.Contains(r.Record.Reason, "outdated") {
		t.Errorf("reap %+v: want the running runner, as outdated", r)
	}
	equal(t, "creates while the outdated runner is removed (max 3)", createdFor(p), nil)
	if b := p.Records["b-old"]; b.State != protocol.RunnerBusy || b.Pending {
		t.Errorf("busy outdated runner: %v", b)
	}

	// Once it is gone, its replacement is made from the current definition, and
	// labelled so that a restarted agent knows it.
	delete(recs, "i-old")
	p = scheduler.Reconcile(input(config(cur), js, inv[1:], recs))
	equal(t, "creates after the removal", createdFor(p), []int64{0})
	c := *p.Creates[0].Record
	if c.Spec != scheduler.SpecOf(cur) || scheduler.Labels(agentID, c)[provider.LabelSpec] != c.Spec {
		t.Errorf("new record spec %q, labels %v; want %q", c.Spec, scheduler.Labels(agentID, c), scheduler.SpecOf(cur))
	}

	// Without a fingerprint (made by an older agent) a runner is left alone.
	unknown := rec("i-unknown", "small", protocol.RunnerIdle, t0)
	p = scheduler.Reconcile(input(config(cur), js, []provider.Instance{inst("i-unknown", "small", provider.StateRunning)}, records(unknown)))
	equal(t, "reaped without a fingerprint", reaped(p), nil)
}

// The fingerprint survives a restart: Adopt reads it back from the labels.
func TestSpecLabelRoundTrip(t *testing.T) {
	t.Parallel()
	r := rec("i1", "small", protocol.RunnerIdle, t0)
	r.Spec = "0123456789abcdef"
	in := provider.Instance{ID: "id-i1", Name: "i1", State: provider.StateRunning, Labels: scheduler.Labels(agentID, r)}
	got := scheduler.Adopt(agentID, []provider.Instance{in}, nil, t0)
	if got["i1"].Spec != r.Spec {
		t.Errorf("adopted %+v, want spec %s", got["i1"], r.Spec)
	}
}
