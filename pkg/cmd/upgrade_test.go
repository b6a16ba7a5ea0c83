package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

const newImage = "axoniq/axonserver:2024.2.0-nonroot"

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	stsGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
)

// controller plays, for the fake clientset, what the StatefulSet controller (OnDelete
// strategy) and the kubelet do: a template patch publishes a new update revision; a
// pod deletion marks the pod terminating, stops the axonsim node cleanly, removes the
// pod, creates its successor on the update revision, starts the node with the new
// image and marks the pod Ready once the node serves.
type controller struct {
	w  *world
	mu sync.Mutex
	wg sync.WaitGroup
	// beforeStart, when set, runs once the old pod is gone and before its successor
	// is created (replace-node's tests recreate the pod's volumes there).
	beforeStart func(old *corev1.Pod)
}

func revisionOf(name, image string) string {
	h := fnv.New32a()
	h.Write([]byte(image))
	return fmt.Sprintf("%s-%08x", name, h.Sum32())
}

func (w *world) onDelete(t *testing.T) *controller {
	t.Helper()
	c := &controller{w: w}
	tr := w.kube.Tracker()
	ns := "axon"
	for _, name := range w.sim.NodeNames() {
		obj, err := tr.Get(stsGVR, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		sts := obj.(*appsv1.StatefulSet)
		sts.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		grace := int64(120)
		sts.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
		sts.Generation, sts.Status.ObservedGeneration = 1, 1
		if err := tr.Update(stsGVR, sts, ns); err != nil {
			t.Fatal(err)
		}
	}
	w.kube.PrependReactor("patch", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := k8stesting.ObjectReaction(tr)(a)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		sts := obj.(*appsv1.StatefulSet).DeepCopy()
		rev := revisionOf(sts.Name, sts.Spec.Template.Spec.Containers[0].Image)
		if rev != sts.Status.UpdateRevision && !strings.HasSuffix(sts.Status.UpdateRevision, "-rev1") ||
			sts.Spec.Template.Spec.Containers[0].Image != w.sim.Topology().Image {
			if rev != sts.Status.UpdateRevision {
				sts.Generation++
				sts.Status.UpdateRevision = rev
			}
		}
		sts.Status.ObservedGeneration = sts.Generation
		if err := tr.Update(stsGVR, sts, sts.Namespace); err != nil {
			return true, nil, err
		}
		return true, sts, nil
	})
	w.kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		obj, err := tr.Get(podsGVR, ns, name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.DeletionTimestamp != nil {
			return true, nil, nil
		}
		now := metav1.Now()
		grace := int64(120)
		pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, &grace
		if err := tr.Update(podsGVR, pod, ns); err != nil {
			return true, nil, err
		}
		c.wg.Add(1)
		go c.replace(t, pod)
		return true, nil, nil
	})
	t.Cleanup(c.wg.Wait)
	return c
}

func (c *controller) replace(t *testing.T, old *corev1.Pod) {
	defer c.wg.Done()
	tr, ns := c.w.kube.Tracker(), old.Namespace
	node := old.Labels["app"]
	_ = c.w.sim.StopNode(node, 120*time.Second)
	if err := tr.Delete(podsGVR, ns, old.Name); err != nil {
		t.Errorf("delete %s: %v", old.Name, err)
		return
	}
	if c.beforeStart != nil {
		c.beforeStart(old)
	}
	obj, err := tr.Get(stsGVR, ns, node)
	if err != nil {
		t.Errorf("get sts %s: %v", node, err)
		return
	}
	sts := obj.(*appsv1.StatefulSet)
	image := sts.Spec.Template.Spec.Containers[0].Image
	pod := old.DeepCopy()
	pod.ResourceVersion, pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = "", nil, nil
	pod.UID = types.UID(fmt.Sprintf("%s-%d", old.UID, time.Now().UnixNano()))
	pod.Labels[appsv1.StatefulSetRevisionLabel] = sts.Status.UpdateRevision
	pod.Spec.Containers = sts.Spec.Template.Spec.Containers
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	if err := tr.Create(podsGVR, pod, ns); err != nil {
		t.Errorf("create %s: %v", pod.Name, err)
		return
	}
	n, err := c.w.sim.StartNode(node, axonsim.NodeConfig{Listen: c.w.ips[node] + ":8024", Image: image})
	if err != nil {
		t.Errorf("start %s: %v", node, err)
		return
	}
	for deadline := time.Now().Add(settle); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n.State() == axonsim.Running {
			obj, err := tr.Get(podsGVR, ns, pod.Name)
			if err != nil {
				return
			}
			p := obj.(*corev1.Pod).DeepCopy()
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			_ = tr.Update(podsGVR, p, ns)
			return
		}
	}
}

