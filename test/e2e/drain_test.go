//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer a running command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDrain drains workers of a four-node sandbox as the restricted operator: a
// worker whose pod cannot leave its zone (refused, nothing evicted), a worker
// holding two nodes of two groups (moved one at a time within their zone, no
// quorum lost), and a worker whose eviction a PodDisruptionBudget at its limit
// refuses (waited for, reported, then done once the budget allows).
func TestDrain(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/drain.yaml")
	ns := s.Namespace
	op := s.Kubeconfig(true)
	s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
	workerOf := func(pod string) string {
		return strings.TrimSpace(s.Kubectl("-n", ns, "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"))
	}
	cordoned := func(worker string) bool {
		return strings.TrimSpace(s.Kubectl("get", "node", worker, "-o", "jsonpath={.spec.unschedulable}")) == "true"
	}
	uncordon := func(worker string) {
		t.Cleanup(func() {
			_ = s.Run(s.Kubeconfig(false), "kubectl", "uncordon", worker)
		})
	}

	t.Run("ZoneBoundRefused", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		uncordon("w-c1")
		start := time.Now()
		r := s.Run(op, "kubectl", "axon", "drain-node", "-n", ns, "w-c1")
		if r.Code != 3 {
			t.Fatalf("want exit 3:\n%s", r)
		}
		for _, want := range []string{"axonserver-4-0 cannot move off w-c1", "topology.kubernetes.io/zone in [zone-c]", "replace-node -n " + ns + " --fresh-volume axonserver-4", "nothing was changed"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
			}
		}
		if cordoned("w-c1") {
			t.Error("w-c1 cordoned by a refused drain")
		}
		if ev := FindEvents(s.AuditSince(mark), "node-stopped", "", ""); len(ev) > 0 {
			t.Errorf("nodes stopped by a refused drain:\n%s", fmtEvents(ev))
		}
		t.Logf("refused in %s:\n%s", time.Since(start).Round(time.Millisecond), r.Stderr)
	})

	t.Run("TwoNodesOfOneGroup", func(t *testing.T) {
		s.t = t
		uncordon("w-a1")
		r := s.Run(op, "kubectl", "axon", "drain-node", "-n", ns, "w-a1", "--dry-run")
		if r.Code != 0 || !strings.Contains(r.Stdout, "all at once (as kubectl drain does) would stop writes") {
			t.Fatalf("dry run:\n%s", r)
		}
		t.Logf("plan:\n%s", r.Stdout)
		mark := s.AuditMark()
		r = runLong(s, op, 10*time.Minute, "kubectl", "axon", "drain-node", "-n", ns, "w-a1", "-o", "json", "--node-timeout", "5m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		evs := decodeEvents(t, r.Stdout)
		logTimeline(t, evs)
		sum, plan := summaryOf(t, evs)
		logFigures(t, "drain of 2 pods", sum)
		checkAudit(t, s, mark, plan)
		for _, pod := range []string{"axonserver-1-0", "axonserver-2-0"} {
			if w := workerOf(pod); w != "w-a2" {
				t.Errorf("%s on %s, want w-a2 (the other worker of its volumes' zone)", pod, w)
			}
		}
		if !cordoned("w-a1") {
			t.Error("w-a1 not left cordoned")
		}
		// One at a time: the second node stopped after the first started again.
		since := s.AuditSince(mark)
		stops, starts := FindEvents(since, "node-stopped", "", ""), FindEvents(since, "node-started", "", "")
		if len(stops) != 2 || len(starts) != 2 || stops[1].Time.Before(starts[0].Time) {
			t.Errorf("want stop, start, stop, start:\n%s", fmtEvents(since))
		}
		var last upgradeEvent
		for _, e := range evs {
			if e.Event == "summary" {
				last = e
			}
		}
		var res struct {
			Left []struct {
				Name string `json:"name"`
			} `json:"left"`
			LeftScope string `json:"leftScope"`
		}
		_ = json.Unmarshal(last.Data, &res)
		if len(res.Left) != 0 || !strings.Contains(res.LeftScope, "namespace "+ns+" only") {
			t.Errorf("left on w-a1: %+v", res)
		}
	})

	t.Run("BudgetAtItsLimit", func(t *testing.T) {
		s.t = t
		uncordon("w-b1")
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		// The cluster's budget (maxUnavailable 1) lowered to 0: no eviction allowed.
		s.Kubectl("-n", ns, "patch", "pdb", "axondrain", "--type", "merge", "-p", `{"spec":{"maxUnavailable":0}}`)
		restored := false
		restore := func() {
			if !restored {
				restored = true
				s.Kubectl("-n", ns, "patch", "pdb", "axondrain", "--type", "merge", "-p", `{"spec":{"maxUnavailable":1}}`)
			}
		}
		defer restore()
		deadline := time.Now().Add(30 * time.Second)
		for s.Kubectl("-n", ns, "get", "pdb", "axondrain", "-o", "jsonpath={.status.disruptionsAllowed}") != "0" {
			if time.Now().After(deadline) {
				t.Fatal("the budget still allows disruptions")
			}
			time.Sleep(200 * time.Millisecond)
		}
		mark := s.AuditMark()
		start := time.Now()
		cmd := exec.Command("kubectl", "axon", "drain-node", "-n", ns, "w-b1", "-o", "json", "--eviction-retry", "2s", "--node-timeout", "5m")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+op)
		var stdout, stderr lockedBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Let it be refused twice, then free the budget.
		deadline = time.Now().Add(2 * time.Minute)
		for strings.Count(stdout.String(), `"event":"eviction-blocked"`) < 2 {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no eviction-blocked events:\n%s\n%s", stdout.String(), stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		blockedFor := time.Since(start)
		if ev := FindEvents(s.AuditSince(mark), "node-stopped", "", ""); len(ev) > 0 {
			t.Errorf("a node stopped while the budget refused:\n%s", fmtEvents(ev))
		}
		restore()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
			}
		case <-time.After(8 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("drain did not finish:\n%s", stdout.String())
		}
		evs := decodeEvents(t, stdout.String())
		for _, e := range evs {
			if e.Event == "eviction-blocked" && !strings.Contains(e.Message, "disruption budget") {
				t.Errorf("blocked without the budget's reason: %s", e.Message)
			}
		}
		sum, plan := summaryOf(t, evs)
		checkAudit(t, s, mark, plan)
		if w := workerOf("axonserver-3-0"); w != "w-b2" {
			t.Errorf("axonserver-3-0 on %s, want w-b2", w)
		}
		t.Logf("budget refused for %s (then freed); drain of 1 pod in %.1fs", blockedFor.Round(100*time.Millisecond), sum.ElapsedSeconds)
	})
}

// logTimeline logs the steps' events with their times since the step started.
func logTimeline(t *testing.T, evs []upgradeEvent) {
	t.Helper()
	var b strings.Builder
	var start time.Time
	for _, e := range evs {
		if e.Event == "step-started" {
			start = e.Time
		}
		if e.Step == 0 || start.IsZero() {
			continue
		}
		fmt.Fprintf(&b, "  %s +%6.3fs %-16s %s\n", e.Node, e.Time.Sub(start).Seconds(), e.Event, e.Message)
	}
	t.Logf("timeline:\n%s", b.String())
}
