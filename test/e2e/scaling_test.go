//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// shapePlan is the part of a shape command's plan document the tests read.
type shapePlan struct {
	Kind     string `json:"kind"`
	Refused  bool   `json:"refused"`
	Refusals []struct {
		Group string `json:"group"`
		Rule  string `json:"rule"`
	} `json:"refusals"`
	Groups []struct {
		Group        string `json:"group"`
		VotersBefore int    `json:"votersBefore"`
		VotersAfter  int    `json:"votersAfter"`
	} `json:"groups"`
}

func voters(g *StatusGroup) int {
	n := 0
	for _, m := range g.Members {
		if m.Role == "PRIMARY" || m.Role == "ACTIVE_BACKUP" {
			n++
		}
	}
	return n
}

// TestScaling, on one sandbox of three nodes and two spare ones, as the operator
// bound to docs/rbac.yaml only, with the audit log as judge: remove-node refuses
// the only store of a context and the last _admin member, changing nothing; add-node
// grows the cluster 3 -> 5 and orders' voters 3 -> 5, every new member caught up and
// no quorum lost; move-member takes default's member out of zone-a and doctor's
// zone finding for it goes; set-role makes a PRIMARY an ACTIVE_BACKUP; remove-node
// --move-to of the leader of billing, killed after its first removal and rerun, moves
// billing's membership and leadership, unregisters the node, deletes its
// StatefulSet and keeps its PVCs, labelled.
func TestScaling(t *testing.T) {
	t.Parallel() // a sandbox of its own
	s := StartSandbox(t, "testdata/scaling.yaml")
	op := s.Kubeconfig(true)
	axon := func(args ...string) Result {
		s.t.Helper()
		return runLong(s, op, 4*time.Minute, append([]string{"kubectl", "axon", "-n", s.Namespace}, args...)...)
	}
	start := s.AuditMark()

	t.Run("refusals", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		r := axon("remove-node", "axonserver-2")
		if r.Code != 3 || !strings.Contains(r.Stderr, "only member storing context solo") {
			t.Errorf("remove the only store of solo: want exit 3 naming it\n%s", r)
		}
		r = axon("remove-node", "axonserver-1")
		if r.Code != 3 || !strings.Contains(r.Stderr, "last member of _admin") {
			t.Errorf("remove the last _admin member: want exit 3 naming it\n%s", r)
		}
		r = axon("remove-node", "axonserver-1", "--dry-run", "-o", "json")
		var p shapePlan
		if err := json.Unmarshal([]byte(r.Stdout), &p); r.Code != 0 || err != nil || !p.Refused || p.Kind != "AxonRemoveNodePlan" {
			t.Errorf("--dry-run -o json: want the refused plan as data (%v)\n%s", err, r)
		}
		rules := map[string]bool{}
		for _, x := range p.Refusals {
			rules[x.Group+"/"+x.Rule] = true
		}
		if !rules["_admin/last-admin"] {
			t.Errorf("plan refusals %v lack _admin/last-admin", p.Refusals)
		}
		if ev := FindEvents(s.AuditSince(mark), "member-removed", "", ""); len(ev) > 0 {
			t.Errorf("a refused run changed a group:\n%s", fmtEvents(ev))
		}
		if got := s.Kubectl("-n", s.Namespace, "get", "statefulsets", "-o", "name"); strings.Count(got, "statefulset") != 3 {
			t.Errorf("StatefulSets after the refusals:\n%s", got)
		}
	})

	t.Run("grow 3 to 5", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		began := time.Now()
		r := axon("add-node", "--zone", "zone-c", "--groups", "orders:PRIMARY", "-o", "json")
		if r.Code != 0 {
			t.Fatalf("add-node: %s", r)
		}
		if !strings.Contains(r.Stdout, `"node":"axonserver-4"`) {
			t.Errorf("add-node did not pick axonserver-4 as the next free name:\n%s", r.Stdout)
		}
		r = axon("add-node", "axonserver-5", "--like", "axonserver-2", "--groups", "orders:PRIMARY")
		if r.Code != 0 {
			t.Fatalf("add-node axonserver-5: %s", r)
		}
		t.Logf("two nodes added in %s", time.Since(began).Round(100*time.Millisecond))
		t.Logf("add-node output:\n%s%s", r.Stdout, r.Stderr)
		ev := s.AuditSince(mark)
		for _, n := range []string{"axonserver-4", "axonserver-5"} {
			if len(FindEvents(ev, "node-joined", "", n)) == 0 || len(FindEvents(ev, "member-added", "orders", n)) == 0 || len(FindEvents(ev, "caught-up", "orders", n)) == 0 {
				t.Errorf("%s: not registered, added to orders and caught up there:\n%s", n, fmtEvents(ev))
			}
		}
		noQuorumLost(t, s, mark)
		st := s.WaitStatus(time.Minute, "every node healthy", allHealthy)
		orders := st.Group("orders")
		if orders == nil || voters(orders) != 5 {
			t.Fatalf("orders' voters after the growth: %+v", orders)
		}
		for _, m := range orders.Members {
			if !m.Up || !m.CaughtUp {
				t.Errorf("orders member %s not caught up: %+v", m.Node, m)
			}
		}
		if z := s.Kubectl("-n", s.Namespace, "get", "pod", "axonserver-4-0", "-o", "jsonpath={.spec.nodeName}"); z != "w-c1" {
			t.Errorf("axonserver-4 runs on %q, want w-c1 (the only worker in zone-c)", z)
		}
		if evs := s.Kubectl("-n", s.Namespace, "get", "events", "--field-selector", "reason=AxonAddNodeFinished", "-o", "name"); strings.Count(evs, "event") != 2 {
			t.Errorf("Kubernetes Events AxonAddNodeFinished: %q", evs)
		}
	})

	t.Run("move across zones", func(t *testing.T) {
		s.t = t
		before, _ := s.Doctor(true)
		if before.find("availability/zone-quorum", "group/default") == nil {
			t.Fatalf("doctor has no zone finding for default before the move:\n%s", before)
		}
		mark := s.AuditMark()
		r := axon("move-member", "default", "--from", "axonserver-3", "--to", "axonserver-4")
		if r.Code != 0 {
			t.Fatalf("move-member: %s", r)
		}
		t.Logf("move-member output:\n%s%s", r.Stdout, r.Stderr)
		noQuorumLost(t, s, mark)
		if len(FindEvents(s.AuditSince(mark), "caught-up", "default", "axonserver-4")) == 0 {
			t.Errorf("axonserver-4 never caught up in default:\n%s", fmtEvents(s.AuditSince(mark)))
		}
		after, _ := s.Doctor(true)
		if f := after.find("availability/zone-quorum", "group/default"); f != nil {
			t.Errorf("doctor still finds default's zone problem: %+v", f)
		}
		st, _ := s.Status(true)
		if g := st.Group("default"); g == nil || g.Member("axonserver-3") != nil || g.Member("axonserver-4") == nil {
			t.Errorf("default after the move: %+v", g)
		}
	})

	t.Run("set-role", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		r := axon("set-role", "orders", "axonserver-5", "ACTIVE_BACKUP")
		if r.Code != 0 {
			t.Fatalf("set-role: %s", r)
		}
		noQuorumLost(t, s, mark)
		st := s.WaitStatus(time.Minute, "every node healthy", allHealthy)
		if m := st.Group("orders").Member("axonserver-5"); m == nil || m.Role != "ACTIVE_BACKUP" || !m.CaughtUp {
			t.Errorf("axonserver-5 in orders: %+v", m)
		}
	})

	t.Run("remove a leader with --move-to, killed and rerun", func(t *testing.T) {
		s.t = t
		st, _ := s.Status(true)
		if g := st.Group("billing"); g == nil || g.Leader != "axonserver-3" {
			t.Fatalf("billing should be led by axonserver-3: %+v", g)
		}
		mark := s.AuditMark()
		args := []string{"axon", "-n", s.Namespace, "remove-node", "axonserver-3", "--move-to", "axonserver-5", "-o", "json"}
		if !killAt(t, op, "member-removing", args...) {
			t.Fatal("remove-node ended before its first removal")
		}
		if got := s.Kubectl("-n", s.Namespace, "get", "statefulset", "axonserver-3", "-o", "jsonpath={.metadata.annotations.kubectl-axon\\.io/remove-node}"); got == "" {
			t.Errorf("the killed run left no record on its StatefulSet")
		}
		r := axon("remove-node", "axonserver-3", "--move-to", "axonserver-5", "--steal-lock")
		if r.Code != 0 {
			t.Fatalf("the rerun: %s", r)
		}
		t.Logf("rerun output:\n%s%s", r.Stdout, r.Stderr)
		if !strings.Contains(r.Stdout, "resuming") {
			t.Errorf("the rerun does not say it resumes:\n%s", r.Stdout)
		}
		noQuorumLost(t, s, mark)
		ev := s.AuditSince(mark)
		if len(FindEvents(ev, "node-unregistered", "", "axonserver-3")) == 0 {
			t.Errorf("axonserver-3 was not unregistered:\n%s", fmtEvents(ev))
		}
		st = s.WaitStatus(time.Minute, "every node healthy", allHealthy)
		if len(st.Nodes) != 4 || st.Node("axonserver-3") != nil {
			t.Errorf("nodes after the removal: %d", len(st.Nodes))
		}
		if g := st.Group("billing"); g == nil || g.Leader != "axonserver-5" || g.Member("axonserver-3") != nil {
			t.Errorf("billing after the removal: %+v", g)
		}
		if r := s.Run(s.Kubeconfig(false), "kubectl", "-n", s.Namespace, "get", "statefulset", "axonserver-3"); r.Code == 0 {
			t.Errorf("StatefulSet axonserver-3 still exists")
		}
		pvcs := s.Kubectl("-n", s.Namespace, "get", "pvc", "-l", "kubectl-axon.io/removed-node=axonserver-3", "-o", "name")
		if strings.Count(pvcs, "persistentvolumeclaim/") != 4 {
			t.Errorf("the kept PVCs of axonserver-3 (4 expected, labelled):\n%s", pvcs)
		}
		if r := axon("remove-node", "axonserver-3"); r.Code != 0 || !strings.Contains(r.Stdout, "removed already") {
			t.Errorf("a third run: want nothing to do\n%s", r)
		}
	})
	s.t = t
	noQuorumLost(t, s, start)
}
