package axonsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func membershipTopology(image string) string {
	return `name: axonserver
image: ` + image + `
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
` + fastTiming
}

// TestReplicationGroupErrorCodes: the codes of a pending change and of an unknown group
// follow the version of the node that answers (ErrorCode.java: 2102 up to 4.4; 2107 and 2108
// from 4.5).
func TestReplicationGroupErrorCodes(t *testing.T) {
	cases := []struct {
		image                string
		pending, unknownCode string
		unknownStatus        int
	}{
		{"axoniq/axonserver-enterprise:4.4.2-dev-nonroot", "AXONIQ-2102", "AXONIQ-1302", 404},
		{"axoniq/axonserver-enterprise:4.5.10-nonroot", "AXONIQ-2107", "AXONIQ-2108", 404},
		{"axoniq/axonserver:2023.2.1-nonroot", "AXONIQ-2107", "AXONIQ-2108", 404},
		{"axoniq/axonserver:2025.2.0-nonroot", "AXONIQ-2107", "AXONIQ-2108", 404},
	}
	for _, cs := range cases {
		t.Run(VersionFromImage(cs.image), func(t *testing.T) {
			tc := newTestCluster(t, membershipTopology(cs.image))
			tc.startAll()
			// axonserver-4 is stopped: its addition stays pending (it cannot copy the log).
			must(t, tc.StopNode("axonserver-4", time.Minute))
			if code, _, body := tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/default/axonserver-4?role=PASSIVE_BACKUP", nil, nil); code != 202 {
				t.Fatalf("add: %d %s", code, body)
			}
			code, hdr, body := tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", nil, nil)
			if code != 400 || !strings.Contains(string(body), `"message":"[`+cs.pending+`]`) || hdr.Get("AxonIQ-ErrorCode") != "" {
				t.Errorf("pending: %d %v %s", code, hdr, body)
			}
			code, _, body = tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/nope/axonserver-4", nil, nil)
			if code != cs.unknownStatus || !strings.Contains(string(body), `"message":"[`+cs.unknownCode+`]`) {
				t.Errorf("unknown group: %d %s", code, body)
			}
		})
	}
}

// TestAddExistingMemberChangesNothing: POST for a node that is already a member, whatever the
// role, answers 202 and changes nothing (LocalRaftConfigService: "already contains node").
func TestAddExistingMemberChangesNothing(t *testing.T) {
	tc := newTestCluster(t, membershipTopology("axoniq/axonserver:2024.1.0-nonroot"))
	tc.startAll()
	before := len(tc.Events())
	code, _, body := tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/default/axonserver-2?role=ACTIVE_BACKUP", nil, nil)
	if code != http.StatusAccepted {
		t.Fatalf("add existing: %d %s", code, body)
	}
	waitTicks(tc, 20)
	var groups []JSONReplicationGroup
	tc.get("axonserver-1", "/v1/public/replicationgroups", &groups)
	for _, g := range groups {
		if g.Name != "default" {
			continue
		}
		if g.ChangePending {
			t.Error("a no-op left a pending change")
		}
		for _, r := range g.Roles {
			if r.Node == "axonserver-2" && r.Role != RolePrimary {
				t.Errorf("role changed to %s", r.Role)
			}
		}
	}
	if n := len(Filter(tc.Events()[before:], EvMemberAdded, "", "")); n != 0 {
		t.Errorf("%d member-added for a no-op", n)
	}
}

