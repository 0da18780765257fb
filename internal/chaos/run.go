package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/imagebuild"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// Options shape a run. Zero values take the defaults in brackets.
type Options struct {
	Jobs       int           // the burst [60]
	OutageJobs int           // queued while both replicas are down [20]
	MaxRunners int           // the policy's max_runners [5]
	Work       time.Duration // each job's run time in its runner [3s]
	Schedule   []Fault       // the faults, in time order [Preset("small")'s]
	// LostAfter is the simulator's --runner-lost-after: how long a killed busy runner's
	// job stays in progress at "GitHub" [5s].
	LostAfter time.Duration
	Deadline  time.Duration // for every job to complete [3m]
	// RateLimit is the simulator's core rate limit per hour [15000: GitHub Enterprise
	// Cloud's for an App installation; 1,000 jobs spend more than the 5,000 floor].
	RateLimit int
	Settle    time.Duration // for containers and registrations to go afterwards [60s]
	// Targets makes Check fail a run whose outage missed a recovery target
	// (AgentBackTarget, RunnerTarget, LogTarget): meant for a schedule whose outage has
	// capacity to spare, as Preset("outage").
	Targets bool

	Bin        string // holds garo-server, garo-agent, garo-githubsim, garo-stub-runner (static)
	Dockerfile []byte // deployments/stub-runner/Dockerfile
	Dir        string // logs, configs, the App key, the agent's state
	Out        io.Writer
}

func (o *Options) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Jobs, 60)
	def(&o.OutageJobs, 20)
	def(&o.MaxRunners, 5)
	def(&o.RateLimit, 15000)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defDur(&o.Work, 3*time.Second)
	defDur(&o.LostAfter, 5*time.Second)
	defDur(&o.Deadline, 3*time.Minute)
	defDur(&o.Settle, 60*time.Second)
	if o.Schedule == nil {
		small, _ := Preset("small")
		o.Schedule = small.Schedule
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Bin == "" || o.Dir == "" || len(o.Dockerfile) == 0 {
		return errors.New("chaos: Bin, Dir and Dockerfile are required")
	}
	return nil
}

// env is one running scenario.
type env struct {
	o       Options
	repo    string
	docker  *dockerclient.Client
	pg      *testdb.Cluster
	sim     *proc
	simURL  string
	servers []*proc
	agent   *proc
	proxy   *http.Server
	url     string // the proxy: what the agent and the simulator's webhooks use
	portal  *client.Client
	image   string
	http    *http.Client
	undo    []func()
	tr      atomic.Pointer[tracker] // the run's, for the proxy's observer
	// watching waits for the job-log watch of an outage (inject starts it; burst waits).
	watching sync.WaitGroup
}

// Run runs the scenario and returns its report; the error is nil only when the report
// passes (Report.Check).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	e := &env{o: o, repo: "chaos/run-" + randomHex(4), http: &http.Client{Timeout: 30 * time.Second}}
	defer e.cleanup()
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	rep, err := e.burst(ctx)
	if err != nil {
		return rep, err
	}
	rep.write(o.Out)
	return rep, rep.Check()
}

func (e *env) cleanup() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.o.Out, "chaos: "+format+"\n", args...)
}

// start builds the image, starts PostgreSQL, the simulator, both replicas, the proxy
// and the agent, and creates the policy.
func (e *env) start(ctx context.Context) error {
	var err error
	e.docker, err = dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("chaos: docker: %w", err)
	}
	e.undo = append(e.undo, func() { _ = e.docker.Close() })
	if _, err := e.docker.Ping(ctx); err != nil {
		return fmt.Errorf("chaos: no Docker engine answers: %w", err)
	}
	if err := e.buildImage(ctx); err != nil {
		return err
	}
	// fsync off, as the test suites run: the suite measures recovery, not disk latency.
	if e.pg, err = testdb.StartCluster(ctx, false); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.undo = append(e.undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.pg.Stop(ctx)
	})
	if err := e.pg.CreateDatabase(ctx, "garo"); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}

	ports, err := freePorts(4) // proxy, simulator, replica A, replica B
	if err != nil {
		return err
	}
	e.url = "http://127.0.0.1:" + ports[0]
	secret, token := randomHex(16), "garo_"+randomHex(24)
	if err := e.startSim(ctx, ports[1], secret); err != nil {
		return err
	}
	for i, name := range []string{"server-a", "server-b"} {
		if err := e.startServer(ctx, name, ports[2+i], secret, token); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+ports[0])
	if err != nil {
		return fmt.Errorf("chaos: proxy: %w", err)
	}
	px := newProxy([]string{"127.0.0.1:" + ports[2], "127.0.0.1:" + ports[3]})
	px.observe = e.observe
	e.proxy = &http.Server{Handler: px, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.proxy.Serve(ln) }()
	e.undo = append(e.undo, func() { _ = e.proxy.Close() })
	if e.portal, err = client.New(e.url, token); err != nil {
		return fmt.Errorf("chaos: portal client: %w", err)
	}
	if err := e.createPolicy(ctx); err != nil {
		return err
	}
	return e.startAgent(ctx)
}

func (e *env) buildImage(ctx context.Context) error {
	stub, err := os.ReadFile(filepath.Join(e.o.Bin, "garo-stub-runner"))
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	ref := fmt.Sprintf("garo-chaos/stub-runner:%d", time.Now().UnixNano())
	df := append(append([]byte(nil), e.o.Dockerfile...), fmt.Sprintf("\nENV GARO_STUB_WORK=%s\n", e.o.Work)...)
	if err := imagebuild.Build(ctx, e.docker, ref,
		imagebuild.File{Name: "Dockerfile", Mode: 0o644, Data: df},
		imagebuild.File{Name: "garo-stub-runner", Mode: 0o755, Data: stub}); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.image = ref
	e.undo = append(e.undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		list, _ := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: e.selector()})
		for _, c := range list {
			_ = e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		_, _ = e.docker.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return nil
}

