package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/rebuild"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

var pvcsGVR = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}

var claimTemplates = []string{"data", "events", "log"}

// withVolumes gives every StatefulSet volumeClaimTemplates and a selector, every
// pod its claims, and plays the PVC protection controller and the StatefulSet
// controller for them: a PVC deleted while a pod uses it stays Terminating until the
// pod is gone; the successor pod gets fresh claims (new UIDs) for the deleted ones,
// and when the "data" claim was new the node starts on an empty data directory.
func (w *world) withVolumes(t *testing.T, c *controller) {
	t.Helper()
	tr, ns := w.kube.Tracker(), "axon"
	for _, name := range w.sim.NodeNames() {
		obj, _ := tr.Get(stsGVR, ns, name)
		sts := obj.(*appsv1.StatefulSet).DeepCopy()
		sts.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
		sts.Spec.VolumeClaimTemplates = nil
		for _, ct := range claimTemplates {
			sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: ct}})
		}
		if err := tr.Update(stsGVR, sts, ns); err != nil {
			t.Fatal(err)
		}
		obj, _ = tr.Get(podsGVR, ns, name+"-0")
		pod := obj.(*corev1.Pod).DeepCopy()
		pod.UID = types.UID("pod-" + name)
		for _, ct := range claimTemplates {
			claim := fmt.Sprintf("%s-%s-0", ct, name)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: ct, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			w.newClaim(t, name, claim)
		}
		// A shared volume that is not the StatefulSet's own: never deleted.
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "shared", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "shared-licenses"}}})
		if err := tr.Update(podsGVR, pod, ns); err != nil {
			t.Fatal(err)
		}
	}
	w.newClaim(t, "", "shared-licenses")
	w.kube.PrependReactor("delete", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteAction)
		obj, err := tr.Get(pvcsGVR, ns, da.GetName())
		if err != nil {
			return true, nil, err
		}
		pvc := obj.(*corev1.PersistentVolumeClaim).DeepCopy()
		if p := da.GetDeleteOptions().Preconditions; p != nil && p.UID != nil && *p.UID != pvc.UID {
			return true, nil, fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, pvc.UID)
		}
		now := metav1.Now()
		pvc.DeletionTimestamp = &now // pvc-protection: gone with the pod
		return true, nil, tr.Update(pvcsGVR, pvc, ns)
	})
	c.beforeStart = func(old *corev1.Pod) {
		node := old.Labels["app"]
		fresh := false
		for _, v := range old.Spec.Volumes {
			pc := v.PersistentVolumeClaim
			if pc == nil {
				continue
			}
			obj, err := tr.Get(pvcsGVR, ns, pc.ClaimName)
			if err != nil || obj.(*corev1.PersistentVolumeClaim).DeletionTimestamp == nil {
				continue
			}
			_ = tr.Delete(pvcsGVR, ns, pc.ClaimName)
			if !strings.HasSuffix(pc.ClaimName, "-"+node+"-0") {
				t.Errorf("deleted a claim that is not the StatefulSet's: %s", pc.ClaimName)
				continue
			}
			w.newClaim(t, node, pc.ClaimName)
			fresh = fresh || v.Name == "data"
		}
		if fresh {
			dir := w.sim.Node(node).DataDir()
			if err := os.RemoveAll(dir); err != nil {
				t.Error(err)
			}
			_ = os.MkdirAll(dir, 0o755)
		}
	}
}

func (w *world) newClaim(t *testing.T, node, name string) {
	t.Helper()
	labels := map[string]string{}
	if node != "" {
		labels["app"] = node
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "axon", Labels: labels,
		UID: types.UID(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))}}
	if err := w.kube.Tracker().Create(pvcsGVR, pvc, "axon"); err != nil {
		t.Fatal(err)
	}
}

func (w *world) claimUID(t *testing.T, name string) types.UID {
	t.Helper()
	pvc, err := w.kube.CoreV1().PersistentVolumeClaims("axon").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pvc.UID
}