// TestRemoveMemberFailsInTask: DELETE answers 202 at once; an unknown group, an unknown member
// and the last member fail in DeleteNodeFromContextTask, which /v1/tasks lists (SCHEDULED,
// then FAILED with the exception) and the audit log reports as task-failed.
func TestRemoveMemberFailsInTask(t *testing.T) {
	cases := []struct {
		name, group, node, code string
	}{
		{"unknown group", "nope", "axonserver-2", "AXONIQ-2108"},
		{"unknown member", "default", "axonserver-4", "AXONIQ-1301"},
		{"last member", "solo", "axonserver-1", "AXONIQ-2310"},
	}
	tc := newTestCluster(t, membershipTopology("axoniq/axonserver:2024.1.0-nonroot"))
	tc.startAll()
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			code, _, body := tc.do(http.MethodDelete, "axonserver-2", "/v1/replicationgroups/"+cs.group+"/"+cs.node+"?preserveEventStore=false", nil, nil)
			if code != http.StatusAccepted {
				t.Fatalf("delete: %d %s", code, body)
			}
			tc.waitFor("delete task listed", func([]Event) bool { return tc.taskState(taskPackage+taskDeleteNode, cs.group, "SCHEDULED") != nil })
			tc.waitFor("task failed", has(EvTaskFailed, cs.group, cs.node))
			ev := Filter(tc.Events(), EvTaskFailed, cs.group, cs.node)
			if !strings.Contains(ev[0].Reason, cs.code) || !strings.HasPrefix(ev[0].Reason, taskDeleteNode) {
				t.Errorf("reason %q, want %s", ev[0].Reason, cs.code)
			}
			ft := tc.taskState(taskPackage+taskDeleteNode, cs.group, "FAILED")
			if ft == nil || ft.Message == nil || !strings.Contains(*ft.Message, "["+cs.code+"]") {
				t.Errorf("failed task: %+v", ft)
			}
		})
	}
	if n := tc.count(EvMemberRemoved, ""); n != 0 {
		t.Fatalf("%d member-removed", n)
	}
}

// TestRemoveDownMember: a member that is down is removed; the DeleteContextFromNodeTask that
// follows retries (transient) until the node runs again.
func TestRemoveDownMember(t *testing.T) {
	tc := newTestCluster(t, membershipTopology("axoniq/axonserver:2024.1.0-nonroot"))
	tc.startAll()
	follower := "axonserver-3"
	if tc.leader("default") == follower {
		follower = "axonserver-2"
	}
	must(t, tc.StopNode(follower, time.Minute))
	tc.waitFor("_admin leader", func([]Event) bool { return tc.leader("_admin") != "" })
	must(t, tc.RemoveMember("default", follower))
	tc.waitFor("removed", has(EvMemberRemoved, "default", follower))
	if sched, rem := Filter(tc.Events(), EvRemovalScheduled, "default", follower), Filter(tc.Events(), EvMemberRemoved, "default", follower); len(sched) != 1 || sched[0].Time.After(rem[0].Time) {
		t.Errorf("want one %s before %s, got %v", EvRemovalScheduled, EvMemberRemoved, sched)
	}
	tc.waitFor("retrying", func([]Event) bool {
		tk := tc.taskState(taskPackage+taskDeleteContextNode, "default", "SCHEDULED")
		return tk != nil && tk.Message != nil && tk.RetryInterval > 10
	})
	tk := tc.taskState(taskPackage+taskDeleteContextNode, "default", "SCHEDULED")
	data, _ := base64.StdEncoding.DecodeString(tk.Payload.Data)
	if tk.Payload.Type != payloadNodeContext || !strings.Contains(string(data), `"node":"`+follower+`"`) {
		t.Errorf("payload %s %s", tk.Payload.Type, data)
	}
	tc.start(follower)
	tc.waitFor("task done", func([]Event) bool { return tc.taskState(taskPackage+taskDeleteContextNode, "default", "") == nil })
}

// taskState returns the first task with that executor for group (status "" = any), read
// through /v1/tasks on a running node.
func (tc *testCluster) taskState(executor, group, status string) *JSONTask {
	tc.t.Helper()
	for _, n := range tc.NodeNames() {
		if tc.Node(n).URL() == "" {
			continue
		}
		var tasks []JSONTask
		tc.get(n, "/v1/tasks", &tasks)
		for _, tk := range tasks {
			data, _ := base64.StdEncoding.DecodeString(tk.Payload.Data)
			if tk.TaskExecutor == executor && (status == "" || tk.Status == status) && strings.Contains(string(data), `"context":"`+group+`"`) {
				return &tk
			}
		}
		return nil
	}
	return nil
}

