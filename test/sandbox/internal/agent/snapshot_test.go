package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// snapWorld is a claim on a local PV of the provisioner, its files, and the
// default snapshot class (deletionPolicy policy).
func snapWorld(t *testing.T, phase corev1.PersistentVolumeClaimPhase, policy string) (*snapshots, string) {
	t.Helper()
	root := t.TempDir()
	vol := filepath.Join(root, "volumes", "pvc-1")
	for name, data := range map[string]string{
		".claim":                              "axon/events-axonserver-3-0\n",
		"default/00000000000000000000.events": "ev0",
		"default/00000000000000000000.index":  "ix0",
		"orders/00000000000000000064.events":  "ev64",
	} {
		p := filepath.Join(vol, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "events-axonserver-3-0", Namespace: "axon", UID: "claim-uid"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-1"},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{annProvisionedBy: sandbox.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			ClaimRef:               &corev1.ObjectReference{Namespace: "axon", Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: vol}},
		},
	}
	cs := fake.NewClientset(pvc, pv)
	class := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": snapshotAPI, "kind": "VolumeSnapshotClass",
		"metadata": map[string]any{"name": sandbox.SnapshotClassName, "annotations": map[string]any{sandbox.AnnDefaultSnapshotClass: "true"}},
		"driver":   sandbox.Provisioner, "deletionPolicy": policy,
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		sandbox.VolumeSnapshots:        "VolumeSnapshotList",
		sandbox.VolumeSnapshotContents: "VolumeSnapshotContentList",
		sandbox.VolumeSnapshotClasses:  "VolumeSnapshotClassList",
	}, class)
	s := newSnapshots(dyn, cs, root, t.Logf)
	s.now = func() time.Time { return time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC) }
	return s, vol
}

func createSnapshot(t *testing.T, s *snapshots, name, claim string) *unstructured.Unstructured {
	t.Helper()
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": snapshotAPI, "kind": snapshotKind,
		"metadata": map[string]any{"name": name, "namespace": "axon", "uid": "snap-uid-" + name},
		"spec":     map[string]any{"source": map[string]any{"persistentVolumeClaimName": claim}},
	}}
	got, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace("axon").Create(context.Background(), vs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func getSnapshot(t *testing.T, s *snapshots, name string) *unstructured.Unstructured {
	t.Helper()
	vs, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace("axon").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// A snapshot of a Bound claim: a content (the class's deletionPolicy), a copy of the
// PV's files at that moment, and the status the real controller writes. A change to
// the volume afterwards does not reach the copy; deleting the snapshot deletes both.
func TestSnapshotTakenAndDeleted(t *testing.T) {
	ctx := context.Background()
	s, vol := snapWorld(t, corev1.ClaimBound, "Delete")
	createSnapshot(t, s, "bk-1", "events-axonserver-3-0")
	if err := s.syncSnapshot(ctx, "axon", "bk-1"); err != nil {
		t.Fatal(err)
	}
	vs := getSnapshot(t, s, "bk-1")
	st, _, _ := unstructured.NestedMap(vs.Object, "status")
	content := contentPrefix + "snap-uid-bk-1"
	if st["readyToUse"] != true || st["boundVolumeSnapshotContentName"] != content || st["restoreSize"] != "1Gi" ||
		st["creationTime"] != "2026-11-27T08:00:00Z" || st["error"] != nil {
		t.Fatalf("status %v", st)
	}
	c, err := s.dyn.Resource(sandbox.VolumeSnapshotContents).Get(ctx, content, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(c.Object, "spec")
	ref, _, _ := unstructured.NestedStringMap(c.Object, "spec", "volumeSnapshotRef")
	size, _, _ := unstructured.NestedInt64(c.Object, "status", "restoreSize")
	if spec["deletionPolicy"] != "Delete" || spec["driver"] != sandbox.Provisioner || ref["uid"] != "snap-uid-bk-1" || ref["name"] != "bk-1" || size != 1<<30 {
		t.Fatalf("content %v", c.Object)
	}
	copyDir := filepath.Join(s.root, snapshotsSubdir, content)
	want := map[string]string{
		"default/00000000000000000000.events": "ev0",
		"default/00000000000000000000.index":  "ix0",
		"orders/00000000000000000064.events":  "ev64",
	}
	got := readTree(t, copyDir)
	if len(got) != len(want) {
		t.Fatalf("copy %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("copy %v, want %v", got, want)
		}
	}
	// the volume goes on; the snapshot does not
	_ = os.WriteFile(filepath.Join(vol, "default/00000000000000000000.events"), []byte("ev0+more"), 0o644)
	if err := s.syncSnapshot(ctx, "axon", "bk-1"); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, copyDir)["default/00000000000000000000.events"]; got != "ev0" {
		t.Fatalf("the copy changed with the volume: %q", got)
	}
	// The content stays while its snapshot exists.
	if err := s.syncContent(ctx, content); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(copyDir); err != nil {
		t.Fatalf("content of a live snapshot removed: %v", err)
	}
	if err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace("axon").Delete(ctx, "bk-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.syncContent(ctx, content); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(copyDir); !os.IsNotExist(err) {
		t.Fatalf("copy of a deleted snapshot kept: %v", err)
	}
	if _, err := s.dyn.Resource(sandbox.VolumeSnapshotContents).Get(ctx, content, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("content of a deleted snapshot kept: %v", err)
	}
}

// deletionPolicy Retain keeps the content and the copy after the snapshot goes.
func TestSnapshotRetained(t *testing.T) {
	ctx := context.Background()
	s, _ := snapWorld(t, corev1.ClaimBound, "Retain")
	createSnapshot(t, s, "bk-1", "events-axonserver-3-0")
	if err := s.syncSnapshot(ctx, "axon", "bk-1"); err != nil {
		t.Fatal(err)
	}
	content := contentPrefix + "snap-uid-bk-1"
	_ = s.dyn.Resource(sandbox.VolumeSnapshots).Namespace("axon").Delete(ctx, "bk-1", metav1.DeleteOptions{})
	if err := s.syncContent(ctx, content); err != nil {
		t.Fatal(err)
	}
	if _, err := s.dyn.Resource(sandbox.VolumeSnapshotContents).Get(ctx, content, metav1.GetOptions{}); err != nil {
		t.Fatalf("Retain: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, snapshotsSubdir, content)); err != nil {
		t.Fatalf("Retain: %v", err)
	}
}

// An unbound or missing claim: status.error as the external-snapshotter words it,
// not ready, no content, and the sync reports an error so it is retried.
func TestSnapshotErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase corev1.PersistentVolumeClaimPhase
		claim string
		want  string
	}{
		{"unbound", corev1.ClaimPending, "events-axonserver-3-0",
			`Failed to create snapshot content with error failed to get input parameters to create snapshot bk-1: "the PVC events-axonserver-3-0 is not yet bound to a PV, will not attempt to take a snapshot"`},
		{"missing", corev1.ClaimBound, "nope", `failed to retrieve PVC nope from the lister`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := snapWorld(t, tc.phase, "Delete")
			createSnapshot(t, s, "bk-1", tc.claim)
			if err := s.syncSnapshot(ctx, "axon", "bk-1"); err == nil {
				t.Fatal("no error: the failure would not be retried")
			}
			vs := getSnapshot(t, s, "bk-1")
			msg, _, _ := unstructured.NestedString(vs.Object, "status", "error", "message")
			ready, found, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse")
			if !strings.Contains(msg, tc.want) || ready || !found {
				t.Fatalf("status %v", vs.Object["status"])
			}
			list, _ := s.dyn.Resource(sandbox.VolumeSnapshotContents).List(ctx, metav1.ListOptions{})
			if len(list.Items) != 0 {
				t.Fatalf("a content for a failed snapshot: %v", list.Items)
			}
		})
	}
}

