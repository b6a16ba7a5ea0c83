package rebuild

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

func testSTS(templates ...string) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-2", UID: "sts-uid"},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "axonserver-2"}}}}
	for _, t := range templates {
		sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: t}})
	}
	return sts
}

func testPod(name, owner string, vols map[string]string) *corev1.Pod {
	yes := true
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name,
		OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: owner, UID: "sts-uid", Controller: &yes}}}}
	for v, claim := range vols {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "config"})
	return p
}

func TestOwnedClaims(t *testing.T) {
	own := map[string]string{"data": "data-axonserver-2-0", "events": "events-axonserver-2-0"}
	for _, tc := range []struct {
		name    string
		sts     *appsv1.StatefulSet
		pod     *corev1.Pod
		want    string
		skipped string
		err     string
	}{
		{"own claims", testSTS("data", "events"), testPod("axonserver-2-0", "axonserver-2", own), "data-axonserver-2-0,events-axonserver-2-0", "", ""},
		{"shared volume left alone", testSTS("data", "events"), testPod("axonserver-2-0", "axonserver-2",
			map[string]string{"data": "data-axonserver-2-0", "events": "events-axonserver-2-0", "lic": "licenses"}), "data-axonserver-2-0,events-axonserver-2-0", "licenses", ""},
		{"no pod", testSTS("data"), nil, "", "", "has no pod"},
		{"pod of another StatefulSet", testSTS("data"), testPod("axonserver-20-0", "axonserver-20", own), "", "", "not a pod of"},
		{"not controlled", testSTS("data"), testPod("axonserver-2-0", "other", own), "", "", "not controlled"},
		{"volume on another claim", testSTS("data"), testPod("axonserver-2-0", "axonserver-2",
			map[string]string{"data": "data-axonserver-3-0"}), "", "", "not the StatefulSet's own"},
		{"template without volume", testSTS("data", "log"), testPod("axonserver-2-0", "axonserver-2", own), "", "", "no volume log"},
		{"no templates", testSTS(), testPod("axonserver-2-0", "axonserver-2", nil), "", "", "no volumeClaimTemplates"},
		{"bad ordinal", testSTS("data"), testPod("axonserver-2-x", "axonserver-2", own), "", "", "not a pod of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := OwnedClaims(tc.sts, tc.pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.want || strings.Join(skipped, ",") != tc.skipped {
				t.Fatalf("got %v skipped %v err %v", got, skipped, err)
			}
		})
	}
}

func TestClaimBelongs(t *testing.T) {
	sts := testSTS("data")
	for _, tc := range []struct {
		name, claim string
		labels      map[string]string
		ok          bool
	}{
		{"own", "data-axonserver-2-0", map[string]string{"app": "axonserver-2"}, true},
		{"other ordinal", "data-axonserver-2-1", map[string]string{"app": "axonserver-2"}, false},
		{"other StatefulSet", "data-axonserver-3-0", map[string]string{"app": "axonserver-3"}, false},
		{"no selector labels", "data-axonserver-2-0", nil, false},
	} {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: tc.claim, Labels: tc.labels}}
		if err := ClaimBelongs(sts, 0, pvc); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestDecide(t *testing.T) {
	targets := []string{"b", "a", "c"}
	sorted := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name   string
		fresh  bool
		marks  map[string]State
		resume bool
		done   string // the done targets
		keep   string
		err    string
	}{
		{"no marks: new run", false, nil, false, "", "", ""},
		{"same run: resume, unmarked are done", false, map[string]State{"c": {Run: "r1", Targets: sorted, Phase: Pending}}, true, "a,b", "", ""},
		{"other targets: new run", false, map[string]State{"c": {Run: "r1", Targets: []string{"c"}, Phase: Pending}}, false, "", "", ""},
		{"other mode: new run", true, map[string]State{"c": {Run: "r1", Targets: sorted, Phase: Pending}}, false, "", "", ""},
		{"fresh resume mid-rebuild", true, map[string]State{"b": {Run: "r1", Targets: sorted, Fresh: true, Phase: VolumesDeleted}, "c": {Run: "r1", Targets: sorted, Fresh: true, Phase: Pending}}, true, "a", "b", ""},
		{"mid-rebuild node kept by a new fresh run", true, map[string]State{"b": {Run: "r0", Targets: []string{"b"}, Fresh: true, Phase: Unregistered}}, false, "", "b", ""},
		{"mid-rebuild node outside the targets", true, map[string]State{"z": {Run: "r0", Targets: []string{"z"}, Fresh: true, Phase: Deleting}}, false, "", "", "z (deleting)"},
		{"mid-rebuild node, plain run", false, map[string]State{"a": {Run: "r0", Targets: []string{"a"}, Fresh: true, Phase: Unregistering}}, false, "", "", "finish it first"},
		{"fresh pending marks of another run do not block", false, map[string]State{"z": {Run: "r0", Fresh: true, Phase: Pending}}, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(targets, tc.fresh, tc.marks, "new")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var done, keep []string
			for _, n := range sorted {
				if d.Done[n] {
					done = append(done, n)
				}
				if _, ok := d.Keep[n]; ok {
					keep = append(keep, n)
				}
			}
			if d.Resume != tc.resume || strings.Join(done, ",") != tc.done || strings.Join(keep, ",") != tc.keep {
				t.Fatalf("resume %v done %v keep %v", d.Resume, done, keep)
			}
			if d.Resume && d.Run != "r1" || !d.Resume && d.Run != "new" {
				t.Errorf("run %q", d.Run)
			}
		})
	}
}