// TestAdminLogRecordsConfiguration: _admin's log holds configuration changes, not event
// traffic, so an admin node's lastAppliedIndex for _admin moves exactly when the
// replication groups' view (its leaders apart) changes: a membership change moves it
// when it starts and when it is done; writes to the data groups and a new leader of one
// do not.
func TestAdminLogRecordsConfiguration(t *testing.T) {
	tc := newTestCluster(t, membershipTopology("axoniq/axonserver:2024.1.0-nonroot"))
	tc.startAll()
	tc.waitStable()
	type look struct {
		applied, defaultIndex int64
		view                  string
	}
	read := func() look {
		var rs []JSONRaftStatus
		tc.get("axonserver-2", "/internal/raft/status", &rs)
		var l look
		for _, r := range rs {
			switch r.ReplicationGroup {
			case "_admin":
				l.applied = r.LastAppliedIndex
			case "default":
				l.defaultIndex = r.LastLogIndex
			}
		}
		var groups []JSONReplicationGroup
		tc.get("axonserver-2", "/v1/public/replicationgroups", &groups)
		for i := range groups {
			groups[i].Leader = nil
		}
		b, _ := json.Marshal(groups)
		l.view = string(b)
		return l
	}
	first := read()
	if first.applied == 0 {
		t.Fatalf("_admin has no entry: %+v", first)
	}
	// Event traffic: the data group's log grows, _admin's does not.
	waitTicks(tc, 10)
	quiet := read()
	if quiet.defaultIndex <= first.defaultIndex || quiet.applied != first.applied || quiet.view != first.view {
		t.Fatalf("writes: default %d -> %d, _admin %d -> %d (view changed: %v)", first.defaultIndex, quiet.defaultIndex,
			first.applied, quiet.applied, quiet.view != first.view)
	}
	// A new leader of a data group is not a configuration change.
	old := tc.leader("default")
	mark := len(tc.Events())
	must(t, tc.StopNode(old, time.Minute))
	tc.waitFor("new leader", func(ev []Event) bool { return len(Filter(ev[mark:], EvLeaderElected, "default", "")) > 0 })
	tc.start(old)
	tc.waitStable()
	if l := read(); l.applied != quiet.applied || l.view != quiet.view {
		t.Fatalf("leader change moved _admin: %d -> %d", quiet.applied, l.applied)
	}
	// A membership change moves it when it starts and again when it is done.
	mark = len(tc.Events())
	if code, _, body := tc.do(http.MethodPost, "axonserver-1", "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", nil, nil); code != 202 {
		t.Fatalf("add: %d %s", code, body)
	}
	started := read()
	if started.applied <= quiet.applied || started.view == quiet.view {
		t.Fatalf("change started: _admin %d -> %d (view changed: %v)", quiet.applied, started.applied, started.view != quiet.view)
	}
	tc.waitFor("member added", func(ev []Event) bool { return len(Filter(ev[mark:], EvMemberAdded, "default", "axonserver-4")) == 1 })
	if done := read(); done.applied <= started.applied || done.view == started.view {
		t.Fatalf("change done: _admin %d -> %d (view changed: %v)", started.applied, done.applied, done.view != started.view)
	}
}

// TestAdminWithEventsWrites: an _admin group that also holds a context with events (a
// topology may put default there) carries that context's events like any group.
func TestAdminWithEventsWrites(t *testing.T) {
	tc := newTestCluster(t, strings.Replace(membershipTopology("axoniq/axonserver:2024.1.0-nonroot"),
		"contexts: [_admin]", "contexts: [_admin, extra]", 1))
	tc.startAll()
	tc.waitStable()
	index := func() int64 {
		var rs []JSONRaftStatus
		tc.get("axonserver-2", "/internal/raft/status", &rs)
		for _, r := range rs {
			if r.ReplicationGroup == "_admin" {
				return r.LastLogIndex
			}
		}
		return -1
	}
	before := index()
	waitTicks(tc, 10)
	if after := index(); after <= before {
		t.Fatalf("_admin with the context extra: log %d -> %d, want it to grow with the writes", before, after)
	}
}
