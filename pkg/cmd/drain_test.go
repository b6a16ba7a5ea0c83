package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/drain"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// Two _admin voters share w-a1; w-a2 is the other worker of zone-a.
const drainTopology = `
name: axonserver
namespace: axon
image: axoniq/axonserver:2024.1.0-nonroot
workers:
  - {name: w-a1, zone: zone-a}
  - {name: w-a2, zone: zone-a}
  - {name: w-b1, zone: zone-b}
nodes:
  - {name: axonserver-1, worker: w-a1}
  - {name: axonserver-2, worker: w-a1}
  - {name: axonserver-3, worker: w-b1}
replicationGroups:
  - name: _admin
    contexts: [_admin, default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpSeconds: 0.1, electionTimeoutMillis: 300}
`

var (
	nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	pvsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
)

// drainWorld is the world with Ready workers, the OnDelete controller, an
// Eviction API that deletes the pod (refusing the first `refuse` attempts with a
// PodDisruptionBudget's 429) and a scheduler that places a successor pod on a
// schedulable worker, in the zone of its volume when it has one.
type drainWorld struct {
	*world
	refuse    atomic.Int32
	evictions atomic.Int32
}

func newDrainWorld(t *testing.T) *drainWorld {
	t.Helper()
	w := &drainWorld{world: newWorld(t, drainTopology)}
	tr := w.kube.Tracker()
	for _, wk := range w.sim.Topology().Workers {
		obj, err := tr.Get(nodesGVR, "", wk.Name)
		if err != nil {
			t.Fatal(err)
		}
		n := obj.(*corev1.Node).DeepCopy()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if err := tr.Update(nodesGVR, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range w.sim.NodeNames() {
		obj, err := tr.Get(podsGVR, "axon", n+"-0")
		if err != nil {
			t.Fatal(err)
		}
		p := obj.(*corev1.Pod).DeepCopy()
		p.UID = types.UID("pod-" + n) // the runner tells the old pod from its successor by UID
		if err := tr.Update(podsGVR, p, "axon"); err != nil {
			t.Fatal(err)
		}
	}
	c := w.onDelete(t)
	c.beforeStart = func(old *corev1.Pod) { old.Spec.NodeName = w.schedule(t, old) }
	w.kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		w.evictions.Add(1)
		if w.refuse.Add(-1) >= 0 {
			err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
			err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: "DisruptionBudget", Message: "The disruption budget axonserver needs 3 healthy pods and has 3 currently"}}
			return true, nil, err
		}
		name := a.(k8stesting.CreateAction).GetObject().(interface{ GetName() string }).GetName()
		// The fake serialises its reactors: delete from outside this one.
		go func() { _ = w.kube.CoreV1().Pods("axon").Delete(context.Background(), name, metav1.DeleteOptions{}) }()
		return true, nil, nil
	})
	w.waitStatusHealthy(t)
	return w
}

// schedule picks the first schedulable Ready worker other than the pod's that
// its volumes allow (the sandbox's scheduler does this for real).
func (w *drainWorld) schedule(t *testing.T, old *corev1.Pod) string {
	nodes, err := w.kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return old.Spec.NodeName
	}
	var vols []drain.Volume
	for _, v := range old.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			if pv, err := w.kube.CoreV1().PersistentVolumes().Get(context.Background(), "pv-"+v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{}); err == nil {
				vols = append(vols, drain.Volume{Claim: v.PersistentVolumeClaim.ClaimName, PV: pv.Name, Affinity: pv.Spec.NodeAffinity.Required})
			}
		}
	}
	var workers []drain.Worker
	for i := range nodes.Items {
		workers = append(workers, drain.WorkerOf(&nodes.Items[i]))
	}
	m := drain.Movable(drain.Pod{Pod: old, Volumes: vols}, workers, old.Spec.NodeName)
	if !m.Movable {
		return old.Spec.NodeName
	}
	return m.Candidates[0]
}

