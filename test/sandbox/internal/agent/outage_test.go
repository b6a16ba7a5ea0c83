package agent

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// refused is what a client gets while kube-apiserver is down.
func refused(verb, what string) error {
	return &url.Error{Op: verb, URL: "https://198.18.0.2:6443/" + what,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
}

// outage makes the first n calls of verb on resource fail as if the API
// server were down, then lets them through; it counts the calls.
type outage struct {
	mu    sync.Mutex
	n     int
	calls int
}

func (o *outage) reactor(verb, res string) k8stesting.ReactionFunc {
	return func(k8stesting.Action) (bool, runtime.Object, error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls++
		if o.calls <= o.n {
			return true, nil, refused(verb, res)
		}
		return false, nil, nil
	}
}

func (o *outage) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

func testAgent(t *testing.T, objs ...runtime.Object) (*Agent, *fake.Clientset, context.Context) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a := &Agent{
		ctx: ctx, st: &sandbox.State{Dir: t.TempDir()}, cs: cs,
		logger:  log.New(io.Discard, "", 0),
		workers: map[string]axonsim.Worker{"w1": {Name: "w1", Zone: "zone-a"}},
		podRuns: map[string]*podRun{}, axonLock: map[string]chan struct{}{},
		reports: map[string]sandbox.NodeReport{}, podIPs: map[string]podAddr{},
	}
	if testing.Verbose() {
		a.logger = log.New(testWriter{t}, "agent: ", 0)
	}
	return a, cs, ctx
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// A pod deleted while the API server is down must still be deleted for good
// once it is back: the kubelet's final deletion (grace 0) is retried, not
// tried once. Both paths: a pod that never ran here, and one whose runner
// finds it terminating.
func TestFinalDeletionSurvivesAPIOutage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		podIP string
	}{
		{"never ran here", ""},
		{"ran here", "198.19.7.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "axon", Name: "axonserver-3-0", UID: "u-3",
					DeletionTimestamp: &now, DeletionGracePeriodSeconds: ptr(int64(30)), Finalizers: nil},
				Spec:   corev1.PodSpec{NodeName: "w1", Containers: []corev1.Container{{Name: "axonserver", Image: "axoniq/axonserver:2024.1.0"}}},
				Status: corev1.PodStatus{PodIP: tc.podIP},
			}
			a, cs, ctx := testAgent(t, pod)
			down := &outage{n: 3}
			cs.PrependReactor("delete", "pods", down.reactor("Delete", "api/v1/namespaces/axon/pods/axonserver-3-0"))
			a.watch(ctx)
			err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().Pods("axon").Get(ctx, pod.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Fatalf("pod still there after the API server came back (%d delete calls, the first %d refused)", down.count(), down.n)
			}
			if got := down.count(); got != down.n+1 {
				t.Errorf("%d delete calls, want %d (%d refused, then one that succeeds)", got, down.n+1, down.n)
			}
		})
	}
}

// A claim whose volume could not be created while the API server was down
// gets it once the server is back.
func TestProvisioningSurvivesAPIOutage(t *testing.T) {
	sc := sandbox.StorageClassName
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "axon", Name: "data-axonserver-1-0", UID: "c-1",
			Annotations: map[string]string{annSelectedNode: "w1"}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
	a, cs, ctx := testAgent(t, pvc)
	down := &outage{n: 2}
	cs.PrependReactor("create", "persistentvolumes", down.reactor("Post", "api/v1/persistentvolumes"))
	a.watch(ctx)
	var pv *corev1.PersistentVolume
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, "pvc-c-1", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no volume after the API server came back (%d create calls, the first %d refused)", down.count(), down.n)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "c-1" || pv.Labels[zoneLabel] != "zone-a" {
		t.Errorf("volume %+v: want pre-bound to claim c-1 in zone-a", pv.ObjectMeta)
	}
}

var _ = errors.New