// events decodes -o json output: one event per line.
func jsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

func (w *world) image(t *testing.T, node string) string {
	sts, err := w.kube.AppsV1().StatefulSets("axon").Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sts.Spec.Template.Spec.Containers[0].Image
}

// waitStatusHealthy waits until status says healthy (followers catch up after the start).
func (w *world) waitStatusHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		if code, _, _ := w.run(t, "status", "--exit-code"); code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("never healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const fiveMixed = `
name: axonserver
namespace: axon
image: axoniq/axonserver:2024.1.0-nonroot
nodes:
  - {name: axonserver-1}
  - {name: axonserver-2}
  - {name: axonserver-3}
  - {name: axonserver-4}
  - {name: axonserver-5}
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: payments
    contexts: [payments]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY, axonserver-4: ACTIVE_BACKUP, axonserver-5: ACTIVE_BACKUP}
  - name: orders
    contexts: [orders]
    roles: {axonserver-3: PRIMARY, axonserver-4: PRIMARY, axonserver-5: PRIMARY, axonserver-1: PASSIVE_BACKUP, axonserver-2: MESSAGING_ONLY}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpSeconds: 0.1, electionTimeoutMillis: 300}
`

func TestUpgradeOnDelete(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	mark := len(w.sim.Events())

	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "-o", "json", "--node-timeout", "2m", "--poll-interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	evs := jsonEvents(t, out)
	if evs[0]["event"] != "plan" || evs[len(evs)-1]["event"] != "summary" {
		t.Fatalf("first/last events: %v / %v", evs[0], evs[len(evs)-1])
	}
	for _, n := range w.sim.NodeNames() {
		if img := w.image(t, n); img != newImage {
			t.Errorf("%s on %s", n, img)
		}
		if v := w.sim.Node(n).Version(); v != "2024.2.0" {
			t.Errorf("%s runs %s", n, v)
		}
	}
	ev := w.sim.Events()[mark:]
	if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
		t.Errorf("quorum lost during the upgrade: %v", q)
	}
	for _, g := range []string{"_admin", "payments", "orders"} {
		if n := len(axonsim.Filter(ev, "leader-elected", g, "")); n > 2 {
			t.Errorf("group %s: %d elections", g, n)
		}
		t.Logf("group %s: %d elections", g, len(axonsim.Filter(ev, "leader-elected", g, "")))
	}
	for _, n := range w.sim.NodeNames() {
		if s := axonsim.CountNode(ev, "node-started", n); s != 1 {
			t.Errorf("%s started %d times", n, s)
		}
	}
	sum := evs[len(evs)-1]["data"].(map[string]any)
	t.Logf("summary: %s; overhead mean %.3fs max %.3fs", evs[len(evs)-1]["message"], sum["meanOverheadSeconds"], sum["maxOverheadSeconds"])

	// Recorded: annotations and Events, and the Lease released.
	sts, _ := w.kube.AppsV1().StatefulSets("axon").Get(context.Background(), "axonserver-2", metav1.GetOptions{})
	if sts.Annotations[record.Operation] != "" || sts.Annotations[record.ShutdownSeconds] == "" ||
		sts.Annotations[record.PreviousImage] != "axoniq/axonserver:2024.1.0-nonroot" {
		t.Errorf("annotations: %v", sts.Annotations)
	}
	if last, err := record.ParseOp(sts.Annotations[record.LastOperation]); err != nil || last.Result != "done" {
		t.Errorf("last operation: %v %+v", err, last)
	}
	events, _ := w.kube.CoreV1().Events("axon").List(context.Background(), metav1.ListOptions{})
	reasons := map[string]int{}
	for _, e := range events.Items {
		reasons[e.Reason]++
	}
	if reasons[record.ReasonStarted] != 5 || reasons[record.ReasonFinished] != 5 {
		t.Errorf("events: %v", reasons)
	}
	if leases, _ := w.kube.CoordinationV1().Leases("axon").List(context.Background(), metav1.ListOptions{}); len(leases.Items) != 0 {
		t.Errorf("lease left behind: %v", leases.Items)
	}

	// A rerun finds nothing to do and restarts nothing.
	mark = len(w.sim.Events())
	code, out, errOut = w.run(t, "upgrade", "--image", newImage)
	if code != 0 || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := axonsim.Filter(w.sim.Events()[mark:], "node-started", "", ""); len(s) != 0 {
		t.Errorf("rerun restarted nodes: %v", s)
	}
}

func TestUpgradeResumesAfterPartialRun(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	// The first run got as far as axonserver-1 (as if killed after it).
	if code, out, errOut := w.run(t, "upgrade", "--image", newImage, "axonserver-1", "--progress", "none"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Half-applied step: axonserver-2's template patched, its pod not yet replaced.
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"axonserver","image":%q}]}}}}`, newImage)
	if _, err := w.kube.AppsV1().StatefulSets("axon").Patch(context.Background(), "axonserver-2", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "--progress", "lines")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Skipped (already on the image and healthy): axonserver-1") {
		t.Errorf("plan does not skip axonserver-1:\n%s", out)
	}
	ev := w.sim.Events()[mark:]
	if n := axonsim.CountNode(ev, "node-started", "axonserver-1"); n != 0 {
		t.Errorf("axonserver-1 restarted again")
	}
	for _, n := range []string{"axonserver-2", "axonserver-3", "axonserver-4", "axonserver-5"} {
		if c := axonsim.CountNode(ev, "node-started", n); c != 1 {
			t.Errorf("%s started %d times", n, c)
		}
	}
	if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
		t.Errorf("quorum lost: %v", q)
	}
}

