package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// TestCreateRefusesPoliciesThatBreakConstraints: the agent checks a policy's runner
// against its group's constraints (from its config) before it creates a runner, so that a
// config the server should not have sent (an older server, a policy written before the
// constraints) runs nothing: no credentials are minted, no instance is made, and the
// heartbeat says why, on the job (backing_off, naming the field and the rule). When the constraints allow
// the policy again, its job gets a runner.
func TestCreateRefusesPoliciesThatBreakConstraints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		constraints guardrails.Constraints
		runner      spec.RunnerSpec
		field       string
	}{
		{"image", guardrails.Constraints{AllowedImages: []string{"ghcr.io/acme/"}},
			spec.RunnerSpec{Image: "docker.io/evil/runner:1"}, "runner.image"},
		{"host network by default", guardrails.Constraints{},
			spec.RunnerSpec{Docker: &spec.DockerSpec{NetworkMode: "host"}}, "runner.docker.network_mode"},
		{"LD_PRELOAD by default", guardrails.Constraints{},
			spec.RunnerSpec{Env: map[string]string{"LD_PRELOAD": "/tmp/x.so"}}, "runner.env.LD_PRELOAD"},
		{"another owner's volume by default", guardrails.Constraints{},
			spec.RunnerSpec{Docker: &spec.DockerSpec{Volumes: []spec.DockerVolume{{Source: "beta.cache", Target: "/c"}}}}, "runner.docker.volumes[0].source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testkit.NewClock(t0)
			pol := policy("small", 0, 2)
			pol.Runner = tc.runner
			r := newRig(t, githubsim.Options{Now: clock.Now}, pol, time.Millisecond)
			r.cfg.Group, r.cfg.Constraints = "shared", tc.constraints
			s := r.scheduler(scheduler.Options{Now: clock.Now})
			ids := r.queue(t, 1, "small")
			r.step(t, s, 0)

			if n := r.srv.Creds.Load(); n != 0 {
				t.Fatalf("%d credentials minted for a policy that breaks the constraints", n)
			}
			if n := r.prov.Created(); n != 0 {
				t.Fatalf("%d runners created", n)
			}
			r.step(t, s, 0) // the refusal is applied, and the policy held back: still nothing
			if n := r.srv.Creds.Load() + int32(r.prov.Created()); n != 0 {
				t.Fatalf("%d credentials or runners after the refusal", n)
			}
			hb := s.Heartbeat()
			if len(hb.Jobs) != 1 || hb.Jobs[0].JobID != ids[0] || hb.Jobs[0].State != protocol.JobBackingOff ||
				!strings.Contains(hb.Jobs[0].Reason, tc.field) || !strings.Contains(hb.Jobs[0].Reason, `agent group "shared"`) {
				t.Fatalf("heartbeat jobs = %+v, want job %d backing_off naming %s", hb.Jobs, ids[0], tc.field)
			}
			if len(hb.Runners) != 0 {
				t.Fatalf("heartbeat runners = %+v, want none (the refused record is dropped)", hb.Runners)
			}

			// The group allows it now (the fields' rules loosened): a runner takes the job.
			r.cfg.Constraints = guardrails.Constraints{VolumePrefixes: []string{guardrails.Any},
				AllowedNetworkModes: []string{"host"}, AllowedEnv: []string{"LD_PRELOAD"}}
			s.SetConfig(r.cfg)
			clock.Step(5 * time.Minute) // past the hold
			r.until(t, s, 2, "the job done", r.allDone(ids))
			if r.srv.Creds.Load() == 0 {
				t.Fatal("no credentials minted once the constraints allowed the policy")
			}
		})
	}
}
