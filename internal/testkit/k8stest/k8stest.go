// Package k8stest is the Kubernetes side of Garo's tests: a real control plane (etcd 3.5
// and kube-apiserver, built from the Go module proxy by .ci/k8s-binaries.sh into a cache
// outside the checkout) started once per test package on free loopback ports, with RBAC,
// a token file for its administrator, a kubeconfig, and a namespace per test.
//
//	func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }
//	func TestX(t *testing.T) { c := k8stest.Get(t); ns := c.Namespace(t); ... }
//
// Without the binaries the tests skip loudly, or fail when CI=true. There is no
// kube-controller-manager: no garbage collector and no default service accounts, so
// tests delete what they made (Namespace's cleanup does) and create service accounts
// themselves. Test support only: no production binary imports it.
package k8stest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Version is the Kubernetes release the harness runs (.ci/k8s-binaries.sh's default).
const Version = "v1.32.2"

// EnvBin names a folder holding kube-apiserver and etcd, instead of the default cache.
const EnvBin = "GARO_K8S_BIN"

// BinDir is where the binaries are: $GARO_K8S_BIN, else $GARO_K8S_CACHE/bin, else
// /var/cache/garo/k8s-<Version>/bin, as .ci/k8s-binaries.sh builds them.
func BinDir() (string, error) {
	dir := os.Getenv(EnvBin)
	if dir == "" {
		cache := os.Getenv("GARO_K8S_CACHE")
		if cache == "" {
			cache = "/var/cache/garo/k8s-" + Version
		}
		dir = filepath.Join(cache, "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("no %s in %s (build them with .ci/k8s-binaries.sh): %w", b, dir, err)
		}
	}
	return dir, nil
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	Dir        string       // its files: pki, kubeconfig, logs, etcd data
	Host       string       // https://127.0.0.1:<port>
	CAPEM      []byte       // the API server's CA
	Kubeconfig string       // a kubeconfig file with the administrator's token
	Admin      *rest.Config // the administrator (system:masters)
	Client     k8s.Interface

	// Ready is how long the API server took from its start to /readyz.
	Ready time.Duration

	procs []proc
}

// proc is a started process; done closes when it exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts etcd and kube-apiserver with files in a new folder under dir and returns
// once /readyz answers, within ctx.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	d, err := os.MkdirTemp(dir, "garo-k8s-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: d}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	if c.CAPEM, err = pki(d); err != nil {
		return nil, fmt.Errorf("k8stest: pki: %w", err)
	}
	token := randomHex(16)
	if err := os.WriteFile(filepath.Join(d, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := c.run(filepath.Join(bin, "etcd"), "etcd",
		"--name=test", "--data-dir="+filepath.Join(d, "etcd"), "--logger=zap", "--log-level=warn",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--unsafe-no-fsync", "--listen-metrics-urls="); err != nil {
		return nil, err
	}
	p := func(name string) string { return filepath.Join(d, name) }
	started := time.Now()
	if err := c.run(filepath.Join(bin, "kube-apiserver"), "apiserver",
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]), "--cert-dir="+p("certs"),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--token-auth-file="+p("tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none", "--allow-privileged=true",
		// Without kube-controller-manager nobody creates default service accounts or
		// lifts the not-ready taint of nodes.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition"); err != nil {
		return nil, err
	}
	c.Host = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	c.Admin = &rest.Config{Host: c.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM}, QPS: 100, Burst: 200}
	if err := c.waitReady(ctx, token); err != nil {
		return nil, err
	}
	c.Ready = time.Since(started)
	if c.Client, err = k8s.NewForConfig(c.Admin); err != nil {
		return nil, err
	}
	c.Kubeconfig = p("kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, []byte(Kubeconfig(c.Host, c.CAPEM, token, "default")), 0o600); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// Kubeconfig is a kubeconfig for host with a bearer token and namespace ns.
func Kubeconfig(host string, caPEM []byte, token, ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority-data: %q}
users:
- name: test
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: test, namespace: %q}
current-context: test
`, host, b64(caPEM), token, ns)
}

// run starts a process with its output in Dir/<name>.log.
func (c *Cluster) run(path, name string, args ...string) error {
	logf, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("k8stest: start %s: %w", name, err)
	}
	pr := proc{cmd: cmd, done: make(chan struct{})}
	c.procs = append(c.procs, pr)
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(pr.done) }()
	return nil
}

// waitReady polls /readyz until it answers 200, a process exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, token string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("k8stest: %s exited: %s (logs in %s)", p.cmd.Path, p.cmd.ProcessState, c.Dir)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8stest: kube-apiserver not ready (logs in %s): %w", c.Dir, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop ends the API server, then etcd, and removes Dir.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
	if c.Dir != "" && os.Getenv("GARO_K8S_KEEP") == "" {
		_ = os.RemoveAll(c.Dir)
	}
}

// the cluster of this test package, started by Main.
var (
	shared   *Cluster
	startErr error
)

// Main starts the package's cluster, runs its tests and stops it; its result is the exit
// code. A cluster that cannot start is not fatal here: Get skips or fails each test that
// wants it, so that the package's other tests still run.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	shared, startErr = Start(ctx, os.TempDir())
	cancel()
	if startErr == nil {
		fmt.Fprintf(os.Stderr, "k8stest: kube-apiserver %s ready at %s in %s\n", Version, shared.Host, shared.Ready.Round(time.Millisecond))
	}
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// Get returns the package's cluster (Main must run in TestMain). Without one it skips the
// test loudly, or fails it when CI=true (.ci/run builds the binaries).
func Get(t testing.TB) *Cluster {
	t.Helper()
	if shared != nil {
		return shared
	}
	err := startErr
	if err == nil {
		err = errors.New("k8stest.Main did not run in this package's TestMain")
	}
	msg := fmt.Sprintf("\n\n*** NO KUBERNETES API SERVER: %s did NOT run (%v).\n*** Build the binaries with .ci/k8s-binaries.sh.\n", t.Name(), err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

// freePorts reserves n free loopback ports (closed again: the processes bind them).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// nameOf makes a DNS label from a test's name.
func nameOf(t testing.TB) string {
	n := strings.ToLower(t.Name())
	n = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, n)
	if len(n) > 40 {
		n = n[:40]
	}
	return strings.Trim(n, "-") + "-" + randomHex(3)
}
