package cmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

func decodeReport(t testing.TB, out string) *status.Report {
	t.Helper()
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, out)
	}
	return &r
}

func nodeOf(r *status.Report, name string) status.NodeStatus {
	for _, n := range r.Nodes {
		if n.Name == name {
			return n
		}
	}
	return status.NodeStatus{}
}

func groupOf(r *status.Report, name string) status.GroupStatus {
	for _, g := range r.Groups {
		if g.Name == name {
			return g
		}
	}
	return status.GroupStatus{}
}

func TestStatusHealthyCluster(t *testing.T) {
	w := newWorld(t, threeNodes)
	// Followers may need a moment to be reported caught up after the start.
	var r *status.Report
	deadline := time.Now().Add(settle)
	for {
		code, out, errOut := w.run(t, "status", "-o", "json", "--exit-code")
		if code == cli.ExitOK {
			r = decodeReport(t, out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: exit %d, stderr %q\n%s", code, errOut, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Cluster != "axonserver" || r.Namespace != "axon" || r.Edition != "EE" || !r.Healthy {
		t.Fatalf("report header: %+v", r)
	}
	if len(r.Nodes) != 3 || len(r.Groups) != 2 {
		t.Fatalf("want 3 nodes and 2 groups, got %d and %d", len(r.Nodes), len(r.Groups))
	}
	n3 := nodeOf(r, "axonserver-3")
	if n3.Pod != "axonserver-3-0" || n3.Zone != "zone-c" || n3.Worker != "worker-c" || n3.Version != "2024.1.0" || !n3.Ready || !n3.Connected {
		t.Errorf("axonserver-3: %+v", n3)
	}
	// axonserver-3 is the only ACTIVE_BACKUP of payments: stopping it stops writes there.
	if n3.SafeToStop || len(n3.BlockedBy) != 1 || n3.BlockedBy[0].Group != "payments" {
		t.Errorf("axonserver-3 must be unsafe to stop because of payments: %+v", n3.BlockedBy)
	}
	if !nodeOf(r, "axonserver-1").SafeToStop && len(nodeOf(r, "axonserver-1").BlockedBy) == 0 {
		t.Errorf("axonserver-1 unsafe without a reason")
	}
	p := groupOf(r, "payments")
	if !p.CanCommit || p.Contexts != 2 || p.Leader == "" || p.FaultTolerance != 0 {
		t.Errorf("payments: %+v", p)
	}
	if a := groupOf(r, "_admin"); a.FaultTolerance != 1 {
		t.Errorf("_admin of 3 PRIMARY tolerates 1, got %d", a.FaultTolerance)
	}

	// The table says the same, for people.
	code, out, _ := w.run(t, "status")
	if code != 0 || !strings.Contains(out, "HEALTHY") || !strings.Contains(out, "axonserver-3:AB") {
		t.Errorf("table output (exit %d):\n%s", code, out)
	}
}

func TestStatusStoppedNodeShowsTheOthers(t *testing.T) {
	w := newWorld(t, threeNodes)
	// Stop a node, and wait (on the simulator's events) until _admin is not led by it.
	// (payments, with two PRIMARY members, cannot elect a leader without it.)
	if err := w.sim.StopNode("axonserver-2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	err := w.sim.WaitFor(settle, func(ev []axonsim.Event) bool {
		for _, g := range []string{"_admin"} {
			if el := axonsim.Filter(ev, "leader-elected", g, ""); len(el) == 0 || el[len(el)-1].Node == "axonserver-2" {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "status", "-o", "json", "--exit-code")
	if code != cli.ExitRefused {
		t.Fatalf("--exit-code on an unhealthy cluster: exit %d, want 3 (stderr %q)", code, errOut)
	}
	r := decodeReport(t, out)
	if nodeOf(r, "axonserver-2").Connected || groupOf(r, "_admin").Leader == "axonserver-2" {
		t.Fatalf("the stopped node is still seen as connected or leading:\n%s", out)
	}
	n2 := nodeOf(r, "axonserver-2")
	if n2.Reachable || n2.Healthy || n2.Error == "" {
		t.Errorf("axonserver-2 must be unreachable with the reason: %+v", n2)
	}
	if n1 := nodeOf(r, "axonserver-1"); !n1.Reachable || n1.Version == "" {
		t.Errorf("the other nodes must still be shown: %+v", n1)
	}
	if a := groupOf(r, "_admin"); !a.CanCommit || a.FaultTolerance != 0 {
		t.Errorf("_admin with 2 of 3 PRIMARY up: can commit, tolerates 0: %+v", a)
	}
	if p := groupOf(r, "payments"); p.CanCommit || !strings.Contains(p.Reason, "PRIMARY") {
		t.Errorf("payments with 1 of 2 PRIMARY up cannot commit: %+v", p)
	}
	// With axonserver-2 down, stopping another PRIMARY of _admin would cost its quorum.
	if n1 := nodeOf(r, "axonserver-1"); n1.SafeToStop {
		t.Errorf("axonserver-1 must not be safe to stop while axonserver-2 is down")
	}
	if r.Healthy {
		t.Errorf("report must not be healthy")
	}
}

func TestStatusQuorumLost(t *testing.T) {
	w := newWorld(t, threeNodes)
	for _, n := range []string{"axonserver-1", "axonserver-2"} {
		if err := w.sim.StopNode(n, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := w.run(t, "status", "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("without --exit-code an unhealthy cluster still exits 0, got %d", code)
	}
	r := decodeReport(t, out)
	for _, g := range []string{"_admin", "payments"} {
		if gs := groupOf(r, g); gs.CanCommit || gs.Reason == "" || gs.FaultTolerance != -1 {
			t.Errorf("%s must have lost quorum with a reason: %+v", g, gs)
		}
	}
	code, _, errOut := w.run(t, "status", "--exit-code")
	if code != cli.ExitRefused || !strings.Contains(errOut, "groups that cannot commit: _admin, payments") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestStatusBadToken(t *testing.T) {
	w := newWorld(t, strings.Replace(threeNodes, "name: axonserver\n", "name: axonserver\naccessToken: s3cret-right\n", 1))
	t.Setenv(connect.TokenEnv, "s3cret-WRONG-value")
	code, out, errOut := w.run(t, "status")
	if code != cli.ExitError {
		t.Fatalf("bad token: exit %d, want 1", code)
	}
	if out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "refused the access token") {
		t.Errorf("want one line on stderr and nothing on stdout; stdout %q stderr %q", out, errOut)
	}
	if strings.Contains(errOut, "s3cret") {
		t.Errorf("the token leaked into the error: %q", errOut)
	}
	t.Setenv(connect.TokenEnv, "s3cret-right")
	if code, _, errOut := w.run(t, "status"); code != 0 {
		t.Errorf("right token: exit %d, %s", code, errOut)
	}
}

func TestStatusTLSMismatch(t *testing.T) {
	w := newWorld(t, threeNodes)
	code, _, errOut := w.run(t, "status", "--axon-scheme=https")
	if code != cli.ExitError || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "plain HTTP") {
		t.Errorf("https against an http node: exit %d, stderr %q", code, errOut)
	}
}

func TestStatusNoStatefulSets(t *testing.T) {
	w := newWorld(t, threeNodes)
	code, _, errOut := w.run(t, "status", "-n", "empty")
	if code != cli.ExitError || !strings.Contains(errOut, "no Axon Server StatefulSets") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = w.run(t, "status", "-n", "nope")
	if code != cli.ExitError || errOut != "error: namespace \"nope\" not found\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersionNeedsNoCluster(t *testing.T) {
	code, out, _ := runWith(t, nil, "version", "-o", "json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["version"] == "" || v["goVersion"] == "" {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestCompletionPluginHelper(t *testing.T) {
	code, out, _ := runWith(t, nil, "completion", "kubectl-plugin")
	if code != 0 || !strings.Contains(out, `kubectl axon __complete "$@"`) {
		t.Errorf("exit %d, %q", code, out)
	}
}
