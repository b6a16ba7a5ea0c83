//go:build e2e

package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// TestRestoreWorld proves the sandbox carries a restore into a new namespace, by doing by
// hand, with kubectl, what `kubectl axon restore` is to do: a backup of a cluster whose
// groups write all the time; in namespace axon-restored the cluster's objects (copied from
// the source namespace with the namespace rewritten: its StatefulSets at replicas 0, with
// the recovery file on the data volume) and each node's claims; per node a plain busybox
// loader pod that mounts them, `tar -x` through `kubectl exec` of the node's files (the
// backup's event stores and replication logs of the node's groups, the Control DB unzipped
// into controldb-path, recovery.json with the new host names); the loaders deleted, the
// nodes started, the restored cluster healthy beside the original; and every node's
// stores, in the audit log's store-loaded events of the new namespace, hold exactly the
// backup's events, checksum for checksum.
func TestRestoreWorld(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/backup.yaml")
	src, dst := s.Namespace, "axon-restored"
	admin := s.Kubeconfig(false)
	perSeg := axonsim.RecordsPerSegment(axonsim.DefaultSegmentBytes)
	phase := time.Now()
	step := func(what string) {
		t.Logf("%s: %s", what, time.Since(phase).Round(100*time.Millisecond))
		phase = time.Now()
	}

	// Two closed segments of invoices, then the backup (the groups write on meanwhile).
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		out = s.Kubectl("get", "--raw", "/api/v1/namespaces/"+src+"/pods/axonserver-1-0:8024/proxy/v1/backup/eventstore?targetContext=invoices&type=EVENT&lastClosedSegmentBackedUp=-1")
		var es axonsim.JSONBackupEventStore
		return json.Unmarshal([]byte(out), &es) == nil && es.LastClosedSegment >= perSeg, nil
	})
	if err != nil {
		t.Fatalf("invoices: no two closed segments within 60s: %s", out)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	if r := s.Run(admin, "kubectl", "axon", "backup", "-n", src, "--to", dir); r.Code != 0 {
		t.Fatalf("backup: %s", r)
	}
	m, problems, err := backup.Verify(dir)
	if err != nil || len(problems) > 0 || !m.Complete {
		t.Fatalf("backup: %v %v", err, problems)
	}
	db, dbFile := controlDB(t, filepath.Join(dir, m.ControlDB))
	step(fmt.Sprintf("backup of %d files from %s", len(m.Files), m.Node))

	// The cluster's objects in the new namespace, StatefulSets at replicas 0.
	s.Kubectl("create", "namespace", dst)
	rehost := func(v string) string { return strings.ReplaceAll(v, "."+src+".svc", "."+dst+".svc") }
	meta := func(o metav1.ObjectMeta) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: o.Name, Namespace: dst, Labels: o.Labels}
	}
	sel := "cluster=" + s.Topology.Name
	var (
		stss appsv1.StatefulSetList
		svcs corev1.ServiceList
		cms  corev1.ConfigMapList
		secs corev1.SecretList
	)
	for res, into := range map[string]any{"statefulsets": &stss, "services": &svcs, "configmaps": &cms, "secrets": &secs} {
		if err := json.Unmarshal([]byte(s.Kubectl("-n", src, "get", res, "-l", sel, "-o", "json")), into); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
	}
	var objs []any
	for _, x := range cms.Items {
		for k, v := range x.Data {
			x.Data[k] = rehost(v)
		}
		objs = append(objs, corev1.ConfigMap{TypeMeta: x.TypeMeta, ObjectMeta: meta(x.ObjectMeta), Data: x.Data})
	}
	for _, x := range secs.Items {
		objs = append(objs, corev1.Secret{TypeMeta: x.TypeMeta, ObjectMeta: meta(x.ObjectMeta), Type: x.Type, Data: x.Data})
	}
	for _, x := range svcs.Items {
		if x.Spec.ClusterIP != corev1.ClusterIPNone {
			x.Spec.ClusterIP, x.Spec.ClusterIPs = "", nil
		}
		objs = append(objs, corev1.Service{TypeMeta: x.TypeMeta, ObjectMeta: meta(x.ObjectMeta), Spec: x.Spec})
	}
	if len(stss.Items) != len(db.Nodes) {
		t.Fatalf("%d StatefulSets, the Control DB names %d nodes", len(stss.Items), len(db.Nodes))
	}
	for _, x := range stss.Items {
		x.Spec.Replicas = new(int32)
		ct := &x.Spec.Template.Spec.Containers[0]
		// Axon Server reads recovery.json from its working directory by default: the
		// container's own filesystem. Put it on the data volume.
		ct.Env = append(ct.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_RECOVERYFILE", Value: "/axonserver/data/recovery.json"})
		objs = append(objs, appsv1.StatefulSet{TypeMeta: x.TypeMeta, ObjectMeta: meta(x.ObjectMeta), Spec: x.Spec})
	}
	s.createAll(objs)

	// Per node its claims, as its StatefulSet names them, and a loader pod mounting them
	// where the Axon Server container does, placed as the node's pod would be.
	objs = nil
	for _, x := range stss.Items {
		pod := x.Name + "-0"
		ts := x.Spec.Template.Spec
		claims := map[string]string{}
		for _, tmpl := range x.Spec.VolumeClaimTemplates {
			claims[tmpl.Name] = tmpl.Name + "-" + pod
			objs = append(objs, corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: claims[tmpl.Name], Namespace: dst, Labels: x.Spec.Template.Labels}, Spec: tmpl.Spec})
		}
		loader := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "restore-loader-" + x.Name, Namespace: dst, Labels: map[string]string{"app": "restore-loader"}},
			Spec: corev1.PodSpec{NodeSelector: ts.NodeSelector, Affinity: ts.Affinity, Tolerations: ts.Tolerations,
				RestartPolicy: corev1.RestartPolicyNever}}
		ct := corev1.Container{Name: "loader", Image: "busybox:1.37", Command: []string{"sleep", "infinity"}}
		paths := map[string]bool{}
		for _, vm := range ts.Containers[0].VolumeMounts {
			if claim, ok := claims[vm.Name]; ok && vm.SubPath == "" {
				ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: vm.MountPath})
				loader.Spec.Volumes = append(loader.Spec.Volumes, corev1.Volume{Name: vm.Name,
					VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
				paths[vm.MountPath] = true
			}
		}
		// The layout below assumes generate's storage paths (axonserver.properties).
		for _, p := range []string{"/axonserver/events", "/axonserver/log", "/axonserver/data"} {
			if !paths[p] {
				t.Fatalf("%s: no claim mounted at %s: %v", x.Name, p, ct.VolumeMounts)
			}
		}
		loader.Spec.Containers = []corev1.Container{ct}
		objs = append(objs, loader)
	}
	s.createAll(objs)
	s.Kubectl("-n", dst, "wait", "--for=condition=Ready", "pod", "-l", "app=restore-loader", "--timeout=120s")
	step("objects, claims and loaders Ready")

	// Each node's files, through exec: tar -x in its loader.
	recovery := []axonsim.RecoveryEntry{}
	for _, n := range db.Nodes {
		recovery = append(recovery, axonsim.RecoveryEntry{Name: n.Name, HostName: rehost(n.HostName), InternalHostName: rehost(n.InternalHostName)})
	}
	recoveryJSON, _ := json.Marshal(recovery)
	stores := map[string][]string{} // node -> contexts it stores
	for _, n := range db.Nodes {
		files := map[string][]byte{"data/" + axonsim.ControlDBFile: dbFile, "data/recovery.json": recoveryJSON}
		for _, g := range db.ReplicationGroups {
			role, member := g.Members[n.Name]
			if !member {
				continue
			}
			for _, f := range m.Groups[g.Name] {
				files[f] = readFile(t, filepath.Join(dir, f))
			}
			if role == axonsim.RoleMessagingOnly {
				continue
			}
			for _, c := range g.Contexts {
				for _, segs := range m.Contexts[c] {
					for _, f := range segs.Files {
						files[f] = readFile(t, filepath.Join(dir, f))
					}
				}
				if m.Contexts[c] != nil {
					stores[n.Name] = append(stores[n.Name], c)
				}
			}
		}
		pod := "restore-loader-" + n.Name
		r := s.RunInput(admin, tarOf(t, files), "kubectl", "-n", dst, "exec", "-i", pod, "-c", "loader", "--", "tar", "-x", "-f", "-", "-C", "/axonserver")
		if r.Code != 0 {
			t.Fatalf("tar -x in %s: %s", pod, r)
		}
		// What the volumes hold now is what was sent (and the provisioner's .claim marker).
		listed := strings.Fields(s.Kubectl("-n", dst, "exec", pod, "-c", "loader", "--", "find", "/axonserver/events", "/axonserver/log", "/axonserver/data", "-type", "f", "!", "-name", ".claim"))
		var extra []string
		for _, f := range listed {
			if _, sent := files[strings.TrimPrefix(f, "/axonserver/")]; !sent {
				extra = append(extra, f)
			}
		}
		if len(listed) != len(files) || len(extra) > 0 {
			t.Fatalf("%s: %d files on the volumes after tar -x, %d sent; not sent: %v", n.Name, len(listed), len(files), extra)
		}
		t.Logf("%s: %d files laid out (contexts %v)", n.Name, len(files), stores[n.Name])
	}
	step("files laid out")
	// A plain container stops at once, well within its grace period (30 s).
	s.Kubectl("-n", dst, "delete", "pod", "-l", "app=restore-loader", "--wait=true", "--timeout=60s")
	if d := time.Since(phase); d > 20*time.Second {
		t.Errorf("deleting the loaders took %s", d)
	}
	step("loaders deleted")

	// Start the nodes; the restored cluster comes up healthy beside the original.
	s.Kubectl("-n", dst, "scale", "statefulset", "-l", sel, "--replicas=1")
	for _, x := range stss.Items {
		s.Kubectl("-n", dst, "rollout", "status", "statefulset/"+x.Name, "--timeout=120s")
	}
	var st Status
	err = wait.PollUntilContextTimeout(context.Background(), time.Second, 90*time.Second, true, func(context.Context) (bool, error) {
		r := s.Run(admin, "kubectl", "axon", "status", "-n", dst, "-o", "json")
		st = Status{}
		return (r.Code == 0 || r.Code == 3) && json.Unmarshal([]byte(r.Stdout), &st) == nil && allHealthy(st) && len(st.Nodes) == len(db.Nodes), nil
	})
	if err != nil {
		t.Fatalf("the restored cluster is not healthy: %+v", st)
	}
	for _, n := range db.Nodes {
		if h := s.Kubectl("get", "--raw", "/api/v1/namespaces/"+dst+"/pods/"+n.Name+"-0:8024/proxy/actuator/health"); !strings.Contains(h, `"status":"UP"`) {
			t.Errorf("%s: health %s", n.Name, h)
		}
	}
	step("restored cluster healthy")

	// Every node's stores hold exactly the backup's events (the torn record of an active
	// segment copied mid-write dropped), checksum for checksum, every closed segment among them.
	want := map[string]int64{}
	for c, types := range m.Contexts {
		for _, f := range types["EVENT"].Files {
			if strings.HasSuffix(f, ".events") {
				fi, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				want[c] += (fi.Size() - 5) / axonsim.RecordBytes
			}
		}
	}
	loaded := s.StoreLoaded(dst)
	checked := 0
	for _, n := range db.Nodes {
		for _, c := range stores[n.Name] {
			e, ok := loaded[n.Name][c]
			switch {
			case !ok:
				t.Errorf("%s: no store-loaded event for %s", n.Name, c)
			case e.Events != want[c] || e.Index != e.Events-1 || e.Checksum != axonsim.EventsChecksum(c, e.Events):
				t.Errorf("%s %s: loaded %d events (index %d, checksum %s); the backup holds %d (checksum %s)",
					n.Name, c, e.Events, e.Index, e.Checksum, want[c], axonsim.EventsChecksum(c, want[c]))
			case e.Events < m.Contexts[c]["EVENT"].LastClosed+perSeg:
				t.Errorf("%s %s: %d events, but the backup's last closed segment starts at %d", n.Name, c, e.Events, m.Contexts[c]["EVENT"].LastClosed)
			default:
				checked++
			}
		}
		if len(loaded[n.Name]) != len(stores[n.Name]) {
			t.Errorf("%s: store-loaded for %d contexts, it stores %v", n.Name, len(loaded[n.Name]), stores[n.Name])
		}
	}
	ev := s.AuditOf(dst)
	if got := len(axonsim.Filter(ev, axonsim.EvRecoveryApplied, "", "")); got != len(db.Nodes) {
		t.Errorf("recovery-applied %d times in %s, want once per node", got, dst)
	}
	// The original cluster saw none of it: no store loaded, no restart, no quorum lost.
	orig := s.Audit()
	if n := len(axonsim.Filter(orig, axonsim.EvStoreLoaded, "", "")) + len(axonsim.Filter(orig, axonsim.EvQuorumLost, "", "")); n != 0 {
		t.Errorf("the original cluster's audit has %d store-loaded or quorum-lost events", n)
	}
	for _, n := range db.Nodes {
		if c := axonsim.CountNode(orig, axonsim.EvNodeStarted, n.Name); c != 1 {
			t.Errorf("original %s started %d times", n.Name, c)
		}
	}
	if st, _ := s.Status(false); !allHealthy(st) {
		t.Errorf("the original cluster is not healthy after the restore beside it")
	}
	t.Logf("%d stores restored event for event (%v events per context); %d audit events in %s", checked, want, len(ev), dst)
}

// createAll writes objs to files and creates them with kubectl.
func (s *Sandbox) createAll(objs []any) {
	s.t.Helper()
	dir := s.t.TempDir()
	for i, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.json", i)), b, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.Kubectl("create", "-f", dir)
}

// controlDB reads a Control DB backup zip: its content and the database file to unzip.
func controlDB(t *testing.T, zipPath string) (*axonsim.ControlDB, []byte) {
	t.Helper()
	db, err := axonsim.ReadControlDBBackup(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open(axonsim.ControlDBFile)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return db, b
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarOf is a tar stream of files (relative paths), with their directories.
func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	dirs := map[string]bool{}
	for name := range files {
		names = append(names, name)
		for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		names = append(names, d+"/")
	}
	sort.Strings(names) // a directory before what it holds
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Now()}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
