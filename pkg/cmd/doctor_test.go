package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
)

func decodeDoctor(t testing.TB, out string) DoctorReport {
	t.Helper()
	var r DoctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v\n%s", err, out)
	}
	return r
}

func hasFinding(r DoctorReport, check, object string, sev doctor.Severity) bool {
	for _, f := range r.Findings {
		if f.Check == check && f.Object == object && f.Severity == sev {
			return true
		}
	}
	return false
}

// The world's StatefulSets are bare (no probes, default grace period, no volumes):
// doctor finds errors, exits 3, and reads the replication groups from Axon Server.
func TestDoctorBareCluster(t *testing.T) {
	w := newWorld(t, threeNodes)
	code, out, errOut := w.run(t, "doctor", "-o", "json")
	if code != cli.ExitRefused {
		t.Fatalf("exit %d, want 3; stderr %q\n%s", code, errOut, out)
	}
	if !strings.Contains(errOut, "error") {
		t.Errorf("stderr %q", errOut)
	}
	r := decodeDoctor(t, out)
	if r.Cluster != "axonserver" || r.Namespace != "axon" || r.Summary[doctor.Error] == 0 {
		t.Errorf("report header: %s/%s %v", r.Namespace, r.Cluster, r.Summary)
	}
	for _, c := range []struct {
		check, object string
		sev           doctor.Severity
	}{
		{"shutdown/grace-period", "statefulset/axonserver-1", doctor.Error},
		{"storage/unmounted", "statefulset/axonserver-2", doctor.Error},
		{"probes/liveness-missing", "statefulset/axonserver-3", doctor.Warning},
		{"availability/pdb-missing", "cluster/axonserver", doctor.Warning},
		// from Axon Server: payments has 2 PRIMARY and 1 ACTIVE_BACKUP
		{"availability/even-voters", "group/payments", doctor.Warning},
		{"availability/active-backups", "group/payments", doctor.Warning},
		{"access/disabled", "cluster/axonserver", doctor.Warning},
	} {
		if !hasFinding(r, c.check, c.object, c.sev) {
			t.Errorf("no %s %s on %s", c.sev, c.check, c.object)
		}
	}
	// The text output: a block per finding and a summary.
	code, out, _ = w.run(t, "doctor")
	if code != cli.ExitRefused || !strings.Contains(out, "ERROR    shutdown/grace-period  statefulset/axonserver-1\n") ||
		!strings.Contains(out, "  fix: kubectl -n axon patch statefulset axonserver-1 --type=merge") || !strings.Contains(out, "cluster axonserver in namespace axon: ") {
		t.Errorf("text output:\n%s", out)
	}
}

// generatedWorld runs the world's Axon Server nodes under the objects `kubectl axon
// generate` writes: doctor finds no error and exits 0.
func generatedWorld(t *testing.T) *world {
	t.Helper()
	const token = "s3cr3t"
	w := newWorld(t, threeNodes+"accessToken: "+token+"\n")
	objs, err := generate.Manifests(generate.Options{Namespace: "axon", Nodes: 3, StorageClass: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	retain, wffc, yes := corev1.PersistentVolumeReclaimRetain, storagev1.VolumeBindingWaitForFirstConsumer, true
	kube := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "axon"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "example.com/disk", ReclaimPolicy: &retain, VolumeBindingMode: &wffc, AllowVolumeExpansion: &yes},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-token", Namespace: "axon"}, Data: map[string][]byte{"token": []byte(token)}},
	}
	workers := map[string]string{"axonserver-1": "worker-a", "axonserver-2": "worker-b", "axonserver-3": "worker-c"}
	for wk, zone := range map[string]string{"worker-a": "zone-a", "worker-b": "zone-b", "worker-c": "zone-c"} {
		kube = append(kube, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: wk, Labels: map[string]string{"topology.kubernetes.io/zone": zone}}})
	}
	for _, o := range objs {
		sts, ok := o.(*appsv1.StatefulSet)
		if !ok {
			kube = append(kube, o)
			continue
		}
		sts = sts.DeepCopy()
		sts.UID = types.UID("uid-" + sts.Name)
		sts.Status = appsv1.StatefulSetStatus{UpdateRevision: "r1", CurrentRevision: "r1"}
		kube = append(kube, sts)
		labels := map[string]string{appsv1.StatefulSetRevisionLabel: "r1"}
		for k, v := range sts.Spec.Template.Labels {
			labels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: sts.Name + "-0", Namespace: "axon", Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID, Controller: &yes}}},
			Spec: *sts.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: w.ips[sts.Name],
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
		pod.Spec.NodeName = workers[sts.Name]
		kube = append(kube, pod)
		for _, tpl := range sts.Spec.VolumeClaimTemplates {
			claim := tpl.Name + "-" + pod.Name
			kube = append(kube,
				&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: "axon"}, Spec: *tpl.Spec.DeepCopy()},
				&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim}, Spec: corev1.PersistentVolumeSpec{
					ClaimRef: &corev1.ObjectReference{Namespace: "axon", Name: claim}, PersistentVolumeReclaimPolicy: retain, StorageClassName: "fast"}})
		}
	}
	w.kube = fake.NewClientset(kube...)
	return w
}

