//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubernetes checks the behaviour kubectl axon relies on, in the sandbox:
// the scheduler honours cordons and the volumes' zones, the Eviction API
// refuses while the PodDisruptionBudget is at its limit, the StatefulSet
// controller recreates pods on the same claims, the simulated kubelet kills a
// node whose grace period runs out, and a deleted claim takes its data along.
func TestKubernetes(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/three.yaml")
	ns := s.Namespace
	pvOf := func(claim string) string {
		return strings.TrimSpace(s.Kubectl("-n", ns, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}"))
	}
	nodeOf := func(pod string) string {
		return strings.TrimSpace(s.Kubectl("-n", ns, "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"))
	}

	t.Run("CordonMovesWithinZone", func(t *testing.T) {
		s.t = t
		if n := nodeOf("axonserver-1-0"); n != "w-a1" {
			t.Fatalf("axonserver-1-0 on %s, want w-a1 (its preferred worker)", n)
		}
		pv := pvOf("data-axonserver-1-0")
		mark := s.AuditMark()
		s.Kubectl("cordon", "w-a1")
		defer s.Kubectl("uncordon", "w-a1")
		s.Kubectl("-n", ns, "delete", "pod", "axonserver-1-0", "--wait=false")

		// While axonserver-1 is down the budget (maxUnavailable 1) is spent.
		deadline := time.Now().Add(60 * time.Second)
		for {
			out := s.Kubectl("-n", ns, "get", "pdb", "axon3", "-o", "jsonpath={.status.disruptionsAllowed}")
			if out == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("PDB still allows %s disruptions", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		ev := filepath.Join(s.Dir, "eviction.json")
		b, _ := json.Marshal(map[string]any{"apiVersion": "policy/v1", "kind": "Eviction",
			"metadata": map[string]any{"name": "axonserver-2-0", "namespace": ns}})
		if err := os.WriteFile(ev, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r := s.Run(s.Kubeconfig(true), "kubectl", "create", "--raw",
			"/api/v1/namespaces/"+ns+"/pods/axonserver-2-0/eviction", "-f", ev)
		if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "disruption budget") {
			t.Errorf("eviction while the PDB is at its limit was not refused:\n%s", r)
		}

		s.Kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/axonserver-1-0", "--timeout=180s")
		if n := nodeOf("axonserver-1-0"); n != "w-a2" {
			t.Errorf("axonserver-1-0 rescheduled on %s, want w-a2 (the other worker of zone-a)", n)
		}
		if got := pvOf("data-axonserver-1-0"); got != pv {
			t.Errorf("data claim bound to %s, was %s", got, pv)
		}
		since := s.AuditSince(mark)
		if len(FindEvents(since, "node-stopped", "", "axonserver-1")) != 1 || len(FindEvents(since, "node-killed", "", "")) != 0 {
			t.Errorf("want one clean stop of axonserver-1 and no kill:\n%s", fmtEvents(since))
		}
		for _, e := range FindEvents(since, "node-started", "", "axonserver-1") {
			if e.Reason != "" {
				t.Errorf("axonserver-1 restarted with %q: its data did not survive", e.Reason)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(s.Dir, "volumes", pv))
		if len(entries) < 2 {
			t.Errorf("volume %s holds %d entries, want the node's data", pv, len(entries))
		}
		s.Kubectl("-n", ns, "rollout", "status", "statefulset/axonserver-1", "--timeout=60s")
	})

	t.Run("GracePeriodRunsOut", func(t *testing.T) {
		s.t = t
		// shutdownSeconds 3 > grace period 1: the kubelet kills the node.
		mark := s.AuditMark()
		s.Kubectl("-n", ns, "delete", "pod", "axonserver-2-0", "--grace-period=1", "--wait=false")
		e := s.WaitAudit(mark, 30*time.Second, "node-killed", "", "axonserver-2")
		if !strings.Contains(e.Reason, "grace") {
			t.Errorf("node-killed reason %q", e.Reason)
		}
		s.Kubectl("-n", ns, "rollout", "status", "statefulset/axonserver-2", "--timeout=180s")
		s.Kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/axonserver-2-0", "--timeout=180s")
		if st := s.WaitAudit(mark, 60*time.Second, "node-started", "", "axonserver-2"); st.Reason == "" {
			t.Errorf("restart after a kill not flagged unclean")
		}
	})

	t.Run("ForceDelete", func(t *testing.T) {
		s.t = t
		// The API object goes at once; the kubelet kills the container, and the
		// StatefulSet's new pod waits until it is gone.
		mark := s.AuditMark()
		r := s.Run(s.Kubeconfig(false), "kubectl", "-n", ns, "delete", "pod", "axonserver-2-0", "--force", "--grace-period=0")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		s.WaitAudit(mark, 30*time.Second, "node-killed", "", "axonserver-2")
		s.Kubectl("-n", ns, "rollout", "status", "statefulset/axonserver-2", "--timeout=180s")
		s.Kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/axonserver-2-0", "--timeout=180s")
		since := s.AuditSince(mark)
		killed, started := FindEvents(since, "node-killed", "", "axonserver-2"), FindEvents(since, "node-started", "", "axonserver-2")
		if len(killed) != 1 || len(started) != 1 || started[0].Time.Before(killed[0].Time) {
			t.Errorf("want one kill, then one start of axonserver-2:\n%s", fmtEvents(since))
		}
	})

	t.Run("Restarts", func(t *testing.T) {
		s.t = t
		// The API server restarts (watches re-established, state in etcd);
		// the agent restarts like every kubelet and runtime at once: the
		// nodes stop cleanly and come back on the same pods and addresses.
		ip := func() string {
			return s.Kubectl("-n", ns, "get", "pod", "axonserver-1-0", "-o", "jsonpath={.status.podIP}")
		}
		before := ip()
		for _, proc := range []string{"kube-apiserver", "agent"} {
			out, err := exec.Command(filepath.Join(binDir, "axon-sandbox"), "restart", "--dir", s.Dir, proc).CombinedOutput()
			if err != nil {
				t.Fatalf("restart %s: %v\n%s", proc, err, out)
			}
		}
		s.WaitStatus(90*time.Second, "healthy after the restarts", allHealthy)
		if after := ip(); after != before {
			t.Errorf("axonserver-1-0's address changed across an agent restart: %s -> %s", before, after)
		}
	})

	t.Run("DeletedClaimTakesData", func(t *testing.T) {
		s.t = t
		pv := pvOf("data-axonserver-3-0")
		s.Kubectl("-n", ns, "delete", "statefulset", "axonserver-3")
		s.Kubectl("-n", ns, "wait", "--for=delete", "pod/axonserver-3-0", "--timeout=180s")
		for _, c := range []string{"data", "events", "log", "plugins"} {
			s.Kubectl("-n", ns, "delete", "pvc", c+"-axonserver-3-0")
		}
		s.Kubectl("wait", "--for=delete", "pv/"+pv, "--timeout=60s")
		if _, err := os.Stat(filepath.Join(s.Dir, "volumes", pv)); !os.IsNotExist(err) {
			t.Errorf("volume directory of %s still there: %v", pv, err)
		}
	})
}