func (w *world) annotations(t *testing.T, sts string) map[string]string {
	t.Helper()
	s, err := w.kube.AppsV1().StatefulSets("axon").Get(context.Background(), sts, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Annotations
}

// roles reads a node's memberships from the running cluster (status -o json).
func (w *world) roles(t *testing.T, node string) map[string]string {
	t.Helper()
	code, out, errOut := w.run(t, "status", "-o", "json")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	var st struct {
		Groups []struct {
			Name    string
			Members []struct{ Node, Role string }
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range st.Groups {
		for _, m := range g.Members {
			if m.Node == node {
				got[g.Name] = m.Role
			}
		}
	}
	return got
}

func TestReplaceNodeOne(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	mark := len(w.sim.Events())
	// By StatefulSet name, like an Axon node name.
	code, out, errOut := w.run(t, "replace-node", "axonserver-2", "--progress", "lines", "--poll-interval", "50ms", "--node-timeout", "2m")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Replace: plan") || !strings.Contains(out, "replace-node finished") {
		t.Errorf("stdout:\n%s", out)
	}
	ev := w.sim.Events()[mark:]
	for _, n := range w.sim.NodeNames() {
		want := 0
		if n == "axonserver-2" {
			want = 1
		}
		if c := axonsim.CountNode(ev, "node-started", n); c != want {
			t.Errorf("%s started %d times, want %d", n, c, want)
		}
	}
	if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
		t.Errorf("quorum lost: %v", q)
	}
	ann := w.annotations(t, "axonserver-2")
	if _, ok := ann[rebuild.Annotation]; ok {
		t.Errorf("mark left behind: %v", ann)
	}
	if last, err := record.ParseOp(ann[record.LastOperation]); err != nil || last.Result != "done" || last.Operation != "replace-node" {
		t.Errorf("last operation: %v %+v", err, last)
	}
	events, _ := w.kube.CoreV1().Events("axon").List(context.Background(), metav1.ListOptions{})
	reasons := map[string]int{}
	for _, e := range events.Items {
		reasons[e.Reason]++
	}
	if reasons["AxonReplaceNodeStarted"] != 1 || reasons["AxonReplaceNodeFinished"] != 1 {
		t.Errorf("events: %v", reasons)
	}
}

func TestReplaceNodeAll(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "replace-node", "--all", "-o", "json", "--poll-interval", "50ms", "--node-timeout", "2m")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	evs := jsonEvents(t, out)
	if evs[0]["event"] != "plan" || evs[len(evs)-1]["event"] != "summary" {
		t.Fatalf("first/last events: %v / %v", evs[0], evs[len(evs)-1])
	}
	plan := evs[0]["data"].(map[string]any)
	ev := w.sim.Events()[mark:]
	if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
		t.Errorf("quorum lost: %v", q)
	}
	for _, n := range w.sim.NodeNames() {
		if c := axonsim.CountNode(ev, "node-started", n); c != 1 {
			t.Errorf("%s started %d times", n, c)
		}
	}
	steps := plan["steps"].([]any)
	if last := steps[len(steps)-1].(map[string]any); last["kind"] != "leader" {
		t.Errorf("leaders last: %v", steps)
	}
	for _, g := range []string{"_admin", "payments", "orders"} {
		n := len(axonsim.Filter(ev, "leader-elected", g, ""))
		t.Logf("group %s: %d elections (plan's worst case %v)", g, n, plan["elections"].(map[string]any)[g])
		if n > int(plan["elections"].(map[string]any)[g].(float64)) {
			t.Errorf("group %s: %d elections", g, n)
		}
	}
	// A rerun is a new run: every node again (no mark is left).
	for _, n := range w.sim.NodeNames() {
		if _, ok := w.annotations(t, n)[rebuild.Annotation]; ok {
			t.Errorf("%s: mark left behind", n)
		}
	}
}

func TestReplaceNodeResumesPlainRun(t *testing.T) {
	w := newWorld(t, fiveMixed)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	// A run of --all stopped after its first two nodes: the others still carry its mark.
	all := w.sim.NodeNames()
	for _, n := range all[2:] {
		st := rebuild.State{Run: "earlier", Targets: all, Phase: rebuild.Pending}
		if err := (&record.Recorder{Kube: w.kube, Namespace: "axon"}).Annotate(context.Background(), n, map[string]string{rebuild.Annotation: st.String()}); err != nil {
			t.Fatal(err)
		}
	}
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "replace-node", "--all", "--progress", "none", "--poll-interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Skipped (replaced by an earlier run and healthy): axonserver-1, axonserver-2") {
		t.Errorf("plan:\n%s", out)
	}
	ev := w.sim.Events()[mark:]
	for i, n := range all {
		want := 1
		if i < 2 {
			want = 0
		}
		if c := axonsim.CountNode(ev, "node-started", n); c != want {
			t.Errorf("%s started %d times, want %d", n, c, want)
		}
	}
}

