package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// answerReviews answers every SelfSubjectAccessReview with allowed (the fake
// clientset cannot create them: an error, which the commands take as "ask the
// request itself").
func answerReviews(w *world, allowed bool) {
	w.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		r.Status.Allowed = allowed
		return true, r, nil
	})
}

func membershipEvents(ev []axonsim.Event) []axonsim.Event {
	var out []axonsim.Event
	for _, e := range ev {
		if e.Event == axonsim.EvMemberAdded || e.Event == axonsim.EvMemberRemoved {
			out = append(out, e)
		}
	}
	return out
}

// TestShapeCommands, in-process against the simulator: a set-role the group keeps
// committing through is made (removed, added back, caught up) and recorded; one that
// would drop payments below min-active-backups, and a decommission without the
// permissions it needs, are refused with exit 3 and change nothing.
func TestShapeCommands(t *testing.T) {
	w := newWorld(t, threeNodes)
	w.waitStatusHealthy(t)

	// No permissions: refused, naming them.
	answerReviews(w, false)
	n := len(w.sim.Events())
	code, out, errOut := w.run(t, "remove-node", "axonserver-3", "--progress", "none")
	if code != cli.ExitRefused || !strings.Contains(errOut, "missing permission: ") || !strings.Contains(errOut, "delete statefulsets.apps") {
		t.Errorf("remove-node without permissions: exit %d\n%s%s", code, out, errOut)
	}
	answerReviews(w, true)

	// The only ACTIVE_BACKUP of payments (min-active-backups 1) cannot leave it.
	code, out, errOut = w.run(t, "set-role", "payments", "axonserver-3", "PASSIVE_BACKUP", "--progress", "none")
	if code != cli.ExitRefused || !strings.Contains(errOut, "min-active-backups") || !strings.Contains(out, "REFUSED") {
		t.Errorf("set-role of the only ACTIVE_BACKUP: exit %d\n%s%s", code, out, errOut)
	}
	// The plan as data.
	code, out, _ = w.run(t, "set-role", "_admin", "axonserver-3", "ACTIVE_BACKUP", "--dry-run", "-o", "json")
	var doc struct {
		Kind    string `json:"kind"`
		Refused bool   `json:"refused"`
		Groups  []struct {
			Changes []struct{ Op, Node, Role string } `json:"changes"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.Refused || len(doc.Groups) != 1 || len(doc.Groups[0].Changes) != 2 {
		t.Fatalf("--dry-run -o json: exit %d %v\n%s", code, err, out)
	}
	if ev := membershipEvents(w.sim.Events()[n:]); len(ev) != 0 {
		t.Fatalf("refusals and a dry run changed groups: %+v", ev)
	}

	// _admin keeps committing on two PRIMARY members while axonserver-3 is out.
	code, out, errOut = w.run(t, "set-role", "_admin", "axonserver-3", "ACTIVE_BACKUP", "-o", "json")
	if code != 0 {
		t.Fatalf("set-role: exit %d\n%s%s", code, out, errOut)
	}
	ev := membershipEvents(w.sim.Events()[n:])
	if len(ev) != 2 || ev[0].Event != axonsim.EvMemberRemoved || ev[1].Event != axonsim.EvMemberAdded || ev[1].Role != axonsim.RoleActiveBackup {
		t.Errorf("set-role's changes in the audit: %+v", ev)
	}
	for _, kind := range []string{`"event":"plan"`, `"event":"membership-confirmed"`, `"event":"group-restored"`, `"event":"summary"`} {
		if !strings.Contains(out, kind) {
			t.Errorf("-o json lacks %s:\n%s", kind, out)
		}
	}
	if lost := axonsim.Count(w.sim.Events()[n:], axonsim.EvQuorumLost, "_admin"); lost != 0 {
		t.Errorf("_admin lost its quorum %d times", lost)
	}
	// Done: a rerun has nothing to do, and the StatefulSet's record is gone.
	code, out, errOut = w.run(t, "set-role", "_admin", "axonserver-3", "ACTIVE_BACKUP", "--progress", "none")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("rerun: exit %d\n%s%s", code, out, errOut)
	}
}

// remove-node warns about the nodes whose autocluster.first names the node it
// removes (read from their ConfigMap as the container reads it).
func TestRemoveNodeWarnsAboutAutoclusterFirst(t *testing.T) {
	w := newWorld(t, threeNodes)
	w.waitStatusHealthy(t)
	answerReviews(w, true)
	ctx := context.Background()
	sts, err := w.kube.AppsV1().StatefulSets("axon").Get(ctx, "axonserver-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct := &sts.Spec.Template.Spec.Containers[0]
	ct.Env = append(ct.Env, corev1.EnvVar{Name: generate.AutoclusterFirstEnv, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "axonserver-2-autocluster"}, Key: generate.AutoclusterFirstKey}}})
	if _, err := w.kube.AppsV1().StatefulSets("axon").Update(ctx, sts, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-2-autocluster", Namespace: "axon"},
		Data: map[string]string{generate.AutoclusterFirstKey: "axonserver-1.axon.svc.cluster.local"}}
	if _, err := w.kube.CoreV1().ConfigMaps("axon").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "remove-node", "axonserver-1", "--dry-run")
	if code != 0 || !strings.Contains(out, "Warning: the autocluster.first of axonserver-2") || strings.Contains(out, "of axonserver-3") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
