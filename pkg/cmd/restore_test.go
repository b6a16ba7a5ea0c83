package cmd

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
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
