package podexec

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func pod(ephemeral []corev1.EphemeralContainer, status []corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "axonserver"}}, EphemeralContainers: ephemeral},
		Status: corev1.PodStatus{EphemeralContainerStatuses: status}}
}

var e = Ephemeral{Name: "kubectl-axon-backup", Image: "busybox:1.37", Target: "axonserver",
	Mounts: []corev1.VolumeMount{{Name: "events", MountPath: "/axonserver/events", ReadOnly: true}}}

// TestEnsureAdds: the container is added read-only, and Ensure returns once the
// kubelet reports it running.
func TestEnsureAdds(t *testing.T) {
	kube := fake.NewClientset(pod(nil, nil))
	updates := 0
	kube.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "ephemeralcontainers" {
			return false, nil, nil
		}
		updates++
		p := a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod).DeepCopy()
		c := p.Spec.EphemeralContainers[0]
		if c.Name != e.Name || c.Image != e.Image || !c.VolumeMounts[0].ReadOnly || !*c.SecurityContext.ReadOnlyRootFilesystem || c.TargetContainerName != "axonserver" {
			t.Errorf("ephemeral container %+v", c)
		}
		started := p.DeepCopy()
		go func() { // the kubelet starts it
			time.Sleep(50 * time.Millisecond)
			started.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: e.Name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			if _, err := kube.CoreV1().Pods("axon").UpdateStatus(context.Background(), started, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}()
		return true, p, kube.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p, "axon")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	added, err := Ensure(ctx, kube, "axon", "axonserver-1-0", e)
	if err != nil || !added || updates != 1 {
		t.Fatalf("added %v, %d updates: %v", added, updates, err)
	}
}

// TestEnsureReuses: one left by an earlier run is used as it is; one that ended
// cannot be started again, and the error says so.
func TestEnsureReuses(t *testing.T) {
	running := []corev1.ContainerStatus{{Name: e.Name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	ended := []corev1.ContainerStatus{{Name: e.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error"}}}}
	there := []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: e.Name, Image: e.Image}}}
	for _, tc := range []struct {
		status []corev1.ContainerStatus
		err    string
	}{{running, ""}, {ended, "cannot be restarted"}} {
		kube := fake.NewClientset(pod(there, tc.status))
		kube.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			t.Errorf("an update: %v", a)
			return true, nil, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		added, err := Ensure(ctx, kube, "axon", "axonserver-1-0", e)
		cancel()
		if added || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("added %v, err %v; want error %q", added, err, tc.err)
		}
	}
}

// TestMain turns off client-go's streaming lists: the fake clientset does not end
// its initial events with the bookmark a WatchList client waits for.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

// TestRunning: only a container whose state is running runs; one that ended or
// whose image cannot be pulled never will; no status yet, or being created, is
// not yet.
func TestRunning(t *testing.T) {
	st := func(name string, s corev1.ContainerState) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: s}
	}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "msg"}}
	}
	for _, tc := range []struct {
		name     string
		statuses []corev1.ContainerStatus
		ok       bool
		err      string
	}{
		{"no status yet", nil, false, ""},
		{"another container runs", []corev1.ContainerStatus{st("other", corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})}, false, ""},
		{"being created", []corev1.ContainerStatus{st("restore", waiting("ContainerCreating"))}, false, ""},
		{"running", []corev1.ContainerStatus{st("restore", corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})}, true, ""},
		{"ended", []corev1.ContainerStatus{st("restore", corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 127}})}, false, "has ended (Error, exit code 127)"},
		{"image not pulled", []corev1.ContainerStatus{st("restore", waiting("ImagePullBackOff"))}, false, "cannot start: ImagePullBackOff (msg)"},
	} {
		ok, err := Running(tc.statuses, "restore")
		if ok != tc.ok || (tc.err == "") != (err == nil) || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s: %v, %v; want %v, %q", tc.name, ok, err, tc.ok, tc.err)
		}
	}
}
