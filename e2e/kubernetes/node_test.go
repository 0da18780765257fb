package kubernetes_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/internal/testkit/k8stest"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// labelNode marks the containers the Docker node runs, by namespace.
const labelNode = "garo-test.k8s-node"

// dockerNode plays each Pod's first container on the local Docker engine, as a node's
// container runtime would: the Pod's image (present locally: nothing is pulled) and
// command, the environment the Kubelet resolved (the JIT configuration read from the
// Pod's Secret), the Pod's user, every capability dropped, on the host network (the
// runner reaches the simulator on 127.0.0.1). It returns the container's exit code; a
// deleted Pod's container is killed.
func dockerNode(t *testing.T, cli *dockerclient.Client, ns string) k8stest.RunFunc {
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelNode+"="+ns))})
		for _, c := range list {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	})
	return func(ctx context.Context, pod *corev1.Pod, env map[string]string) int32 {
		ctr := pod.Spec.Containers[0]
		var envs []string
		for _, k := range slices.Sorted(maps.Keys(env)) {
			envs = append(envs, k+"="+env[k])
		}
		user := ""
		if sc := pod.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil && sc.RunAsGroup != nil {
			user = fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup)
		}
		c, err := cli.ContainerCreate(ctx, &container.Config{
			Image: ctr.Image, Entrypoint: ctr.Command, Cmd: ctr.Args, Env: envs, User: user,
			Labels: map[string]string{labelNode: ns},
		}, &container.HostConfig{
			NetworkMode: "host", CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"},
		}, nil, nil, "")
		if err != nil {
			t.Errorf("docker node: create the container of %s: %v", pod.Name, err)
			return 128
		}
		defer func() {
			_ = cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
		}()
		waitC, errC := cli.ContainerWait(context.WithoutCancel(ctx), c.ID, container.WaitConditionNextExit)
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Errorf("docker node: start the container of %s: %v", pod.Name, err)
			return 128
		}
		select {
		case w := <-waitC:
			return int32(w.StatusCode)
		case err := <-errC:
			t.Errorf("docker node: wait for %s: %v", pod.Name, err)
			return 128
		case <-ctx.Done():
			return 137 // the Pod was deleted: the container is removed with force
		}
	}
}

// Pods that really run: the stub runner image in a container on the local Docker engine,
// its JIT configuration read from the Pod's Secret through the Pod's secretKeyRef (the
// Kubelet resolves it, the container gets it in its environment, as on a real node), plays
// each queued job against the simulator; the runners' Pods, Secrets and containers are
// all gone afterwards.
func TestStubRunnerContainersReadTheirSecretAndRunTheJobs(t *testing.T) {
	t.Parallel()
	cli := dockertest.Engine(t, "the Kubernetes end-to-end test with containers")
	ref := dockertest.StubImage(t, cli, "ENV GARO_STUB_WORK=300ms", "ENV GARO_STUB_ACQUIRE_WAIT=0")
	e := newEnv(t)
	e.c.Kubelet(t, e.ns, dockerNode(t, cli, e.ns))
	grace, boot := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute)
	if _, err := e.Portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: "docker-node", Labels: []string{"docker-node"}, MinIdle: 0, MaxRunners: 2, IdleGrace: &grace, BootstrapTimeout: &boot,
		Provider: portalapi.ProviderKubernetes, Runner: portalapi.RunnerSpec{Image: ref, Memory: "256Mi"},
	}); err != nil {
		t.Fatal(err)
	}
	e.agent(t, "docker-node-agent")
	var ids []int64
	for range 3 {
		j, err := e.Sim.QueueJob(t.Context(), repo, []string{"self-hosted", "docker-node"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	testkit.Eventually(t, 90*time.Second, "every job completed by a runner container", func() bool {
		for _, id := range ids {
			if j, _ := e.Sim.Job(id); j.Status != "completed" || j.Conclusion != "success" {
				return false
			}
		}
		return true
	})
	e.clean(t, 60*time.Second)
	testkit.Eventually(t, 30*time.Second, "no runner container left", func() bool {
		list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelNode+"="+e.ns))})
		return err == nil && len(list) == 0
	})
}
