package rebuild

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Membership changes, judged by their effect. Axon Server answers both calls with a
// 202 before anything happened, and the 202 proves nothing:
//
//   - POST /v1/replicationgroups/{g}/{n}?role=R for a node that is already a member
//     changes nothing ("already contains node"), whatever R is. A role changes only
//     by removing the member and adding it back with the new role.
//   - DELETE /v1/replicationgroups/{g}/{n} schedules PrepareDeleteNodeFromContextTask
//     and then DeleteNodeFromContextTask; an unknown group, an unknown member or the
//     last member fail later, in the task (GET /v1/tasks: status FAILED, message).
//
// So every change here is one change at a time, and done only when a read of the
// group shows it: the member with the role wanted, or no such member, and no change
// pending.

// Step is the next thing to do to bring one group to the membership wanted.
type Step string

// The steps.
const (
	// StepDone: the group lists the node with the role wanted (or, to remove it, does
	// not list it) and has no change pending.
	StepDone Step = "done"
	// StepWait: the group has a change pending; it takes one change at a time.
	StepWait Step = "wait"
	// StepAdd: POST the node with the role wanted.
	StepAdd Step = "add"
	// StepRemove: DELETE the node (it must leave, or it has the wrong role and must
	// leave before it is added back).
	StepRemove Step = "remove"
)

// NextStep is the pure rule: what to do next for node in g, when want is the role it
// should have ("" when it should not be a member).
func NextStep(g axonserver.ReplicationGroup, node string, want quorum.Role) Step {
	role, member := roleIn(g, node)
	switch {
	case g.ChangePending:
		return StepWait
	case want == "" && !member, want != "" && member && quorum.Role(role) == want:
		return StepDone
	case member:
		return StepRemove
	}
	return StepAdd
}

// groupsAPI is what membership changes need of one Axon Server node (an admin node).
type groupsAPI interface {
	ReplicationGroups(ctx context.Context) ([]axonserver.ReplicationGroup, error)
	AddNodeToReplicationGroup(ctx context.Context, group, node, role string) (*axonserver.RestResponse, error)
	RemoveNodeFromReplicationGroup(ctx context.Context, group, node string, preserveEventStore bool) (*axonserver.RestResponse, error)
	Tasks(ctx context.Context) ([]axonserver.Task, error)
	Node() string
}

// maxWrongRole is how many times an add may yield a role other than the one asked
// for before the change is given up.
const maxWrongRole = 3

// Resend is how long an accepted change may show no trace (the group lists no
// change pending and, for a removal, /v1/tasks lists no removal task) before the
// request is sent again. Axon Server answers 202 before it publishes the work: a
// DELETE while _admin has no leader is accepted and its task never published, and a
// POST to a node that restarts before it forwards the change is lost the same way.
// Both requests are idempotent (a POST for a member changes nothing; a DELETE for a
// non-member fails only in its own task, which is not waited for once the group no
// longer lists the node).
const Resend = 10 * time.Second

