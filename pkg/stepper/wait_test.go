package stepper

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
)

func readyPod(uid types.UID, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon", UID: uid,
		Labels: map[string]string{appsv1.StatefulSetRevisionLabel: "rev"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

// waitFor starts waitPod on a singleton StatefulSet axonserver-1 whose update
// revision is "rev", with kube's pods and a watch fw that the test drives; the
// pod seen before the act had UID old. The wait's end arrives on the channel.
func waitFor(t *testing.T, kube *fake.Clientset, fw *watch.FakeWatcher, old types.UID) <-chan error {
	t.Helper()
	return waitWith(t, &Runner{Kube: kube, Namespace: "axon"}, fw, old)
}

// waitWith is waitFor with the runner r (its Kube the fake clientset).
func waitWith(t *testing.T, r *Runner, fw *watch.FakeWatcher, old types.UID) <-chan error {
	kube := r.Kube
	t.Helper()
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1", Namespace: "axon", Generation: 1},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdateRevision: "rev"}}
	if _, err := kube.AppsV1().StatefulSets("axon").Create(context.Background(), sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{kube: kube, ns: "axon", name: "axonserver-1-0", uid: old, w: fw}
	r.defaults()
	m := discovery.Member{NodeName: "axonserver-1", StatefulSet: sts}
	ev := func(kind, msg string, data any) progress.Event { return progress.Event{Kind: kind, Message: msg} }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := r.waitPod(ctx, pw, m, true, ev)
		done <- err
	}()
	return done
}

// TestWaitPodJudgesTheLivePod: the act deleted a pod that someone else had created
// meanwhile (the pod the run first saw was already gone). The watch still delivers
// that pod's earlier "Ready" event; the wait must not take it for the successor,
// since the pod as it is now is shutting down.
func TestWaitPodJudgesTheLivePod(t *testing.T) {
	kube := fake.NewClientset(readyPod("someone-elses", true))
	fw := watch.NewFake()
	done := waitFor(t, kube, fw, "first-seen")
	ctx := context.Background()
	send := sent
	<-send(func() { fw.Delete(readyPod("first-seen", true)) })
	<-send(func() { fw.Modify(readyPod("someone-elses", false)) }) // late: it is shutting down now
	// The wait goes on only if it did not take the late event for the successor.
	select {
	case err := <-done:
		t.Fatalf("the wait ended on a late event of a pod that is shutting down (err %v)", err)
	case <-send(func() { fw.Modify(readyPod("someone-elses", true)) }):
	}
	if err := kube.CoreV1().Pods("axon").Delete(ctx, "axonserver-1-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	succ := readyPod("successor", false)
	if _, err := kube.CoreV1().Pods("axon").Create(ctx, succ, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	go fw.Add(succ)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// unschedulablePod is a new pod the scheduler found no place for: its claim is
// missing (the StatefulSet controller has not recreated it yet).
func unschedulablePod(uid types.UID) *corev1.Pod {
	p := readyPod(uid, false)
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: `0/3 nodes are available: persistentvolumeclaim "data-axonserver-1-0" not found.`}}
	return p
}

// TestWaitPodUnschedulable: a new pod the scheduler cannot place yet is waited for
// while the scheduler retries (its claims are being recreated); one that stays
// unschedulable for UnschedulableGrace stops the step as stuck.
func TestWaitPodUnschedulable(t *testing.T) {
	ctx := context.Background()
	// start begins a wait with grace whose old pod is gone and whose new pod the
	// scheduler could not place.
	start := func(t *testing.T, grace time.Duration) (*fake.Clientset, *watch.FakeWatcher, <-chan error) {
		kube := fake.NewClientset(unschedulablePod("new"))
		fw := watch.NewFake()
		done := waitWith(t, &Runner{Kube: kube, Namespace: "axon", UnschedulableGrace: grace}, fw, "old")
		fw.Delete(readyPod("old", true))
		fw.Add(unschedulablePod("new"))
		return kube, fw, done
	}
	t.Run("scheduled later", func(t *testing.T) {
		kube, fw, done := start(t, time.Minute)
		// The watch channel is unbuffered: once the next event is taken, the wait
		// has judged the unschedulable pod.
		fw.Modify(unschedulablePod("new"))
		select {
		case err := <-done:
			t.Fatalf("the wait ended on a pod the scheduler had not placed yet: %v", err)
		default:
		}
		ready := readyPod("new", false)
		if _, err := kube.CoreV1().Pods("axon").Update(ctx, ready, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		fw.Modify(ready)
		if err := <-done; err != nil {
			t.Fatalf("the pod was scheduled and became Ready: %v", err)
		}
	})
	t.Run("stays unschedulable", func(t *testing.T) {
		_, _, done := start(t, time.Millisecond)
		var ne *NodeError
		if err := <-done; !errors.As(err, &ne) || !ne.Stuck || !strings.Contains(ne.Why, "unschedulable") {
			t.Fatalf("a pod unschedulable past the grace: err %v, want a stuck NodeError naming it", err)
		}
	})
}

// sent runs e in the background and closes the channel once it returned.
func sent(e func()) <-chan struct{} {
	c := make(chan struct{})
	go func() { e(); close(c) }()
	return c
}

// TestWaitPodSurvivesAnAPIServerRestart: the API server ends the watch and refuses
// the first attempts to watch again (it is restarting); the wait goes on with its
// re-reads and sees the new pod.
func TestWaitPodSurvivesAnAPIServerRestart(t *testing.T) {
	kube := fake.NewClientset()
	var refused atomic.Int32
	kube.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if refused.Add(1) <= 2 {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	fw := watch.NewFake()
	done := waitFor(t, kube, fw, "old")
	ctx := context.Background()
	fw.Stop() // the API server ends the watch
	// The wait must outlive the refused re-watches: the new pod appears only once
	// two have been refused.
	for refused.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("the wait ended while the API server was away: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := kube.CoreV1().Pods("axon").Create(ctx, readyPod("new", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSettleHonoursMinReadySeconds: with minReadySeconds the step holds until the
// new pod has stayed Ready that long; a container restart within it stops the run
// at this node (an image that passes its probes and crashes a little later).
func TestSettleHonoursMinReadySeconds(t *testing.T) {
	for _, crash := range []bool{false, true} {
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1", Namespace: "axon"},
			Spec: appsv1.StatefulSetSpec{MinReadySeconds: 1}}
		kube := fake.NewClientset(readyPod("new", false))
		var gets atomic.Int32
		kube.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			if crash && gets.Add(1) > 2 {
				p := readyPod("new", false)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "axonserver", RestartCount: 1}}
				return true, p, nil
			}
			return false, nil, nil
		})
		r := &Runner{Kube: kube, Namespace: "axon", Poll: 10 * time.Millisecond}
		r.defaults()
		ev := func(kind, msg string, data any) progress.Event { return progress.Event{Kind: kind, Message: msg} }
		start := time.Now()
		err := r.settle(context.Background(), discovery.Member{NodeName: "axonserver-1", StatefulSet: sts}, ev)
		var ne *NodeError
		switch {
		case crash && (!errors.As(err, &ne) || !ne.Stuck):
			t.Errorf("a restart within minReadySeconds: err %v, want a stuck NodeError", err)
		case !crash && err != nil:
			t.Errorf("a pod that stayed Ready: %v", err)
		case !crash && time.Since(start) < time.Second:
			t.Errorf("returned after %s, before minReadySeconds", time.Since(start))
		}
	}
}
