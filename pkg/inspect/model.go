package inspect

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// BehindThreshold is how far past what it sent Axon Server's own raft health lets a
// follower trail before it calls it BEHIND. kubectl axon's own verdict (FollowerLag)
// is stricter: caught up means at the leader's commit index.
const BehindThreshold = 100

// Lag is how far one member trails its group's leader, and whether it has caught up.
type Lag struct {
	// Status is kubectl axon's verdict, from the Raft indices: LEADER, UP (caught
	// up), BEHIND (its log short of the leader's commit index), SETTLING (the group's
	// last election has not settled on this member: terms differ, or the leader has
	// not yet committed an entry of its own term), DOWN, NO_LEADER (the group has
	// none), or UNKNOWN (a Raft status could not be read).
	Status string `json:"status"`
	// Behind is the leader's commit index minus the member's last log index, when both
	// were read; -1 when unknown.
	Behind int64 `json:"behind"`
	// CaughtUp is the verdict the safety model uses (Status LEADER or UP, or the
	// group has no leader to trail).
	CaughtUp bool `json:"caughtUp"`
	// Health is the leader's own word for the member in its raft health
	// (<group>.follower.<node>.status: UP, BEHIND, NO_ACK_RECEIVED), "" when it said
	// none or its health was not read (Options.Health). A hint only: right after an
	// election a new leader reports every follower UP for up to the max election
	// timeout, a follower that is down or far behind included.
	Health string `json:"health,omitempty"`
}

// FollowerLag judges from the Raft status of the leader and of the follower, each as
// the node itself reported it, whether the follower has caught up. It is the one
// rule of kubectl axon for "caught up" (status, health, rolling steps and
// replace-node's catch-up all use it):
//
//   - the leader still says it leads (isLeader), and has committed an entry of its
//     own term (commitTerm = currentTerm): a new leader appends a LeaderElected
//     entry at once (LeaderState.appendLeaderElected), so until that entry commits
//     the election has not settled and the leader's commit index is its
//     predecessor's;
//   - the follower is in the leader's term (currentTerm equal) and its last entry is
//     of that term (lastLogTerm = the leader's currentTerm): only the current leader
//     writes entries of its term, so by Raft's log matching the follower's log
//     equals the leader's up to its lastLogIndex (a follower holding stale entries
//     of an older term, or one that has heard nothing of the new leader yet, is
//     SETTLING);
//   - the follower's lastLogIndex reaches the leader's commitIndex (a follower
//     receives entries before the leader commits them, so a caught-up follower reads
//     at or past it; a read that races a write only delays the verdict a poll).
//
// lr or fr nil means that status could not be read: UNKNOWN, not caught up. The
// leader's follower health is never evidence (see Lag.Health).
func FollowerLag(lr, fr *axonserver.RaftStatus) Lag {
	lag := Lag{Status: "UNKNOWN", Behind: -1}
	if lr == nil || fr == nil {
		return lag
	}
	lag.Behind = max(lr.CommitIndex-fr.LastLogIndex, 0)
	switch {
	case !lr.IsLeader, lr.CommitTerm != lr.CurrentTerm,
		fr.CurrentTerm != lr.CurrentTerm, fr.LastLogTerm != lr.CurrentTerm:
		lag.Status = "SETTLING"
	case lag.Behind > 0:
		lag.Status = "BEHIND"
	default:
		lag.Status, lag.CaughtUp = axonserver.StatusUp, true
	}
	return lag
}

// Model is the observation in the safety model's terms.
type Model struct {
	Cluster quorum.Cluster
	// Lags per group, per member node.
	Lags map[string]map[string]Lag
	// Contexts per group.
	Contexts map[string]int
	// ChangePending per group.
	ChangePending map[string]bool
	// MinActiveBackups is the min-active-backups the model applies, and
	// MinActiveBackupsFrom where it comes from: "flag", "cluster" (every node that
	// exposes /actuator/env says so; the highest when they disagree) or "default".
	MinActiveBackups     int
	MinActiveBackupsFrom string
	// MinActiveBackupsByNode is each node's own setting, for the nodes whose
	// /actuator/env answered (absent from it: Axon Server's default, 1).
	MinActiveBackupsByNode map[string]int
	// Warnings are about what the model could not take at face value (roles it does
	// not know, nodes that disagree on min-active-backups), each said once.
	Warnings []string
}

