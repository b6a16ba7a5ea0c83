//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// The behaviours of today's Axon Server that the safety claims depend on, each proven
// against the sandbox's audit log.

// noQuorumLost fails t for every quorum-lost event since mark.
func noQuorumLost(t *testing.T, s *Sandbox, mark AuditMark) {
	t.Helper()
	if lost := FindEvents(s.AuditSince(mark), "quorum-lost", "", ""); len(lost) > 0 {
		t.Errorf("quorum lost:\n%s", fmtEvents(lost))
	}
}

// statusWarnings is status -o json's warnings.
func statusWarnings(t *testing.T, out string) []string {
	t.Helper()
	var v struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("status JSON: %v", err)
	}
	return v.Warnings
}

// TestFidelityStaleUp: a rolling upgrade during which an election happens while the
// node just restarted is still far behind. The new leader reports every follower UP
// for up to the max election timeout; kubectl axon judges from the Raft indices and
// stops no further node until the follower has caught up: no quorum lost.
func TestFidelityStaleUp(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/fidelity-staleup.yaml")
	ns, op := s.Namespace, s.Kubeconfig(true)
	st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
	leader := st.Group("default").Leader
	mark := s.AuditMark()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "axon", "upgrade", "-n", ns, "--image", "axoniq/axonserver:2024.2.0-nonroot", "-o", "json", "--node-timeout", "5m")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+op)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The first node the upgrade restarts is a follower of default: as soon as it
	// is back, stop default's leader (a clean stop: an election follows) while the
	// restarted node is still thousands of entries behind.
	first := s.WaitAudit(mark, 5*time.Minute, "node-started", "", "")
	if first.Node == leader {
		t.Fatalf("the upgrade restarted default's leader %s first", leader)
	}
	s.Kubectl("-n", ns, "delete", "pod", leader+"-0", "--wait=false")
	elected := s.WaitAudit(mark, 2*time.Minute, "leader-elected", "default", "")
	caught := FindEvents(s.AuditSince(mark), "caught-up", "default", first.Node)
	if len(caught) > 0 && !caught[0].Time.After(elected.Time) {
		t.Logf("%s caught up before the election (%s): the trap did not close this run", first.Node, caught[0].Time)
	} else {
		t.Logf("election in default at %s (new leader %s) while %s was behind", elected.Time, elected.Node, first.Node)
	}

	if err := <-done; err != nil {
		t.Fatalf("upgrade: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	noQuorumLost(t, s, mark)
	s.WaitStatus(3*time.Minute, "a healthy cluster", allHealthy)
}

// TestFidelityRoles: replace-node --fresh-volume restores roles by removing a member
// and adding it back with its role (a POST to a member changes nothing), and rebuilds
// the autocluster.first node without founding a second cluster.
func TestFidelityRoles(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/fidelity-roles.yaml")
	ns, op := s.Namespace, s.Kubeconfig(true)

	t.Run("RoleRestoreByRemoveAndAdd", func(t *testing.T) {
		s.t = t
		node := "axonserver-4" // ACTIVE_BACKUP in default, which autocluster joins as PRIMARY
		before := roleMap(s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy), node)
		mark := s.AuditMark()
		r := runLong(s, op, 15*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "--fresh-volume", "--yes", node, "-o", "json", "--node-timeout", "8m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		noQuorumLost(t, s, mark)
		after := roleMap(s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy), node)
		if !sameRoles(after, before) {
			t.Errorf("roles after %v, before %v", after, before)
		}
		// In default: the last change is member-added with the recorded role, and a
		// membership with any other role was removed before it.
		var seq []axonsim.Event
		for _, e := range s.AuditSince(mark) {
			if e.Group == "default" && e.Node == node && (e.Event == "member-added" || e.Event == "member-removed") {
				seq = append(seq, e)
			}
		}
		if len(seq) < 2 {
			t.Fatalf("default/%s changes: %s", node, fmtEvents(seq))
		}
		last := seq[len(seq)-1]
		if last.Event != "member-added" || last.Role != "ACTIVE_BACKUP" || seq[len(seq)-2].Event != "member-removed" {
			t.Errorf("default/%s: want member-removed then member-added ACTIVE_BACKUP last:\n%s", node, fmtEvents(seq))
		}
		for i, e := range seq[:len(seq)-1] {
			if e.Event == "member-added" && e.Role != "ACTIVE_BACKUP" && seq[i+1].Event != "member-removed" {
				t.Errorf("default/%s added as %s and not removed next:\n%s", node, e.Role, fmtEvents(seq))
			}
		}
		if strings.Contains(r.Stdout, `"event":"role-change"`) {
			t.Logf("autocluster gave %s another role in default: changed by remove and add", node)
		}
	})

	t.Run("AutoclusterFirstRebuild", func(t *testing.T) {
		s.t = t
		node := "axonserver-1" // autocluster.first
		st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		before := roleMap(st, node)
		cm := s.Kubectl("-n", ns, "get", "configmap", "-o", "jsonpath={range .items[*]}{.metadata.name}={.data.first}{\"\\n\"}{end}")
		mark := s.AuditMark()
		r := runLong(s, op, 15*time.Minute, "kubectl", "axon", "replace-node", "-n", ns, "--fresh-volume", "--yes", node, "-o", "json", "--node-timeout", "8m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		if !strings.Contains(r.Stdout, `"event":"autocluster-repointed"`) || !strings.Contains(r.Stdout, `"event":"autocluster-restored"`) {
			t.Errorf("autocluster.first not repointed and restored:\n%s", r.Stdout)
		}
		if init := FindEvents(s.AuditSince(mark), "cluster-initialised", "", ""); len(init) > 0 {
			t.Errorf("a second cluster was founded:\n%s", fmtEvents(init))
		}
		noQuorumLost(t, s, mark)
		after := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		admins := 0
		for _, g := range after.Groups {
			if g.Name == "_admin" {
				admins++
			}
		}
		if admins != 1 || len(after.Nodes) != len(s.Topology.Nodes) {
			t.Errorf("%d _admin groups, %d nodes", admins, len(after.Nodes))
		}
		for _, n := range after.Nodes {
			if !n.Connected {
				t.Errorf("%s is not connected to the cluster", n.Name)
			}
		}
		if got := roleMap(after, node); !sameRoles(got, before) {
			t.Errorf("roles after %v, before %v", got, before)
		}
		if now := s.Kubectl("-n", ns, "get", "configmap", "-o", "jsonpath={range .items[*]}{.metadata.name}={.data.first}{\"\\n\"}{end}"); now != cm {
			t.Errorf("autocluster ConfigMaps not restored:\nbefore\n%s\nafter\n%s", cm, now)
		}
	})
}