// zonalVolume gives node's pod a data claim bound to a PV of zone.
func (w *drainWorld) zonalVolume(t *testing.T, node, zone string) {
	t.Helper()
	tr := w.kube.Tracker()
	claim := "data-" + node + "-0"
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim},
		Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: drain.ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}}}}}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: "axon"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: pv.Name}}
	for _, o := range []struct {
		gvr schema.GroupVersionResource
		obj runtime.Object
		ns  string
	}{{pvsGVR, pv, ""}, {pvcsGVR, pvc, "axon"}} {
		if err := tr.Create(o.gvr, o.obj, o.ns); err != nil {
			t.Fatal(err)
		}
	}
	obj, _ := tr.Get(podsGVR, "axon", node+"-0")
	pod := obj.(*corev1.Pod).DeepCopy()
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	if err := tr.Update(podsGVR, pod, "axon"); err != nil {
		t.Fatal(err)
	}
}

func (w *drainWorld) workerOf(t *testing.T, node string) string {
	t.Helper()
	p, err := w.kube.CoreV1().Pods("axon").Get(context.Background(), node+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Spec.NodeName
}

func (w *drainWorld) cordoned(t *testing.T, worker string) bool {
	t.Helper()
	n, err := w.kube.CoreV1().Nodes().Get(context.Background(), worker, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

func TestDrainNodeMovesOneAtATime(t *testing.T) {
	w := newDrainWorld(t)
	w.zonalVolume(t, "axonserver-1", "zone-a")
	w.refuse.Store(2) // the budget refuses the first two attempts
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "drain-node", "w-a1", "-o", "json", "--poll-interval", "50ms", "--eviction-retry", "20ms", "--node-timeout", "2m")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	evs := jsonEvents(t, out)
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e["event"].(string)]++
	}
	if evs[0]["event"] != "plan" || evs[len(evs)-1]["event"] != "summary" || kinds["cordoned"] != 1 || kinds["eviction-blocked"] != 2 || kinds["step-finished"] != 2 {
		t.Fatalf("events: %v", kinds)
	}
	for _, e := range evs {
		if e["event"] == "eviction-blocked" && !strings.Contains(e["message"].(string), "needs 3 healthy pods") {
			t.Errorf("the budget's reason is not shown: %v", e["message"])
		}
	}
	if got := w.workerOf(t, "axonserver-1"); got != "w-a2" {
		t.Errorf("axonserver-1 on %s, want w-a2 (its volume's zone)", got)
	}
	if got := w.workerOf(t, "axonserver-2"); got == "w-a1" {
		t.Errorf("axonserver-2 still on w-a1")
	}
	if !w.cordoned(t, "w-a1") {
		t.Error("w-a1 not left cordoned")
	}
	ev := w.sim.Events()[mark:]
	if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
		t.Errorf("quorum lost: %v", q)
	}
	// Never both down: each node started once, the second stop after the first start.
	stops, starts := axonsim.Filter(ev, "node-stopped", "", ""), axonsim.Filter(ev, "node-started", "", "")
	if len(stops) != 2 || len(starts) != 2 || stops[1].Time.Before(starts[0].Time) {
		t.Errorf("want stop, start, stop, start:\nstops %v\nstarts %v", stops, starts)
	}
	sum := evs[len(evs)-1]["data"].(map[string]any)
	if sum["worker"] != "w-a1" || sum["cordoned"] != true {
		t.Errorf("summary: %v", sum)
	}

	// A rerun finds nothing to move and evicts nothing.
	n := w.evictions.Load()
	code, out, errOut = w.run(t, "drain-node", "w-a1", "--progress", "none")
	if code != 0 || !strings.Contains(out, "nothing to move") || !strings.Contains(out, "w-a1 stays cordoned") || w.evictions.Load() != n {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestDrainNodeUnmovable(t *testing.T) {
	w := newDrainWorld(t)
	// axonserver-3's volume is bound to zone-b, where w-b1 is the only worker.
	w.zonalVolume(t, "axonserver-3", "zone-b")
	code, out, errOut := w.run(t, "drain-node", "w-b1", "--progress", "none")
	if code != cli.ExitRefused {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"axonserver-3-0 cannot move off w-b1", "zone in [zone-b]", "replace-node -n axon --fresh-volume axonserver-3", "nothing was changed", "--skip-unmovable"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "CANNOT MOVE axonserver-3") {
		t.Errorf("plan:\n%s", out)
	}
	if w.cordoned(t, "w-b1") || w.evictions.Load() != 0 {
		t.Fatal("changed something after refusing")
	}

	// --skip-unmovable: nothing else to move, the worker cordoned, the pod listed as left.
	code, out, errOut = w.run(t, "drain-node", "w-b1", "--skip-unmovable", "--progress", "lines")
	if code != 0 || !w.cordoned(t, "w-b1") || w.evictions.Load() != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "axonserver-3-0") || !strings.Contains(out, "cannot move (axonserver-3)") || !strings.Contains(errOut, "--skip-unmovable: leaving axonserver-3-0") {
		t.Errorf("left pods not reported:\n%s\n%s", out, errOut)
	}
}

