//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// TestBackup: kubectl axon backup on a cluster whose groups write all the time: the
// operator without the backup Role is refused in one line; bad input changes nothing; a
// full backup verifies and holds every closed segment record for record; a second one
// with --since copies only the segments closed since, and the active ones; verify and
// list read both. The Axon Server image has no shell: the files come through the
// ephemeral container.
func TestBackup(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/backup.yaml")
	ns, admin, op := s.Namespace, s.Kubeconfig(false), s.Kubeconfig(true)
	perSeg := axonsim.RecordsPerSegment(axonsim.DefaultSegmentBytes)
	tmp := t.TempDir()
	full, inc := filepath.Join(tmp, "full"), filepath.Join(tmp, "inc")
	axon := func(kubeconfig string, args ...string) Result {
		return s.Run(kubeconfig, append([]string{"kubectl", "axon", "backup", "-n", ns}, args...)...)
	}

	// The documented operator Role has no exec: a one-line refusal naming what is missing.
	r := axon(op, "--to", full)
	if r.Code != 3 || !strings.Contains(r.Stderr, "create pods/exec") || !strings.Contains(r.Stderr, "kubectl-axon-backup") ||
		strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
		t.Errorf("without the backup Role: %s", r)
	}
	if _, err := os.Stat(full); err == nil {
		t.Errorf("a refused backup created %s", full)
	}
	// Bad input: exit 2, nothing written.
	taken := filepath.Join(tmp, "taken")
	if err := os.MkdirAll(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taken, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--to", taken},
		{"--to", full, "--contexts", "nope"},
		{"--to", full, "--since", taken},
		{"--to", full, "--node", "axonserver-9"},
	} {
		r := axon(admin, args...)
		want := 2
		if args[len(args)-2] == "--node" {
			want = 3
		}
		if r.Code != want || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("want exit %d, one line:\n%s", want, r)
		}
		if _, err := os.Stat(full); err == nil {
			t.Fatalf("%v created %s", args, full)
		}
	}

	// The plan names the node that disturbs least and why.
	r = axon(admin, "--to", full, "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "from node") {
		t.Fatalf("dry run: %s", r)
	}
	t.Logf("plan:\n%s", r.Stdout)

	waitClosed := func(after int64) {
		t.Helper()
		var out string
		// Segments close as the group writes; there is no event to watch, so the listing is polled.
		err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			out = s.Kubectl("get", "--raw", "/api/v1/namespaces/"+ns+"/pods/axonserver-1-0:8024/proxy/v1/backup/eventstore?targetContext=invoices&type=EVENT&lastClosedSegmentBackedUp=-1")
			var es axonsim.JSONBackupEventStore
			return json.Unmarshal([]byte(out), &es) == nil && es.LastClosedSegment >= after+2*perSeg, nil
		})
		if err != nil {
			t.Fatalf("invoices: no two segments closed after %d within 60s: %s", after, out)
		}
	}
	waitClosed(-1)

	// A full backup while every group writes.
	start := time.Now()
	r = axon(admin, "--to", full, "-o", "json")
	took := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("full backup: %s", r)
	}
	m1, problems, err := backup.Verify(full)
	if err != nil || len(problems) > 0 || !m1.Complete {
		t.Fatalf("full backup: %v %v complete=%v", err, problems, m1 != nil && m1.Complete)
	}
	t.Logf("full: from %s (%s): %d files, %d bytes, %d closed segments, in %s (the command, from its start)", m1.Node, m1.Reason, len(m1.Files), m1.Bytes(), m1.NewClosedSegments(), took.Round(time.Millisecond))
	// For comparison: a plain kubectl exec of tar over the same volumes, in the container the backup left.
	start = time.Now()
	plain := s.Run(admin, "kubectl", "-n", ns, "exec", m1.Node+"-0", "-c", "kubectl-axon-backup", "--", "tar", "-c", "-f", "-", "-C", "/axonserver", "events", "log")
	if plain.Code != 0 {
		t.Errorf("kubectl exec tar: %s", plain.Stderr)
	}
	t.Logf("kubectl exec tar of events and log: %d bytes in %s", len(plain.Stdout), time.Since(start).Round(time.Millisecond))
	if m1.ControlDB == "" || len(m1.Groups["orders"]) == 0 || len(m1.Groups["_admin"]) == 0 {
		t.Errorf("control DB %q, log files %v", m1.ControlDB, m1.Groups)
	}
	for _, c := range []string{"default", "orders", "invoices"} {
		if m1.Contexts[c]["EVENT"] == nil {
			t.Errorf("context %s not backed up", c)
		}
	}
	// Every closed event segment of invoices holds the node's records, in order.
	ev := m1.Contexts["invoices"]["EVENT"]
	checked := 0
	for _, f := range ev.Files {
		if !strings.HasSuffix(f, ".events") {
			continue
		}
		first, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".events"), 10, 64)
		if first > ev.LastClosed {
			continue // the active segment
		}
		b, err := os.ReadFile(filepath.Join(full, f))
		if err != nil || int64(len(b)) != 5+perSeg*axonsim.RecordBytes {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
			continue
		}
		for i := int64(0); i < perSeg; i++ {
			if !bytes.Equal(b[5+i*axonsim.RecordBytes:5+(i+1)*axonsim.RecordBytes], axonsim.EventRecord("invoices", first+i)) {
				t.Errorf("%s: event %d differs", f, first+i)
				break
			}
		}
		checked++
	}
	if want := ev.LastClosed/perSeg + 1; int64(checked) != want || checked < 2 {
		t.Errorf("%d closed segments of invoices checked, want %d (last closed %d)", checked, want, ev.LastClosed)
	}

	// An incremental backup: only the segments closed since, and the active ones.
	waitClosed(ev.LastClosed)
	r = axon(admin, "--to", inc, "--since", full)
	if r.Code != 0 {
		t.Fatalf("incremental backup: %s", r)
	}
	m2, problems, err := backup.Verify(inc)
	if err != nil || len(problems) > 0 {
		t.Fatalf("incremental: %v %v", err, problems)
	}
	ev2 := m2.Contexts["invoices"]["EVENT"]
	if ev2.After != ev.LastClosed || ev2.LastClosed < ev.LastClosed+2*perSeg {
		t.Errorf("incremental invoices: after %d (want %d), last closed %d", ev2.After, ev.LastClosed, ev2.LastClosed)
	}
	newClosed := 0
	for _, f := range ev2.Files {
		if !strings.HasSuffix(f, ".events") {
			continue
		}
		first, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".events"), 10, 64)
		if first <= ev.LastClosed {
			t.Errorf("incremental copied %s again", f)
		}
		if first <= ev2.LastClosed {
			newClosed++
		}
	}
	if want := (ev2.LastClosed - ev.LastClosed) / perSeg; int64(newClosed) != want {
		t.Errorf("incremental: %d new closed segments of invoices, want %d", newClosed, want)
	}
	t.Logf("incremental: %d files, %d bytes (full: %d files, %d bytes); invoices: %d new closed segments", len(m2.Files), m2.Bytes(), len(m1.Files), m1.Bytes(), newClosed)
	if m2.Bytes() >= m1.Bytes()+m2.Bytes()/2 && newClosed == 0 {
		t.Errorf("the incremental backup copied as much as a full one")
	}

	// verify and list read both; a backup of another cluster is no --since.
	if r := s.Run(admin, "kubectl", "axon", "backup", "verify", inc); r.Code != 0 || !strings.Contains(r.Stdout, "sound") {
		t.Errorf("verify: %s", r)
	}
	if r := s.Run(admin, "kubectl", "axon", "backup", "list", full, inc); r.Code != 0 || strings.Count(r.Stdout, "axonbk") != 2 {
		t.Errorf("list: %s", r)
	} else {
		t.Logf("list:\n%s", r.Stdout)
	}
	other := filepath.Join(tmp, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	m1.Cluster = "elsewhere"
	if err := m1.Write(other); err != nil {
		t.Fatal(err)
	}
	if r := axon(admin, "--to", filepath.Join(tmp, "x"), "--since", other); r.Code != 2 || !strings.Contains(r.Stderr, "elsewhere") {
		t.Errorf("--since of another cluster: %s", r)
	}

	// Ctrl-C as soon as the plan is out (the copy takes seconds after it): exit 1, and a
	// manifest that says the backup is incomplete because it was interrupted.
	intr := filepath.Join(tmp, "interrupted")
	cmd := exec.Command("kubectl", "axon", "backup", "-n", ns, "--to", intr)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+admin)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(errPipe)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "backup of "+s.Topology.Name) {
			_ = cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	for sc.Scan() {
		seen = append(seen, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	mi, rerr := backup.Read(intr)
	switch {
	case !errors.As(err, &ee) || ee.ExitCode() != 1:
		t.Errorf("interrupted backup: %v\n%s", err, strings.Join(seen, "\n"))
	case rerr != nil:
		t.Errorf("interrupted backup left no manifest: %v", rerr)
	case mi.Complete || !strings.HasPrefix(mi.Incomplete, "interrupted"):
		t.Errorf("interrupted backup's manifest: complete %v, %q", mi.Complete, mi.Incomplete)
	default:
		t.Logf("interrupted: %q after %d files", mi.Incomplete, len(mi.Files))
	}
	if r := s.Run(admin, "kubectl", "axon", "backup", "verify", intr); r.Code == 0 {
		t.Errorf("verify passes an interrupted backup: %s", r)
	}
}
