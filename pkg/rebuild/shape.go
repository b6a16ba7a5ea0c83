package rebuild

import (
	"context"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// The steps of the procedure above, for the commands that change a cluster's shape
// (add-node, remove-node, move-member, set-role): the same requests, judged the same
// way, so that every membership change of kubectl axon goes through one loop.

// SetMembership brings node's membership of group to role ("" for none): one change
// at a time, sent to an admin node other than node, confirmed by reading the group; a
// member with another role is removed and added back; a removal waits while the
// group could not commit without the member.
func (e *Env) SetMembership(ctx context.Context, group, node string, role quorum.Role) error {
	e.defaults()
	return e.change(ctx, e.groupsAPI(node), group, node, role, e.canLose(ctx, node))
}

// Register waits until the cluster lists node as connected (autocluster), sending
// it POST /v1/cluster (no contexts) after JoinWait without that.
func (e *Env) Register(ctx context.Context, node string) error {
	e.defaults()
	return e.register(ctx, node)
}

// Join gives node each membership of want (SetMembership) and waits until it has
// caught up in every one of them, reporting progress per group. Memberships it has
// besides (autocluster's) are left alone.
func (e *Env) Join(ctx context.Context, node string, want []Membership) error {
	e.defaults()
	return e.restoreGroups(ctx, node, want, false)
}

// Unregister takes node out of each group of groups (a leader hands leadership over
// first) and then out of the cluster (DELETE /v1/cluster/{node}), confirmed by
// reading the cluster, within UnregisterTimeout.
func (e *Env) Unregister(ctx context.Context, node string, groups []Membership) error {
	e.defaults()
	return e.unregister(ctx, node, groups)
}
