//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// roleMap is a node's group → role in a status.
func roleMap(st Status, node string) map[string]string {
	out := map[string]string{}
	for _, g := range st.Groups {
		if m := g.Member(node); m != nil {
			out[g.Name] = m.Role
		}
	}
	return out
}

func sameRoles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func claimUID(s *Sandbox, name string) string {
	return s.Kubectl("-n", s.Namespace, "get", "pvc", name, "-o", "jsonpath={.metadata.uid}")
}

// killAt starts a kubectl axon command with -o json and SIGKILLs it at the first
// event of kind; it returns whether it got there.
func killAt(t *testing.T, kubeconfig string, kind string, args ...string) bool {
	t.Helper()
	hit := false
	_, stderr, _ := streamRun(t, kubeconfig, func(cmd *exec.Cmd, e upgradeEvent) bool {
		if e.Event == kind {
			hit = true
			cmd.Process.Signal(syscall.SIGKILL)
		}
		return hit
	}, args...)
	if !hit {
		t.Logf("stderr:\n%s", stderr)
	}
	return hit
}

// streamRun starts `kubectl args...` as the user of kubeconfig and hands on each
// JSON event of its stdout as it comes, until on says stop or the output ends; it
// returns the stdout read, the stderr and the command's end.
func streamRun(t *testing.T, kubeconfig string, on func(cmd *exec.Cmd, e upgradeEvent) (stop bool), args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var e upgradeEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && on(cmd, e) {
			break
		}
	}
	err := cmd.Wait()
	return out.String(), stderr.String(), err
}

// waitPodReady waits until the pod exists (the StatefulSet controller recreates it)
// and is Ready.
func waitPodReady(s *Sandbox, pod string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.Run(s.Kubeconfig(false), "kubectl", "-n", s.Namespace, "get", "pod", pod, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if r.Code == 0 && r.Stdout == "True" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pod %s not Ready within %s:\n%s", pod, timeout, r)
		}
		time.Sleep(time.Second)
	}
}

