package inspect

import (
	"sort"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// BehindThreshold is how many entries a follower may trail the leader's commit index
// and still count as caught up: Axon Server's own raft health calls a follower BEHIND
// past this many.
const BehindThreshold = 100

// Lag is how far one member trails its group's leader.
type Lag struct {
	// Status is the leader's word for the member when its health said so (UP, BEHIND,
	// NO_ACK_RECEIVED), else "LEADER", "DOWN", "NO_LEADER" (the group has none), or
	// "UNKNOWN" when nothing told.
	Status string `json:"status"`
	// Behind is the leader's commit index minus the member's last log index, when both
	// were read; -1 when unknown.
	Behind int64 `json:"behind"`
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
}

// PodState is what Kubernetes says of a node's pod.
type PodState struct {
	// Ready: the pod is Ready and runs the StatefulSet's current revision.
	Ready bool
}

// BuildModel turns an observation plus the pods' states into quorum terms. Nodes named
// by pods but unknown to Axon Server, and nodes Axon Server lists without a pod, are
// both kept: the first as disconnected, the second as not pod-ready.
func BuildModel(obs *Observation, pods map[string]PodState, minActiveBackups int) *Model {
	m := &Model{Lags: map[string]map[string]Lag{}, Contexts: map[string]int{}, ChangePending: map[string]bool{}}
	connected := connectedNodes(obs)
	names := map[string]bool{}
	for n := range pods {
		names[n] = true
	}
	for _, p := range obs.Public {
		names[p.Name] = true
	}
	for _, n := range sortedKeys(names) {
		m.Cluster.Nodes = append(m.Cluster.Nodes, quorum.Node{Name: n, PodReady: pods[n].Ready, Connected: connected[n]})
	}
	for _, g := range obs.Groups {
		leader := g.Leader
		if leader == "" {
			leader = raftLeader(obs, g.Name)
		}
		qg := quorum.Group{Name: g.Name, Leader: leader, MinActiveBackups: minActiveBackups}
		lags := map[string]Lag{}
		for _, r := range g.Roles {
			up := connected[r.Node]
			lag := memberLag(obs, g.Name, leader, r.Node, up)
			lags[r.Node] = lag
			qg.Members = append(qg.Members, quorum.Member{
				Node: r.Node, Role: quorum.Role(r.Role), Up: up,
				// Without a leader there is nothing to trail: the commit rule then
				// speaks of who is up, which names the real cause (a lost voter).
				CaughtUp: up && (leader == "" || lag.Status == "LEADER" || lag.Status == axonserver.StatusUp),
			})
		}
		m.Cluster.Groups = append(m.Cluster.Groups, qg)
		m.Lags[g.Name] = lags
		m.Contexts[g.Name] = len(g.Contexts)
		m.ChangePending[g.Name] = g.ChangePending
	}
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

func raftLeader(obs *Observation, group string) string {
	for _, n := range sortedKeys(obs.Nodes) {
		if rs := raftOf(obs.Nodes[n], group); rs != nil && rs.IsLeader {
			return n
		}
	}
	return ""
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

// memberLag reads the leader's health first (its follower status is Axon Server's own
// verdict), then falls back to comparing the member's last log index with the
// leader's commit index.
func memberLag(obs *Observation, group, leader, node string, up bool) Lag {
	if !up {
		return Lag{Status: "DOWN", Behind: -1}
	}
	if leader == "" {
		return Lag{Status: "NO_LEADER", Behind: -1}
	}
	if node == leader {
		return Lag{Status: "LEADER", Behind: 0}
	}
	lag := Lag{Status: "UNKNOWN", Behind: -1}
	lv := obs.Nodes[leader]
	lr, fr := raftOf(lv, group), raftOf(obs.Nodes[node], group)
	if lr != nil && fr != nil {
		lag.Behind = max(lr.CommitIndex-fr.LastLogIndex, 0)
	}
	if lv != nil && lv.Health != nil {
		if s := lv.Health.Component("raft").Detail(group + ".follower." + node + ".status"); s != "" {
			lag.Status = s
			return lag
		}
	}
	if lag.Behind >= 0 {
		lag.Status = axonserver.StatusUp
		if lag.Behind > BehindThreshold {
			lag.Status = "BEHIND"
		}
	}
	return lag
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
