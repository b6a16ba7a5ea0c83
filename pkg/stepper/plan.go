// Package stepper is the engine of kubectl axon's rolling operations (upgrade,
// replace-node, drain-node): a pure planner that orders the nodes so that no
// replication group loses its quorum and each sees as few leader elections as
// possible, and a runner that takes the steps one at a time: preflight (the cluster
// healthy apart from the node, CanStop with a safety wait), act (a callback the
// command gives), wait (old pod gone, new pod Ready on the update revision, the node
// healthy in Axon Server's terms, then every node healthy), record (annotations and
// Events) and progress events. A rerun resumes: every step checks whether it is done.
package stepper

import (
	"sort"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Kind is why a step has its place in the order.
type Kind string

const (
	// KindUnhealthy: the node is not healthy now; it goes first (it is down or
	// useless anyway, and the others' checks want it healthy).
	KindUnhealthy Kind = "unhealthy"
	// KindFollower: the node leads no group; restarting it causes no election.
	KindFollower Kind = "follower"
	// KindLeader: the node leads groups; restarting it elects a new leader in each.
	KindLeader Kind = "leader"
	// KindDone: the node is already done and healthy; skipped.
	KindDone Kind = "done"
)

// Step is one node's turn.
type Step struct {
	Node string `json:"node"`
	Kind Kind   `json:"kind"`
	// Groups are the groups the node is a member of: those its restart touches.
	Groups []string `json:"groups"`
	// Leads are the groups the node leads now.
	Leads []string `json:"leads,omitempty"`
	// Verdict is CanStop(node) on the cluster as it will be when the step comes: the
	// nodes of the earlier steps back and healthy, everything else as observed.
	Verdict quorum.Verdict `json:"verdict"`
	// Structural: stopping the node is unsafe even with every node healthy (a group
	// of one member, too few active backups): no order makes it safe; only --force.
	Structural bool `json:"structural,omitempty"`
	// Problems are the node's health problems now (unhealthy steps).
	Problems []string `json:"problems,omitempty"`
	// ElectionRisk names the groups the node leads in which a node still to be
	// restarted may become the new leader (and so cause a second election).
	ElectionRisk []string `json:"electionRisk,omitempty"`
}

// Plan is the ordered steps.
type Plan struct {
	Steps []Step `json:"steps"`
	// Skipped are the targets already done and healthy.
	Skipped []Step `json:"skipped,omitempty"`
	// Elections is, per group, the most leader elections the plan may cause in it
	// (0 for groups whose leader is not restarted).
	Elections map[string]int `json:"elections"`
}

// Blocked returns the steps no order can make safe (Structural).
func (p Plan) Blocked() []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Structural {
			out = append(out, s)
		}
	}
	return out
}

// Input is what the planner plans from.
type Input struct {
	Cluster quorum.Cluster
	// Targets are the nodes the operation covers.
	Targets []string
	// Done says which targets already have the change (e.g. run the target image);
	// a done target that is healthy is skipped, one that is not is waited for.
	Done map[string]bool
}

// NewPlan orders the targets. It does no I/O.
//
// The order:
//
//  1. Targets that are done and healthy are skipped (this is how a rerun resumes).
//  2. Unhealthy targets first: those out of service (quorum.Cluster.OutOfService)
//     in name order, then the rest in name order. They are down (or useless)
//     already, restarting them costs nothing, and every later step wants them
//     healthy.
//  3. Followers (nodes that lead no group) next, in name order: a follower's restart
//     causes no election, and once restarted and caught up it is a safe candidate
//     for the leaderships the later steps hand over.
//  4. Leaders last. Axon Server has no leadership transfer: when a leader stops, the
//     group elects the running PRIMARY with the most complete log, which we cannot
//     choose. A group sees exactly one election in the whole run when, at the moment
//     its leader restarts, none of its other PRIMARY members is still to be
//     restarted. Followers are done by then; the only risk left is another leader
//     that is a PRIMARY member of the group. So leader x should come after every
//     pending leader y that is a PRIMARY in a group x leads. That is a topological
//     order of the graph "y before x"; we build it greedily, each time taking the
//     leader with the fewest such pending candidates (zero whenever the graph has
//     no cycle), then the fewest groups led, then by name. A cycle (x leads A with
//     y a PRIMARY of A, y leads B with x a PRIMARY of B) has no one-election order:
//     the step records ElectionRisk and Elections counts the worst case.
func NewPlan(in Input) Plan {
	c := in.Cluster
	p := Plan{Elections: map[string]int{}}
	var unhealthy, followers, leaders []Step
	seen := map[string]bool{}
	for _, n := range in.Targets {
		if seen[n] {
			continue
		}
		seen[n] = true
		h := c.NodeHealth(n)
		// A group between two leaders (an election after a step that was
		// interrupted) says nothing about the node itself, which must neither lose
		// its place in the order nor be redone: SelfHealth. The runner's preflight
		// still waits for the whole cluster to be healthy.
		self := c.SelfHealth(n).Healthy
		s := Step{Node: n, Groups: c.GroupsOf(n), Leads: c.Leads(n)}
		switch {
		case in.Done[n] && self:
			s.Kind = KindDone
			p.Skipped = append(p.Skipped, s)
		case !self:
			s.Kind, s.Problems = KindUnhealthy, h.Problems
			unhealthy = append(unhealthy, s)
		case len(s.Leads) == 0:
			s.Kind = KindFollower
			followers = append(followers, s)
		default:
			s.Kind = KindLeader
			leaders = append(leaders, s)
		}
	}
	byName := func(ss []Step) {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Node < ss[j].Node })
	}
	byName(unhealthy)
	// Out of service before merely unhealthy: restarting those costs nothing at any
	// time, and the others may wait on them.
	sort.SliceStable(unhealthy, func(i, j int) bool {
		return c.OutOfService(unhealthy[i].Node) && !c.OutOfService(unhealthy[j].Node)
	})
	byName(followers)
	byName(p.Skipped)
	p.Steps = append(append(unhealthy, followers...), orderLeaders(c, leaders)...)
	p.verdicts(c)
	p.elections(c)
	return p
}

