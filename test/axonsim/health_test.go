package axonsim

import (
	"encoding/json"
	"testing"
	"time"
)

// raftHealth reads a node's /actuator/health and returns its status, the raft component's
// status and details.
func (tc *testCluster) raftHealth(node string) (string, string, map[string]any) {
	tc.t.Helper()
	var h struct {
		Status     string
		Components map[string]struct {
			Status  string
			Details map[string]any
		}
	}
	_, _, b := tc.get(node, "/actuator/health", nil)
	if err := json.Unmarshal(b, &h); err != nil {
		tc.t.Fatalf("health %s: %v", b, err)
	}
	return h.Status, h.Components["raft"].Status, h.Components["raft"].Details
}

func (tc *testCluster) followerStatusOf(leader, group, node string) string {
	_, _, d := tc.raftHealth(leader)
	s, _ := d[group+".follower."+node+".status"].(string)
	return s
}

// lagTopology: default = n1, n2, n4 (n4 is the one made to lag); _admin = n1, n2, n3.
func lagTopology(extraTiming string) string {
	return `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
writesPerSecond: 4000
nodes: [{name: n1}, {name: n2}, {name: n3}, {name: n4}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}
  - name: default
    contexts: [default]
    roles: {n1: PRIMARY, n2: PRIMARY, n4: PRIMARY}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpEntriesPerSecond: 6000, ` + extraTiming + `}
`
}

// makeLag stops node, lets the group write at least entries more, and starts it again.
func (tc *testCluster) makeLag(group, node string, entries int64) {
	tc.t.Helper()
	must(tc.t, tc.StopNode(node, time.Minute))
	at := tc.groupCommit(group)
	tc.waitFor("log grows", func([]Event) bool { return tc.groupCommit(group) > at+entries })
	tc.start(node)
	tc.waitFor("running", func([]Event) bool { return tc.Node(node).URL() != "" })
}

// TestFollowerHealth: BEHIND only on the leader, for a follower more than 100 entries behind
// what was sent; the leader's raft is WARN; the lagging node and the other nodes stay UP;
// a follower not heard from for the max election timeout is NO_ACK_RECEIVED.
func TestFollowerHealth(t *testing.T) {
	tc := newTestCluster(t, lagTopology("minElectionTimeoutMillis: 1000, maxElectionTimeoutMillis: 2000"))
	tc.startAll()
	tc.makeLag("default", "n4", 10000) // BEHIND for about 4.5 s: (10,000 - 1,100) entries at a net 2,000 a second
	leader := tc.leader("default")
	other := "n1"
	if leader == "n1" {
		other = "n2"
	}
	tc.waitFor("BEHIND on the leader", func([]Event) bool { return tc.followerStatusOf(leader, "default", "n4") == "BEHIND" })
	if _, rs, _ := tc.raftHealth(leader); rs != "WARN" {
		t.Errorf("leader raft %s with a follower BEHIND", rs)
	}
	if st, rs, d := tc.raftHealth("n4"); st != "UP" || rs != "UP" {
		t.Errorf("the lagging node itself: %s, raft %s %v", st, rs, d)
	}
	if st, _, d := tc.raftHealth(other); st != "UP" {
		t.Errorf("another node turned %s by one node's lag: %v", st, d)
	}
	tc.waitFor("caught up", has(EvCaughtUp, "default", "n4"))
	tc.waitFor("UP again", func([]Event) bool { return tc.followerStatusOf(leader, "default", "n4") == "UP" })

	killed := time.Now()
	must(t, tc.KillNode("n4"))
	tc.waitFor("NO_ACK_RECEIVED", func([]Event) bool { return tc.followerStatusOf(leader, "default", "n4") == "NO_ACK_RECEIVED" })
	if d := time.Since(killed); d < tc.tm.maxElection-2*tc.opts.TickInterval { // last heard within a tick before the kill
		t.Errorf("NO_ACK_RECEIVED %v after the kill, before the max election timeout", d)
	}
	if _, rs, _ := tc.raftHealth(other); rs != "UP" {
		t.Errorf("a follower's raft turned %s by another follower's absence", rs)
	}
}

// TestStaleUpAfterElection: a new leader reports every follower UP at first, a stopped one and
// one far behind included; then NO_ACK_RECEIVED (after the max election timeout) and BEHIND
// (once the follower answered).
func TestStaleUpAfterElection(t *testing.T) {
	tc := newTestCluster(t, `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
writesPerSecond: 4000
nodes: [{name: n1}, {name: n2}, {name: n3}, {name: n4}, {name: n5}, {name: n6}, {name: n7}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {n5: PRIMARY, n6: PRIMARY, n7: PRIMARY}
  - name: default
    contexts: [default]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: PRIMARY, n5: PRIMARY, n6: PRIMARY, n7: PRIMARY}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpEntriesPerSecond: 4300, minElectionTimeoutMillis: 500, maxElectionTimeoutMillis: 8000, heartbeatMillis: 4000}
`)
	tc.startAll()
	leader := tc.leader("default")
	var down, behind string
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		if n == leader {
			continue
		}
		if down == "" {
			down = n
		} else if behind == "" {
			behind = n
		}
	}
	tc.makeLag("default", behind, 14000)
	tc.waitFor("BEHIND", func([]Event) bool { return tc.followerStatusOf(leader, "default", behind) == "BEHIND" })
	// A quiet write load from here: with 4,000 entries/s a stopped follower is more than 100
	// entries behind what the new leader sent within 25 ms (BEHIND, before NO_ACK_RECEIVED).
	// And a slow copy, so that the follower far behind stays far behind.
	tc.mu.Lock()
	tc.topo.WritesPerSecond = 10
	tc.tm.catchUpRate = 500
	tc.mu.Unlock()
	must(t, tc.StopNode(down, time.Minute))
	mark := len(tc.Events())
	must(t, tc.StopNode(leader, time.Minute))
	tc.waitFor("new leader", func(ev []Event) bool { return len(Filter(ev[mark:], EvLeaderElected, "default", "")) > 0 })
	nl := tc.leader("default")
	if nl == behind {
		t.Fatalf("the follower far behind won the election")
	}
	_, _, d := tc.raftHealth(nl)
	for _, n := range []string{down, behind} {
		if s := d["default.follower."+n+".status"]; s != "UP" {
			t.Errorf("right after the election %s is %v, want the stale UP", n, s)
		}
	}
	// Once the follower far behind answered (a heartbeat), BEHIND; the stopped one, never
	// heard from, NO_ACK_RECEIVED after the max election timeout.
	tc.waitFor("BEHIND", func([]Event) bool { return tc.followerStatusOf(nl, "default", behind) == "BEHIND" })
	tc.waitFor("NO_ACK_RECEIVED", func([]Event) bool { return tc.followerStatusOf(nl, "default", down) == "NO_ACK_RECEIVED" })
	if n := tc.count(EvQuorumLost, ""); n != 0 {
		t.Fatalf("%d quorum-lost", n)
	}
}