func TestPhaseOrder(t *testing.T) {
	if !VolumesDeleted.AtLeast(Unregistered) || Unregistered.AtLeast(Deleting) || !Phase("").AtLeast(Pending) || Phase("bogus").AtLeast(Unregistering) {
		t.Error("phase order")
	}
	st := State{Run: "r", Targets: []string{"a"}, Fresh: true, Phase: Deleting, Groups: []Membership{{Group: "g", Role: quorum.ActiveBackup}}, Claims: []Claim{{"data-a-0", "u"}}}
	back, err := Parse(st.String())
	if err != nil || back.String() != st.String() {
		t.Errorf("round trip: %v %s", err, back)
	}
	if _, err := Parse("{"); err == nil {
		t.Error("bad JSON accepted")
	}
}

func member(node string, role quorum.Role) quorum.Member {
	return quorum.Member{Node: node, Role: role, Up: true, CaughtUp: true}
}

func TestRemoval(t *testing.T) {
	p, ab := quorum.Primary, quorum.ActiveBackup
	for _, tc := range []struct {
		name       string
		group      quorum.Group
		recorded   []Membership
		safe       bool
		structural bool
		during     int
		reason     string
	}{
		{"three primaries", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("b", p), member("x", p)}}, nil, true, false, 0, ""},
		{"five primaries", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("b", p), member("c", p), member("d", p), member("x", p)}}, nil, true, false, 1, ""},
		{"two primaries: one left commits", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("x", p)}}, nil, true, false, 0, ""},
		{"leader rebuilt: leadership moves", quorum.Group{Name: "g", Leader: "x", Members: []quorum.Member{member("a", p), member("b", p), member("x", p)}}, nil, true, false, 0, ""},
		{"group of one", quorum.Group{Name: "g", Leader: "x", Members: []quorum.Member{member("x", p)}}, nil, false, true, -1, "leaves no PRIMARY"},
		{"only PRIMARY among backups", quorum.Group{Name: "g", Leader: "x", Members: []quorum.Member{member("x", p), member("b", quorum.PassiveBackup)}}, nil, false, true, -1, "leaves no PRIMARY"},
		{"only active backup: fine without one", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("b", p), member("c", p), member("x", ab)}}, nil, true, false, 1, ""},
		{"min-active-backups 2 of 2", quorum.Group{Name: "g", Leader: "a", MinActiveBackups: 2, Members: []quorum.Member{member("a", p), member("b", p), member("c", p), member("y", ab), member("x", ab)}}, nil, false, true, -1, "never commit"},
		{"another primary down", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), {Node: "b", Role: p}, member("x", p)}}, nil, false, false, -1, "cannot commit now"},
		{"no leader", quorum.Group{Name: "g", Members: []quorum.Member{member("a", p), member("b", p), member("x", p)}}, nil, false, false, 0, "no leader"},
		{"unregistered: judged by the record", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("b", p)}}, []Membership{{Group: "g", Role: p}}, true, false, 0, ""},
		{"not a member", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p)}}, nil, true, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, impacts := Removal(quorum.Cluster{Groups: []quorum.Group{tc.group}}, "x", tc.recorded)
			if v.Safe != tc.safe {
				t.Fatalf("safe %v: %+v", v.Safe, v)
			}
			if len(impacts) == 0 {
				return
			}
			gi := impacts[0]
			if gi.Structural != tc.structural || gi.During != tc.during || !strings.Contains(gi.Blocked, tc.reason) {
				t.Fatalf("impact %+v", gi)
			}
		})
	}
}

// TestCanLose: a membership is removed only while the group commits without it, judged
// on a look taken at the time of the removal (a member cut off after the preflight
// must stop it: chaos seed 40).
func TestCanLose(t *testing.T) {
	p := quorum.Primary
	down := quorum.Member{Node: "b", Role: p}
	lagging := quorum.Member{Node: "b", Role: p, Up: true}
	for _, tc := range []struct {
		name  string
		group quorum.Group
		may   bool
	}{
		{"three primaries up", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), member("b", p), member("x", p)}}, true},
		{"another primary cut off", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), down, member("x", p)}}, false},
		{"another primary catching up", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), lagging, member("x", p)}}, false},
		{"four primaries, one down", quorum.Group{Name: "g", Leader: "a", Members: []quorum.Member{member("a", p), down, member("c", p), member("x", p)}}, true},
		{"a group the look does not show", quorum.Group{Name: "other"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			looks := 0
			e := &Env{Observe: func(context.Context, ...stepper.Focus) (*snapshot.Snapshot, error) {
				looks++
				return &snapshot.Snapshot{Model: &inspect.Model{Cluster: quorum.Cluster{Groups: []quorum.Group{tc.group}}}}, nil
			}}
			why := e.canLose(context.Background(), "x")(axonserver.ReplicationGroup{Name: "g"})
			if (why == "") != tc.may || looks != 1 {
				t.Fatalf("canLose = %q after %d looks; want may %v after one look", why, looks, tc.may)
			}
		})
	}
}
