package inspect

import (
	"context"
	"slices"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// KnownGroups is a replication groups' view (/v1/public/replicationgroups) read
// earlier, with what says whether it still holds.
//
// An admin node's view is its admin tables, less the leaders (those it keeps in
// memory). Every change of those tables (a context, a group, a member, a role, a
// change pending or done) is an entry of _admin's log that the node applies to
// them (Axon Server EE's LocalRaftConfigService.appendToAdmin). So while the node
// that gave the view runs the same process and its _admin lastAppliedIndex, read
// before the view was asked, has not moved, and _admin's leader has committed
// nothing beyond it, the view is what that node would answer now, the leaders
// apart. At 5,000 contexts the view is most of what status reads (about 750 kB).
type KnownGroups struct {
	// Node and Instance are the node and the process (Target.Instance) that gave
	// the view.
	Node, Instance string
	// AdminIndex is Node's _admin lastAppliedIndex, read before the view was asked;
	// 0: the view was not asked in that order, so it is never taken again, but the
	// next look orders its questions to keep one.
	AdminIndex int64
	// Groups is the view, its leaders left out.
	Groups []axonserver.ReplicationGroup
}

// KnownGroupsOf is obs's groups' view as a KnownGroups (see its AdminIndex), nil
// when its node's process is not known or the view is not worth keeping: no
// _admin group, or one that also holds contexts with events, whose log moves with
// every write.
func KnownGroupsOf(obs *Observation, targets []Target) *KnownGroups {
	if obs == nil || obs.From == "" || !adminQuiet(obs.Groups) {
		return nil
	}
	for _, t := range targets {
		if t.Node == obs.From && t.Instance != "" {
			groups := make([]axonserver.ReplicationGroup, len(obs.Groups))
			for i, g := range obs.Groups {
				g.Leader = ""
				groups[i] = g
			}
			return &KnownGroups{Node: obs.From, Instance: t.Instance, AdminIndex: obs.GroupsIndex, Groups: groups}
		}
	}
	return nil
}

// KeepGroups makes k the view the next looks with Options.ReuseGroups take
// instead of asking, while it holds; nil is ignored.
func (c *Cache) KeepGroups(k *KnownGroups) {
	if c == nil || k == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups = k
}

// groupsFrom says whether the Cache keeps a view node gave, of any process.
func (c *Cache) groupsFrom(node string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups != nil && c.groups.Node == node
}

// adminQuiet says whether groups has an _admin group holding no context but
// _admin: its log then holds the configuration only.
func adminQuiet(groups []axonserver.ReplicationGroup) bool {
	for _, g := range groups {
		if g.Name == AdminGroup {
			return !slices.ContainsFunc(g.Contexts, func(c axonserver.Context) bool { return c.Context != AdminGroup })
		}
	}
	return false
}

// knownGroups is the view kept for node's process instance, nil if none.
func (c *Cache) knownGroups(node, instance string) *KnownGroups {
	if c == nil || instance == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.groups; k != nil && k.Node == node && k.Instance == instance {
		return k
	}
	return nil
}

// adminApplied is the _admin lastAppliedIndex in a node's Raft status; 0 when the
// node is not a member of _admin.
func adminApplied(rs []axonserver.RaftStatus) int64 {
	for _, r := range rs {
		if r.ReplicationGroup == AdminGroup {
			return r.LastAppliedIndex
		}
	}
	return 0
}

// adminCommit is the commit index of _admin's leader as this look read it, and
// whether a node answered as its leader.
func adminCommit(obs *Observation) (int64, bool) {
	for _, v := range obs.Nodes {
		for _, r := range v.Raft {
			if r.ReplicationGroup == AdminGroup && r.IsLeader {
				return r.CommitIndex, true
			}
		}
	}
	return 0, false
}

// withLeaders is a kept view with the leaders the node that gave it knows now:
// its own Raft status names them for the groups it is a member of. The others
// stay empty, for the model to take from the leaders' own answers.
func withLeaders(groups []axonserver.ReplicationGroup, rs []axonserver.RaftStatus) []axonserver.ReplicationGroup {
	leader := make(map[string]string, len(rs))
	for _, r := range rs {
		leader[r.ReplicationGroup] = r.LeaderName
	}
	out := make([]axonserver.ReplicationGroup, len(groups))
	for i, g := range groups {
		g.Leader = leader[g.Name]
		out[i] = g
	}
	return out
}

// groupsAfterRaft asks cv's node for its groups' view once its Raft status of
// this look is in (v, closing raftIn), so that the view is at least as new as the
// _admin index that status holds; with a view kept at that index, it asks nothing
// and leaves the verdict to use, which has every node's answer.
func (q *asker) groupsAfterRaft(cv *clusterView, v *NodeView, raftIn <-chan struct{}) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		select {
		case <-raftIn:
		case <-q.ctx.Done():
			cv.err = q.ctx.Err()
			return
		}
		q.mu.Lock()
		cv.index = adminApplied(v.Raft)
		q.mu.Unlock()
		if k := q.o.Cache.knownGroups(cv.t.Node, cv.t.Instance); k != nil && cv.index > 0 && k.AdminIndex == cv.index {
			cv.known = k
			return
		}
		cv.calls++
		q.run(func(ctx context.Context) { cv.groups, cv.err = cv.t.API.ReplicationGroups(ctx) })
	}()
}

// takeKnown settles a kept view (clusterView.known) once every node answered: it
// stands when _admin's leader has committed nothing beyond its index; else the
// view is asked now.
func (cv *clusterView) takeKnown(ctx context.Context, obs *Observation, timeout time.Duration) {
	if cv.known == nil {
		return
	}
	if commit, ok := adminCommit(obs); ok && commit == cv.index {
		cv.groups = withLeaders(cv.known.Groups, obs.Nodes[cv.t.Node].Raft)
		cv.kept = true
		return
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cv.calls++
	cv.groups, cv.err = cv.t.API.ReplicationGroups(cctx)
}
