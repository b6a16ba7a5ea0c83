package axonsim

import (
	"strings"
	"testing"
	"time"
)

// A spare node is a node added to a running cluster: unknown to it until it starts
// and registers (autocluster, with the autocluster contexts as PRIMARY), then added
// to a group as a learner that catches up before it votes; taken out of a group it
// leads, it hands leadership over first; unregistered, the cluster forgets it.
func TestSpareNodeJoinsAndLeaves(t *testing.T) {
	tc := newTestCluster(t, `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}, {name: axonserver-4, spare: true}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: solo
    contexts: [solo]
    roles: {axonserver-3: PRIMARY}
autocluster: {first: axonserver-1, contexts: [_admin]}
`+fastTiming)
	for _, n := range []string{"axonserver-1", "axonserver-2", "axonserver-3"} {
		tc.start(n)
	}
	tc.waitStable()
	var cl []JSONClusterNode
	tc.get("axonserver-1", "/v1/cluster", &cl)
	if len(cl) != 3 {
		t.Fatalf("the spare is listed before it ever started: %+v", cl)
	}
	if code, _, _ := tc.do("POST", "axonserver-1", "/v1/replicationgroups/solo/axonserver-4?role=PRIMARY", nil, nil); code != 404 {
		t.Errorf("adding an unregistered node: %d, want 404 (AXONIQ-1301)", code)
	}

	tc.start("axonserver-4")
	tc.waitFor("registered", has(EvNodeJoined, "", "axonserver-4"))
	tc.waitFor("autocluster membership", has(EvMemberAdded, "_admin", "axonserver-4"))
	tc.waitStable()
	tc.get("axonserver-1", "/v1/cluster", &cl)
	if len(cl) != 4 {
		t.Errorf("/v1/cluster after the spare registered: %+v", cl)
	}
	var groups []JSONReplicationGroup
	tc.get("axonserver-1", "/v1/public/replicationgroups", &groups)
	for _, g := range groups {
		in := false
		for _, r := range g.Roles {
			in = in || r.Node == "axonserver-4"
		}
		if in != (g.Name == "_admin") {
			t.Errorf("%s lists axonserver-4: %v (autocluster contexts: _admin only)", g.Name, in)
		}
	}

	// Move solo from axonserver-3 (its only member, so its leader) to axonserver-4.
	must(t, tc.AddMember("solo", "axonserver-4", RolePrimary))
	tc.waitFor("added", has(EvMemberAdded, "solo", "axonserver-4"))
	tc.waitStable()
	must(t, tc.RemoveMember("solo", "axonserver-3"))
	tc.waitFor("removed", has(EvMemberRemoved, "solo", "axonserver-3"))
	tc.waitStable()
	if l := tc.leader("solo"); l != "axonserver-4" {
		t.Errorf("solo's leader after its leader left: %q", l)
	}
	if n := tc.count(EvQuorumLost, "solo"); n != 0 {
		t.Errorf("solo lost its quorum %d times while its membership moved", n)
	}

	// Unregister axonserver-3 once it is stopped: it leaves _admin, then the cluster.
	must(t, tc.StopNode("axonserver-3", time.Minute))
	tc.Unregister("axonserver-3")
	tc.waitFor("unregistered", has(EvNodeUnregistered, "", "axonserver-3"))
	tc.get("axonserver-1", "/v1/cluster", &cl)
	for _, n := range cl {
		if n.Name == "axonserver-3" {
			t.Errorf("/v1/cluster still lists axonserver-3: %+v", cl)
		}
	}
	if code, _, body := tc.get("axonserver-1", "/v1/cluster/axonserver-3", nil); code != 404 || !strings.Contains(string(body), "AXONIQ-1301") {
		t.Errorf("GET /v1/cluster/axonserver-3: %d %s", code, body)
	}
}

func TestSpareTopologyRules(t *testing.T) {
	for _, tc := range []struct{ yaml, says string }{
		{`nodes: [{name: a, spare: true}, {name: b}]
replicationGroups: [{name: _admin, roles: {b: PRIMARY}}]`, "spare nodes come after"},
		{`nodes: [{name: a}, {name: b, spare: true}]
replicationGroups: [{name: _admin, roles: {a: PRIMARY, b: PRIMARY}}]`, "role for spare node"},
		{`nodes: [{name: a}, {name: b, spare: true}]
replicationGroups: [{name: _admin, contexts: [_admin], roles: {a: PRIMARY}}]
autocluster: {first: b}`, "is a spare node"},
	} {
		_, err := ParseTopology([]byte("name: x\nimage: axoniq/axonserver:2024.1.0\n" + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s\nerror %v, want %q", tc.yaml, err, tc.says)
		}
	}
}