// MinActiveBackupsKey is the property Axon Server reads min-active-backups from.
const MinActiveBackupsKey = "axoniq.axonserver.replication.min-active-backups"

// resolveMinActiveBackups chooses the value the model applies: the flag when set (> 0),
// else what the nodes' /actuator/env say (the highest, the conservative choice, when
// they disagree, with a warning), else Axon Server's default.
func resolveMinActiveBackups(obs *Observation, flag int) (value int, from string, byNode map[string]int, warnings []string) {
	byNode = map[string]int{}
	for _, n := range slices.Sorted(maps.Keys(obs.Nodes)) {
		v := obs.Nodes[n]
		if v == nil || v.Env == nil {
			continue
		}
		raw, _, ok := v.Env.Property(MinActiveBackupsKey)
		if !ok {
			byNode[n] = quorum.DefaultMinActiveBackups
			continue
		}
		x, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || x < 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %s=%q is not a number; ignored", n, MinActiveBackupsKey, raw))
			continue
		}
		byNode[n] = x
	}
	seen := map[int][]string{}
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		seen[byNode[n]] = append(seen[byNode[n]], n)
	}
	if len(seen) > 1 {
		var parts []string
		for _, x := range slices.Sorted(maps.Keys(seen)) {
			parts = append(parts, fmt.Sprintf("%d on %s", x, strings.Join(seen[x], ", ")))
		}
		warnings = append(warnings, fmt.Sprintf("the nodes disagree on min-active-backups (%s): %s", strings.Join(parts, "; "), disagreeUse(flag)))
	}
	switch {
	case flag > 0:
		return flag, "flag", byNode, warnings
	case len(seen) > 0:
		return slices.Max(slices.Collect(maps.Keys(seen))), "cluster", byNode, warnings
	}
	return quorum.DefaultMinActiveBackups, "default", byNode, warnings
}

func disagreeUse(flag int) string {
	if flag > 0 {
		return fmt.Sprintf("using --min-active-backups=%d", flag)
	}
	return "using the highest; set the same value on every node"
}

// PodState is what Kubernetes says of a node's pod.
type PodState struct {
	// Ready: the pod is Ready and runs the StatefulSet's current revision.
	Ready bool
}

// BuildModel turns an observation plus the pods' states into quorum terms.
// minActiveBackups > 0 is the operator's --min-active-backups and wins; 0 means the
// cluster's own setting (/actuator/env), else Axon Server's default. Nodes named
// by pods but unknown to Axon Server, and nodes Axon Server lists without a pod, are
// both kept: the first as disconnected, the second as not pod-ready.
func BuildModel(obs *Observation, pods map[string]PodState, minActiveBackups int) *Model {
	m := &Model{Lags: map[string]map[string]Lag{}, Contexts: map[string]int{}, ChangePending: map[string]bool{}}
	m.MinActiveBackups, m.MinActiveBackupsFrom, m.MinActiveBackupsByNode, m.Warnings = resolveMinActiveBackups(obs, minActiveBackups)
	connected := connectedNodes(obs)
	raft := indexRaft(obs)
	names := map[string]bool{}
	for n := range pods {
		names[n] = true
	}
	for _, p := range obs.Public {
		names[p.Name] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		m.Cluster.Nodes = append(m.Cluster.Nodes, quorum.Node{Name: n, PodReady: pods[n].Ready, Connected: connected[n]})
	}
	for _, g := range obs.Groups {
		leader := g.Leader
		if leader == "" {
			leader = raftLeader(raft, g.Name)
		}
		qg := quorum.Group{Name: g.Name, Leader: leader, MinActiveBackups: m.MinActiveBackups}
		lags := map[string]Lag{}
		for _, r := range g.Roles {
			up := connected[r.Node]
			lag := memberLag(obs, raft, g.Name, leader, r.Node, up)
			lags[r.Node] = lag
			qg.Members = append(qg.Members, quorum.Member{
				Node: r.Node, Role: quorum.Role(r.Role), Up: up, CaughtUp: lag.CaughtUp,
			})
		}
		m.Cluster.Groups = append(m.Cluster.Groups, qg)
		m.Lags[g.Name] = lags
		m.Contexts[g.Name] = len(g.Contexts)
		m.ChangePending[g.Name] = g.ChangePending
	}
	m.Warnings = append(m.Warnings, quorum.UnknownRoleWarnings(m.Cluster)...)
	return m
}