func TestDoctorGeneratedCluster(t *testing.T) {
	w := generatedWorld(t)
	code, out, errOut := w.run(t, "doctor", "-o", "json", "--token-secret", "axonserver-token/token")
	if code != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q\n%s", code, errOut, out)
	}
	r := decodeDoctor(t, out)
	if r.Summary[doctor.Error] != 0 {
		t.Errorf("errors on a generated cluster:\n%s", out)
	}
	// Axon Server answered with access control on; payments is 2 PRIMARY + 1 ACTIVE_BACKUP.
	if hasFinding(r, "access/disabled", "cluster/axonserver", doctor.Warning) || hasFinding(r, "doctor/axon-unreachable", "cluster/axonserver", doctor.Info) {
		t.Errorf("Axon Server's answers not used:\n%s", out)
	}
	if !hasFinding(r, "availability/even-voters", "group/payments", doctor.Warning) {
		t.Errorf("groups not checked:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("the token's value is in the output")
	}
	// A token Secret that is not there is a usage error, found before anything is asked.
	code, out, errOut = w.run(t, "doctor", "-o", "json", "--token-secret", "other/token")
	if code != cli.ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "Secret other does not exist") {
		t.Errorf("missing token secret: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

// Cluster-scoped kinds an operator may not list are skipped with a note.
func TestDoctorForbiddenKinds(t *testing.T) {
	w := generatedWorld(t)
	w.kube.PrependReactor("list", "storageclasses", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "storage.k8s.io", Resource: "storageclasses"}, "", nil)
	})
	w.kube.PrependReactor("list", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumes"}, "", nil)
	})
	code, out, errOut := w.run(t, "doctor", "-o", "json", "--token-secret", "axonserver-token/token")
	if code != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q\n%s", code, errOut, out)
	}
	r := decodeDoctor(t, out)
	for _, kind := range []string{"storageclasses", "persistentvolumes"} {
		if !hasFinding(r, "doctor/skipped", kind, doctor.Info) {
			t.Errorf("no doctor/skipped for %s:\n%s", kind, out)
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	w := newWorld(t, threeNodes)
	for _, args := range [][]string{
		{"-o", "wide"},
		{"--axon-url", "http://localhost:8024"},
		{"--min-active-backups", "-1"},
		{"extra"},
	} {
		if code, _, errOut := w.run(t, "doctor", args...); code != cli.ExitUsage || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestGenerateCommand(t *testing.T) {
	code, out, errOut := runWith(t, nil, "generate", "-n", "axon", "--nodes", "3", "--storage-class", "fast", "--zones", "a,b")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "\n---\n"); n != 16 { // with the RBAC's four objects
		t.Errorf("%d documents, want 16", n)
	}
	if !strings.HasPrefix(out, "# Axon Server cluster \"axonserver\" in namespace axon") || !strings.Contains(out, "#   kubectl -n axon create secret generic axonserver-token") ||
		!strings.Contains(out, "&& kubectl -n axon label secret axonserver-token cluster=axonserver") {
		t.Errorf("header:\n%s", out[:200])
	}
	code, out, _ = runWith(t, nil, "generate", "-n", "axon", "--nodes", "4", "--only", "axonserver-4")
	if code != cli.ExitOK || strings.Count(out, "\n---\n") != 3 || !strings.Contains(out, "name: axonserver-4\n") {
		t.Errorf("--only: exit %d\n%s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "m")
	code, out, errOut = runWith(t, nil, "generate", "-n", "axon", "--nodes", "1", "--tls", "--output-dir", dir)
	if code != cli.ExitOK || !strings.Contains(errOut, "axonserver-1-tls") {
		t.Fatalf("--output-dir: exit %d, stderr %q", code, errOut)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 10 || strings.Count(out, "\n") != 10 {
		t.Errorf("%d files, stdout %q", len(files), out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes must be at least 1"},
		{[]string{"--name", "Axon"}, "--name \"Axon\""},
		{[]string{"--image", "axoniq/axonserver:latest"}, "--image"},
		{[]string{"--image", "axoniq/axonserver"}, "has no tag"},
		{[]string{"--events-size", "big"}, "--events-size \"big\" is not a quantity"},
		{[]string{"--only", "axonserver-9"}, "--only \"axonserver-9\" is not one of the 3 nodes"},
		{[]string{"--nodes", "x"}, "invalid argument"},
	} {
		code, _, errOut := runWith(t, nil, append([]string{"generate", "-n", "axon"}, c.args...)...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
}
