//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// TestBackupSnapshot: kubectl axon backup --method volume-snapshot against the
// sandbox's snapshot API. The operator without the backup Role is refused in one
// line naming the permissions; --stop-node of a node whose stop costs a group its
// quorum is refused, nothing changed; a backup while every group writes verifies
// (Control DB zip and ready snapshots); one with --stop-node of the passive backup
// node stops it, snapshots it and brings it back healthy; a PVC restored from its
// events snapshot holds the node's closed segments, byte for byte as a later
// --method files backup of the same node copies them; verify notices a snapshot that
// was deleted.
func TestBackupSnapshot(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/backup.yaml")
	ns, admin, op := s.Namespace, s.Kubeconfig(false), s.Kubeconfig(true)
	perSeg := axonsim.RecordsPerSegment(axonsim.DefaultSegmentBytes)
	tmp := t.TempDir()
	axon := func(kubeconfig string, args ...string) Result {
		return s.Run(kubeconfig, append([]string{"kubectl", "axon", "backup", "-n", ns}, args...)...)
	}
	oneLine := func(r Result) bool { return strings.Count(strings.TrimSpace(r.Stderr), "\n") <= 1 }
	noSnapshots := func(when string) {
		t.Helper()
		if out := s.Kubectl("get", "volumesnapshots", "-A", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: VolumeSnapshots exist: %s", when, out)
		}
	}

	// The operator's Role has neither exec nor VolumeSnapshots: one line naming them.
	dir := filepath.Join(tmp, "refused")
	r := axon(op, "--to", dir, "--method", "volume-snapshot")
	if r.Code != 3 || !oneLine(r) || !strings.Contains(r.Stderr, "create volumesnapshots.snapshot.storage.k8s.io") ||
		!strings.Contains(r.Stderr, "create pods/exec") || !strings.Contains(r.Stderr, "kubectl-axon-backup") {
		t.Errorf("without the backup Role: %s", r)
	}
	// axonserver-1 is one of the two PRIMARY members of orders: it cannot stop.
	r = axon(admin, "--to", dir, "--method", "volume-snapshot", "--stop-node", "--node", "axonserver-1")
	if r.Code != 3 || !oneLine(r) || !strings.Contains(r.Stderr, "cannot be stopped now") || !strings.Contains(r.Stderr, "orders") {
		t.Errorf("--stop-node of a PRIMARY of orders: %s", r)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("a refused backup created %s", dir)
	}
	if got := s.Kubectl("-n", ns, "get", "statefulset", "axonserver-1", "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("refused --stop-node: replicas %s", got)
	}
	noSnapshots("after the refusals")

	// Segments close as the group writes; there is no event to watch, so the listing is polled.
	waitClosed := func(node string, segments int64) {
		t.Helper()
		var out string
		err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			out = s.Kubectl("get", "--raw", "/api/v1/namespaces/"+ns+"/pods/"+node+"-0:8024/proxy/v1/backup/eventstore?targetContext=invoices&type=EVENT&lastClosedSegmentBackedUp=-1")
			var es axonsim.JSONBackupEventStore
			return json.Unmarshal([]byte(out), &es) == nil && es.LastClosedSegment >= (segments-1)*perSeg, nil
		})
		if err != nil {
			t.Fatalf("invoices on %s: not %d segments closed within 60s: %s", node, segments, out)
		}
	}
	waitClosed("axonserver-3", 2)

	// A backup while every group writes, from the node the plan chooses.
	live := filepath.Join(tmp, "live")
	start := time.Now()
	r = axon(admin, "--to", live, "--method", "volume-snapshot")
	if r.Code != 0 {
		t.Fatalf("volume-snapshot backup: %s", r)
	}
	m1, problems, err := backup.Verify(live)
	if err != nil || len(problems) > 0 || !m1.Complete || m1.Method != backup.MethodVolumeSnapshot || m1.ControlDB == "" || len(m1.Snapshots) < 3 {
		t.Fatalf("volume-snapshot backup: %v %v %+v", err, problems, m1)
	}
	t.Logf("volume-snapshot backup from %s: Control DB and %d snapshots in %s", m1.Node, len(m1.Snapshots), time.Since(start).Round(time.Millisecond))
	for _, v := range m1.Snapshots {
		if v.Content == "" || v.RestoreSize == "" || v.Namespace != ns || !strings.HasPrefix(v.Name, m1.BackupID+"-") {
			t.Errorf("snapshot in the manifest: %+v", v)
		}
	}
	if got := s.Kubectl("-n", ns, "get", "volumesnapshots", "-l", backup.LabelBackup+"="+m1.BackupID, "-o", "jsonpath={range .items[*]}{.status.readyToUse}{' '}{end}"); strings.Count(got, "true") != len(m1.Snapshots) {
		t.Errorf("ready snapshots of %s: %q", m1.BackupID, got)
	}
	if r := s.Run(admin, "kubectl", "axon", "backup", "verify", live); r.Code != 0 || !strings.Contains(r.Stdout, "VolumeSnapshots ready") {
		t.Errorf("verify: %s", r)
	}

	// --stop-node of axonserver-3 (a PASSIVE_BACKUP of orders, one of three PRIMARY
	// members of _admin): stopped, snapshotted, back and healthy.
	stopped := filepath.Join(tmp, "stopped")
	mark := s.AuditMark()
	start = time.Now()
	r = axon(admin, "--to", stopped, "--method", "volume-snapshot", "--node", "axonserver-3", "--stop-node")
	if r.Code != 0 || !strings.Contains(r.Stderr+r.Stdout, "scaled to 0") {
		t.Fatalf("--stop-node backup: %s", r)
	}
	took := time.Since(start)
	m2, problems, err := backup.Verify(stopped)
	if err != nil || len(problems) > 0 || !m2.NodeStopped || len(m2.Snapshots) < 3 {
		t.Fatalf("--stop-node backup: %v %v %+v", err, problems, m2)
	}
	st, _ := s.Status(false)
	if !allHealthy(st) {
		t.Fatalf("after --stop-node the cluster is not healthy: %+v", st)
	}
	// The node stopped cleanly, and every snapshot was taken while it was down.
	ev := s.AuditSince(mark)
	stops, starts := FindEvents(ev, "node-stopped", "", "axonserver-3"), FindEvents(ev, "node-started", "", "axonserver-3")
	if len(stops) != 1 || len(starts) != 1 || len(FindEvents(ev, "node-killed", "", "axonserver-3")) > 0 {
		t.Fatalf("axonserver-3 during --stop-node:\n%s", fmtEvents(ev))
	}
	for _, v := range m2.Snapshots {
		// creationTime has whole seconds
		if v.CreationTime.Before(stops[0].Time.Truncate(time.Second)) || v.CreationTime.After(starts[0].Time) {
			t.Errorf("snapshot %s taken at %s, not between the stop (%s) and the start (%s)", v.Name, v.CreationTime, stops[0].Time, starts[0].Time)
		}
	}
	noQuorumLost(t, s, mark)
	t.Logf("--stop-node backup of axonserver-3: %d snapshots, node back and every node healthy, in %s", len(m2.Snapshots), took.Round(time.Millisecond))
	if r := s.Run(admin, "kubectl", "axon", "backup", "list", live, stopped); r.Code != 0 || strings.Count(r.Stdout, "volume-snapshot") != 2 {
		t.Errorf("list: %s", r)
	}

	// Restore the events volume into a new claim. No pod of the sandbox can mount it
	// (each pod is an Axon Server node), so the test names the worker the way the
	// scheduler does for a claim's first pod; the provisioner then fills the volume.
	var events backup.VolumeSnapshot
	for _, v := range m2.Snapshots {
		if v.Volume == "events" {
			events = v
		}
	}
	if events.Name == "" {
		t.Fatalf("no snapshot of the events volume: %+v", m2.Snapshots)
	}
	claim := `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"restored-events","namespace":"` + ns + `",
"annotations":{"volume.kubernetes.io/selected-node":"w-c"}},"spec":{"accessModes":["ReadWriteOnce"],
"resources":{"requests":{"storage":"` + events.RestoreSize + `"}},
"dataSource":{"apiGroup":"snapshot.storage.k8s.io","kind":"VolumeSnapshot","name":"` + events.Name + `"}}}`
	claimFile := filepath.Join(tmp, "claim.json")
	if err := os.WriteFile(claimFile, []byte(claim), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Kubectl("create", "-f", claimFile)
	s.Kubectl("-n", ns, "wait", "--for=jsonpath={.status.phase}=Bound", "--timeout=60s", "pvc/restored-events")
	pv := strings.TrimSpace(s.Kubectl("-n", ns, "get", "pvc", "restored-events", "-o", "jsonpath={.spec.volumeName}"))
	restored := strings.TrimSpace(s.Kubectl("get", "pv", pv, "-o", "jsonpath={.spec.local.path}"))

	// The node's files as --method files copies them, later: every segment closed at
	// the snapshot is there unchanged, and none of them is missing from the volume.
	files := filepath.Join(tmp, "files")
	if r := axon(admin, "--to", files, "--node", "axonserver-3"); r.Code != 0 {
		t.Fatalf("files backup: %s", r)
	}
	mf, err := backup.Read(files)
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string]string{}
	for _, f := range mf.Files {
		sum[f.Path] = f.SHA256
	}
	checked := 0
	for _, c := range []string{"default", "orders", "invoices"} {
		idx, _ := filepath.Glob(filepath.Join(restored, c, "*.index"))
		if c == "invoices" && len(idx) < 2 {
			t.Errorf("the restored volume holds %d closed segments of invoices, want 2 or more", len(idx))
		}
		lastClosed := int64(-1)
		for _, ix := range idx {
			seg := strings.TrimSuffix(filepath.Base(ix), ".index")
			n, _ := strconv.ParseInt(seg, 10, 64)
			lastClosed = max(lastClosed, n)
			b, err := os.ReadFile(filepath.Join(restored, c, seg+".events"))
			if err != nil {
				t.Errorf("restored %s/%s.events: %v", c, seg, err)
				continue
			}
			h := sha256.Sum256(b)
			if want := sum["events/"+c+"/"+seg+".events"]; want != hex.EncodeToString(h[:]) {
				t.Errorf("restored %s/%s.events differs from the node's (files backup sha256 %q)", c, seg, want)
			}
			checked++
		}
		for _, f := range mf.Contexts[c]["EVENT"].Files {
			n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".events"), 10, 64)
			if err == nil && strings.HasSuffix(f, ".events") && n <= lastClosed {
				if _, err := os.Stat(filepath.Join(restored, c, filepath.Base(f))); err != nil {
					t.Errorf("segment %s closed before the snapshot is not in the restored volume", f)
				}
			}
		}
	}
	t.Logf("restored volume %s: %d closed segments, each equal to the node's", restored, checked)

	// A snapshot deleted after the backup: verify says so (exit 3).
	s.Kubectl("-n", ns, "delete", "volumesnapshot", m1.Snapshots[0].Name)
	if r := s.Run(admin, "kubectl", "axon", "backup", "verify", live); r.Code != 3 || !strings.Contains(r.Stdout, "no longer exists") {
		t.Errorf("verify after a deletion: %s", r)
	}
}