// TestFidelityUnknownRoles: an ANALYTICS member and one of a role no version names
// go through status, upgrade --dry-run and doctor: shown as named, non-voting,
// warned about once, never a failure.
func TestFidelityUnknownRoles(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/fidelity-unknown-roles.yaml")
	ns, op := s.Namespace, s.Kubeconfig(true)
	st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
	g := st.Group("default")
	if m := g.Member("axonserver-4"); m == nil || m.Role != "ANALYTICS" {
		t.Errorf("axonserver-4 in default: %+v", m)
	}
	if m := g.Member("axonserver-5"); m == nil || m.Role != "QUANTUM" {
		t.Errorf("axonserver-5 in default: %+v", m)
	}
	if g.FaultTolerance != 1 {
		t.Errorf("default tolerates %d; the three PRIMARY members alone vote: want 1", g.FaultTolerance)
	}
	_, r := s.Status(true)
	var quantum int
	for _, w := range statusWarnings(t, r.Stdout) {
		if strings.Contains(w, "QUANTUM") {
			quantum++
		}
		if strings.Contains(w, "ANALYTICS") {
			t.Errorf("warned about ANALYTICS, a known role: %s", w)
		}
	}
	if quantum != 1 {
		t.Errorf("%d warnings about QUANTUM, want 1:\n%s", quantum, r.Stdout)
	}
	table := s.Run(op, "kubectl", "axon", "status", "-n", ns)
	if table.Code != 0 || !strings.Contains(table.Stdout, "axonserver-4:ANALYTICS") || !strings.Contains(table.Stdout, "axonserver-5:QUANTUM") {
		t.Errorf("status table:\n%s", table)
	}
	if r := s.Run(op, "kubectl", "axon", "status", "-n", ns, "--exit-code"); r.Code != 0 {
		t.Errorf("status --exit-code on a healthy cluster with unknown roles:\n%s", r)
	}
	dry := s.Run(op, "kubectl", "axon", "upgrade", "-n", ns, "--image", "axoniq/axonserver:2025.2.1-nonroot", "--dry-run")
	if dry.Code != 0 || strings.Contains(dry.Stdout+dry.Stderr, "unknown role \"") {
		t.Errorf("upgrade --dry-run:\n%s", dry)
	}
	doc := s.Run(op, "kubectl", "axon", "doctor", "-n", ns)
	if doc.Code != 0 && doc.Code != 3 || strings.Contains(doc.Stdout+doc.Stderr, "unknown role \"") {
		t.Errorf("doctor:\n%s", doc)
	}
}