// connectedNodes: Axon's own view (/v1/public) when it was read; else whichever nodes
// answered us.
func connectedNodes(obs *Observation) map[string]bool {
	out := map[string]bool{}
	if obs.From != "" {
		for _, p := range obs.Public {
			out[p.Name] = p.Connected
		}
		out[obs.From] = true
		return out
	}
	for n, v := range obs.Nodes {
		out[n] = v.Reachable
	}
	return out
}

func raftLeader(raft raftIndex, group string) string {
	for _, n := range slices.Sorted(maps.Keys(raft)) {
		if rs := raft[n][group]; rs != nil && rs.IsLeader {
			return n
		}
	}
	return ""
}

// raftIndex is each node's Raft status by group, read once per model rather than
// searched for each member of each group (a node of a large cluster is in hundreds).
type raftIndex map[string]map[string]*axonserver.RaftStatus

func indexRaft(obs *Observation) raftIndex {
	idx := make(raftIndex, len(obs.Nodes))
	for n, v := range obs.Nodes {
		byGroup := make(map[string]*axonserver.RaftStatus, len(v.Raft))
		for i := range v.Raft {
			if _, seen := byGroup[v.Raft[i].ReplicationGroup]; !seen { // the first, as raftOf
				byGroup[v.Raft[i].ReplicationGroup] = &v.Raft[i]
			}
		}
		idx[n] = byGroup
	}
	return idx
}

func raftOf(v *NodeView, group string) *axonserver.RaftStatus {
	if v == nil {
		return nil
	}
	for i := range v.Raft {
		if v.Raft[i].ReplicationGroup == group {
			return &v.Raft[i]
		}
	}
	return nil
}

// memberLag judges one member from the Raft indices (FollowerLag), and keeps the
// leader's follower health as a hint. Without a leader there is nothing to trail: an
// up member counts as caught up, so the commit rule speaks of who is up, which names
// the real cause (a lost voter).
func memberLag(obs *Observation, raft raftIndex, group, leader, node string, up bool) Lag {
	if !up {
		return Lag{Status: "DOWN", Behind: -1}
	}
	if leader == "" {
		return Lag{Status: "NO_LEADER", Behind: -1, CaughtUp: true}
	}
	if node == leader {
		return Lag{Status: "LEADER", Behind: 0, CaughtUp: true}
	}
	lv := obs.Nodes[leader]
	lag := FollowerLag(raft[leader][group], raft[node][group])
	if lv != nil && lv.Health != nil {
		lag.Health = lv.Health.Component("raft").Detail(group + ".follower." + node + ".status")
	}
	return lag
}

// Position is node's last log index in group and the leader's commit index, from
// /internal/raft/status (0 when unknown): the progress of a catching-up member.
func Position(obs *Observation, group, node string) (index, of int64) {
	for name, v := range obs.Nodes {
		r := raftOf(v, group)
		if r == nil {
			continue
		}
		if name == node {
			index = r.LastLogIndex
		}
		if r.IsLeader {
			of = r.CommitIndex
		}
	}
	return index, of
}