// orderLeaders is step 4 of NewPlan.
func orderLeaders(c quorum.Cluster, leaders []Step) []Step {
	pending := map[string]bool{}
	for _, s := range leaders {
		pending[s.Node] = true
	}
	var out []Step
	for len(leaders) > 0 {
		best, bestRisk := -1, 0
		var bestGroups []string
		for i, s := range leaders {
			risky := riskyGroups(c, s, pending)
			if best < 0 || len(risky) < bestRisk ||
				(len(risky) == bestRisk && len(s.Leads) < len(leaders[best].Leads)) ||
				(len(risky) == bestRisk && len(s.Leads) == len(leaders[best].Leads) && s.Node < leaders[best].Node) {
				best, bestRisk, bestGroups = i, len(risky), risky
			}
		}
		s := leaders[best]
		s.ElectionRisk = bestGroups
		out = append(out, s)
		delete(pending, s.Node)
		leaders = append(leaders[:best:best], leaders[best+1:]...)
	}
	return out
}

// riskyGroups are the groups s leads that have another PRIMARY member among pending.
func riskyGroups(c quorum.Cluster, s Step, pending map[string]bool) []string {
	var out []string
	for _, gn := range s.Leads {
		g, _ := c.Group(gn)
		for _, m := range g.Members {
			if m.Node != s.Node && m.Role == quorum.Primary && pending[m.Node] {
				out = append(out, gn)
				break
			}
		}
	}
	return out
}

// verdicts fills each step's Verdict on the projected cluster and Structural on the
// ideal one.
func (p *Plan) verdicts(c quorum.Cluster) {
	ideal := healed(c, nil)
	back := []string{} // not nil: healed(c, nil) heals every node
	for i := range p.Steps {
		s := &p.Steps[i]
		s.Verdict = healed(c, back).CanStop(s.Node)
		// Only a "no" is structural: an unknown on the ideal cluster says that the
		// observation was blind, not that no order helps.
		s.Structural = ideal.CanStop(s.Node).Answer == quorum.No
		back = append(back, s.Node)
	}
}

// healed returns a copy of c in which the nodes named (every node when nodes is
// nil) are up, connected, ready and caught up, and each group that can commit has a
// leader.
func healed(c quorum.Cluster, nodes []string) quorum.Cluster {
	heal := func(string) bool { return true }
	if nodes != nil {
		set := map[string]bool{}
		for _, n := range nodes {
			set[n] = true
		}
		heal = func(n string) bool { return set[n] }
	}
	out := quorum.Cluster{Sight: c.Sight} // healing a projection does not make it seen
	for _, n := range c.Nodes {
		if heal(n.Name) {
			n.PodReady, n.Connected = true, true
		}
		out.Nodes = append(out.Nodes, n)
	}
	for _, g := range c.Groups {
		g.Members = append([]quorum.Member(nil), g.Members...)
		for i, m := range g.Members {
			if heal(m.Node) {
				g.Members[i].Up, g.Members[i].CaughtUp = true, true
			}
		}
		if ok, _ := g.CanCommit(); ok && !g.HasLeader() {
			for _, m := range g.Members {
				if m.Role.CanLead() && m.Up {
					g.Leader = m.Node
					break
				}
			}
		}
		out.Groups = append(out.Groups, g)
	}
	return out
}

// elections fills Elections with the worst case per group: when a group's leader
// restarts, the group elects one of its running PRIMARY members; if that one is
// still to be restarted, its restart causes another election, and so on. The worst
// case is the longest such chain in step order.
func (p *Plan) elections(c quorum.Cluster) {
	pos := map[string]int{}
	for i, s := range p.Steps {
		pos[s.Node] = i
	}
	for _, g := range c.Groups {
		p.Elections[g.Name] = 0
		if !g.HasLeader() {
			continue
		}
		if _, ok := pos[g.Leader]; !ok {
			continue
		}
		memo := map[string]int{}
		var chain func(node string) int
		chain = func(node string) int {
			if v, ok := memo[node]; ok {
				return v
			}
			best := 0
			for _, m := range g.Members {
				if q, ok := pos[m.Node]; ok && m.Role == quorum.Primary && q > pos[node] {
					best = max(best, chain(m.Node))
				}
			}
			memo[node] = 1 + best
			return 1 + best
		}
		p.Elections[g.Name] = chain(g.Leader)
	}
}
