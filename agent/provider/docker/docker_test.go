package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/shared/spec"
)

// engine connects to the Docker engine, or skips (fails under CI=true) when none answers.
func engine(t testing.TB) *client.Client {
	return dockertest.Engine(t, "the Docker provider tests")
}

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

// stubImage builds, once per test binary, an image FROM scratch holding testdata/stubrunner
// as /home/runner/run.sh.
//
// Not dockertest.StubImage: these tests drive the container by its JIT config alone, with
// no simulator behind it, and need what the real stub runner (githubsim/stubrunner)
// lacks on purpose. "sleep" must keep a container running until SIGTERM (the real stub
// exits 1 on a config that does not decode, and without a simulator to connect to it
// cannot stay up, not even with GARO_STUB_HANG); "exit:N" must print 30 numbered lines,
// the JIT config itself and a last line before exiting N, which is what TestExitCodes
// checks the log tail and its redaction on (the real stub never prints its config, and
// GARO_STUB_EXIT_EARLY prints one line). The real stub image is covered by
// githubsim/stubrunner's image test and the e2e Docker suites.
func stubImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	imageOnce.Do(func() { imageRef, imageErr = buildStubImage(cli) })
	if imageErr != nil {
		t.Fatalf("build stub image: %v", imageErr)
	}
	return imageRef
}

func buildStubImage(cli *client.Client) (string, error) {
	body, err := dockertest.BuildStatic("./testdata/stubrunner")
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("garo-test/stubrunner:%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = dockertest.BuildImage(ctx, cli, ref,
		dockertest.File{Name: "Dockerfile", Mode: 0o644, Data: []byte("FROM scratch\nCOPY run.sh /home/runner/run.sh\n")},
		dockertest.File{Name: "run.sh", Mode: 0o755, Data: body})
	return ref, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageRef != "" {
		if cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err == nil {
			_, _ = cli.ImageRemove(context.Background(), imageRef, image.RemoveOptions{Force: true, PruneChildren: true})
			_ = cli.Close()
		}
	}
	os.Exit(code)
}

// fixture is a provider plus a unique agent id, so that parallel tests and other runs do
// not see each other's containers; every container of the test is removed at the end.
type fixture struct {
	p     *Provider
	cli   *client.Client
	image string
	agent string
}

