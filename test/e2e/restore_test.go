//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/restore"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// waitClosed waits until context c of the sandbox's cluster has closed segments up to
// at least token from (the eventstore backup listing, through the API server's proxy).
func (s *Sandbox) waitClosed(c string, from int64) {
	s.t.Helper()
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		out = s.Kubectl("get", "--raw", "/api/v1/namespaces/"+s.Namespace+"/pods/axonserver-1-0:8024/proxy/v1/backup/eventstore?targetContext="+c+"&type=EVENT&lastClosedSegmentBackedUp=-1")
		var es axonsim.JSONBackupEventStore
		return json.Unmarshal([]byte(out), &es) == nil && es.LastClosedSegment >= from, nil
	})
	if err != nil {
		s.t.Fatalf("%s: no segment closed at or after %d within 90s: %s", c, from, out)
	}
}

// copyStopped copies the cluster's objects into dst as an operator lays them out
// before a restore (harness.StoppedCopy: StatefulSets at replicas 0).
func (s *Sandbox) copyStopped(dst string) []appsv1.StatefulSet {
	s.t.Helper()
	sel := "cluster=" + s.Topology.Name
	objs, stss, err := harness.StoppedCopy(s.Namespace, dst, func(res string) (string, error) {
		return s.Kubectl("-n", s.Namespace, "get", res, "-l", sel, "-o", "json"), nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.createAll(objs)
	return stss
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

// TestRestore: kubectl axon restore of an incremental backup (and the full one it
// continues), taken while every group writes, into a new namespace whose StatefulSets
// wait at replicas 0: bad input and a running target are refused and change nothing;
// the operator without the restore Role gets a one-line refusal naming it; the restore
// brings the cluster up healthy beside the original, and every node's stores hold
// exactly the chain's events, checksum for checksum; a rerun is refused.
func TestRestore(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/backup.yaml")
	src, dst := s.Namespace, "axon-restored"
	admin, op := s.Kubeconfig(false), s.Kubeconfig(true)
	perSeg := axonsim.RecordsPerSegment(axonsim.DefaultSegmentBytes)
	tmp := t.TempDir()
	full, inc := filepath.Join(tmp, "full"), filepath.Join(tmp, "inc")

	// A full backup, more closed segments, an incremental one.
	s.waitClosed("invoices", perSeg)
	if r := s.Run(admin, "kubectl", "axon", "backup", "-n", src, "--to", full); r.Code != 0 {
		t.Fatalf("full backup: %s", r)
	}
	fm, err := backup.Read(full)
	if err != nil {
		t.Fatal(err)
	}
	s.waitClosed("invoices", fm.Contexts["invoices"]["EVENT"].LastClosed+perSeg)
	if r := s.Run(admin, "kubectl", "axon", "backup", "-n", src, "--to", inc, "--since", full); r.Code != 0 {
		t.Fatalf("incremental backup: %s", r)
	}
	chain, err := restore.ReadChain(inc)
	if err != nil || len(chain) != 2 {
		t.Fatalf("the chain: %v (%d backups)", err, len(chain))
	}

	restoreAs := func(kubeconfig string, args ...string) Result {
		return s.Run(kubeconfig, append([]string{"kubectl", "axon", "restore"}, args...)...)
	}
	oneLine := func(r Result) bool { return strings.Count(strings.TrimSpace(r.Stderr), "\n") == 0 }
	// Bad input and a running target: refused, nothing changed.
	mark := s.AuditMark()
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--from", tmp}, 2, "no manifest.json"},
		{[]string{"--from", inc, "--to-namespace", dst}, 3, "namespace axon-restored does not exist"},
		{[]string{"--from", inc}, 3, "restore never writes over a running cluster"},
	} {
		if r := restoreAs(admin, c.args...); r.Code != c.code || !strings.Contains(r.Stderr, c.says) || !oneLine(r) {
			t.Errorf("want exit %d saying %q: %s", c.code, c.says, r)
		}
	}
	if ev := s.AuditSince(mark); len(axonsim.Filter(ev, axonsim.EvNodeStopped, "", "")) > 0 {
		t.Errorf("a refused restore stopped a node")
	}

	// The target: the cluster's objects at replicas 0, kubectl axon's Role for the operator.
	s.Kubectl("create", "namespace", dst)
	stss := s.copyStopped(dst)
	s.Kubectl("-n", dst, "apply", "-f", filepath.Join(repoRoot, "docs", "rbac.yaml"))
	s.Kubectl("-n", dst, "create", "rolebinding", "operator", "--role=kubectl-axon", "--user=axon-operator")
	r := restoreAs(op, "--from", inc, "--to-namespace", dst)
	if r.Code != 3 || !strings.Contains(r.Stderr, "Role kubectl-axon-restore") || !strings.Contains(r.Stderr, "create persistentvolumeclaims") || !oneLine(r) {
		t.Errorf("without the restore Role: %s", r)
	}
	if claims := s.Kubectl("-n", dst, "get", "pvc", "-o", "name"); strings.TrimSpace(claims) != "" {
		t.Errorf("a refused restore created claims: %s", claims)
	}
	s.Kubectl("-n", dst, "create", "rolebinding", "operator-restore", "--role=kubectl-axon-restore", "--user=axon-operator")

	// A target that already has a volume: refused, the claim left as it was.
	tpl := stss[0].Spec.VolumeClaimTemplates[0]
	stray := tpl.Name + "-" + stss[0].Name + "-0"
	s.createAll([]any{corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: stray, Namespace: dst}, Spec: tpl.Spec}})
	if r := restoreAs(op, "--from", inc, "--to-namespace", dst); r.Code != 3 || !strings.Contains(r.Stderr, "PersistentVolumeClaim "+stray+" in namespace "+dst+" exists") || !oneLine(r) {
		t.Errorf("a claim that exists: %s", r)
	}
	if claims := strings.Fields(s.Kubectl("-n", dst, "get", "pvc", "-o", "name")); len(claims) != 1 {
		t.Errorf("a refused restore changed the claims: %v", claims)
	}
	s.Kubectl("-n", dst, "delete", "pvc", stray, "--wait=true")

	// The plan.
	r = restoreAs(op, "--from", inc, "--to-namespace", dst, "--dry-run", "-o", "json")
	var plan restore.Plan
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &plan) != nil || len(plan.Nodes) != len(stss) || len(plan.Recovery) != len(stss) || len(plan.Backups) != 2 {
		t.Fatalf("dry run: %s", r)
	}

	// The restore.
	start := time.Now()
	r = restoreAs(op, "--from", inc, "--to-namespace", dst, "--timeout", "3m")
	if r.Code != 0 || !strings.Contains(r.Stdout, "every node healthy") {
		t.Fatalf("restore: %s", r)
	}
	t.Logf("restore of %d nodes in %s:\n%s", len(stss), time.Since(start).Round(100*time.Millisecond), r.Stderr)
	if pods := s.Kubectl("-n", dst, "get", "pods", "-l", "app.kubernetes.io/component=restore", "-o", "name"); strings.TrimSpace(pods) != "" {
		t.Errorf("loader pods left: %s", pods)
	}
	if st, sr := s.Status(false); !allHealthy(st) {
		t.Errorf("the original cluster is not healthy after the restore beside it:\n%s", sr)
	}

	// Every node's stores hold exactly the chain's events: the newest copy of each
	// segment, the torn record of an active segment copied mid-write dropped.
	newest := map[string]string{} // relative path -> backup dir
	for i := len(chain) - 1; i >= 0; i-- {
		for _, f := range chain[i].M.Files {
			newest[f.Path] = chain[i].Dir
		}
	}
	want := map[string]int64{}
	for rel, dir := range newest {
		if parts := strings.Split(rel, "/"); len(parts) == 3 && parts[0] == backup.DirEvents && strings.HasSuffix(rel, ".events") {
			fi, err := os.Stat(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			want[parts[1]] += (fi.Size() - 5) / axonsim.RecordBytes
		}
	}
	loaded := s.StoreLoaded(dst)
	checked := 0
	for _, n := range plan.Nodes {
		for _, c := range n.Contexts {
			e, ok := loaded[n.Node][c]
			switch {
			case !ok:
				t.Errorf("%s: no store-loaded event for %s", n.Node, c)
			case e.Events != want[c] || e.Checksum != axonsim.EventsChecksum(c, e.Events):
				t.Errorf("%s %s: loaded %d events (checksum %s); the chain holds %d (checksum %s)",
					n.Node, c, e.Events, e.Checksum, want[c], axonsim.EventsChecksum(c, want[c]))
			case e.Events < chain[0].M.Contexts[c]["EVENT"].LastClosed+perSeg:
				t.Errorf("%s %s: %d events, but the incremental backup's last closed segment starts at %d", n.Node, c, e.Events, chain[0].M.Contexts[c]["EVENT"].LastClosed)
			default:
				checked++
			}
		}
		if len(loaded[n.Node]) != len(n.Contexts) {
			t.Errorf("%s: store-loaded for %d contexts, it stores %v", n.Node, len(loaded[n.Node]), n.Contexts)
		}
	}
	if checked == 0 {
		t.Error("no store was checked")
	}
	if got := len(axonsim.Filter(s.AuditOf(dst), axonsim.EvRecoveryApplied, "", "")); got != len(stss) {
		t.Errorf("recovery-applied %d times in %s, want once per node", got, dst)
	}
	t.Logf("%d stores restored event for event (%v events per context)", checked, want)

	// A rerun finds the cluster running: refused.
	if r := restoreAs(op, "--from", inc, "--to-namespace", dst); r.Code != 3 || !strings.Contains(r.Stderr, "never writes over a running cluster") {
		t.Errorf("rerun: %s", r)
	}
}
