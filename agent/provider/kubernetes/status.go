package kubernetes

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/garo-dev/garo/agent/provider"
)

// podID is the provider's id of a Pod: namespace/name.
func podID(ns, name string) string { return ns + "/" + name }

// instanceOf maps a runner Pod to what the scheduler sees:
//   - Pending: StateCreated, with the reason it waits when it has one (Unschedulable from
//     the scheduler's PodScheduled condition; ErrImagePull, ImagePullBackOff,
//     CreateContainerConfigError, ... from the runner container's waiting state);
//   - Running: StateRunning once the runner container runs;
//   - Succeeded and Failed: StateExited with the runner container's exit code and reason
//     (OOMKilled, Error, ...); a Pod that failed without a container status (evicted) gets
//     exit code -1 and the Pod's reason.
func instanceOf(pod *corev1.Pod) provider.Instance {
	in := provider.Instance{
		ID:        podID(pod.Namespace, pod.Name),
		Labels:    garoLabels(pod.ObjectMeta),
		CreatedAt: pod.CreationTimestamp.Time,
	}
	in.Name = in.Labels[provider.LabelRunner]
	cs := runnerStatus(pod)
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		in.State, in.ExitCode = provider.StateExited, 0
		if pod.Status.Phase == corev1.PodFailed {
			in.ExitCode, in.Reason = -1, reasonText(pod.Status.Reason, pod.Status.Message)
		}
		if cs != nil && cs.State.Terminated != nil {
			t := cs.State.Terminated
			in.ExitCode = int(t.ExitCode)
			if t.Reason != "" && t.Reason != "Completed" {
				in.Reason = reasonText(t.Reason, t.Message)
			}
		}
	case corev1.PodRunning:
		switch {
		case cs != nil && cs.State.Running != nil:
			in.State = provider.StateRunning
		case cs != nil && cs.State.Terminated != nil: // the runner exited, a sidecar still runs
			in.State, in.ExitCode = provider.StateExited, int(cs.State.Terminated.ExitCode)
			if r := cs.State.Terminated.Reason; r != "" && r != "Completed" {
				in.Reason = reasonText(r, cs.State.Terminated.Message)
			}
		default:
			in.State = provider.StateCreated
			in.Reason = waitingReason(pod, cs)
		}
	default: // Pending, Unknown
		in.State = provider.StateCreated
		in.Reason = waitingReason(pod, cs)
	}
	return in
}

// runnerStatus is the runner container's status, nil before the kubelet reported one.
func runnerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == RunnerContainer {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// waitingReason says why a Pod has not started: the runner container's waiting reason,
// else the PodScheduled condition's (Unschedulable), else nothing.
func waitingReason(pod *corev1.Pod, cs *corev1.ContainerStatus) string {
	if cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" {
		return reasonText(cs.State.Waiting.Reason, cs.State.Waiting.Message)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return reasonText(c.Reason, c.Message)
		}
	}
	if pod.Spec.NodeName == "" {
		return "not scheduled yet"
	}
	return ""
}

// reasonText is "Reason: message", the message cut to one short line. Messages of the
// kubelet and the scheduler hold no secrets (a Secret's values never appear in them).
func reasonText(reason, msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	switch {
	case reason == "":
		return msg
	case msg == "":
		return reason
	}
	return fmt.Sprintf("%s: %s", reason, msg)
}