func newFixture(t testing.TB, cfg Config) fixture {
	t.Helper()
	cli := engine(t)
	ref := stubImage(t, cli)
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.NetworkMode == "" {
		cfg.NetworkMode = "host" // CI's dockerd has no bridge (--bridge=none)
	}
	p, err := New(cli, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{p: p, cli: cli, image: ref, agent: fmt.Sprintf("test-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, _ := p.List(ctx, map[string]string{provider.LabelAgentID: f.agent})
		for _, in := range list {
			_ = p.Delete(ctx, in.ID)
		}
	})
	return f
}

func (f fixture) request(name, jit string) provider.RunnerRequest {
	return provider.RunnerRequest{
		Name: name, Repository: "acme/app", Policy: "default",
		Labels: map[string]string{
			provider.LabelManagedBy:  provider.ManagedByGaro,
			provider.LabelAgentID:    f.agent,
			provider.LabelRunner:     name,
			provider.LabelRepository: "acme/app",
			provider.LabelPolicy:     "default",
		},
		Spec: spec.RunnerSpec{Image: f.image, Env: map[string]string{"FROM_SPEC": "1", provider.EnvJITConfig: "spec-loses"}},
		Env:  map[string]string{provider.EnvJITConfig: jit},
	}
}

func TestCreateRunningListDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever})
	ctx := t.Context()
	req := f.request(f.agent+"-r1", "sleep")
	req.Spec.CPU, req.Spec.Memory = "500m", "64Mi"

	start := time.Now()
	in, err := f.p.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	in = agenttest.WaitState(t, f.p, in.ID, provider.StateRunning, 30*time.Second)
	t.Logf("create→running: %v", time.Since(start))
	if in.Name != req.Name || in.Labels[provider.LabelAgentID] != f.agent || in.CreatedAt.IsZero() {
		t.Errorf("instance = %+v", in)
	}

	info, err := f.cli.ContainerInspect(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{info.Path}, info.Args...)
	argv = append(argv, info.Config.Cmd...)
	argv = append(argv, info.Config.Entrypoint...)
	for _, a := range argv {
		if strings.Contains(a, "sleep") || strings.Contains(a, provider.EnvJITConfig) {
			t.Errorf("JIT config in argv: %q", argv)
		}
	}
	if got := info.Path; got != "/home/runner/run.sh" {
		t.Errorf("path = %q, want the default command", got)
	}
	if !slices.Contains(info.Config.Env, provider.EnvJITConfig+"=sleep") || !slices.Contains(info.Config.Env, "FROM_SPEC=1") {
		t.Errorf("env = %q: want the request's JIT config (winning over the spec's) and the spec's env", info.Config.Env)
	}
	if hc := info.HostConfig; hc.NanoCPUs != 500_000_000 || hc.Memory != 64<<20 || hc.NetworkMode != "host" {
		t.Errorf("host config: cpus %d memory %d network %q", hc.NanoCPUs, hc.Memory, hc.NetworkMode)
	}
	for k, v := range req.Labels {
		if info.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, info.Config.Labels[k], v)
		}
	}

	list, err := f.p.List(ctx, map[string]string{provider.LabelAgentID: f.agent})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != in.ID || list[0].State != provider.StateRunning {
		t.Fatalf("list = %+v, want the one running container", list)
	}
	if other, _ := f.p.List(ctx, map[string]string{provider.LabelAgentID: f.agent + "-other"}); len(other) != 0 {
		t.Errorf("list of another agent = %+v", other)
	}

	start = time.Now()
	if err := f.p.Delete(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("delete (stop+remove): %v", time.Since(start))
	if got, err := f.p.State(ctx, in.ID); err != nil || got.State != provider.StateGone {
		t.Errorf("state after delete = %+v, %v", got, err)
	}
	if err := f.p.Delete(ctx, in.ID); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if list, _ := f.p.List(ctx, map[string]string{provider.LabelAgentID: f.agent}); len(list) != 0 {
		t.Errorf("list after delete = %+v", list)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever, LogTailLines: 5})
	for _, tc := range []struct {
		code    int
		meaning string
	}{
		{0, "done"}, {1, "terminated"}, {2, "retryable"}, {5, "session conflict"}, {7, "outdated"}, {42, "unknown exit code"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			jit := fmt.Sprintf("exit:%d", tc.code)
			in, err := f.p.Create(t.Context(), f.request(fmt.Sprintf("%s-exit%d", f.agent, tc.code), jit))
			if err != nil {
				t.Fatal(err)
			}
			in = agenttest.WaitState(t, f.p, in.ID, provider.StateExited, 30*time.Second)
			if in.ExitCode != tc.code || !strings.Contains(in.Reason, fmt.Sprintf("exited %d (%s)", tc.code, tc.meaning)) {
				t.Errorf("exit code %d reason %q, want %d (%s)", in.ExitCode, in.Reason, tc.code, tc.meaning)
			}
			hasTail := strings.Contains(in.Reason, fmt.Sprintf("failing with exit code %d", tc.code))
			if tc.code != 0 {
				if !hasTail || !strings.Contains(in.Reason, "line 30") || strings.Contains(in.Reason, "line 25\n") {
					t.Errorf("reason %q: want the last 5 log lines", in.Reason)
				}
				if strings.Contains(in.Reason, jit) || !strings.Contains(in.Reason, "[redacted]") {
					t.Errorf("reason %q: the JIT config must be redacted", in.Reason)
				}
			} else if hasTail {
				t.Errorf("reason %q: no log tail for a clean exit", in.Reason)
			}
			// Exited containers are still listed until deleted.
			list, err := f.p.List(t.Context(), map[string]string{provider.LabelRunner: in.Name, provider.LabelAgentID: f.agent})
			if err != nil || len(list) != 1 || list[0].State != provider.StateExited || list[0].ExitCode != tc.code {
				t.Errorf("list = %+v, %v", list, err)
			}
			if err := f.p.Delete(t.Context(), in.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFailedStartLogsAndCleansUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever})
	req := f.request(f.agent+"-badcmd", "sleep")
	req.Spec.Command = []string{"/no/such/binary", "--flag"}
	_, err := f.p.Create(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("create with a missing command: %v", err)
	}
	if strings.Contains(err.Error(), "sleep") {
		t.Errorf("error leaks the JIT config: %v", err)
	}
	if list, _ := f.p.List(t.Context(), map[string]string{provider.LabelAgentID: f.agent}); len(list) != 0 {
		t.Errorf("failed start left %+v", list)
	}
}

