package axonsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// connectedSeenBy reads node's /v1/public and returns who it sees connected.
func (tc *testCluster) connectedSeenBy(node string) map[string]bool {
	tc.t.Helper()
	var pub []JSONServerNode
	tc.get(node, "/v1/public", &pub)
	out := map[string]bool{}
	for _, p := range pub {
		out[p.Name] = p.Connected
	}
	return out
}

// clusterHealth reads node's /actuator/health and returns the cluster component.
func (tc *testCluster) clusterHealth(node string) (string, map[string]any) {
	tc.t.Helper()
	var h struct {
		Components map[string]struct {
			Status  string
			Details map[string]any
		}
	}
	_, _, b := tc.get(node, "/actuator/health", nil)
	if err := json.Unmarshal(b, &h); err != nil {
		tc.t.Fatalf("health %s: %v", b, err)
	}
	return h.Components["cluster"].Status, h.Components["cluster"].Details
}

// others are the topology's nodes but one.
func (tc *testCluster) others(node string) []string {
	var out []string
	for _, n := range tc.NodeNames() {
		if n != node {
			out = append(out, n)
		}
	}
	return out
}

// TestPartitionLeader: the leader of both groups is cut off. It keeps running and answering;
// the others see it disconnected (cluster WARN), elect a new leader after an election timeout
// with no quorum loss, and keep committing without it; it sees every peer disconnected
// (cluster DOWN), believes in its leadership for at most the max election timeout, then knows
// no leader (raft DOWN) and refuses configuration changes. A restart does not heal the
// partition; Heal does, and the node then catches up on what it missed.
func TestPartitionLeader(t *testing.T) {
	tc := newTestCluster(t, threeNodes("writesPerSecond: 500\n"))
	tc.startAll()
	p := tc.leader("default")
	before := len(tc.Events())
	cutAt := time.Now()
	must(t, tc.Partition(p, 0))

	// The majority elects a new leader of default after an election timeout.
	tc.waitFor("new leader", func(ev []Event) bool {
		e := Filter(ev[before:], EvLeaderElected, "default", "")
		return len(e) == 1 && e[0].Node != p
	})
	ev := tc.Events()[before:]
	lost := Filter(ev, EvLeaderLost, "default", p)
	if len(lost) != 1 || !strings.Contains(lost[0].Reason, "partitioned") {
		t.Fatalf("leader-lost of the cut-off leader: %+v", lost)
	}
	if d := Filter(ev, EvLeaderElected, "default", "")[0].Time.Sub(cutAt); d < tc.tm.minElection {
		t.Errorf("new leader %v after the partition, before the min election timeout %v", d, tc.tm.minElection)
	}
	if tc.Node(p).State() != Running || tc.Node(p).URL() == "" {
		t.Fatalf("the partitioned node stopped serving: %s", tc.Node(p).State())
	}
	if code, _, _ := tc.get(p, "/actuator/info", nil); code != http.StatusOK {
		t.Errorf("/actuator/info on the partitioned node: %d", code)
	}

	// The others: p not connected, cluster WARN; the new leader hears nothing from p.
	for _, o := range tc.others(p) {
		if tc.connectedSeenBy(o)[p] {
			t.Errorf("%s sees %s connected", o, p)
		}
		st, d := tc.clusterHealth(o)
		if st != "WARN" || d[p+".connection"] != "DOWN" {
			t.Errorf("%s cluster health %s %v, want WARN with %s.connection DOWN", o, st, d, p)
		}
	}
	nl := tc.leader("default")
	tc.waitFor("NO_ACK_RECEIVED", func([]Event) bool { return tc.followerStatusOf(nl, "default", p) == "NO_ACK_RECEIVED" })

	// p itself: every peer disconnected, cluster DOWN; after the max election timeout no leader.
	for name, conn := range tc.connectedSeenBy(p) {
		if name != p && conn {
			t.Errorf("%s sees %s connected", p, name)
		}
	}
	if st, d := tc.clusterHealth(p); st != "DOWN" {
		t.Errorf("%s cluster health %s %v, want DOWN", p, st, d)
	}
	tc.waitFor("no leader on the cut-off node", func([]Event) bool {
		_, rs, d := tc.raftHealth(p)
		return rs == "DOWN" && d["default.leader"] == "None" && d["_admin.leader"] == "None"
	})
	if d := time.Since(cutAt); d < tc.tm.minElection {
		t.Errorf("the cut-off node forgot its leaders %v after the partition, before any timer could fire", d)
	}
	var st []JSONRaftStatus
	tc.get(p, "/internal/raft/status", &st)
	for _, s := range st {
		if s.IsLeader || s.LeaderName != nil {
			t.Errorf("raft status on the cut-off node: %s leader %v, isLeader %v", s.ReplicationGroup, s.LeaderName, s.IsLeader)
		}
	}
	if code, _, b := tc.do(http.MethodPost, p, "/v1/replicationgroups/default/"+p+"?role=PRIMARY", nil, nil); code != http.StatusNotFound || !strings.Contains(string(b), "AXONIQ-2100") {
		t.Errorf("a change sent to the cut-off node: %d %s, want 404 AXONIQ-2100", code, b)
	}

	// Entries committed meanwhile are not replicated to p.
	at := tc.memberIndex("default", p)
	tc.waitFor("commits go on without p", func([]Event) bool { return tc.groupCommit("default") > at+100 })
	if got := tc.memberIndex("default", p); got != at {
		t.Errorf("the cut-off node's log moved from %d to %d", at, got)
	}

	// A restart does not heal a network partition.
	must(t, tc.StopNode(p, time.Minute))
	tc.start(p)
	tc.waitFor("restarted", func([]Event) bool { return tc.Node(p).URL() != "" })
	if !tc.Partitioned(p) || tc.connectedSeenBy(tc.others(p)[0])[p] {
		t.Fatalf("a restart healed the partition of %s", p)
	}
	if _, rs, d := tc.raftHealth(p); rs != "DOWN" {
		t.Errorf("restarted cut-off node: raft %s %v, want DOWN (it knows no leader)", rs, d)
	}

	// Heal: p is seen again, catches up, and nothing lost quorum.
	healed := len(tc.Events())
	must(t, tc.Heal(p))
	tc.waitFor("caught up after the heal", has(EvCaughtUp, "default", p))
	if len(Filter(tc.Events()[healed:], EvCaughtUp, "default", p)) != 1 {
		t.Errorf("no catch-up of default on %s after the heal", p)
	}
	tc.waitStable()
	for _, o := range tc.others(p) {
		if !tc.connectedSeenBy(o)[p] {
			t.Errorf("%s still sees %s disconnected after the heal", o, p)
		}
	}
	if n := Count(tc.Events()[before:], EvQuorumLost, ""); n != 0 {
		t.Errorf("a partition of one of three members lost quorum %d times", n)
	}
	if len(Filter(tc.Events()[before:], EvPartitionHealed, "", p)) != 1 {
		t.Errorf("no partition-healed event")
	}
}