func (e *env) selector() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro),
		filters.Arg("label", provider.LabelRepository+"="+e.repo),
	)
}

func (e *env) startSim(ctx context.Context, port, secret string) error {
	e.simURL = "http://127.0.0.1:" + port
	e.sim = &proc{name: "githubsim", path: filepath.Join(e.o.Bin, "garo-githubsim"), log: filepath.Join(e.o.Dir, "githubsim.log"), args: []string{
		"--listen", "127.0.0.1:" + port, "--path-prefix", "/api/v3", "--repos", e.repo, "--app-id", "1",
		"--private-key-out", filepath.Join(e.o.Dir, "app.pem"), "--pat", simPAT,
		"--webhook-url", e.url + "/webhooks/github", "--webhook-secret", secret,
		"--runner-lost-after", e.o.LostAfter.String(), "--rate-limit", strconv.Itoa(e.o.RateLimit),
	}}
	if err := e.sim.start(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.undo = append(e.undo, e.sim.stop)
	return e.waitHTTP(ctx, e.simURL+"/_sim/healthz")
}

// simPAT lets the suite read the simulator's runner registrations.
const simPAT = "ghp_chaos"

const serverConfig = `server:
  listen: 127.0.0.1:%s
database:
  driver: postgres
  dsn: "%s"
auth:
  bootstrap_admin_token: %s
  admin_token_file: %s
github:
  api_url: %s/api/v3/
  app_id: 1
  private_key_file: %s
  webhook_secret: %s
  catchup:
    redeliver_interval: 10s
    reconcile_interval: 10s
    # 50 requests a cycle at 10 s keep a 10-minute run within the simulator's budget of
    # 15,000 an hour (200, the default for a 2 m interval, spent it in 8 minutes).
    reconcile_max_calls: 50
    in_progress_check: 10s
agents:
  heartbeat_interval: 1s
  long_poll_timeout: 10s
  offline_after: 10s
log:
  level: info
  format: text
`

func (e *env) startServer(ctx context.Context, name, port, secret, token string) error {
	cfg := filepath.Join(e.o.Dir, name+".yaml")
	body := fmt.Sprintf(serverConfig, port, e.pg.DSN("garo"), token, filepath.Join(e.o.Dir, name+".token"),
		e.simURL, filepath.Join(e.o.Dir, "app.pem"), secret)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	p := &proc{name: name, path: filepath.Join(e.o.Bin, "garo-server"), args: []string{"serve", "--config", cfg}, log: filepath.Join(e.o.Dir, name+".log")}
	if err := p.start(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.servers = append(e.servers, p)
	e.undo = append(e.undo, p.stop)
	return e.waitHTTP(ctx, "http://127.0.0.1:"+port+"/readyz")
}

// replicaURL is the readiness URL of replica i.
func (e *env) replicaURL(i int) string {
	return "http://" + e.proxy.Handler.(*proxy).backends[i] + "/readyz"
}

func (e *env) createPolicy(ctx context.Context) error {
	if _, err := e.portal.UpdateAgentGroup(ctx, portalapi.DefaultAgentGroup, portalapi.AgentGroupPatch{
		Constraints: &portalapi.AgentGroupConstraints{AllowedNetworkModes: []string{"host"}},
	}); err != nil {
		return fmt.Errorf("chaos: allow host networking: %w", err)
	}
	grace, boot := portalapi.Duration(2*time.Second), portalapi.Duration(2*time.Minute)
	if _, err := e.portal.CreatePolicy(ctx, e.repo, portalapi.PolicyRequest{
		Name: "chaos", Labels: []string{"chaos"}, MaxRunners: e.o.MaxRunners,
		IdleGrace: &grace, BootstrapTimeout: &boot, Provider: portalapi.ProviderDocker,
		Runner: portalapi.RunnerSpec{Image: e.image, Docker: &portalapi.DockerSpec{NetworkMode: "host"}},
	}); err != nil {
		return fmt.Errorf("chaos: create the policy: %w", err)
	}
	return nil
}

const agentConfig = `server:
  url: %s
  allow_insecure_http: true
name: chaos-agent
state_file: %s
provider:
  type: docker
  docker:
    host: %s
    pull_policy: never
    stop_timeout: 5s
scheduler:
  interval: 250ms
status:
  listen: ""
log:
  level: info
  format: text
`

func (e *env) startAgent(ctx context.Context) error {
	uses := 1
	tok, err := e.portal.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		return fmt.Errorf("chaos: registration token: %w", err)
	}
	cfg := filepath.Join(e.o.Dir, "agent.yaml")
	body := fmt.Sprintf(agentConfig, e.url, filepath.Join(e.o.Dir, "agent-state.json"), e.docker.DaemonHost())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.agent = &proc{name: "agent", path: filepath.Join(e.o.Bin, "garo-agent"), args: []string{"run", "--config", cfg},
		env: []string{"GARO_AGENT_REGISTRATION_TOKEN=" + tok.Token}, log: filepath.Join(e.o.Dir, "agent.log")}
	if err := e.agent.start(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	e.undo = append(e.undo, e.agent.stop)
	return nil
}

// waitHTTP polls url until it answers 200 (30 s).
func (e *env) waitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := e.http.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s did not answer 200: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("chaos: free port: %w", err)
		}
		lns = append(lns, l)
		_, port, _ := strings.Cut(l.Addr().String(), ":")
		out = append(out, port)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