func TestDrainNodeDryRun(t *testing.T) {
	w := newDrainWorld(t)
	code, out, errOut := w.run(t, "drain-node", "w-a1", "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var plan struct {
		Kind      string
		Worker    string
		Safe      bool
		AllAtOnce struct{ Safe bool } `json:"allAtOnce"`
		Steps     []struct {
			Node    string
			Pod     string
			Verdict struct{ Safe bool }
			Move    struct{ Candidates []string }
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if plan.Kind != "AxonDrainPlan" || !plan.Safe || plan.AllAtOnce.Safe || len(plan.Steps) != 2 {
		t.Fatalf("plan: %+v", plan)
	}
	for _, s := range plan.Steps {
		if !s.Verdict.Safe || len(s.Move.Candidates) != 2 {
			t.Errorf("step: %+v", s)
		}
	}
	code, out, _ = w.run(t, "drain-node", "w-a1", "--dry-run")
	if code != 0 || !strings.Contains(out, "STEP") || !strings.Contains(out, "all at once (as kubectl drain does) would stop writes") {
		t.Errorf("text plan:\n%s", out)
	}
	if w.cordoned(t, "w-a1") || w.evictions.Load() != 0 {
		t.Error("--dry-run changed something")
	}
	// Completion: workers for drain-node, Axon nodes (not those given) for upgrade.
	if _, out, _ := runWith(t, w.open, "__complete", "drain-node", "--transport=direct", "w-a"); !strings.HasPrefix(out, "w-a1\nw-a2\n:4") {
		t.Errorf("worker completion:\n%s", out)
	}
	if _, out, _ := runWith(t, w.open, "__complete", "upgrade", "--transport=direct", "axonserver-1", "axon"); !strings.HasPrefix(out, "axonserver-2\naxonserver-3\n:4") {
		t.Errorf("node completion:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"drain-node"}, "accepts 1 arg"},
		{[]string{"drain-node", "w-z9"}, `no worker "w-z9"`},
		{[]string{"drain-node", "w-a1", "-o", "yaml"}, "--output must be json"},
	} {
		if code, _, errOut := w.run(t, tc.args[0], tc.args[1:]...); code != cli.ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q", tc.args, code, errOut)
		}
	}
}

func TestDrainNodeBudgetNeverAllows(t *testing.T) {
	w := newDrainWorld(t)
	w.refuse.Store(1 << 20)
	code, out, errOut := w.run(t, "drain-node", "w-a1", "--progress", "lines", "--eviction-retry", "20ms", "--safety-timeout", "300ms", "--poll-interval", "50ms")
	if code != cli.ExitRefused {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"still refused after", "needs 3 healthy pods", "nothing was changed on this node", "kubectl axon drain-node -n axon --axon-cluster axonserver w-a1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if w.workerOf(t, "axonserver-1") != "w-a1" || w.workerOf(t, "axonserver-2") != "w-a1" {
		t.Error("a pod moved although the budget never allowed it")
	}
}
