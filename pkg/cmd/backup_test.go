package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
)

// backupTopology is threeNodes with axonserver-3 a PASSIVE_BACKUP of payments: the
// node a --stop-node backup may stop (stopping axonserver-1 or -2 leaves payments
// one PRIMARY of two).
var backupTopology = strings.Replace(threeNodes,
	"roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: ACTIVE_BACKUP}",
	"roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PASSIVE_BACKUP}", 1)

// backupWorld is a world whose pods mount their data, events and log claims where
// generate puts them, with the snapshot API served or not, and a user allowed all
// but the permissions in denied ("verb resource.group[/sub]").
func backupWorld(t *testing.T, snapshotAPI bool, denied ...string) *world {
	t.Helper()
	w := newWorld(t, backupTopology)
	ctx := context.Background()
	pods, err := w.kube.CoreV1().Pods("axon").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		sts := strings.TrimSuffix(p.Name, "-0")
		p.Spec.Volumes = nil
		p.Spec.Containers[0].VolumeMounts = nil
		for _, v := range []string{"log", "events", "data"} {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v + "-" + sts + "-0"}}})
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/axonserver/" + v})
		}
		if _, err := w.kube.CoreV1().Pods("axon").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if snapshotAPI {
		d := w.kube.Discovery().(*fakediscovery.FakeDiscovery)
		d.Resources = append(d.Resources, &metav1.APIResourceList{GroupVersion: snapshotGroupVersion,
			APIResources: []metav1.APIResource{{Name: "volumesnapshots", Namespaced: true, Kind: "VolumeSnapshot"}}})
	}
	w.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		name := accessName(*r.Spec.ResourceAttributes)
		r.Status.Allowed = true
		for _, d := range denied {
			if d == name {
				r.Status.Allowed = false
			}
		}
		return true, r, nil
	})
	w.waitStatusHealthy(t)
	return w
}

// The plan of a volume-snapshot backup: the source's claims, sorted by volume, the
// method, and with --stop-node on a node that may stop, the stop; nothing is
// created (no VolumeSnapshot, no DIR).
func TestBackupSnapshotPlan(t *testing.T) {
	w := backupWorld(t, true)
	dir := filepath.Join(t.TempDir(), "b")
	code, out, errOut := w.run(t, "backup", "--to", dir, "--method", "volume-snapshot", "--stop-node", "--node", "axonserver-3",
		"--snapshot-class", "fast", "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p struct {
		Method        string         `json:"method"`
		Claims        []backup.Claim `json:"claims"`
		StopNode      bool           `json:"stopNode"`
		SnapshotClass string         `json:"snapshotClass"`
		Source        struct{ Node, ControlDB string }
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []backup.Claim{{Volume: "data", Name: "data-axonserver-3-0"}, {Volume: "events", Name: "events-axonserver-3-0"}, {Volume: "log", Name: "log-axonserver-3-0"}}
	if p.Method != backup.MethodVolumeSnapshot || !p.StopNode || p.SnapshotClass != "fast" || p.Source.Node != "axonserver-3" || len(p.Claims) != 3 {
		t.Fatalf("plan %+v", p)
	}
	for i := range want {
		if p.Claims[i] != want[i] {
			t.Fatalf("claims %v, want %v", p.Claims, want)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a dry run created DIR")
	}
	for _, a := range w.kube.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" && a.GetResource().Resource != "pods" {
			t.Fatalf("a dry run wrote: %v", a)
		}
	}
	// Text: the claims and the stop are said.
	code, out, errOut = w.run(t, "backup", "--to", dir, "--method", "volume-snapshot", "--stop-node", "--node", "axonserver-3", "--dry-run")
	if code != 0 || !strings.Contains(out, "per PVC of pod axonserver-3-0: data-axonserver-3-0, events-axonserver-3-0, log-axonserver-3-0") ||
		!strings.Contains(out, "node axonserver-3 stopped for the snapshots") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// The preflight refuses (exit 3, one line, nothing created): a cluster that does not
// serve the snapshot API; --stop-node of a node whose stop costs a group its quorum;
// a user without one of the permissions, named exactly.
func TestBackupSnapshotRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		api    bool
		denied []string
		args   []string
		says   []string
	}{
		{name: "no snapshot API", api: false, says: []string{"does not serve snapshot.storage.k8s.io/v1", "--method files"}},
		{name: "stop a PRIMARY", api: true, args: []string{"--stop-node", "--node", "axonserver-1"},
			says: []string{"--stop-node: node axonserver-1 cannot be stopped now", "payments", "nothing was changed"}},
		{name: "no watch", api: true, denied: []string{"watch volumesnapshots.snapshot.storage.k8s.io", "create pods/exec"},
			says: []string{"backup needs create pods/exec and watch volumesnapshots.snapshot.storage.k8s.io in namespace axon", "kubectl-axon-backup"}},
		{name: "no statefulset patch", api: true, denied: []string{"patch statefulsets.apps"}, args: []string{"--stop-node", "--node", "axonserver-3"},
			says: []string{"backup needs patch statefulsets.apps in namespace axon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := backupWorld(t, tc.api, tc.denied...)
			dir := filepath.Join(t.TempDir(), "b")
			code, out, errOut := w.run(t, "backup", append([]string{"--to", dir, "--method", "volume-snapshot"}, tc.args...)...)
			if code != cli.ExitRefused || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
				t.Fatalf("exit %d, want %d, one line:\n%s%s", code, cli.ExitRefused, out, errOut)
			}
			for _, s := range tc.says {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q does not say %q", errOut, s)
				}
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("a refused backup created DIR")
			}
			for _, a := range w.kube.Actions() {
				if a.GetVerb() == "patch" || (a.GetVerb() == "create" && a.GetResource().Resource != "selfsubjectaccessreviews") {
					t.Fatalf("a refused backup wrote: %v", a)
				}
			}
		})
	}
}

