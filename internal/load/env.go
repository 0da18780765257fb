package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// policyCreators bounds the concurrent policy creations of the setup.
const policyCreators = 8

// env is one run's hub, its agents and what they record.
type env struct {
	o      Options
	hub    *hubProcess
	secret string
	repos  []string
	// labels[i] are the policy labels of repos[i] (each with "self-hosted").
	labels [][]string
	http   *http.Client
	rec    *recorder
	agents []*agent
	// unowned is how many repositories no agent owned when an idle run began.
	unowned int
}

func startEnv(ctx context.Context, o Options) (*env, error) {
	e := &env{o: o, rec: newRecorder(),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 1024}}}
	for i := range o.Repos {
		e.repos = append(e.repos, repoName(i))
	}
	h, err := openHub(ctx, HubConfig{Dir: o.Dir, Driver: o.Driver, DSN: o.DSN, Repos: o.Repos,
		Heartbeat: o.Heartbeat, LongPoll: o.LongPoll, Pprof: o.HubPprof, GitHubRateLimit: o.GitHubRateLimit}, o.HubCommand, o.Progress)
	if err != nil {
		return nil, err
	}
	if h.PprofURL != "" {
		fmt.Fprintf(o.Progress, "load: hub (pid %d) serves pprof at %s\n", h.PID, h.PprofURL)
	}
	e.secret = h.WebhookSecret
	e.hub = h
	t0 := time.Now()
	if err := e.createPolicies(ctx); err != nil {
		e.close()
		return nil, err
	}
	fmt.Fprintf(o.Progress, "load: %d policies over %d repositories created in %s\n", o.Policies, o.Repos, time.Since(t0).Round(time.Millisecond))
	return e, nil
}

// createPolicies creates o.Policies policies: policy i on repository i mod R, named p<k>
// with labels [self-hosted p<k>] for its k-th policy of that repository.
func (e *env) createPolicies(ctx context.Context) error {
	e.labels = make([][]string, len(e.repos))
	type req struct {
		repo string
		name string
	}
	reqs := make(chan req)
	errs := make(chan error, policyCreators)
	var wg sync.WaitGroup
	for range policyCreators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				_, err := e.hub.portal.CreatePolicy(ctx, r.repo, portalapi.PolicyRequest{
					Name: r.name, Labels: []string{r.name}, MaxRunners: 1000,
					Provider: portalapi.ProviderDocker, Runner: portalapi.RunnerSpec{Image: "garo-load:none"},
				})
				if err != nil {
					errs <- fmt.Errorf("load: policy %s of %s: %w", r.name, r.repo, err)
					return
				}
			}
		}()
	}
	var err error
send:
	for i := range e.o.Policies {
		ri := i % len(e.repos)
		name := fmt.Sprintf("p%d", i/len(e.repos))
		e.labels[ri] = append(e.labels[ri], name)
		select {
		case reqs <- req{repo: e.repos[ri], name: name}:
		case err = <-errs:
			break send
		}
	}
	close(reqs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func (e *env) close() {
	for _, a := range e.agents {
		a.stop()
	}
	e.hub.close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sinceMs is d in milliseconds, for tables.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
