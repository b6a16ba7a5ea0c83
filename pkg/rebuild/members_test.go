package rebuild

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// fakeGroups is one replication group behind Axon Server's membership API, with
// the real server's manners: a POST for a member is a 202 that changes nothing; a
// DELETE is a 202 whose effect (or failure) comes later, in a task.
type fakeGroups struct {
	mu      sync.Mutex
	group   axonserver.ReplicationGroup
	calls   []string
	tasks   []axonserver.Task
	lag     int    // reads before an accepted change shows
	pending int    // countdown of the change in flight
	apply   func() // the change in flight
	// behaviours
	ignoreAdd   bool   // a POST is accepted and never happens
	dropAdds    int    // so many POSTs are accepted and lost (as to a node that restarts)
	dropDeletes int    // so many DELETEs are accepted and their task never published (_admin without a leader)
	addAs       string // a POST adds with this role instead of the one asked
	failDelete  string // a DELETE's task fails with this message
	busy        int    // this many first POST/DELETE answer AXONIQ-2107
	noLeader    int    // this many first POST/DELETE answer AXONIQ-2100 (_admin between leaders)
	unavailable int    // this many first POST/DELETE answer HTTP 503 (a node or proxy in trouble)
	deleteNever bool   // a DELETE's task stays scheduled
}

func (f *fakeGroups) Node() string { return "axonserver-1" }

func (f *fakeGroups) ReplicationGroups(context.Context) ([]axonserver.ReplicationGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apply != nil {
		if f.pending--; f.pending <= 0 {
			f.apply()
			f.apply = nil
		}
	}
	g := f.group
	g.Roles = append([]axonserver.NodeRole(nil), f.group.Roles...)
	g.ChangePending = f.apply != nil && f.pending%2 == 1
	return []axonserver.ReplicationGroup{g}, nil
}

func (f *fakeGroups) inProgress() error {
	if f.unavailable > 0 {
		f.unavailable--
		return &axonserver.Error{StatusCode: http.StatusServiceUnavailable, Message: "injected"}
	}
	if f.noLeader > 0 {
		f.noLeader--
		return &axonserver.Error{StatusCode: http.StatusNotFound, Code: axonserver.CodeNoLeader, Message: "No leader for _admin"}
	}
	if f.busy > 0 {
		f.busy--
		return &axonserver.Error{StatusCode: http.StatusBadRequest, Code: axonserver.CodeUpdateInProgress, Message: "update in progress"}
	}
	return nil
}

func (f *fakeGroups) AddNodeToReplicationGroup(_ context.Context, group, node, role string) (*axonserver.RestResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "POST "+node+" "+role)
	if err := f.inProgress(); err != nil {
		return nil, err
	}
	if f.dropAdds > 0 {
		f.dropAdds--
		return &axonserver.RestResponse{Success: true}, nil
	}
	if _, member := roleIn(f.group, node); member || f.ignoreAdd {
		return &axonserver.RestResponse{Success: true}, nil // already a member: nothing happens
	}
	if f.addAs != "" {
		role = f.addAs
	}
	f.pending, f.apply = f.lag, func() { f.group.Roles = append(f.group.Roles, axonserver.NodeRole{Node: node, Role: role}) }
	return &axonserver.RestResponse{Success: true}, nil
}

func (f *fakeGroups) RemoveNodeFromReplicationGroup(_ context.Context, group, node string, _ bool) (*axonserver.RestResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DELETE "+node)
	if err := f.inProgress(); err != nil {
		return nil, err
	}
	if f.dropDeletes > 0 {
		f.dropDeletes--
		return &axonserver.RestResponse{Success: true}, nil
	}
	t := removalTask(fmt.Sprint(len(f.calls)), node, group)
	switch {
	case f.failDelete != "":
		t.Status, t.Message = axonserver.TaskStatusFailed, f.failDelete
	case f.deleteNever:
	default:
		f.pending, f.apply = f.lag, func() {
			var keep []axonserver.NodeRole
			for _, r := range f.group.Roles {
				if r.Node != node {
					keep = append(keep, r)
				}
			}
			f.group.Roles, f.tasks = keep, nil
		}
	}
	f.tasks = append(f.tasks, t)
	return &axonserver.RestResponse{Success: true}, nil
}

