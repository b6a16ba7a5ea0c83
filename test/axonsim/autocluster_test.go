package axonsim

import (
	"os"
	"testing"
	"time"
)

func autoclusterTopology() string {
	return `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: default
    contexts: [default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
autocluster: {first: axonserver-1, contexts: [_admin, default]}
` + fastTiming
}

// TestAutoclusterFirstSplits: the autocluster first node on an empty volume initialises a
// cluster of its own (AutoCluster: first node, no replication groups -> InitClusterTask):
// its /v1/public, /v1/cluster and groups show only itself, the audit log says
// cluster-initialised, and Clusters() shows two clusters. It refuses to join the old one.
func TestAutoclusterFirstSplits(t *testing.T) {
	tc := newTestCluster(t, autoclusterTopology())
	tc.startAll()
	dir := tc.Node("axonserver-1").DataDir()
	must(t, tc.StopNode("axonserver-1", time.Minute))
	must(t, os.RemoveAll(dir))
	tc.start("axonserver-1")
	tc.waitFor("new cluster", has(EvClusterInitialised, "", "axonserver-1"))
	tc.waitFor("ready", func([]Event) bool { return tc.Node("axonserver-1").URL() != "" })

	var pub []JSONServerNode
	tc.get("axonserver-1", "/v1/public", &pub)
	if len(pub) != 1 || pub[0].Name != "axonserver-1" {
		t.Errorf("/v1/public on the split node: %+v", pub)
	}
	var cl []JSONClusterNode
	tc.get("axonserver-1", "/v1/cluster", &cl)
	if len(cl) != 1 {
		t.Errorf("/v1/cluster on the split node: %+v", cl)
	}
	var groups []JSONReplicationGroup
	tc.get("axonserver-1", "/v1/public/replicationgroups", &groups)
	if len(groups) != 2 || groups[0].Name != "_admin" || len(groups[0].Roles) != 1 || groups[0].Leader == nil || *groups[0].Leader != "axonserver-1" {
		t.Errorf("groups on the split node: %+v", groups)
	}
	var me JSONMe
	tc.get("axonserver-1", "/v1/public/me", &me)
	if !me.AdminNode || me.Initialized == nil || !*me.Initialized {
		t.Errorf("me: %+v", me)
	}
	tc.get("axonserver-2", "/v1/public", &pub)
	if len(pub) != 3 {
		t.Errorf("/v1/public on the old cluster: %+v", pub)
	}
	cls := tc.Clusters()
	if cls["axonserver-1"] == cls["axonserver-2"] || cls["axonserver-2"] != cls["axonserver-3"] || cls["axonserver-1"] == "" {
		t.Errorf("clusters: %v", cls)
	}
	if code, _, _ := tc.do("POST", "axonserver-1", "/v1/cluster", map[string]any{"internalHostName": "axonserver-2", "internalGrpcPort": 8224}, nil); code != 409 {
		t.Errorf("the split node joined: %d", code)
	}
	// It stays split across a restart (its own control DB).
	must(t, tc.StopNode("axonserver-1", time.Minute))
	tc.start("axonserver-1")
	tc.waitFor("ready", func([]Event) bool { return tc.Node("axonserver-1").URL() != "" })
	if cls := tc.Clusters(); cls["axonserver-1"] != "axonserver@axonserver-1" {
		t.Errorf("after restart: %v", cls)
	}
}

// TestAutoclusterFirstRebuiltSafely: the same rebuild with the node's autocluster.first
// pointed at a healthy member registers with the cluster instead: one cluster.
func TestAutoclusterFirstRebuiltSafely(t *testing.T) {
	tc := newTestCluster(t, autoclusterTopology())
	tc.startAll()
	dir := tc.Node("axonserver-1").DataDir()
	must(t, tc.StopNode("axonserver-1", time.Minute))
	must(t, os.RemoveAll(dir))
	_, err := tc.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: "axonserver-1",
		Autocluster: &Autocluster{First: "axonserver-2.axonserver-2.axon.svc.cluster.local", Contexts: []string{"_admin", "default"}}})
	must(t, err)
	tc.waitFor("joined and caught up", func(ev []Event) bool {
		return len(Filter(ev, EvNodeJoined, "", "axonserver-1")) == 1 && len(Filter(ev, EvCaughtUp, "default", "axonserver-1")) > 0
	})
	if n := tc.count(EvClusterInitialised, ""); n != 0 {
		t.Fatalf("%d cluster-initialised", n)
	}
	cls := tc.Clusters()
	if cls["axonserver-1"] != "axonserver" || cls["axonserver-2"] != "axonserver" {
		t.Errorf("clusters: %v", cls)
	}
}

// TestAutoclusterRunsOncePerStart: AutoCluster runs when a process starts (an
// ApplicationRunner), so a node unregistered while it runs stays outside the cluster (no
// second node-joined, in none of the autocluster contexts' groups) until it is restarted;
// restarted with nothing it registers again and joins them.
func TestAutoclusterRunsOncePerStart(t *testing.T) {
	tc := newTestCluster(t, autoclusterTopology())
	tc.startAll()
	tc.Unregister("axonserver-3")
	tc.waitFor("unregistered", has(EvNodeUnregistered, "", "axonserver-3"))
	at := len(tc.Events())
	waitTicks(tc, 30) // a node that registers again does so within a tick or two
	for _, e := range tc.Events()[at:] {
		if e.Node == "axonserver-3" && (e.Event == EvNodeJoined || e.Event == EvMemberAdded) {
			t.Fatalf("the running node came back by itself: %+v", e)
		}
	}
	must(t, tc.StopNode("axonserver-3", time.Minute))
	tc.start("axonserver-3")
	tc.waitFor("registered again at its start", func(ev []Event) bool {
		return len(Filter(ev[at:], EvNodeJoined, "", "axonserver-3")) == 1 &&
			len(Filter(ev[at:], EvMemberAdded, "_admin", "axonserver-3")) == 1 &&
			len(Filter(ev[at:], EvMemberAdded, "default", "axonserver-3")) == 1
	})
}