func TestForeignContainerUntouched(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever})
	ctx := t.Context()
	// Looks like ours in every label but managed-by.
	labels := f.request("x", "").Labels
	labels[provider.LabelManagedBy] = "someone-else"
	c, err := f.cli.ContainerCreate(ctx, &container.Config{
		Image: f.image, Entrypoint: []string{"/home/runner/run.sh"}, Env: []string{provider.EnvJITConfig + "=sleep"}, Labels: labels,
	}, &container.HostConfig{NetworkMode: "host"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if err := f.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []map[string]string{
		{provider.LabelAgentID: f.agent},
		{provider.LabelAgentID: f.agent, provider.LabelManagedBy: "someone-else"},
		nil,
	} {
		list, err := f.p.List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range list {
			if in.ID == c.ID {
				t.Errorf("List(%v) returned the foreign container", sel)
			}
		}
	}
	if in, err := f.p.State(ctx, c.ID); err != nil || in.State != provider.StateGone {
		t.Errorf("state of a foreign container = %+v, %v; want gone", in, err)
	}
	if err := f.p.Delete(ctx, c.ID); err != nil {
		t.Errorf("delete of a foreign container: %v", err)
	}
	info, err := f.cli.ContainerInspect(ctx, c.ID)
	if err != nil || !info.State.Running {
		t.Errorf("foreign container after Delete: %+v, %v; want it running", info.State, err)
	}
}

func TestPullPolicy(t *testing.T) {
	t.Parallel()
	missing := "garo-test/does-not-exist:never-built"
	for _, tc := range []struct {
		policy PullPolicy
		image  string // "" is the local stub image
		want   error
	}{
		{PullNever, missing, ErrImageMissing},
		{PullIfMissing, missing, ErrPull},
		{PullAlways, "", ErrPull}, // local only: cannot be pulled
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{PullPolicy: tc.policy})
			req := f.request(f.agent+"-pull", "sleep")
			if tc.image != "" {
				req.Spec.Image = tc.image
			}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			_, err := f.p.Create(ctx, req)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), req.Spec.Image) {
				t.Errorf("create = %v, want %v naming the image", err, tc.want)
			}
			if list, _ := f.p.List(t.Context(), map[string]string{provider.LabelAgentID: f.agent}); len(list) != 0 {
				t.Errorf("left behind: %+v", list)
			}
		})
	}
	t.Run("if-missing/present", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, Config{}) // default: if-missing
		in, err := f.p.Create(t.Context(), f.request(f.agent+"-present", "exit:0"))
		if err != nil {
			t.Fatal(err)
		}
		agenttest.WaitState(t, f.p, in.ID, provider.StateExited, 30*time.Second)
	})
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever})
	for name, mut := range map[string]func(*provider.RunnerRequest){
		"bad cpu":    func(r *provider.RunnerRequest) { r.Spec.CPU = "two" },
		"bad memory": func(r *provider.RunnerRequest) { r.Spec.Memory = "1Zi" },
		"tiny mem":   func(r *provider.RunnerRequest) { r.Spec.Memory = "1Ki" },
		"bad image":  func(r *provider.RunnerRequest) { r.Spec.Image = "UPPER/Case::x" },
		"no image":   func(r *provider.RunnerRequest) { r.Spec.Image = "" },
		"no name":    func(r *provider.RunnerRequest) { r.Name = "" },
	} {
		req := f.request(f.agent+"-invalid", "sleep")
		mut(&req)
		if _, err := f.p.Create(t.Context(), req); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%s: create = %v, want ErrInvalidRequest", name, err)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{PullPolicy: PullNever})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.p.Create(ctx, f.request(f.agent+"-cancel", "sleep")); !errors.Is(err, context.Canceled) {
		t.Errorf("create = %v", err)
	}
	if _, err := f.p.List(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("list = %v", err)
	}
	if _, err := f.p.State(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("state = %v", err)
	}
}