// removalTask is a scheduled task removing node from group, as /v1/tasks lists it.
func removalTask(id, node, group string) axonserver.Task {
	data, _ := json.Marshal(map[string]any{"node": node, "context": group})
	payload, _ := json.Marshal(map[string]string{"type": "NodeContext", "data": base64.StdEncoding.EncodeToString(data)})
	return axonserver.Task{TaskID: id, TaskExecutor: "io.axoniq.axonserver.enterprise.taskscheduler.task." + axonserver.TaskPrepareDeleteNode,
		Payload: payload, Status: "SCHEDULED"}
}

// failedAsGone is a removal task of an earlier, duplicate request that failed
// because the node had already left the group (AXONIQ-1301).
func failedAsGone(node, group string) axonserver.Task {
	t := removalTask("earlier", node, group)
	t.Status, t.Message = axonserver.TaskStatusFailed, "io.axoniq.axonserver.exception.MessagingPlatformException: [AXONIQ-1301] Node "+node+" not found in replicationGroup "+group
	return t
}

func (f *fakeGroups) Tasks(context.Context) ([]axonserver.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]axonserver.Task(nil), f.tasks...), nil
}

func TestNextStep(t *testing.T) {
	g := axonserver.ReplicationGroup{Name: "g", Roles: []axonserver.NodeRole{{Node: "a", Role: "PRIMARY"}, {Node: "b", Role: "ANALYTICS"}}}
	pending := g
	pending.ChangePending = true
	for _, tc := range []struct {
		g    axonserver.ReplicationGroup
		node string
		want quorum.Role
		step Step
	}{
		{g, "a", quorum.Primary, StepDone},
		{g, "a", quorum.ActiveBackup, StepRemove}, // a role changes by remove and add
		{g, "b", quorum.Analytics, StepDone},
		{g, "c", quorum.PassiveBackup, StepAdd},
		{g, "a", "", StepRemove},
		{g, "c", "", StepDone},
		{pending, "a", quorum.ActiveBackup, StepWait},
		{pending, "c", "", StepWait},
	} {
		if got := NextStep(tc.g, tc.node, tc.want); got != tc.step {
			t.Errorf("NextStep(pending=%v, %s, %q) = %s; want %s", tc.g.ChangePending, tc.node, tc.want, got, tc.step)
		}
	}
}