// TestReplace: on five nodes with mixed roles, as the restricted operator: replace
// one node; --all; --fresh-volume on a node whose data was lost; --fresh-volume
// killed after step 3 and after step 4, each finished by a rerun.
func TestReplace(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/upgrade-five.yaml")
	ns := s.Namespace
	op := s.Kubeconfig(true)
	s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)

	t.Run("One", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		start := time.Now()
		r := runLong(s, op, 10*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "axonserver-4", "-o", "json", "--node-timeout", "5m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		sum, plan := summaryOf(t, decodeEvents(t, r.Stdout))
		t.Logf("one node replaced in %s", time.Since(start).Round(100*time.Millisecond))
		logSummary(t, "replace one", sum)
		checkAudit(t, s, mark, plan)
		if c := len(FindEvents(s.AuditSince(mark), "node-started", "", "axonserver-4")); c != 1 {
			t.Errorf("axonserver-4 started %d times", c)
		}
	})

	t.Run("All", func(t *testing.T) {
		s.t = t
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		mark := s.AuditMark()
		start := time.Now()
		r := runLong(s, op, 20*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "--all", "-o", "json", "--node-timeout", "5m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		sum, plan := summaryOf(t, decodeEvents(t, r.Stdout))
		t.Logf("--all on 5 nodes in %s", time.Since(start).Round(100*time.Millisecond))
		logSummary(t, "replace --all", sum)
		// checkAudit holds every group to the plan's worst case: with randomised
		// elections the leaders, and so whether two of them lead groups the other is
		// in (a second election no order avoids), differ from run to run.
		checkAudit(t, s, mark, plan)
		for _, n := range s.Topology.Nodes {
			if c := len(FindEvents(s.AuditSince(mark), "node-started", "", n.Name)); c != 1 {
				t.Errorf("%s started %d times", n.Name, c)
			}
		}
	})

	// A node loses its data volume: its data PVC and pod are deleted behind
	// kubectl axon's back; it comes back knowing no cluster. --fresh-volume rebuilds it.
	t.Run("FreshVolumeAfterDataLoss", func(t *testing.T) {
		s.t = t
		st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		node := "axonserver-5"
		before := roleMap(st, node)
		s.Kubectl("-n", ns, "delete", "pvc", "data-"+node+"-0", "--wait=false")
		s.Kubectl("-n", ns, "delete", "pod", node+"-0")
		waitPodReady(s, node+"-0", 3*time.Minute)
		// Autocluster re-registered the node (and may have added it to its contexts'
		// groups): the memberships to keep are those the cluster lists now.
		lost := before
		before = roleMap(s.WaitStatus(3*time.Minute, "a healthy cluster", allHealthy), node)
		t.Logf("roles before the loss %v, after autocluster %v", lost, before)
		oldEvents := claimUID(s, "events-"+node+"-0")
		mark := s.AuditMark()
		start := time.Now()
		r := s.Run(op, "kubectl", "axon", "replace-node", "-n", ns, "--fresh-volume", node)
		if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
			t.Errorf("without a terminal and --yes:\n%s", r)
		}
		r = runLong(s, op, 15*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "--fresh-volume", "--yes", node, "-o", "json", "--node-timeout", "8m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		t.Logf("--fresh-volume after data loss: %s", time.Since(start).Round(100*time.Millisecond))
		sum, plan := summaryOf(t, decodeEvents(t, r.Stdout))
		for _, n := range sum.Nodes { // the overhead includes unregistering and rejoining: not bounded like a restart's
			t.Logf("fresh volume: %s %s: down %.1fs, to healthy %.1fs, overhead %.1fs", n.Node, n.Result, n.DownSeconds, n.ToHealthySeconds, n.OverheadSeconds)
		}
		checkAudit(t, s, mark, plan)
		after := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		if got := roleMap(after, node); !sameRoles(got, before) {
			t.Errorf("roles after %v, before %v", got, before)
		}
		if claimUID(s, "events-"+node+"-0") == oldEvents {
			t.Error("events PVC not replaced")
		}
	})

	for _, stop := range []string{"unregistered", "volumes-deleted"} {
		t.Run("FreshVolumeKilledAt-"+stop, func(t *testing.T) {
			s.t = t
			st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
			node := "axonserver-2" // _admin and default PRIMARY, orders ACTIVE_BACKUP
			if stop == "volumes-deleted" {
				node = "axonserver-3" // PRIMARY everywhere
			}
			before := roleMap(st, node)
			mark := s.AuditMark()
			start := time.Now()
			if !killAt(t, op, stop, "axon", "replace-node", "-n", ns, "--fresh-volume", "--yes", node, "-o", "json", "--node-timeout", "8m") {
				t.Fatalf("never reached %s", stop)
			}
			r := runLong(s, op, 15*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "--fresh-volume", "--yes", node,
				"-o", "json", "--node-timeout", "8m", "--steal-lock")
			if r.Code != 0 {
				t.Fatalf("%s", r)
			}
			t.Logf("killed at %s and resumed: %s", stop, time.Since(start).Round(100*time.Millisecond))
			// The rerun's plan does not know the killed run's (a removed leader hands its
			// leadership over: an election): only quorum is checked.
			checkAudit(t, s, mark, upgradePlan{})
			after := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
			if got := roleMap(after, node); !sameRoles(got, before) {
				t.Errorf("roles after %v, before %v", got, before)
			}
			if c := len(FindEvents(s.AuditSince(mark), "node-unregistered", "", node)); c < 1 {
				t.Errorf("%s never unregistered", node)
			}
		})
	}
}

// TestReplaceRefusesGroupOfOne: rebuilding the only member of a group is refused
// (exit 3) and changes nothing.
func TestReplaceRefusesGroupOfOne(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/upgrade-three.yaml")
	s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
	mark := s.AuditMark()
	r := s.Run(s.Kubeconfig(true), "kubectl", "axon", "replace-node", "-n", s.Namespace, "--fresh-volume", "--yes", "axonserver-3")
	if r.Code != 3 || !strings.Contains(r.Stderr, "solo") || !strings.Contains(r.Stderr, "no PRIMARY") {
		t.Fatalf("%s", r)
	}
	if ev := s.AuditSince(mark); len(FindEvents(ev, "node-stopped", "", "")) > 0 || len(FindEvents(ev, "node-unregistered", "", "")) > 0 {
		t.Errorf("a refused run changed the cluster:\n%s", fmtEvents(ev))
	}
	if out := s.Kubectl("-n", s.Namespace, "get", "pvc", "-o", "name"); strings.Count(out, "persistentvolumeclaim/") != 12 {
		t.Errorf("PVCs:\n%s", out)
	}
}