func TestQuantities(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]int64{"": 0, "2": 2e9, "500m": 5e8, "1.5": 1.5e9, "100m": 1e8} {
		if got, err := nanoCPUs(q); err != nil || got != want {
			t.Errorf("nanoCPUs(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
	for q, want := range map[string]int64{"": 0, "512Mi": 512 << 20, "4Gi": 4 << 30, "1G": 1e9, "10485760": 10 << 20, "1.5Gi": 3 << 29} {
		if got, err := memoryBytes(q); err != nil || got != want {
			t.Errorf("memoryBytes(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
	for _, q := range []string{"-1", "0", "x", "0.0001m"} {
		if _, err := nanoCPUs(q); err == nil {
			t.Errorf("nanoCPUs(%q): want an error", q)
		}
	}
}

var _ provider.Provider = (*Provider)(nil)

// A policy's volumes: a named volume (created by the engine, kept after the runner: a
// cache) and a host path below the allowed bind paths, read-only; a host path outside
// them is refused before anything is created.
func TestVolumes(t *testing.T) {
	t.Parallel()
	allowed := t.TempDir()
	data := filepath.Join(allowed, "tools")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{PullPolicy: PullNever, AllowedBindPaths: []string{allowed}})
	ctx := t.Context()
	volume := fmt.Sprintf("garo-test-cache-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = f.cli.VolumeRemove(context.Background(), volume, true) })

	req := f.request(f.agent+"-vol", "sleep")
	req.Spec.Docker = &spec.DockerSpec{Volumes: []spec.DockerVolume{
		{Source: volume, Target: "/home/runner/cache"},
		{Source: data, Target: "/opt/tools", ReadOnly: true},
	}}
	in, err := f.p.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.cli.ContainerInspect(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range info.Mounts {
		got[m.Destination] = fmt.Sprintf("%s %s rw=%v", m.Type, cmp.Or(m.Name, m.Source), m.RW)
	}
	want := map[string]string{
		"/home/runner/cache": "volume " + volume + " rw=true",
		"/opt/tools":         "bind " + data + " rw=false",
	}
	if !maps.Equal(got, want) {
		t.Errorf("mounts = %v, want %v", got, want)
	}
	if err := f.p.Delete(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.VolumeInspect(ctx, volume); err != nil {
		t.Errorf("the named volume went with the runner: %v", err)
	}

	for _, src := range []string{"/etc", allowed + "-other", "/"} {
		bad := f.request(f.agent+"-bind", "sleep")
		bad.Spec.Docker = &spec.DockerSpec{Volumes: []spec.DockerVolume{{Source: src, Target: "/x"}}}
		_, err := f.p.Create(ctx, bad)
		if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), "allowed_bind_paths") {
			t.Errorf("bind of %s: %v, want ErrInvalidRequest naming allowed_bind_paths", src, err)
		}
	}
	if list, _ := f.p.List(ctx, map[string]string{provider.LabelAgentID: f.agent}); len(list) != 0 {
		t.Errorf("containers after refused binds: %+v", list)
	}
	if _, err := New(f.cli, Config{AllowedBindPaths: []string{"relative/dir"}}, nil, nil); err == nil {
		t.Error("a relative allowed bind path was accepted")
	}
}

// The network of a runner: the spec's, else the provider's, else Docker's bridge.
func TestNetworkMode(t *testing.T) {
	t.Parallel()
	req := provider.RunnerRequest{Name: "r", Spec: spec.RunnerSpec{Image: "runner:1"}}
	for _, tc := range []struct {
		cfg, spec, want string
	}{
		{"", "", "bridge"},
		{"host", "", "host"},
		{"", "ci-net", "ci-net"},
		{"host", "none", "none"},
	} {
		p, err := New(nil, Config{NetworkMode: tc.cfg}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := req
		if tc.spec != "" {
			r.Spec.Docker = &spec.DockerSpec{NetworkMode: tc.spec}
		}
		_, host, err := p.containerConfig(r)
		if err != nil || string(host.NetworkMode) != tc.want {
			t.Errorf("config %q, spec %q: network %q, %v; want %q", tc.cfg, tc.spec, host.NetworkMode, err, tc.want)
		}
	}
}

// BenchmarkCreateToRunning: the provider's Create of a runner, which returns once its
// container runs (image check, create with Garo's labels and limits, start, inspect),
// next to a plain ContainerCreate + ContainerStart of the same image on the host network.
// Removing the containers is not timed.
func BenchmarkCreateToRunning(b *testing.B) {
	f := newFixture(b, Config{PullPolicy: PullNever})
	ctx := b.Context()
	b.Run("provider", func(b *testing.B) {
		for i := range b.N {
			req := f.request(fmt.Sprintf("%s-b%d", f.agent, i), "sleep")
			req.Spec.CPU, req.Spec.Memory = "1", "64Mi"
			in, err := f.p.Create(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if in.State != provider.StateRunning {
				b.Fatalf("state after Create: %s", in.State)
			}
			if err := f.p.Delete(ctx, in.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("plain", func(b *testing.B) {
		for range b.N {
			c, err := f.cli.ContainerCreate(ctx, &container.Config{Image: f.image, Env: []string{provider.EnvJITConfig + "=sleep"}, Entrypoint: DefaultCommand},
				&container.HostConfig{NetworkMode: "host"}, nil, nil, "")
			if err != nil {
				b.Fatal(err)
			}
			if err := f.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := f.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}