func TestChange(t *testing.T) {
	members := func(roles ...string) axonserver.ReplicationGroup {
		g := axonserver.ReplicationGroup{Name: "orders"}
		for _, r := range roles {
			n, role, _ := strings.Cut(r, ":")
			g.Roles = append(g.Roles, axonserver.NodeRole{Node: n, Role: role})
		}
		return g
	}
	tests := []struct {
		name  string
		f     *fakeGroups
		want  quorum.Role
		safe  string // what the safety check says
		calls string
		roles string // the group's members afterwards
		err   string
		// short: the case ends on a timeout (50 ms for a change, 300 ms in all);
		// every other case has a minute, so a slow machine never fails it.
		short bool
		// resend: a request that leaves no trace is sent again after 5 ms (else
		// after a minute: never within a case).
		resend bool
		code   int // the exit code the error carries, when not 0
	}{
		{name: "role change: remove, then add with the role, each read back",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-2:PRIMARY", "axonserver-3:PRIMARY"), lag: 3},
			want: quorum.ActiveBackup, calls: "DELETE axonserver-3, POST axonserver-3 ACTIVE_BACKUP",
			roles: "axonserver-1:PRIMARY axonserver-2:PRIMARY axonserver-3:ACTIVE_BACKUP"},
		{name: "already right: nothing sent",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PASSIVE_BACKUP")},
			want: quorum.PassiveBackup, roles: "axonserver-1:PRIMARY axonserver-3:PASSIVE_BACKUP"},
		{name: "add of a non-member",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), lag: 2},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY", roles: "axonserver-1:PRIMARY axonserver-3:PRIMARY"},
		{name: "update in progress (2107) is retried",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), busy: 2},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY", roles: "axonserver-1:PRIMARY axonserver-3:PRIMARY"},
		{name: "removal",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), lag: 4},
			want: "", calls: "DELETE axonserver-3", roles: "axonserver-1:PRIMARY"},
		{name: "a removal whose task failed",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), failDelete: "Cannot remove last node"},
			want: "", calls: "DELETE axonserver-3", err: "removing axonserver-3 from orders failed: task PrepareDeleteNodeFromContextTask 1: Cannot remove last node"},
		{name: "a failed task of an earlier duplicate DELETE (the node had already left: 1301) is no failure of this one",
			f: &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), lag: 3,
				tasks: []axonserver.Task{failedAsGone("axonserver-3", "orders")}},
			want: "", calls: "DELETE axonserver-3", roles: "axonserver-1:PRIMARY"},
		{name: "a removal still scheduled past the timeout is waited for (ctx ends it)",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), deleteNever: true},
			want: "", calls: "DELETE axonserver-3", err: "waiting for axonserver-3 to leave (PrepareDeleteNodeFromContextTask scheduled)", short: true},
		{name: "no leader for _admin (2100) now: sent again once there is one",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), noLeader: 2, lag: 1},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY", roles: "axonserver-1:PRIMARY axonserver-3:PRIMARY"},
		{name: "a 503 is not an answer: sent again",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), unavailable: 2, lag: 1},
			want: "", calls: "DELETE axonserver-3, DELETE axonserver-3, DELETE axonserver-3", roles: "axonserver-1:PRIMARY"},
		{name: "a 503 to a POST: sent again",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), unavailable: 1, lag: 1},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY", roles: "axonserver-1:PRIMARY axonserver-3:PRIMARY"},
		{name: "a DELETE whose task was never published is sent again",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), dropDeletes: 2, lag: 2},
			want: "", calls: "DELETE axonserver-3, DELETE axonserver-3, DELETE axonserver-3", roles: "axonserver-1:PRIMARY", resend: true},
		{name: "a lost POST is sent again",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), dropAdds: 1, lag: 2},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY, POST axonserver-3 PRIMARY", roles: "axonserver-1:PRIMARY axonserver-3:PRIMARY", resend: true},
		{name: "a DELETE that never shows, sent again until the change times out (exit 4)",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY"), dropDeletes: 1000},
			want: "", err: "still lists axonserver-3 after 50ms, with no change pending and no removal task scheduled", short: true, resend: true, code: cli.ExitTimeout},
		{name: "a 202 that never shows",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), ignoreAdd: true},
			want: quorum.Primary, calls: "POST axonserver-3 PRIMARY", err: "was accepted, but orders does not list axonserver-3", short: true},
		{name: "the wrong role every time",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY"), addAs: "PRIMARY"},
			want: quorum.ActiveBackup, err: "asked to add axonserver-3 as ACTIVE_BACKUP 3 times, Axon Server made it PRIMARY each time"},
		{name: "not removed while the group cannot lose it",
			f:    &fakeGroups{group: members("axonserver-1:PRIMARY", "axonserver-3:PRIMARY")},
			want: quorum.ActiveBackup, safe: "without it the group cannot commit now", err: "not removing axonserver-3 yet: without it the group cannot commit now", short: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			change, all := time.Minute, time.Minute
			if tc.short {
				change, all = 50*time.Millisecond, 300*time.Millisecond
			}
			resend := time.Minute
			if tc.resend {
				resend = 5 * time.Millisecond
			}
			e := &Env{Poll: time.Millisecond, ChangeTimeout: change, ResendAfter: resend}
			e.defaults()
			ctx, cancel := context.WithTimeout(context.Background(), all)
			defer cancel()
			api := func(context.Context) (groupsAPI, error) { return tc.f, nil }
			safe := func(axonserver.ReplicationGroup) string { return tc.safe }
			err := e.change(ctx, api, "orders", "axonserver-3", tc.want, safe)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v; want %q", err, tc.err)
			}
			if tc.code != 0 && cli.ExitCode(err) != tc.code {
				t.Errorf("exit code %d; want %d", cli.ExitCode(err), tc.code)
			}
			calls := strings.Join(tc.f.calls, ", ")
			if tc.calls != "" && calls != tc.calls {
				t.Errorf("calls %q; want %q", calls, tc.calls)
			}
			if tc.name == "the wrong role every time" && strings.Count(calls, "DELETE") != 2 {
				t.Errorf("calls %q: want each wrong role removed before the next add", calls)
			}
			if tc.roles != "" {
				var got []string
				for _, r := range tc.f.group.Roles {
					got = append(got, r.Node+":"+r.Role)
				}
				if strings.Join(got, " ") != tc.roles {
					t.Errorf("members %q; want %q", strings.Join(got, " "), tc.roles)
				}
			}
		})
	}
}