// A claim whose dataSource is a ready VolumeSnapshot is filled from its copy; one
// that names a snapshot not ready is not (the provisioner retries); a claim
// without a data source is left alone.
func TestFillFromSnapshot(t *testing.T) {
	ctx := context.Background()
	s, _ := snapWorld(t, corev1.ClaimBound, "Delete")
	createSnapshot(t, s, "bk-1", "events-axonserver-3-0")
	createSnapshot(t, s, "pending", "nope")
	if err := s.syncSnapshot(ctx, "axon", "bk-1"); err != nil {
		t.Fatal(err)
	}
	group := sandbox.SnapshotGroup
	claim := func(from string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "restored", Namespace: "axon", UID: types.UID("r")},
			Spec: corev1.PersistentVolumeClaimSpec{
				DataSource: &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: snapshotKind, Name: from},
				Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}}
	}
	dir := filepath.Join(s.root, "volumes", "pvc-r")
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, ".claim"), []byte("axon/restored\n"), 0o644)
	if from, err := s.fill(ctx, claim("bk-1"), dir); err != nil || from != "bk-1" {
		t.Fatalf("fill: %q %v", from, err)
	}
	got := readTree(t, dir)
	if got["default/00000000000000000000.events"] != "ev0" || got["orders/00000000000000000064.events"] != "ev64" || got[".claim"] != "axon/restored\n" {
		t.Fatalf("restored volume %v", got)
	}
	if _, err := s.fill(ctx, claim("pending"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("a snapshot not ready: %v", err)
	}
	small := claim("bk-1")
	small.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Mi")
	if _, err := s.fill(ctx, small, t.TempDir()); err == nil || !strings.Contains(err.Error(), "less than the size") {
		t.Fatalf("a claim smaller than the snapshot: %v", err)
	}
	plain := claim("x")
	plain.Spec.DataSource = nil
	if from, err := s.fill(ctx, plain, t.TempDir()); from != "" || err != nil {
		t.Fatalf("no data source: %q %v", from, err)
	}
}