// freshWorld is fiveMixed with autocluster (first axonserver-1, context _admin) and volumes.
func freshWorld(t *testing.T, autocluster bool) *world {
	topo := fiveMixed
	if autocluster {
		topo += "autocluster: {first: axonserver-1, contexts: [_admin]}\n"
	}
	w := newWorld(t, topo)
	c := w.onDelete(t)
	w.withVolumes(t, c)
	w.waitStatusHealthy(t)
	return w
}

func TestReplaceNodeFreshVolume(t *testing.T) {
	for _, auto := range []bool{true, false} {
		t.Run(fmt.Sprintf("autocluster=%v", auto), func(t *testing.T) {
			w := freshWorld(t, auto)
			node := "axonserver-4" // orders PRIMARY, payments ACTIVE_BACKUP; not in _admin
			before := w.roles(t, node)
			oldData := w.claimUID(t, "data-axonserver-4-0")
			shared := w.claimUID(t, "shared-licenses")

			code, out, errOut := w.run(t, "replace-node", "--fresh-volume", "--dry-run", node)
			if code != 0 || !strings.Contains(out, "PVCs to delete for axonserver-4: data-axonserver-4-0, events-axonserver-4-0, log-axonserver-4-0") ||
				!strings.Contains(out, "TOLERANCE NOW") {
				t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
			}
			mark := len(w.sim.Events())
			code, out, errOut = w.run(t, "replace-node", "--fresh-volume", "--yes", "-o", "json", "--poll-interval", "50ms",
				"--node-timeout", "2m", "--join-wait", "1s", node)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			kinds := map[string]int{}
			for _, e := range jsonEvents(t, out) {
				kinds[e["event"].(string)]++
			}
			for _, k := range []string{"unregistered", "volumes-deleted", "registered", "group-restored", "step-finished"} {
				if kinds[k] == 0 {
					t.Errorf("no %s event: %v", k, kinds)
				}
			}
			if got := w.roles(t, node); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("roles after the rebuild %v, before %v", got, before)
			}
			if w.claimUID(t, "data-axonserver-4-0") == oldData {
				t.Error("data PVC not replaced")
			}
			if w.claimUID(t, "shared-licenses") != shared {
				t.Error("shared PVC touched")
			}
			ev := w.sim.Events()[mark:]
			if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
				t.Errorf("quorum lost: %v", q)
			}
			if n := axonsim.CountNode(ev, "node-unregistered", node); n != 1 {
				t.Errorf("unregistered %d times", n)
			}
			if _, ok := w.annotations(t, node)[rebuild.Annotation]; ok {
				t.Error("mark left behind")
			}
			w.waitStatusHealthy(t)
		})
	}
}

