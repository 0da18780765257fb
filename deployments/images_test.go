package deployments_test

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	dockerimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"gopkg.in/yaml.v3"

	"github.com/garo-dev/garo/internal/testkit/dockertest"
)

// TestDockerfiles checks what a Dockerfile must be without building it: multi-stage, a
// FROM-scratch final stage run by a numeric non-root user, the Go of go.mod in the build
// stage, the Makefile's version stamp, no floating tags, an exec-form ENTRYPOINT.
func TestDockerfiles(t *testing.T) {
	goMajor, goMinor, goPatch := goModVersion(t)
	stamp := makefileStamp(t)
	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			t.Parallel()
			d := parseDockerfile(t, img.name)
			if len(d.stages) < 2 {
				t.Fatalf("%s: %d stage(s), want a build stage and a final stage", d.path, len(d.stages))
			}
			final := d.final()
			if final.image != "scratch" {
				t.Errorf("%s: the final stage is FROM %s, want scratch", d.path, final.image)
			}

			var names []string
			var build *stage
			for i, s := range d.stages {
				if s.image != "scratch" && !slices.Contains(names, s.image) {
					ref := s.image
					if strings.Contains(ref, "@sha256:") {
						ref, _, _ = strings.Cut(ref, "@")
					}
					tag := ""
					if colon := strings.LastIndex(ref, ":"); colon > strings.LastIndex(ref, "/") {
						tag = ref[colon+1:]
					}
					if tag == "" || tag == "latest" {
						t.Errorf("%s: FROM %s: pin a tag, not latest", d.path, s.image)
					}
				}
				if strings.HasPrefix(s.image, "golang:") && build == nil {
					build = &d.stages[i]
				}
				names = append(names, s.name)
			}
			if build == nil {
				t.Fatalf("%s: no build stage FROM golang:<go.mod's version>-...", d.path)
			}
			m := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?[-@]`).FindStringSubmatch(build.image)
			switch {
			case m == nil:
				t.Errorf("%s: FROM %s: want golang:<major>.<minor>[.<patch>]-<distro>", d.path, build.image)
			case m[1] != goMajor || m[2] != goMinor:
				t.Errorf("%s: FROM %s builds with Go %s.%s, go.mod says go %s.%s.%s: bump the tag", d.path, build.image, m[1], m[2], goMajor, goMinor, goPatch)
			case m[3] != "" && atoi(t, m[3]) < atoi(t, goPatch):
				t.Errorf("%s: FROM %s is older than go.mod's go %s.%s.%s", d.path, build.image, goMajor, goMinor, goPatch)
			}

			var runs strings.Builder
			for _, in := range build.all("RUN") {
				runs.WriteString(in.args + "\n")
			}
			for _, want := range append([]string{"CGO_ENABLED=0", "-trimpath", "./" + strings.TrimPrefix(img.pkg, "../")}, stamp...) {
				if !strings.Contains(runs.String(), want) {
					t.Errorf("%s: the build stage does not run %q (the Makefile's build)", d.path, want)
				}
			}
			modules, source := -1, -1
			for i, in := range build.insts {
				if in.cmd == "RUN" && strings.Contains(in.args, "go mod download") && modules < 0 {
					modules = i
				}
				if in.cmd == "COPY" && strings.HasPrefix(in.args, ". ") && source < 0 {
					source = i
				}
			}
			if modules < 0 || source < 0 || modules > source {
				t.Errorf("%s: want `RUN go mod download` before `COPY . .`, so that the modules are a cached layer", d.path)
			}

			if uid, gid, err := final.user(); err != nil {
				t.Errorf("%s: %v; want a numeric uid:gid, which Kubernetes' runAsNonRoot can check", d.path, err)
			} else if uid == 0 || gid == 0 {
				t.Errorf("%s: USER %d:%d: root; want a non-root uid:gid", d.path, uid, gid)
			}
			if eps := final.all("ENTRYPOINT"); len(eps) == 0 || !strings.HasPrefix(eps[len(eps)-1].args, "[") {
				t.Errorf("%s: the final stage needs an exec-form ENTRYPOINT [\"/path/binary\"]: scratch has no shell", d.path)
			}
			env := final.env(t)
			for _, name := range img.dataEnv {
				if !path.IsAbs(env[name]) {
					t.Errorf("%s: ENV %s=%q: want an absolute path in the data directory", d.path, name, env[name])
				}
			}
		})
	}
}

// TestImages builds each image with its real final stage, the build stage replaced by the
// prebuilt static binary (nothing is pulled), and runs it on the real engine.
func TestImages(t *testing.T) {
	cli := dockertest.Engine(t, "the deployment image tests (deployments/)")
	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			t.Parallel()
			d := parseDockerfile(t, img.name)
			ref := buildFinalStage(t, cli, img, d)
			final := d.final()
			env := final.env(t)
			uid, gid, err := final.user()
			if err != nil {
				t.Fatal(err)
			}

			t.Run("data directory", func(t *testing.T) {
				id := create(t, cli, ref, nil)
				for _, name := range img.dataEnv {
					h := stat(t, cli, id, path.Dir(env[name]))
					if h.Typeflag != tar.TypeDir || h.Uid != uid || h.Gid != gid || h.Mode&0o700 != 0o700 {
						t.Errorf("%s (folder of %s): type %c, owner %d:%d, mode %o; want a folder of %d:%d it may write", path.Dir(env[name]), name, h.Typeflag, h.Uid, h.Gid, h.Mode, uid, gid)
					}
				}
				if h := stat(t, cli, id, "/tmp"); h.Typeflag != tar.TypeDir || h.Mode&0o1777 != 0o1777 {
					t.Errorf("/tmp: type %c, mode %o; want a folder with mode 1777", h.Typeflag, h.Mode)
				}
			})

			t.Run("version", func(t *testing.T) {
				code, out := run(t, cli, ref, nil, "version")
				if code != 0 || !strings.HasPrefix(out, img.name+" ") {
					t.Errorf("version: exit %d, output %q", code, out)
				}
			})

			switch img.name {
			case "garo-server":
				t.Run("serves as its user", func(t *testing.T) { serve(t, cli, ref, env, img, uid, gid) })
			case "garo-agent":
				t.Run("config print", func(t *testing.T) {
					code, out := run(t, cli, ref, []string{"GARO_AGENT_SERVER_URL=http://127.0.0.1:8080", "GARO_AGENT_PROVIDER_TYPE=docker"}, "config", "print")
					var cfg struct {
						StateFile string `yaml:"state_file"`
						Status    struct {
							Listen string `yaml:"listen"`
						} `yaml:"status"`
					}
					if err := yaml.Unmarshal([]byte(out), &cfg); code != 0 || err != nil {
						t.Fatalf("config print: exit %d (%v), output:\n%s", code, err, out)
					}
					if cfg.StateFile != env["GARO_AGENT_STATE_FILE"] || cfg.Status.Listen != env["GARO_AGENT_STATUS_LISTEN"] {
						t.Errorf("config print shows state_file %q, status.listen %q; the image sets %q, %q", cfg.StateFile, cfg.Status.Listen, env["GARO_AGENT_STATE_FILE"], env["GARO_AGENT_STATUS_LISTEN"])
					}
				})
			}
		})
	}
}

// serve runs garo-server with the image's defaults (only the listen address changed, to a
// port the kernel picks on the host's loopback), checks /healthz, that the process runs as uid:gid and
// created its data files as that user, and that SIGTERM stops it with status 0.
func serve(t *testing.T, cli *client.Client, ref string, env map[string]string, img image, uid, gid int) {
	id := create(t, cli, ref, []string{"GARO_SERVER_LISTEN=127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hang guard, not a measure
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	url, logs := waitListening(ctx, t, cli, id)
	if url == "" {
		t.Fatalf("garo-server did not say where it listens; log:\n%s", logs)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("GET /healthz: %d %s", resp.StatusCode, body)
	}

	info, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", info.State.Pid))
	if err != nil {
		t.Fatalf("the engine must be local (host network): %v", err)
	}
	want := fmt.Sprintf("Uid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d\n", uid) + fmt.Sprintf("Gid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d\n", gid)
	if !strings.Contains(string(status), want) {
		t.Errorf("the server process does not run as %d:%d:\n%s", uid, gid, status)
	}
	// The image's HEALTHCHECK, run in the container as the engine runs it (with the
	// address the test server listens on: server.listen is port 0 here).
	if hc := info.Config.Healthcheck; hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		t.Errorf("HEALTHCHECK = %+v, want an exec-form CMD", hc)
	} else if code := execIn(ctx, t, cli, id, hc.Test[1:], "GARO_SERVER_LISTEN="+strings.TrimPrefix(url, "http://")); code != 0 {
		t.Errorf("the HEALTHCHECK %q exited %d on a serving server", hc.Test[1:], code)
	}
	for _, name := range img.dataEnv {
		if h := stat(t, cli, id, env[name]); h.Typeflag != tar.TypeReg || h.Uid != uid {
			t.Errorf("%s (%s): type %c, owner %d; want a file the server wrote as %d", env[name], name, h.Typeflag, h.Uid, uid)
		}
	}

	if err := cli.ContainerStop(ctx, id, container.StopOptions{}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if code, out := wait(ctx, t, cli, id); code != 0 {
		t.Errorf("after SIGTERM: exit %d, want 0; log:\n%s", code, out)
	}
}

// buildFinalStage builds the image from the real Dockerfile with every stage before the
// final one replaced by `FROM scratch AS <name>` holding what the final stage copies from
// it: the static binary, a CA bundle and the empty folders. Files the final stage copies
// from the build context are taken from the repository.
func buildFinalStage(t *testing.T, cli *client.Client, img image, d dockerfile) string {
	t.Helper()
	bin, err := dockertest.BuildStatic(img.pkg)
	if err != nil {
		t.Fatal(err)
	}
	// What the build stage leaves where the final stage looks for it. A path the final
	// stage copies that is not here fails the test: add it here along with the Dockerfile.
	// Each path's files are named by what follows the path: "" is the path itself, "/" the
	// path as a folder (archive/tar writes a name ending in / as a folder), "/tmp/" a folder in it.
	built := map[string][]dockertest.File{
		"/out/" + img.name:                   {{Mode: 0o755, Data: bin}},
		"/etc/ssl/certs/ca-certificates.crt": {{Mode: 0o644, Data: []byte("# the CA bundle of the build stage\n")}},
		"/out/data":                          {{Name: "/", Mode: 0o755}},
		"/out/root":                          {{Name: "/", Mode: 0o755}, {Name: "/tmp/", Mode: 0o1777}},
	}
	stages := map[string]bool{}
	for _, s := range d.stages[:len(d.stages)-1] {
		stages[s.name] = true
	}
	var files []dockertest.File
	var used []string
	for _, in := range d.final().insts {
		if in.cmd != "COPY" && in.cmd != "ADD" {
			continue
		}
		from, w := in.flag("from")
		if len(w) < 2 {
			t.Fatalf("%s: %s %s: want sources and a destination", d.path, in.cmd, in.args)
		}
		for _, src := range w[:len(w)-1] {
			switch {
			case from == "":
				data, err := os.ReadFile(filepath.Join("..", src))
				if err != nil {
					t.Fatalf("%s: %s %s: a file of the repository: %v", d.path, in.cmd, src, err)
				}
				files = append(files, dockertest.File{Name: src, Mode: 0o644, Data: data})
			case !stages[from]:
				t.Fatalf("%s: COPY --from=%s: the test replaces only the file's own stages (%v)", d.path, from, d.stages[:len(d.stages)-1])
			default:
				out, ok := built[path.Clean(src)]
				if !ok {
					t.Fatalf("%s: the final stage copies %s from stage %s, which this test does not provide; it provides %v", d.path, src, from, slices.Sorted(maps.Keys(built)))
				}
				for _, f := range out {
					f.Name = "stage-" + from + path.Clean(src) + f.Name
					files = append(files, f)
				}
				if !slices.Contains(used, from) {
					used = append(used, from)
				}
			}
		}
	}
	var df strings.Builder
	df.WriteString(strings.Join(d.lines[:d.stages[0].line], "\n") + "\n")
	for _, name := range used {
		fmt.Fprintf(&df, "FROM scratch AS %s\nCOPY stage-%[1]s/ /\n", name)
	}
	df.WriteString(strings.Join(d.lines[d.final().line:], "\n"))
	files = append(files, dockertest.File{Name: "Dockerfile", Mode: 0o644, Data: []byte(df.String())})

	ref := fmt.Sprintf("garo-test/%s:%d", img.name, time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := dockertest.BuildImage(ctx, cli, ref, files...); err != nil {
		t.Fatalf("%v\nDockerfile:\n%s", err, df.String())
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.WithoutCancel(t.Context()), ref, dockerimage.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// testLabel marks the test's containers, so that leftovers can be found:
// docker ps -a --filter label=garo-test=deployments
var testLabel = map[string]string{"garo-test": "deployments"}

// create creates a container of ref on the host's network, removed when the test ends.
func create(t *testing.T, cli *client.Client, ref string, env []string, cmd ...string) string {
	t.Helper()
	c, err := cli.ContainerCreate(t.Context(), &container.Config{Image: ref, Env: env, Cmd: cmd, Labels: testLabel},
		&container.HostConfig{NetworkMode: "host"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create container of %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.WithoutCancel(t.Context()), c.ID, container.RemoveOptions{Force: true})
	})
	return c.ID
}

// run runs cmd in a container of ref to its end and returns its exit code and output.
func run(t *testing.T, cli *client.Client, ref string, env []string, cmd ...string) (int64, string) {
	t.Helper()
	id := create(t, cli, ref, env, cmd...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hang guard, not a measure
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start %v: %v", cmd, err)
	}
	return wait(ctx, t, cli, id)
}

// wait waits for the container to stop and returns its exit code and output.
func wait(ctx context.Context, t *testing.T, cli *client.Client, id string) (int64, string) {
	t.Helper()
	var code int64
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		t.Fatalf("wait for container: %v", err)
	}
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("container log: %v", err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatalf("container log: %v", err)
	}
	return code, out.String()
}

// waitListening follows the container's log until garo-server says where it listens, and
// returns that URL ("" if the log ended first) and the log read.
func waitListening(ctx context.Context, t *testing.T, cli *client.Client, id string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		t.Fatalf("container log: %v", err)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	defer func() { cancel(); rc.Close(); _ = pr.Close(); <-done }()
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	var seen strings.Builder
	for sc := bufio.NewScanner(pr); sc.Scan(); {
		seen.WriteString(sc.Text() + "\n")
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], seen.String()
		}
	}
	return "", seen.String()
}

// stat returns the tar header of the file at p in the container: type, mode and owner.
func stat(t *testing.T, cli *client.Client, id, p string) *tar.Header {
	t.Helper()
	rc, _, err := cli.CopyFromContainer(t.Context(), id, p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	defer rc.Close()
	h, err := tar.NewReader(rc).Next()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return h
}

// user returns the uid and gid of the stage's last USER, which must be numeric; a missing
// gid is the uid's, as for Docker.
func (s stage) user() (uid, gid int, err error) {
	users := s.all("USER")
	if len(users) == 0 {
		return 0, 0, errors.New("no USER: it would run as root")
	}
	arg := users[len(users)-1].args
	u, g, ok := strings.Cut(arg, ":")
	if !ok {
		g = u
	}
	if uid, err = strconv.Atoi(u); err == nil {
		gid, err = strconv.Atoi(g)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("USER %s: not numeric", arg)
	}
	return uid, gid, nil
}

// goModVersion returns the major, minor and patch of go.mod's `go` line.
func goModVersion(t *testing.T) (major, minor, patch string) {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no `go` line")
	}
	patch = string(m[3])
	if patch == "" {
		patch = "0"
	}
	return string(m[1]), string(m[2]), patch
}

// makefileStamp returns the Makefile's version stamp as the Dockerfiles must write it:
// "-X github.com/garo-dev/garo/shared/version.Version=${VERSION}" and so on.
func makefileStamp(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	pkg := regexp.MustCompile(`(?m)^VERSION_PKG\s*:=\s*(\S+)`).FindSubmatch(b)
	vars := regexp.MustCompile(`-X \$\(VERSION_PKG\)\.(\w+)=\$\((\w+)\)`).FindAllSubmatch(b, -1)
	if pkg == nil || len(vars) == 0 {
		t.Fatal("the Makefile's LDFLAGS have no -X $(VERSION_PKG).<Var>=$(<VAR>)")
	}
	var out []string
	for _, v := range vars {
		out = append(out, fmt.Sprintf("-X %s.%s=${%s}", pkg[1], v[1], v[2]))
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// execIn runs cmd in the running container id with env added and returns its exit code.
func execIn(ctx context.Context, t *testing.T, cli *client.Client, id string, cmd []string, env ...string) int {
	t.Helper()
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, Env: env})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	if err := cli.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	for {
		in, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			t.Fatalf("exec %q: %v", cmd, err)
		}
		if !in.Running && in.Pid != 0 || !in.Running && in.ExitCode != 0 {
			return in.ExitCode
		}
		select {
		case <-ctx.Done():
			t.Fatalf("exec %q did not end", cmd)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
