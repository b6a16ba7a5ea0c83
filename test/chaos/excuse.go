//go:build chaos

package chaos

import (
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// partitionGrace is how long after a partition began a quorum loss in the partitioned node's
// groups is the partition's doing: a quorum-lost is emitted when the commit rule first fails,
// so a member that was already stopping (or whose stop the plugin decided on health it read
// before the cut) loses quorum at the cut or within this window. A loss later in the
// partition means the plugin stopped a member while another was visibly disconnected.
const partitionGrace = 5 * time.Second

// appliedTogether is how close a member-removed and the quorum-lost it caused are: the
// simulator emits both in the same evaluation.
const appliedTogether = 50 * time.Millisecond

// partitionExcuse says why quorum-lost e is a partition's doing, or "" when it is not.
// groupsOf gives a node's groups. Two cases:
//   - e is in a group of a node that ev shows cut off, within partitionGrace of the cut and
//     before its heal;
//   - e came with the removal of a member of its group that was scheduled before a partition
//     of another member of the group, and was applied during that partition or within
//     partitionGrace after its heal. A removal is a task that runs only while _admin has a
//     leader: asked while the group could lose the member, it can be held up by the cut and
//     applied when the network is whole again, while the cut-off member is still catching up.
func partitionExcuse(ev []axonsim.Event, e axonsim.Event, groupsOf func(string) map[string]bool) string {
	for _, p := range axonsim.Filter(ev, axonsim.EvPartitioned, "", "") {
		if !groupsOf(p.Node)[e.Group] || e.Time.Before(p.Time) {
			continue
		}
		healed := healedAt(ev, p)
		if e.Time.Before(p.Time.Add(partitionGrace)) && (healed.IsZero() || !healed.Before(e.Time)) {
			return "as a partition cut off a member while another was already leaving"
		}
		if !healed.IsZero() && !e.Time.Before(healed.Add(partitionGrace)) {
			continue
		}
		for _, rm := range axonsim.Filter(ev, axonsim.EvMemberRemoved, e.Group, "") {
			if rm.Node == p.Node || rm.Time.After(e.Time) || e.Time.Sub(rm.Time) > appliedTogether || rm.Time.Before(p.Time) {
				continue
			}
			if s, ok := lastBefore(axonsim.Filter(ev, axonsim.EvRemovalScheduled, e.Group, rm.Node), rm.Time); ok && s.Time.Before(p.Time) {
				return "as the removal of " + rm.Node + ", asked before " + p.Node + " was cut off, was applied after the cut"
			}
		}
	}
	return ""
}

// healedAt is when partition p ended (zero while it lasts, as far as ev goes).
func healedAt(ev []axonsim.Event, p axonsim.Event) time.Time {
	for _, h := range axonsim.Filter(ev, axonsim.EvPartitionHealed, "", p.Node) {
		if h.Time.After(p.Time) {
			return h.Time
		}
	}
	return time.Time{}
}

// lastBefore is the last of evs at or before t.
func lastBefore(evs []axonsim.Event, t time.Time) (axonsim.Event, bool) {
	var out axonsim.Event
	ok := false
	for _, x := range evs {
		if !x.Time.After(t) {
			out, ok = x, true
		}
	}
	return out, ok
}