// change brings node's membership of group to want ("" = no membership), one
// request at a time, each judged by reading the group afterwards (and /v1/tasks while
// a removal is in flight). A request whose effect does not show within
// e.ChangeTimeout, with no change pending and no task scheduled for it, is an error;
// so is a task that failed. safe, when not nil, is asked before a member is removed:
// "" when the group may lose it now, else why not (the change then waits).
func (e *Env) change(ctx context.Context, api func(context.Context) (groupsAPI, error), group, node string, want quorum.Role, safe func(axonserver.ReplicationGroup) string) error {
	var (
		first     time.Time // the first request of the change accepted
		sent      time.Time // the last request accepted
		sentStep  Step
		wrongRole int
		announced bool
		msg       string
	)
	// accepted records a request of step the server accepted; it returns " again
	// (...)" when it repeats one that left no trace.
	accepted := func(step Step) string {
		again := ""
		if sentStep == step {
			again = fmt.Sprintf(" again (the last one left no trace for %s)", e.ResendAfter)
		} else {
			first = time.Now()
		}
		sent, sentStep = time.Now(), step
		return again
	}
	for {
		c, err := api(ctx)
		var g axonserver.ReplicationGroup
		found := false
		if err == nil {
			var groups []axonserver.ReplicationGroup
			if groups, err = c.ReplicationGroups(ctx); err == nil {
				for _, x := range groups {
					if x.Name == group {
						g, found = x, true
					}
				}
			}
		}
		step := StepWait
		switch {
		case err != nil:
			msg = err.Error()
		case !found && want == "":
			return nil
		case !found:
			return fmt.Errorf("replication group %s does not exist (any more): cannot add %s to it", group, node)
		default:
			step = NextStep(g, node, want)
		}
		role, member := roleIn(g, node)
		switch step {
		case StepDone:
			if sentStep != "" || announced {
				what := fmt.Sprintf("%s: %s is %s", group, node, want)
				if want == "" {
					what = fmt.Sprintf("%s: %s is no longer a member", group, node)
				}
				e.emit(node, "membership-confirmed", what+" (read back from "+c.Node()+")", false, Membership{Group: group, Role: want})
			}
			return nil
		case StepWait:
			if err == nil {
				msg = fmt.Sprintf("%s: a change is pending (one change at a time)", group)
			}
		case StepAdd:
			if sentStep == StepAdd && time.Since(first) >= e.ChangeTimeout {
				return cli.Timeoutf("%s: POST /v1/replicationgroups/%s/%s?role=%s was accepted, but %s does not list %s after %s and has no change pending",
					group, group, node, want, group, node, e.ChangeTimeout)
			}
			if sentStep == StepAdd && time.Since(sent) < e.ResendAfter {
				msg = fmt.Sprintf("%s: waiting for %s to be listed as %s", group, node, want)
				break
			}
			_, err := c.AddNodeToReplicationGroup(ctx, group, node, string(want))
			switch {
			case err == nil:
				again := accepted(StepAdd)
				msg = fmt.Sprintf("%s: adding %s as %s", group, node, want)
				e.emit(node, "member-adding", fmt.Sprintf("%s: POST %s as %s sent%s to %s; judging it by reading the group", group, node, want, again, c.Node()), false, Membership{Group: group, Role: want})
			case axonserver.IsUpdateInProgress(err), axonserver.IsNoLeader(err):
				msg = fmt.Sprintf("%s: %v (%s; sent again)", group, err, axonserver.Explain(err))
			case axonserver.IsTransient(err):
				msg = fmt.Sprintf("%s: %v (not accepted; sent again)", group, err)
			default:
				return fmt.Errorf("adding %s to %s as %s: %w", node, group, want, err)
			}
		case StepRemove:
			if want != "" && member && sentStep == StepAdd {
				wrongRole++
				sentStep = ""
				if wrongRole >= maxWrongRole {
					return fmt.Errorf("%s: asked to add %s as %s %d times, Axon Server made it %s each time", group, node, want, wrongRole, role)
				}
			}
			if want != "" && !announced {
				announced = true
				e.emit(node, "role-change", fmt.Sprintf("%s: %s is %s, wanted %s: removing it and adding it back with that role (a POST to a member changes nothing)", group, node, role, want), false, Membership{Group: group, Role: want})
			}
			if sentStep == StepRemove {
				m, pending, ferr := e.removalTask(ctx, c, group, node)
				if ferr != nil {
					return ferr
				}
				if !pending && time.Since(first) >= e.ChangeTimeout {
					return cli.Timeoutf("%s: DELETE /v1/replicationgroups/%s/%s was accepted, but %s still lists %s after %s, with no change pending and no removal task scheduled",
						group, group, node, group, node, e.ChangeTimeout)
				}
				if pending || time.Since(sent) < e.ResendAfter {
					msg = fmt.Sprintf("%s: waiting for %s to leave (%s)", group, node, m)
					break
				}
				// No trace of the request: it is sent again below.
			}
			if safe != nil {
				if why := safe(g); why != "" {
					msg = fmt.Sprintf("%s: not removing %s yet: %s", group, node, why)
					break
				}
			}
			_, err := c.RemoveNodeFromReplicationGroup(ctx, group, node, false)
			switch {
			case err == nil:
				again := accepted(StepRemove)
				msg = fmt.Sprintf("%s: removing %s", group, node)
				e.emit(node, "member-removing", fmt.Sprintf("%s: DELETE %s sent%s to %s; judging it by reading the group and /v1/tasks", group, node, again, c.Node()), false, Membership{Group: group})
			case axonserver.IsUpdateInProgress(err), axonserver.IsNoLeader(err):
				msg = fmt.Sprintf("%s: %v (%s; sent again)", group, err, axonserver.Explain(err))
			case axonserver.IsTransient(err):
				msg = fmt.Sprintf("%s: %v (not accepted; sent again)", group, err)
			default:
				return fmt.Errorf("removing %s from %s: %w", node, group, err)
			}
		}
		e.emit(node, "waiting", msg, true, nil)
		if err := sleep(ctx, e.Poll); err != nil {
			return fmt.Errorf("%s: %s (%w)", node, msg, err)
		}
	}
}

// removalTask looks in /v1/tasks for the tasks removing node from group: a FAILED
// one is an error (its message says why: the last member ...), except one that
// failed because the node was no member then (AXONIQ-1301, a duplicate request);
// pending says one is still scheduled. m describes what was found.
func (e *Env) removalTask(ctx context.Context, c groupsAPI, group, node string) (m string, pending bool, err error) {
	ts, err := c.Tasks(ctx)
	if err != nil {
		return "tasks unreadable: " + err.Error(), false, nil
	}
	var names []string
	for _, t := range ts {
		n, g, ok := t.NodeContext()
		if !ok || n != node || g != group {
			continue
		}
		switch t.Executor() {
		case axonserver.TaskPrepareDeleteNode, axonserver.TaskDeleteNode, axonserver.TaskDeleteContextNode:
		default:
			continue
		}
		if t.Status == axonserver.TaskStatusFailed && strings.Contains(t.Message, axonserver.CodeNoSuchNode) {
			// The node was no member when that task ran: a duplicate request (an
			// interrupted run's, or one sent again) after an earlier one had removed
			// it. The group as read says whether it is a member now.
			continue
		}
		if t.Status == axonserver.TaskStatusFailed {
			return "", false, fmt.Errorf("removing %s from %s failed: task %s %s: %s", node, group, t.Executor(), t.TaskID, strings.TrimSpace(t.Message))
		}
		names = append(names, t.Executor()+" "+strings.ToLower(t.Status))
	}
	if len(names) == 0 {
		return "no removal task listed", false, nil
	}
	return strings.Join(names, ", "), true, nil
}