// TestReplaceNodeFreshVolumeResume: runs that stopped after step 3 (unregistered)
// and after step 4 (volumes and pod deleted) are finished by a rerun.
func TestReplaceNodeFreshVolumeResume(t *testing.T) {
	w := freshWorld(t, true)
	ctx := context.Background()
	rec := &record.Recorder{Kube: w.kube, Namespace: "axon"}
	for _, tc := range []struct {
		node  string
		phase rebuild.Phase
	}{{"axonserver-5", rebuild.Unregistered}, {"axonserver-2", rebuild.VolumesDeleted}} {
		t.Run(string(tc.phase), func(t *testing.T) {
			w.waitStatusHealthy(t)
			before := w.roles(t, tc.node)
			var groups []rebuild.Membership
			for g, r := range before {
				groups = append(groups, rebuild.Membership{Group: g, Role: quorum.Role(r)})
			}
			rebuild.SortMemberships(groups)
			mark := len(w.sim.Events())
			// Step 3 as the interrupted run took it.
			w.sim.Unregister(tc.node)
			if err := w.sim.WaitFor(settle, func(ev []axonsim.Event) bool {
				return axonsim.CountNode(ev[mark:], "node-unregistered", tc.node) > 0
			}); err != nil {
				t.Fatal(err)
			}
			st := rebuild.State{Run: "killed", Targets: []string{tc.node}, Fresh: true, Phase: tc.phase, Groups: groups}
			if tc.phase == rebuild.VolumesDeleted {
				// Step 4 too: the PVCs and the pod deleted; the controller recreates them.
				pod, _ := w.kube.CoreV1().Pods("axon").Get(ctx, tc.node+"-0", metav1.GetOptions{})
				st.OldPod = string(pod.UID)
				for _, ct := range claimTemplates {
					name := fmt.Sprintf("%s-%s-0", ct, tc.node)
					st.Claims = append(st.Claims, rebuild.Claim{Name: name, UID: string(w.claimUID(t, name))})
					if err := w.kube.CoreV1().PersistentVolumeClaims("axon").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.kube.CoreV1().Pods("axon").Delete(ctx, tc.node+"-0", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := rec.Annotate(ctx, tc.node, map[string]string{rebuild.Annotation: st.String()}); err != nil {
				t.Fatal(err)
			}
			// Another operation is refused while the node is mid-rebuild.
			code, _, errOut := w.run(t, "replace-node", "axonserver-1")
			if code != cli.ExitRefused || !strings.Contains(errOut, "finish it first") {
				t.Errorf("other run: exit %d %s", code, errOut)
			}
			code, out, errOut := w.run(t, "replace-node", "--fresh-volume", "--yes", "--progress", "lines", "--poll-interval", "50ms",
				"--node-timeout", "2m", tc.node)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if got := w.roles(t, tc.node); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("roles after the rebuild %v, before %v", got, before)
			}
			ev := w.sim.Events()[mark:]
			if q := axonsim.Filter(ev, "quorum-lost", "", ""); len(q) > 0 {
				t.Errorf("quorum lost: %v", q)
			}
			if n := axonsim.CountNode(ev, "node-started", tc.node); n != 1 {
				t.Errorf("%s started %d times, want 1", tc.node, n)
			}
		})
	}
}

func TestReplaceNodeRefusals(t *testing.T) {
	w := freshWorld(t, false)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replace-node"}, cli.ExitUsage, "name the nodes"},
		{[]string{"replace-node", "--all", "axonserver-1"}, cli.ExitUsage, "not both"},
		{[]string{"replace-node", "axonserver-9"}, cli.ExitUsage, "no node \"axonserver-9\""},
		{[]string{"replace-node", "--fresh-volume", "axonserver-1"}, cli.ExitUsage, "give --yes"},
		{[]string{"replace-node", "--fresh-volume", "--force", "--yes", "axonserver-1"}, cli.ExitUsage, "--force does not apply"},
	} {
		code, _, errOut := w.run(t, tc.args[0], tc.args[1:]...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want %d %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	// Not a singleton StatefulSet.
	sts, _ := w.kube.AppsV1().StatefulSets("axon").Get(context.Background(), "axonserver-5", metav1.GetOptions{})
	two := int32(2)
	sts.Spec.Replicas = &two
	_, _ = w.kube.AppsV1().StatefulSets("axon").Update(context.Background(), sts, metav1.UpdateOptions{})
	if code, _, errOut := w.run(t, "replace-node", "axonserver-5"); code != cli.ExitRefused || !strings.Contains(errOut, "singleton") {
		t.Errorf("replicas 2: exit %d %q", code, errOut)
	}
}

func TestReplaceNodeFreshVolumeGroupOfOne(t *testing.T) {
	w := newWorld(t, strings.Replace(threeNodes, "timing:", `  - name: solo
    contexts: [solo]
    roles: {axonserver-3: PRIMARY}
timing:`, 1))
	c := w.onDelete(t)
	w.withVolumes(t, c)
	w.waitStatusHealthy(t)
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "replace-node", "--fresh-volume", "--yes", "axonserver-3")
	if code != cli.ExitRefused || !strings.Contains(errOut, "solo: removing axonserver-3 leaves no PRIMARY member") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "REFUSED") {
		t.Errorf("plan does not show the refusal:\n%s", out)
	}
	if ev := w.sim.Events()[mark:]; len(axonsim.Filter(ev, "node-unregistered", "", "")) > 0 || len(axonsim.Filter(ev, "node-stopped", "", "")) > 0 {
		t.Errorf("changed something: %v", ev)
	}
	// payments' only ACTIVE_BACKUP may be rebuilt: the group commits without one.
	code, out, _ = w.run(t, "replace-node", "--fresh-volume", "--dry-run", "-o", "json", "axonserver-2")
	if code != 0 || !strings.Contains(out, `"safe": true`) {
		t.Errorf("axonserver-2: exit %d\n%s", code, out)
	}
}