func TestUpgradeDryRunPlan(t *testing.T) {
	w := newWorld(t, threeNodes)
	w.waitStatusHealthy(t)
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var plan struct {
		Kind  string
		Safe  bool
		Steps []struct {
			Node    string
			Kind    string
			Verdict struct{ Safe bool }
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// axonserver-3 is payments' only ACTIVE_BACKUP: no order makes it safe.
	if plan.Kind != "AxonUpgradePlan" || plan.Safe || len(plan.Steps) != 3 {
		t.Fatalf("plan: %+v", plan)
	}
	if last := plan.Steps[2]; last.Kind != "leader" {
		t.Errorf("leaders last: %+v", plan.Steps)
	}
	// Without --force the upgrade is refused before anything changes.
	code, out, errOut = w.run(t, "upgrade", "--image", newImage)
	if code != cli.ExitRefused || !strings.Contains(errOut, "no safe order") || !strings.Contains(errOut, "payments") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, n := range w.sim.NodeNames() {
		if w.image(t, n) == newImage {
			t.Errorf("%s changed", n)
		}
	}
}

func TestUpgradeRefusals(t *testing.T) {
	w := newWorld(t, fiveMixed)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"upgrade"}, cli.ExitUsage, "--image is required"},
		{[]string{"upgrade", "--image", "Axoniq/AxonServer:1"}, cli.ExitUsage, "lower case"},
		{[]string{"upgrade", "--image", "axoniq/axonserver"}, cli.ExitUsage, "tag or a digest"},
		{[]string{"upgrade", "--image", "axoniq/axonserver:bad tag"}, cli.ExitUsage, "not a valid image reference"},
		{[]string{"upgrade", "--image", newImage, "axonserver-9"}, cli.ExitUsage, "no node \"axonserver-9\""},
		{[]string{"upgrade", "--image", newImage, "--container", "sidecar"}, cli.ExitUsage, "no container \"sidecar\""},
	} {
		code, _, errOut := w.run(t, tc.args[0], tc.args[1:]...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want %d %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	// Another run holds the cluster's Lease.
	holder := "bob@elsewhere pid 42 upgrade to x:1"
	now := metav1.NewMicroTime(time.Now())
	secs := int32(60)
	w.kube.CoordinationV1().Leases("axon").Create(context.Background(), &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kubectl-axon-axonserver", Namespace: "axon"},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{})
	w.waitStatusHealthy(t)
	code, _, errOut := w.run(t, "upgrade", "--image", newImage)
	if code != cli.ExitRefused || !strings.Contains(errOut, holder) || !strings.Contains(errOut, "--steal-lock") {
		t.Fatalf("concurrent run: exit %d %q", code, errOut)
	}
	if w.image(t, "axonserver-1") == newImage {
		t.Error("changed a node without the lock")
	}
}

// neverReadyWorld is fiveMixed, healthy, in which a node on an image that matches
// glob never becomes ready.
func neverReadyWorld(t *testing.T, glob string) *world {
	t.Helper()
	topo, err := axonsim.ParseTopology([]byte(fiveMixed + fmt.Sprintf("faults:\n  - {image: %q, neverReady: true}\n", glob)))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldOf(t, topo)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	return w
}

func TestUpgradeNodeNeverReady(t *testing.T) {
	// Every node on the new image never becomes ready; the plan's order (which
	// follows the groups' leaders, elected at random) decides which of the two
	// goes first. That one must fail the run and the other stay untouched.
	w := neverReadyWorld(t, "*:2024.2*")
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "--node-timeout", "2s", "--poll-interval", "50ms", "--progress", "lines", "axonserver-4", "axonserver-5")
	if code != cli.ExitTimeout {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	failed, other := "axonserver-4", "axonserver-5"
	if strings.Contains(errOut, "axonserver-5 did not become healthy") {
		failed, other = other, failed
	}
	for _, want := range []string{failed + " did not become healthy", "no other node touched", "--image axoniq/axonserver:2024.1.0-nonroot " + failed, "Kubernetes reports it still starting", "Axon Server: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if w.image(t, other) == newImage {
		t.Errorf("%s touched after %s failed", other, failed)
	}
	sts, _ := w.kube.AppsV1().StatefulSets("axon").Get(context.Background(), failed, metav1.GetOptions{})
	if last, _ := record.ParseOp(sts.Annotations[record.LastOperation]); !strings.HasPrefix(last.Result, "failed") {
		t.Errorf("last operation: %+v", last)
	}
}

func TestValidateImageRef(t *testing.T) {
	for ref, ok := range map[string]bool{
		"axoniq/axonserver:2024.2.0-nonroot":                    true,
		"docker.io/axoniq/axonserver:2024.2.0":                  true,
		"localhost:5000/axon/server:1":                          true,
		"axoniq/axonserver@sha256:" + strings.Repeat("a", 64):   true,
		"axoniq/axonserver:1@sha256:" + strings.Repeat("b", 64): true,
		"axoniq/axonserver":                                     false,
		"axoniq/axonserver:":                                    false,
		"AxonIQ/axonserver:1":                                   false,
		"axoniq//axonserver:1":                                  false,
		"axoniq/axonserver:-bad":                                false,
		"":                                                      false,
	} {
		if err := ValidateImageRef(ref); (err == nil) != ok {
			t.Errorf("ValidateImageRef(%q) = %v, want ok=%v", ref, err, ok)
		}
	}
}

// TestUpgradeThroughAnAPIServerThatBlinks: the Lease's first reads and the first
// patches of a pod template are answered 503 (an API server restarting); the
// upgrade waits them out and completes.
func TestUpgradeThroughAnAPIServerThatBlinks(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	var mu sync.Mutex
	refusedLease, refusedPatch := 0, 0
	w.kube.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if refusedLease < 2 {
			refusedLease++
			return true, nil, apierrors.NewServiceUnavailable("the API server is starting")
		}
		return false, nil, nil
	})
	w.kube.PrependReactor("patch", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(string(a.(k8stesting.PatchAction).GetPatch()), newImage) && refusedPatch < 2 {
			refusedPatch++
			return true, nil, apierrors.NewServiceUnavailable("the API server is starting")
		}
		return false, nil, nil
	})
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "--node-timeout", "2m", "--poll-interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	if refusedLease != 2 || refusedPatch != 2 {
		t.Fatalf("refused %d Lease reads and %d patches, want 2 and 2", refusedLease, refusedPatch)
	}
	for _, n := range w.sim.NodeNames() {
		if img := w.image(t, n); img != newImage {
			t.Errorf("%s on %s", n, img)
		}
	}
}
