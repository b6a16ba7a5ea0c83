package cmd

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/pkg/restore"
)

// writeBackup writes a small backup of threeNodes' cluster that verifies: the
// Control DB zip and the groups' members.
func writeBackup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	zp := filepath.Join(dir, backup.DirControlDB, "controldb1.zip")
	if err := os.MkdirAll(filepath.Dir(zp), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(zp)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("axonserver-controldb.mv.db")
	_, _ = w.Write([]byte(`{"cluster":"axonserver"}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(zp)
	h := backup.NewHasher()
	_, _ = h.Write(b)
	three := map[string]string{"axonserver-1": "PRIMARY", "axonserver-2": "PRIMARY", "axonserver-3": "PRIMARY"}
	m := &backup.Manifest{Format: backup.Format, Cluster: "axonserver", Namespace: "axon", Node: "axonserver-3", Method: "files",
		Started: time.Now().UTC(), Complete: true, ControlDB: "controldb/controldb1.zip",
		Members: map[string]map[string]string{"_admin": three}, Files: []backup.File{h.File("controldb/controldb1.zip")}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRestoreRefuses: restore never writes over a running cluster, needs the
// StatefulSets, and the storage on volumes; each refusal is one line, exit 3, and
// nothing is written.
func TestRestoreRefuses(t *testing.T) {
	dir := writeBackup(t)
	w := newWorld(t, threeNodes)
	check := func(t *testing.T, says string, args ...string) {
		t.Helper()
		actions := len(w.kube.Actions())
		code, out, errOut := w.run(t, "restore", append([]string{"--from", dir}, args...)...)
		if code != cli.ExitRefused || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, says) {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 3 saying %q", code, out, errOut, says)
		}
		for _, a := range w.kube.Actions()[actions:] {
			if isWrite(a) && a.GetResource().Resource != "selfsubjectaccessreviews" {
				t.Errorf("a refused restore wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
			}
		}
	}
	t.Run("running", func(t *testing.T) { check(t, "is not at replicas 0 or has a pod", "--dry-run") })
	t.Run("no StatefulSets", func(t *testing.T) {
		check(t, "namespace empty has no StatefulSets of cluster axonserver", "--to-namespace", "empty")
	})

	// stopped, but Axon Server's paths are on the container's own filesystem
	ctx := context.Background()
	for _, n := range []string{"axonserver-1", "axonserver-2", "axonserver-3"} {
		sts, err := w.kube.AppsV1().StatefulSets("axon").Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zero := int32(0)
		sts.Spec.Replicas = &zero
		if _, err := w.kube.AppsV1().StatefulSets("axon").Update(ctx, sts, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := w.kube.CoreV1().Pods("axon").Delete(ctx, n+"-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("storage off the volumes", func(t *testing.T) {
		check(t, "axoniq.axonserver.replication.log-storage-folder=/axonserver/log is on the container's own filesystem, where a restore cannot put files")
	})
}

// TestRestoreLayout: the claims are the StatefulSet controller's names and labels;
// the loader mounts exactly the claims where Axon Server does, placed and secured as
// the node's pods; the target's paths and names come from the pod template and its
// ConfigMaps; the tar holds the Control DB's entries, the files and recovery.json at
// their absolute paths.
func TestRestoreLayout(t *testing.T) {
	objs, err := generate.Manifests(generate.Options{Namespace: "dr", Name: "axon", Nodes: 3, Formed: true, Stopped: true, Zones: []string{"z1"}})
	if err != nil {
		t.Fatal(err)
	}
	var sts *appsv1.StatefulSet
	cms := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.StatefulSet:
			if v.Name == "axon-2" {
				sts = v
			}
		case *corev1.ConfigMap:
			cms[v.Name] = v
		}
	}
	mem := discovery.Member{StatefulSet: sts, NodeName: "axon-2", Container: generate.ContainerName, Namespace: "dr"}
	var claims []*corev1.PersistentVolumeClaim
	for _, tpl := range sts.Spec.VolumeClaimTemplates {
		c := claimFor(sts, tpl, "axon/prod@x")
		if c.Name != tpl.Name+"-axon-2-0" || c.Annotations[restoreAnnotation] != "axon/prod@x" {
			t.Errorf("claim %s %v", c.Name, c.Annotations)
		}
		for k, v := range sts.Spec.Selector.MatchLabels {
			if c.Labels[k] != v {
				t.Errorf("claim %s lacks the selector's label %s=%s", c.Name, k, v)
			}
		}
		claims = append(claims, c)
	}
	p := loaderPod(mem, claims, "busybox:1.37", "axon/prod@x")
	if p.Name != "axon-2-restore" || p.Spec.Affinity == nil || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("loader %s: affinity %v, restart %s", p.Name, p.Spec.Affinity, p.Spec.RestartPolicy)
	}
	mounts := map[string]string{}
	for _, vm := range p.Spec.Containers[0].VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	for _, want := range []string{"/axonserver/events", "/axonserver/data", "/axonserver/log"} {
		if mounts[want] == "" {
			t.Errorf("the loader does not mount %s: %v", want, mounts)
		}
	}
	if _, ok := mounts["/axonserver/config"]; ok {
		t.Errorf("the loader mounts the ConfigMap: %v", mounts)
	}

	tg := targetOf(mem, func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		return nil, fmt.Errorf("no ConfigMap %s", name)
	})
	want := restore.Storage{Events: "/axonserver/events", Snapshots: "/axonserver/events", Log: "/axonserver/log", ControlDB: "/axonserver/data", RecoveryFile: "/axonserver/data/recovery.json"}
	if tg.Paths != want || tg.Host != "axon-2.dr.svc.cluster.local" || tg.InternalHost != tg.Host {
		t.Errorf("target %+v", tg)
	}

	np := restore.NodePlan{Node: "axon-2", Storage: want, Files: []restore.File{{Dir: t.TempDir(), Src: "events/orders/00000000000000000000.events", Dst: "/axonserver/events/orders/00000000000000000000.events", Size: 3}}}
	if err := os.MkdirAll(filepath.Join(np.Files[0].Dir, "events", "orders"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(np.Files[0].Dir, filepath.FromSlash(np.Files[0].Src)), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	plan := restore.Plan{Recovery: []restore.RecoveryNode{{Name: "axon-2", HostName: tg.Host, InternalHostName: tg.InternalHost}}}
	if err := writeRestoreTar(&buf, np, plan, map[string][]byte{"axonserver-controldb.mv.db": []byte("db")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	if got["axonserver/data/axonserver-controldb.mv.db"] != "db" || got["axonserver/events/orders/00000000000000000000.events"] != "abc" ||
		!strings.Contains(got["axonserver/data/recovery.json"], `"hostName": "axon-2.dr.svc.cluster.local"`) || got["axonserver/events/orders/"] != "" {
		t.Errorf("tar: %v", got)
	}
	if _, ok := got["axonserver/events/orders/"]; !ok {
		t.Errorf("no directory entry before the files: %v", got)
	}
}
