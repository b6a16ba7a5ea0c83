package axonsim

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCommitRule(t *testing.T) {
	roles := map[string]string{"p1": RolePrimary, "p2": RolePrimary, "p3": RolePrimary, "a1": RoleActiveBackup, "a2": RoleActiveBackup, "x": RolePassiveBackup}
	set := func(nodes ...string) func(string) bool {
		m := map[string]bool{}
		for _, n := range nodes {
			m[n] = true
		}
		return func(n string) bool { return m[n] }
	}
	cases := []struct {
		name  string
		roles map[string]string
		has   func(string) bool
		min   int
		want  bool
	}{
		{"all", roles, set("p1", "p2", "p3", "a1", "a2"), 1, true},
		{"primary majority, one backup, min 1", roles, set("p1", "p2", "a1"), 1, true},
		{"primary majority, no backup, min 1", roles, set("p1", "p2", "p3", "x"), 1, false},
		{"primary majority, one backup, min 2", roles, set("p1", "p2", "a2"), 2, false},
		{"primary majority, two backups, min 2", roles, set("p1", "p2", "a1", "a2"), 2, true},
		{"primary minority", roles, set("p1", "a1", "a2"), 1, false},
		{"min 0 ignores backups", roles, set("p1", "p2"), 0, true},
		{"no backups in group: primaries only", map[string]string{"p1": RolePrimary, "p2": RolePrimary, "p3": RolePrimary}, set("p1", "p2"), 1, true},
		{"two primaries need both", map[string]string{"p1": RolePrimary, "p2": RolePrimary}, set("p1"), 1, false},
		{"min above backup count never commits", map[string]string{"p1": RolePrimary, "a1": RoleActiveBackup}, set("p1", "a1"), 2, false},
		{"min above backup count, no backups in group", map[string]string{"p1": RolePrimary}, set("p1"), 2, true},
		{"min 3 with two backups never commits", roles, set("p1", "p2", "p3", "a1", "a2"), 3, false},
		{"min 0 with backups down", roles, set("p1", "p2"), 0, true},
		{"no primary", map[string]string{"a1": RoleActiveBackup}, set("a1"), 1, false},
	}
	for _, c := range cases {
		if got := CommitRule(c.roles, c.has, c.min); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestElectionAfterLeaderStops(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	old := tc.leader("default")
	before := len(tc.Events())
	if err := tc.StopNode(old, time.Minute); err != nil {
		t.Fatal(err)
	}
	tc.waitFor("new leader", func(ev []Event) bool {
		e := Filter(ev[before:], EvLeaderElected, "default", "")
		return len(e) == 1 && e[0].Node != old
	})
	ev := tc.Events()[before:]
	lost := Filter(ev, EvLeaderLost, "default", old)
	won := Filter(ev, EvLeaderElected, "default", "")
	if len(lost) != 1 {
		t.Fatalf("leader-lost: %+v", lost)
	}
	if d := won[0].Time.Sub(lost[0].Time); d < tc.tm.minElection {
		t.Errorf("elected %v after the leader left, before the min election timeout %v", d, tc.tm.minElection)
	}
	if n := Count(ev, EvQuorumLost, ""); n != 0 {
		t.Fatalf("a leader change with quorum intact is not a quorum loss: %d quorum-lost", n)
	}
	if won[0].Term <= lost[0].Term {
		t.Errorf("term did not advance: %d -> %d", lost[0].Term, won[0].Term)
	}
	// The old leader returns, catches up, and the cluster is stable again.
	tc.start(old)
	tc.waitFor("caught up", func(ev []Event) bool { return len(Filter(ev[before:], EvCaughtUp, "default", old)) == 1 })
	tc.waitStable()
}

func TestQuorumLossWithPrimariesOnly(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	must(t, tc.StopNode("axonserver-1", time.Minute))
	if n := tc.count(EvQuorumLost, ""); n != 0 {
		t.Fatalf("one of three primaries down: %d quorum-lost", n)
	}
	must(t, tc.KillNode("axonserver-2"))
	tc.waitFor("quorum lost", func(ev []Event) bool {
		return Count(ev, EvQuorumLost, "default") == 1 && Count(ev, EvQuorumLost, "_admin") == 1
	})
	// The remaining leader (if any) steps down after the election timeout; no election can win.
	tc.waitFor("no leaders", func([]Event) bool { return tc.leader("default") == "" && tc.leader("_admin") == "" })
	waitTicks(tc, 30)
	if n := tc.count(EvQuorumLost, "default"); n != 1 {
		t.Fatalf("quorum-lost must fire once per loss, got %d", n)
	}
	tc.start("axonserver-2")
	tc.waitFor("restored", func(ev []Event) bool { return Count(ev, EvQuorumRestored, "default") == 1 })
	tc.waitStable()
	if n := tc.count(EvQuorumRestored, "default"); n != 1 {
		t.Fatalf("quorum-restored: %d", n)
	}
}

func backupTopology(min int, roles string) string {
	return `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
minActiveBackups: ` + itoa(min) + `
nodes: [{name: n1}, {name: n2}, {name: n3}, {name: n4}, {name: n5}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}
  - name: g
    contexts: [g]
    roles: ` + roles + "\n" + fastTiming
}

func TestActiveBackupMin1(t *testing.T) {
	tc := newTestCluster(t, backupTopology(1, "{n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: ACTIVE_BACKUP}"))
	tc.startAll()
	// Stopping the only active backup stops writes: quorum lost, although every primary runs.
	must(t, tc.StopNode("n4", time.Minute))
	tc.waitFor("quorum lost", has(EvQuorumLost, "g", ""))
	if n := tc.count(EvQuorumLost, "_admin"); n != 0 {
		t.Fatalf("_admin has no backup and lost quorum: %d", n)
	}
	commit := tc.groupCommit("g")
	waitTicks(tc, 20)
	if c := tc.groupCommit("g"); c != commit {
		t.Fatalf("commit index advanced without an active backup: %d -> %d", commit, c)
	}
	tc.start("n4")
	tc.waitFor("restored", has(EvQuorumRestored, "g", ""))
	tc.waitStable()
	// A primary may stop: two of three primaries plus the backup still commit.
	before := len(tc.Events())
	must(t, tc.StopNode("n3", time.Minute))
	waitTicks(tc, 20)
	if n := Count(tc.Events()[before:], EvQuorumLost, ""); n != 0 {
		t.Fatalf("quorum lost with 2/3 primaries and the backup: %d", n)
	}
}

func TestActiveBackupMin2(t *testing.T) {
	tc := newTestCluster(t, backupTopology(2, "{n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: ACTIVE_BACKUP, n5: ACTIVE_BACKUP}"))
	tc.startAll()
	must(t, tc.StopNode("n5", time.Minute))
	tc.waitFor("quorum lost", has(EvQuorumLost, "g", ""))
	tc.start("n5")
	tc.waitFor("restored", has(EvQuorumRestored, "g", ""))

	tc2 := newTestCluster(t, backupTopology(1, "{n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: ACTIVE_BACKUP, n5: ACTIVE_BACKUP}"))
	tc2.startAll()
	must(t, tc2.StopNode("n5", time.Minute))
	waitTicks(tc2, 20)
	if n := tc2.count(EvQuorumLost, ""); n != 0 {
		t.Fatalf("min 1 with one of two backups running lost quorum: %d", n)
	}
}

func TestCatchUpAfterReturn(t *testing.T) {
	tc := newTestCluster(t, threeNodes("writesPerSecond: 500\n"))
	tc.startAll()
	follower := "axonserver-1"
	if tc.leader("default") == follower {
		follower = "axonserver-2"
	}
	must(t, tc.StopNode(follower, time.Minute))
	stoppedAt := tc.memberIndex("default", follower)
	tc.waitFor("log advances", func([]Event) bool { return tc.groupCommit("default") > stoppedAt+50 })
	before := len(tc.Events())
	tc.start(follower)
	tc.waitFor("ready", func(ev []Event) bool { return len(Filter(ev[before:], EvNodeReady, "", follower)) == 1 })
	// While catching up the follower's log is behind the leader's commit index.
	var st []JSONRaftStatus
	tc.get(follower, "/internal/raft/status", &st)
	for _, s := range st {
		if s.ReplicationGroup == "default" && s.LastLogIndex >= tc.groupCommit("default") {
			t.Fatalf("follower not behind right after its return: %+v", s)
		}
	}
	tc.waitFor("caught up", func(ev []Event) bool { return len(Filter(ev[before:], EvCaughtUp, "default", follower)) == 1 })
	ev := tc.Events()[before:]
	ready := Filter(ev, EvNodeReady, "", follower)[0].Time
	cu := Filter(ev, EvCaughtUp, "default", follower)[0].Time
	if d := cu.Sub(ready); d < 150*time.Millisecond {
		t.Errorf("caught up %v after return; catchUpSeconds is 0.2", d)
	}
	if m, c := tc.memberIndex("default", follower), tc.groupCommit("default"); m < c {
		t.Errorf("caught-up follower at %d, commit %d", m, c)
	}
	if n := Count(ev, EvQuorumLost, ""); n != 0 {
		t.Fatalf("quorum-lost: %d", n)
	}
}

func TestMembershipChange(t *testing.T) {
	tc := newTestCluster(t, `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}, {name: axonserver-4}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: default
    contexts: [default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: solo
    contexts: [solo]
    roles: {axonserver-1: PRIMARY}
`+strings.Replace(fastTiming, "catchUpSeconds: 0.2", "catchUpSeconds: 2", 1)) // the add stays pending while the test asks twice, however slow the machine
	tc.startAll()
	// A learner with nothing to copy is caught up at once, whatever catchUpSeconds says:
	// add it once the group has written, so that the add stays pending.
	tc.waitFor("default has entries to copy", func([]Event) bool {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.groups["default"].lastIndex > 0
	})
	code, _, body := tc.do(http.MethodPost, "axonserver-2", "/v1/replicationgroups/default/axonserver-4?role=ACTIVE_BACKUP", nil, nil)
	if code != http.StatusAccepted {
		t.Fatalf("add: %d %s", code, body)
	}
	var groups []JSONReplicationGroup
	tc.get("axonserver-1", "/v1/public/replicationgroups", &groups)
	for _, g := range groups {
		if g.Name == "default" && (!g.ChangePending || g.PendingSince == 0 || len(g.Roles) != 3) {
			t.Fatalf("pending add not visible: %+v", g)
		}
	}
	code, _, body = tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", nil, nil)
	if code != http.StatusBadRequest || string(body) == "" {
		t.Fatalf("second change while pending: %d %s", code, body)
	}
	tc.waitFor("added", has(EvMemberAdded, "default", "axonserver-4"))
	tc.waitStable()
	if n := tc.count(EvCaughtUp, "default"); n == 0 {
		t.Fatal("no caught-up for the new member")
	}
	// Remove the leader: leadership moves first, then the member goes.
	ld := tc.leader("default")
	before := len(tc.Events())
	code, _, body = tc.do(http.MethodDelete, "axonserver-1", "/v1/replicationgroups/default/"+ld+"?preserveEventStore=false", nil, nil)
	if code != http.StatusAccepted {
		t.Fatalf("remove: %d %s", code, body)
	}
	tc.waitFor("removed", has(EvMemberRemoved, "default", ld))
	ev := tc.Events()[before:]
	var order []string
	for _, e := range ev {
		if e.Group == "default" && e.Event != EvRemovalScheduled { // the task's publication comes first
			order = append(order, e.Event)
		}
	}
	if len(order) < 3 || order[0] != EvLeaderLost || order[1] != EvLeaderElected || order[len(order)-1] != EvMemberRemoved {
		t.Fatalf("removal of the leader: %v", order)
	}
	if n := Count(ev, EvQuorumLost, ""); n != 0 {
		t.Fatalf("quorum-lost: %d", n)
	}
	// The last member: accepted, and the task fails (see TestRemoveMemberFailsInTask).
	code, _, body = tc.do(http.MethodDelete, "axonserver-1", "/v1/replicationgroups/solo/axonserver-1", nil, nil)
	if code != http.StatusAccepted {
		t.Fatalf("remove last: %d %s", code, body)
	}
	tc.waitFor("task failed", has(EvTaskFailed, "solo", "axonserver-1"))
}

func TestUnregisterNode(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	must(t, tc.StopNode("axonserver-3", time.Minute))
	tc.waitFor("_admin leader", func([]Event) bool { return tc.leader("_admin") != "" })
	code, _, body := tc.do(http.MethodDelete, "axonserver-1", "/v1/cluster/axonserver-3", nil, nil)
	if code != http.StatusOK || len(body) != 0 {
		t.Fatalf("delete: %d %q", code, body)
	}
	var tasks []JSONTask
	tc.get("axonserver-1", "/v1/tasks", &tasks)
	if len(tasks) == 0 {
		t.Fatal("no task while unregistering")
	}
	tc.waitFor("unregistered", has(EvNodeUnregistered, "", "axonserver-3"))
	ev := tc.Events()
	if Count(ev, EvMemberRemoved, "_admin") != 1 || Count(ev, EvMemberRemoved, "default") != 1 {
		t.Fatalf("member-removed: %+v", ev)
	}
	last := ev[len(ev)-1]
	for _, e := range ev {
		if e.Event == EvMemberRemoved && e.Time.After(Filter(ev, EvNodeUnregistered, "", "")[0].Time) {
			t.Fatal("unregistered before it left every group")
		}
	}
	_ = last
	var nodes []JSONClusterNode
	tc.get("axonserver-1", "/v1/cluster", &nodes)
	if len(nodes) != 2 {
		t.Fatalf("cluster after unregister: %+v", nodes)
	}
	code, hdr, body := tc.get("axonserver-1", "/v1/cluster/axonserver-3", nil)
	if code != 404 || hdr.Get("AxonIQ-ErrorCode") != "AXONIQ-1301" || string(body) != "[AXONIQ-1301] Node axonserver-3 not found" {
		t.Fatalf("unknown node: %d %v %q", code, hdr, body)
	}
	// Unknown node: no-op 200.
	if code, _, _ := tc.do(http.MethodDelete, "axonserver-1", "/v1/cluster/nobody", nil, nil); code != 200 {
		t.Fatalf("delete unknown: %d", code)
	}
	if n := tc.count(EvQuorumLost, ""); n != 0 {
		t.Fatalf("quorum-lost: %d", n)
	}
}

func TestLostVolumeJoinsByPost(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	dir := tc.Node("axonserver-3").DataDir()
	must(t, tc.StopNode("axonserver-3", time.Minute))
	must(t, os.RemoveAll(dir))
	before := len(tc.Events())
	tc.start("axonserver-3")
	tc.waitFor("ready", func(ev []Event) bool { return len(Filter(ev[before:], EvNodeReady, "", "axonserver-3")) == 1 })
	var me JSONMe
	tc.get("axonserver-3", "/v1/public/me", &me)
	if len(me.ContextNames) != 0 || me.Initialized == nil || *me.Initialized {
		t.Fatalf("a node on a fresh volume knows no cluster: %+v", me)
	}
	var cl []JSONClusterNode
	tc.get("axonserver-3", "/v1/cluster", &cl)
	if len(cl) != 1 {
		t.Fatalf("/v1/cluster on a fresh node: %+v", cl)
	}
	waitTicks(tc, 10)
	if n := len(Filter(tc.Events()[before:], EvCaughtUp, "", "axonserver-3")); n != 0 {
		t.Fatal("caught up before it joined")
	}
	code, _, body := tc.do(http.MethodPost, "axonserver-3", "/v1/cluster", map[string]any{"internalHostName": "axonserver-1", "internalGrpcPort": 8224}, nil)
	if code != http.StatusAccepted {
		t.Fatalf("join: %d %s", code, body)
	}
	tc.waitFor("joined and caught up", func(ev []Event) bool {
		ev = ev[before:]
		return len(Filter(ev, EvNodeJoined, "", "axonserver-3")) == 1 &&
			len(Filter(ev, EvCaughtUp, "default", "axonserver-3")) == 1 && len(Filter(ev, EvCaughtUp, "_admin", "axonserver-3")) == 1
	})
	code, _, _ = tc.do(http.MethodPost, "axonserver-3", "/v1/cluster", map[string]any{"internalHostName": "axonserver-1", "internalGrpcPort": 8224}, nil)
	if code != http.StatusConflict {
		t.Fatalf("second join: %d", code)
	}
	if !fileExists(dir + "/events/default/00000000000000000000.events") {
		t.Fatal("event store not recreated")
	}
}

func TestLostVolumeAutocluster(t *testing.T) {
	tc := newTestCluster(t, `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY}
  - name: default
    contexts: [default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY}
autocluster: {first: axonserver-1, contexts: [default]}
`+fastTiming)
	tc.startAll()
	dir := tc.Node("axonserver-3").DataDir()
	must(t, tc.StopNode("axonserver-3", time.Minute))
	must(t, os.RemoveAll(dir))
	tc.start("axonserver-3")
	tc.waitFor("joined default", func(ev []Event) bool {
		return len(Filter(ev, EvNodeJoined, "", "axonserver-3")) == 1 && len(Filter(ev, EvMemberAdded, "default", "axonserver-3")) == 1
	})
	if n := Count(tc.Events(), EvMemberAdded, "_admin"); n != 0 {
		t.Fatal("autocluster added the node to a context it does not list")
	}
}

func (tc *testCluster) groupCommit(g string) int64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.groups[g].commitIndex
}

func (tc *testCluster) memberIndex(g, node string) int64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if m := tc.groups[g].member(node); m != nil {
		return m.logIndex
	}
	return -1
}

// waitTicks lets the model run k ticks (to show that something does NOT happen).
func waitTicks(tc *testCluster, k int) {
	tc.t.Helper()
	start := time.Now()
	d := time.Duration(k) * tc.opts.TickInterval
	_ = tc.WaitFor(d+time.Second, func([]Event) bool { return time.Since(start) >= d })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
