// Package podexec runs commands in a pod's containers through the API server
// (pods/exec, as kubectl exec does) and adds the ephemeral container a command
// runs in when the pod's own image has no shell or tools (pods/ephemeralcontainers,
// as kubectl debug does).
package podexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	watchtools "k8s.io/client-go/tools/watch"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

// Exec runs cmd in container of pod ns/name: stdin (may be nil) in, stdout and
// stderr out. A non-zero exit is an error (client-go's exec.CodeExitError).
func Exec(ctx context.Context, cfg *rest.Config, kube kubernetes.Interface, ns, pod, container string, stdin io.Reader, stdout, stderr io.Writer, cmd ...string) error {
	req := kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, httpstream.IsUpgradeFailure)
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// ExitCode is the exit code of the command when err is its non-zero exit (ok
// false for any other error).
func ExitCode(err error) (int, bool) {
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus(), true
	}
	return 0, false
}

// Ephemeral is an ephemeral container to run commands in.
type Ephemeral struct {
	Name  string
	Image string
	// Mounts are the pod's volumes it mounts (read-only for a backup).
	Mounts []corev1.VolumeMount
	// Target is the container whose process namespace it shares ("" none).
	Target string
}

// Ensure adds e to the pod unless a container of that name is already there (an
// ephemeral container cannot be removed or changed: one left by an earlier run is
// reused), then waits until it runs. It returns whether it was added.
func Ensure(ctx context.Context, kube kubernetes.Interface, ns, pod string, e Ephemeral) (added bool, err error) {
	pods := kube.CoreV1().Pods(ns)
	p, err := pods.Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	if !slices.ContainsFunc(p.Spec.EphemeralContainers, func(c corev1.EphemeralContainer) bool { return c.Name == e.Name }) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: e.Name, Image: e.Image, Command: []string{"sleep", "2147483647"},
				VolumeMounts: e.Mounts, ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: readOnly(),
			},
			TargetContainerName: e.Target,
		})
		if _, err := pods.UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{}); err != nil {
			return false, fmt.Errorf("adding ephemeral container %s to pod %s: %w", e.Name, pod, err)
		}
		added = true
	}
	running := func(p *corev1.Pod) (bool, error) {
		ok, err := Running(p.Status.EphemeralContainerStatuses, e.Name)
		if err != nil {
			return false, fmt.Errorf("ephemeral container %s of pod %s: %w (an ephemeral container cannot be restarted: a new name is needed)", e.Name, pod, err)
		}
		return ok, nil
	}
	if !added {
		if ok, err := running(p); ok || err != nil {
			return false, err // one left by an earlier run: as it is
		}
	}
	lw := discovery.ListWatchOne(pod, pods.List, pods.Watch)
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("pod %s was deleted", pod)
		}
		return running(p)
	})
	if err != nil {
		return added, fmt.Errorf("waiting for ephemeral container %s of pod %s to run: %w", e.Name, pod, err)
	}
	return added, nil
}

// Running says whether the container called name runs, by its status among
// statuses (no status yet: not yet). It is an error when it cannot run: it has
// ended, or its image cannot be pulled. A pod's phase is no such signal: a pod is
// Running while its container is still being started or restarted, and exec
// reaches only a running container.
func Running(statuses []corev1.ContainerStatus, name string) (bool, error) {
	for _, s := range statuses {
		if s.Name != name {
			continue
		}
		switch {
		case s.State.Running != nil:
			return true, nil
		case s.State.Terminated != nil:
			return false, fmt.Errorf("has ended (%s, exit code %d)", s.State.Terminated.Reason, s.State.Terminated.ExitCode)
		case s.State.Waiting != nil && (s.State.Waiting.Reason == "ErrImagePull" || s.State.Waiting.Reason == "ImagePullBackOff" || s.State.Waiting.Reason == "InvalidImageName"):
			return false, fmt.Errorf("cannot start: %s (%s)", s.State.Waiting.Reason, s.State.Waiting.Message)
		}
	}
	return false, nil
}

// readOnly is the security context of a container that only reads: no privilege
// escalation, a read-only root filesystem, every capability dropped.
func readOnly() *corev1.SecurityContext {
	f, t := false, true
	return &corev1.SecurityContext{AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}