var snapshotListKinds = map[schema.GroupVersionResource]string{volumeSnapshots: "VolumeSnapshotList"}

// snapshotClaims creates one labelled VolumeSnapshot per claim and returns once
// every one is ready, with its content and size; one that reports an error fails
// the wait with the controller's message.
func TestSnapshotClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), snapshotListKinds)
	// the snapshot controller, at creation: ready, unless the claim is "broken"
	dyn.PrependReactor("create", "volumesnapshots", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		claim, _, _ := unstructured.NestedString(u.Object, "spec", "source", "persistentVolumeClaimName")
		if claim == "broken" {
			u.Object["status"] = map[string]any{"readyToUse": false, "error": map[string]any{"message": "the PVC broken is not yet bound to a PV"}}
		} else {
			u.Object["status"] = map[string]any{"readyToUse": true, "restoreSize": "10Gi", "boundVolumeSnapshotContentName": "content-" + claim,
				"creationTime": "2026-11-27T08:00:00Z"}
		}
		return false, nil, nil
	})
	o := &BackupOptions{}
	p := &backupPlan{Cluster: "axonserver", Namespace: "axon", SnapshotClass: "fast",
		Claims: []backup.Claim{{Volume: "data", Name: "data-axonserver-3-0"}, {Volume: "events", Name: "events-axonserver-3-0"}}}
	got, err := o.snapshotClaims(ctx, dyn, p, "axonserver-20261127-080000", progress.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Name != "axonserver-20261127-080000-events-axonserver-3-0" || got[1].Content != "content-events-axonserver-3-0" ||
		got[1].RestoreSize != "10Gi" || got[1].Volume != "events" || got[1].CreationTime.IsZero() {
		t.Fatalf("snapshots %+v", got)
	}
	list, _ := dyn.Resource(volumeSnapshots).Namespace("axon").List(ctx, metav1.ListOptions{LabelSelector: backup.LabelBackup + "=axonserver-20261127-080000"})
	if len(list.Items) != 2 {
		t.Fatalf("%d labelled snapshots", len(list.Items))
	}
	if c, _, _ := unstructured.NestedString(list.Items[0].Object, "spec", "volumeSnapshotClassName"); c != "fast" {
		t.Fatalf("class %q", c)
	}
	// Verify reads them back; one gone is a problem.
	m := &backup.Manifest{Namespace: "axon", BackupID: "axonserver-20261127-080000", Snapshots: got, Method: backup.MethodVolumeSnapshot}
	defer func(f func(*connect.Session) (dynamic.Interface, error)) { backupDynamic = f }(backupDynamic)
	backupDynamic = func(*connect.Session) (dynamic.Interface, error) { return dyn, nil }
	open := func(*connect.Flags) (*connect.Session, error) { return &connect.Session{}, nil }
	if probs := verifySnapshots(ctx, open, connect.NewFlags(), m); len(probs) != 0 {
		t.Fatalf("verify: %v", probs)
	}
	_ = dyn.Resource(volumeSnapshots).Namespace("axon").Delete(ctx, got[0].Name, metav1.DeleteOptions{})
	if probs := verifySnapshots(ctx, open, connect.NewFlags(), m); len(probs) != 1 || !strings.Contains(probs[0], "no longer exists") {
		t.Fatalf("verify after a deletion: %v", probs)
	}

	p.Claims = append(p.Claims, backup.Claim{Volume: "log", Name: "broken"})
	_, err = o.snapshotClaims(ctx, dyn, p, "axonserver-20261127-090000", progress.Discard)
	if err == nil || !strings.Contains(err.Error(), "the PVC broken is not yet bound") || ctx.Err() != nil {
		t.Fatalf("a snapshot with an error: %v", err)
	}
}

func TestGrewWhileRead(t *testing.T) {
	exit := func(code int) error { return utilexec.CodeExitError{Err: errors.New("command terminated"), Code: code} }
	for _, tc := range []struct {
		name   string
		err    error
		stderr string
		want   bool
	}{
		{"GNU tar, a segment grew", exit(1), "tar: events/orders/00000000000000000063.events: file changed as we read it\ntar: Exiting with failure status due to previous errors\n", true},
		{"two files grew", exit(1), "tar: a: file changed as we read it\ntar: b: file changed as we read it\n", true},
		{"a file is gone as well", exit(1), "tar: a: file changed as we read it\ntar: b: Cannot stat: No such file or directory\n", false},
		{"exit 1, nothing said", exit(1), "", false},
		{"exit 2", exit(2), "tar: a: file changed as we read it\n", false},
		{"not an exit", errors.New("connection reset"), "tar: a: file changed as we read it\n", false},
		{"success", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := grewWhileRead(tc.err, tc.stderr); got != tc.want {
				t.Errorf("grewWhileRead = %v, want %v", got, tc.want)
			}
		})
	}
}