// TestPartitionFollowerTimedHeal: a follower cut off for a time; the leader stays (it still
// hears a majority), the follower falls behind, and the partition heals by itself when its
// time is up, after which the follower catches up.
func TestPartitionFollowerTimedHeal(t *testing.T) {
	tc := newTestCluster(t, threeNodes("writesPerSecond: 500\n"))
	tc.startAll()
	leader := tc.leader("default")
	f := tc.others(leader)[0]
	before := len(tc.Events())
	must(t, tc.Partition(f, 800*time.Millisecond))
	tc.waitFor("healed by time", has(EvPartitionHealed, "", f))
	ev := tc.Events()[before:]
	healed := Filter(ev, EvPartitionHealed, "", f)[0]
	cut := Filter(ev, EvPartitioned, "", f)[0]
	if d := healed.Time.Sub(cut.Time); d < 800*time.Millisecond {
		t.Errorf("healed %v after the partition, before its 800ms", d)
	}
	if len(Filter(ev, EvLeaderLost, "default", "")) != 0 {
		t.Errorf("the leader lost its leadership when a follower was cut off: %+v", Filter(ev, EvLeaderLost, "default", ""))
	}
	tc.waitFor("caught up", func(ev []Event) bool { return len(Filter(ev[before:], EvCaughtUp, "default", f)) == 1 })
	if cu := Filter(tc.Events()[before:], EvCaughtUp, "default", f)[0]; cu.Time.Before(healed.Time) {
		t.Errorf("caught up at %s, before the heal at %s", cu.Time, healed.Time)
	}
	if n := Count(tc.Events()[before:], EvQuorumLost, ""); n != 0 {
		t.Errorf("quorum lost %d times", n)
	}
}

// TestPartitionWithAnotherMemberDown: one member stopped and another cut off leave a group of
// three without a majority: quorum is lost (the partition counts as an absence).
func TestPartitionWithAnotherMemberDown(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	must(t, tc.StopNode("axonserver-1", time.Minute))
	before := len(tc.Events())
	must(t, tc.Partition("axonserver-2", 0))
	tc.waitFor("quorum lost", has(EvQuorumLost, "default", ""))
	tc.start("axonserver-1")
	tc.waitFor("quorum restored", func(ev []Event) bool { return len(Filter(ev[before:], EvQuorumRestored, "default", "")) == 1 })
}
