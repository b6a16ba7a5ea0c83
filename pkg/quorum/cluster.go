package quorum

import (
	"errors"
	"fmt"
	"strings"
)

// Impact is one reason why stopping a node (or a set of nodes) is not safe now.
type Impact struct {
	// Group is the replication group concerned; "" for a reason about the node
	// itself (an unknown node).
	Group string `json:"group"`
	// Reason is a human sentence without the group name, e.g. "stopping
	// axonserver-3 leaves 0 of 1 ACTIVE_BACKUP members up and caught up
	// (min-active-backups 1)". String prefixes the group.
	Reason string `json:"reason"`
}

// String returns "group: reason", or the reason alone when Group is "".
func (i Impact) String() string {
	if i.Group == "" {
		return i.Reason
	}
	return i.Group + ": " + i.Reason
}

// Answer is a verdict in one word: yes, no, or unknown. Unknown is never yes: it
// says the observation could not see what the answer depends on.
type Answer string

const (
	Yes     Answer = "yes"
	No      Answer = "no"
	Unknown Answer = "unknown"
)

// Sight is what the observation behind a Cluster could not see. Its zero value
// means everything was seen: a Cluster built by hand is judged on what it holds.
type Sight struct {
	// From is the node whose view of the groups and connections the Cluster holds.
	From string `json:"from,omitempty"`
	// Blind is why the replication groups could not be read at all ("" when they
	// were): then no node's groups are known, and no verdict can be yes.
	Blind string `json:"blind,omitempty"`
	// Unseen are the nodes that may be running (a pod that runs, or Axon Server
	// reports them connected) but did not answer, each with why: their own view
	// (identity, groups, raft state) is missing.
	Unseen map[string]string `json:"unseen,omitempty"`
	// Stopped are the nodes known to be stopped from both sides, each with
	// Kubernetes' word for it ("no pod", "pod Pending"): Axon Server reports them
	// down too. Stopping (restarting) them changes nothing.
	Stopped map[string]string `json:"stopped,omitempty"`
}

// Verdict answers whether a node, or a set of nodes, may be stopped now.
type Verdict struct {
	// Node is the node asked about; for a set, their names joined by ", ".
	Node string `json:"node"`
	// Safe is true when Answer is yes: when nothing blocks and everything the
	// answer rests on was seen.
	Safe bool `json:"safe"`
	// Answer is yes, no (Blocked says why) or unknown (Unseen says why).
	Answer Answer `json:"answer"`
	// Evidence is what the answer rests on, one sentence.
	Evidence string `json:"evidence"`
	// Blocked lists every reason not to stop, one per group (or per unknown node).
	Blocked []Impact `json:"blocked,omitempty"`
	// Unseen lists what could not be seen, one per node (an Impact without a group),
	// when the answer is unknown.
	Unseen []Impact `json:"unseen,omitempty"`
	// Leads lists the groups led by the nodes to stop. Stopping is still safe when
	// Safe says so, but writes to these groups pause until a new leader is elected
	// (about the election timeout): Axon Server has no leadership transfer.
	Leads []string `json:"leads,omitempty"`
}

// Health says whether a node is healthy and, if not, why.
type Health struct {
	Node     string   `json:"node"`
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems,omitempty"`
}

// node returns the Node record of name.
func (c Cluster) node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Group returns the group called name.
func (c Cluster) Group(name string) (Group, bool) {
	for _, g := range c.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// GroupsOf returns the names of the groups node is a member of, in cluster order.
func (c Cluster) GroupsOf(node string) []string {
	var names []string
	for _, g := range c.Groups {
		if _, ok := g.Member(node); ok {
			names = append(names, g.Name)
		}
	}
	return names
}

// LeaderOf returns the leader the observation names for the group called group,
// "" when the group is unknown or names none. Use Group.HasLeader to know whether
// that leader is usable (up, and a PRIMARY member).
func (c Cluster) LeaderOf(group string) string {
	g, _ := c.Group(group)
	return g.Leader
}

// Leads returns the names of the groups node leads, in cluster order.
func (c Cluster) Leads(node string) []string {
	var names []string
	for _, g := range c.Groups {
		if g.Leader == node && node != "" {
			names = append(names, g.Name)
		}
	}
	return names
}

// known reports whether name is a node of c or a member of one of its groups.
func (c Cluster) known(name string) bool {
	_, ok := c.node(name)
	return ok || len(c.GroupsOf(name)) > 0
}

// IsDown reports whether Axon Server's view has name down already: not connected
// (or without a Node record) and not up in any group.
func (c Cluster) IsDown(name string) bool { return c.isDown(name) }

// isDown reports whether name is down already: not connected (or without a Node
// record) and not up in any group.
func (c Cluster) isDown(name string) bool {
	if n, ok := c.node(name); ok && n.Connected {
		return false
	}
	for _, g := range c.Groups {
		if m, ok := g.Member(name); ok && m.Up {
			return false
		}
	}
	return true
}

// OutOfService says whether node serves nothing now, seen from both sides: Axon
// Server reports it down (not connected, up in no group) and Kubernetes runs no
// serving process for it (Sight.Stopped) or its pod is not Ready. Restarting such a
// node costs no group anything, whatever the state of the others. A node that was
// not seen, or a blind observation, is never out of service.
func (c Cluster) OutOfService(node string) bool {
	if c.Sight.Blind != "" || c.Sight.Unseen[node] != "" {
		return false
	}
	n, ok := c.node(node)
	if !ok {
		return false
	}
	return c.isDown(node) && (c.Sight.Stopped[node] != "" || !n.PodReady)
}

// CanStop says whether node may be stopped now without stopping writes to any
// group. It is CanStopAll with one node.
func (c Cluster) CanStop(node string) Verdict {
	return c.CanStopAll([]string{node})
}

// CanStopAll says whether all of nodes may be down together without stopping
// writes to any group; drain planning asks it for the nodes on one Kubernetes
// node. The rules, like Strimzi's KafkaRoller (it requires a leader and enough
// other in-sync replicas before rolling a broker):
//
//   - An unknown node (no Node record, no membership) blocks: it is probably a
//     typo, and "safe" would mislead.
//   - A node that is down already (not connected, not up in any group) changes
//     nothing and is ignored: stopping (restarting) it is always safe.
//   - For every group one of the remaining nodes is a member of, whatever its role:
//     a group that already cannot commit blocks ("already cannot commit: ..."),
//     and so does a group without a usable leader (see Group.HasLeader): an
//     election may be running, and the caught-up flags, which come from the
//     leader's view, are stale. Planned disruption waits until the group is
//     settled, even for members that do not vote.
//   - Otherwise the group blocks when the commit rule fails with the nodes
//     treated as not up. Stopping the leader is allowed when the others satisfy
//     the rule (the same rule decides the election); Verdict.Leads names such
//     groups.
func (c Cluster) CanStopAll(nodes []string) Verdict {
	set := map[string]bool{}
	for _, n := range nodes {
		set[n] = true
	}
	names := sortedKeys(set)
	v := Verdict{Node: joinNodes(names)}
	live := map[string]bool{}
	var stopped []string
	for _, n := range names {
		switch {
		case c.Sight.Blind != "":
			v.Unseen = append(v.Unseen, Impact{Reason: fmt.Sprintf("the replication groups could not be read (%s), so the groups of %s are not known", c.Sight.Blind, n)})
		case c.Sight.Unseen[n] != "":
			v.Unseen = append(v.Unseen, Impact{Reason: fmt.Sprintf("%s did not answer (%s), so its own view of its groups is missing", n, c.Sight.Unseen[n])})
			if !c.isDown(n) {
				live[n] = true // judge its groups all the same: a "no" needs no more
			}
		case !c.known(n):
			v.Blocked = append(v.Blocked, Impact{Reason: fmt.Sprintf("unknown node %s", n)})
		case !c.isDown(n):
			live[n] = true
		default:
			stopped = append(stopped, n)
		}
	}
	for _, g := range c.Groups {
		var stopping []string
		for _, m := range g.Members {
			if live[m.Node] {
				stopping = append(stopping, m.Node)
			}
		}
		if len(stopping) == 0 {
			continue
		}
		if live[g.Leader] {
			v.Leads = append(v.Leads, g.Name)
		}
		if reason := g.stopBlocker(stopping, live); reason != "" {
			v.Blocked = append(v.Blocked, Impact{Group: g.Name, Reason: reason})
		}
	}
	v.Safe = len(v.Blocked) == 0 && len(v.Unseen) == 0
	v.Answer, v.Evidence = c.evidence(v, live, stopped)
	return v
}

// evidence names the answer and what it rests on.
func (c Cluster) evidence(v Verdict, live map[string]bool, stopped []string) (Answer, string) {
	switch {
	case len(v.Blocked) > 0:
		why := make([]string, 0, len(v.Blocked))
		for _, b := range v.Blocked {
			why = append(why, b.String())
		}
		return No, "not safe: " + strings.Join(why, "; ") + c.seenBy()
	case len(v.Unseen) > 0:
		why := make([]string, 0, len(v.Unseen))
		for _, u := range v.Unseen {
			why = append(why, u.Reason)
		}
		return Unknown, "unknown: " + strings.Join(why, "; ")
	}
	var parts []string
	for _, n := range stopped {
		how := "Axon Server reports it disconnected and down in every group"
		if k := c.Sight.Stopped[n]; k != "" {
			how = "Kubernetes: " + k + "; " + how
		}
		parts = append(parts, fmt.Sprintf("%s is already stopped (%s)", n, how))
	}
	if len(live) > 0 {
		var groups []string
		for _, g := range c.Groups {
			for _, m := range g.Members {
				if live[m.Node] {
					groups = append(groups, g.Name)
					break
				}
			}
		}
		switch {
		case len(groups) == 0:
			parts = append(parts, "a member of no replication group")
		default:
			parts = append(parts, "every group it is in keeps its commit quorum without it ("+strings.Join(groups, ", ")+")")
		}
	}
	if len(parts) == 0 {
		return Yes, "nothing to stop"
	}
	return Yes, strings.Join(parts, "; ") + c.seenBy()
}

// seenBy names the node whose view the verdict rests on, when known.
func (c Cluster) seenBy() string {
	if c.Sight.From == "" {
		return ""
	}
	return " (groups as " + c.Sight.From + " reports them)"
}

// stopBlocker returns why the members stopping (the members of g among the nodes
// in down) may not be stopped, or "".
func (g Group) stopBlocker(stopping []string, down map[string]bool) string {
	if ok, reason := g.CanCommit(); !ok {
		return "already cannot commit: " + reason
	}
	if !g.HasLeader() {
		return "no leader (an election may be in progress); wait until one is elected"
	}
	if rc, ok := g.shortfall(down); !ok {
		return fmt.Sprintf("stopping %s leaves %s", joinNodes(stopping), rc)
	}
	return ""
}

// NodeHealth says whether node is healthy: its pod is ready, it is connected,
// and in every group it is a member of the group has a leader and the node is up
// and caught up. A MESSAGING_ONLY member only has to be up: it has no event
// store (RoleUtils.hasStorage) and never counts for the commit rule, so its log
// position affects no write and no copy of the data; waiting for it would let a
// slow messaging node hold up a rolling restart for no safety gain. A node
// without a Node record is unhealthy with the single problem "unknown node".
func (c Cluster) NodeHealth(node string) Health { return c.health(node, everyGroup) }

// SelfHealth is NodeHealth without the group-wide condition "every group it is in
// has a leader": a group between two leaders makes every member unhealthy for a
// moment, but says nothing about the node itself.
func (c Cluster) SelfHealth(node string) Health { return c.health(node, selfOnly) }

// HealthWhereLed is SelfHealth judged only in the groups that have a leader: the
// node's health as far as the cluster lets it be. A group without a leader (too
// few of its voters up) cannot have the node up or caught up in it, whatever the
// node does, until the others are back.
func (c Cluster) HealthWhereLed(node string) Health { return c.health(node, ledGroupsOnly) }

// healthScope is how far a node's health reaches into its groups.
type healthScope int

const (
	everyGroup    healthScope = iota // a group without a leader is a problem of each member
	selfOnly                         // a group without a leader is not; the member must still be up and caught up
	ledGroupsOnly                    // only the groups with a leader are judged
)

func (c Cluster) health(node string, scope healthScope) Health {
	h := Health{Node: node}
	n, ok := c.node(node)
	if !ok {
		h.Problems = []string{"unknown node"}
		return h
	}
	if c.Sight.Blind != "" {
		h.Problems = append(h.Problems, "replication groups not seen: "+c.Sight.Blind)
	}
	if why := c.Sight.Unseen[node]; why != "" {
		h.Problems = append(h.Problems, "did not answer: "+why)
	}
	if !n.PodReady {
		h.Problems = append(h.Problems, "pod not ready or not at the current revision")
	}
	if !n.Connected {
		h.Problems = append(h.Problems, "not connected to the cluster")
	}
	for _, g := range c.Groups {
		m, ok := g.Member(node)
		if !ok {
			continue
		}
		if !g.HasLeader() {
			if scope == ledGroupsOnly {
				continue
			}
			if scope == everyGroup {
				h.Problems = append(h.Problems, fmt.Sprintf("group %s has no leader", g.Name))
			}
		}
		switch {
		case !m.Up:
			h.Problems = append(h.Problems, fmt.Sprintf("not up in group %s", g.Name))
		case !m.CaughtUp && m.Role != MessagingOnly:
			h.Problems = append(h.Problems, fmt.Sprintf("not caught up in group %s", g.Name))
		}
	}
	h.Healthy = len(h.Problems) == 0
	return h
}

// Healthy reports whether every node is healthy, apart from the nodes named in
// except. It checks the nodes of c in order, then group members without a Node
// record (unhealthy: unknown node), and returns the Health of every node it
// checked, healthy or not.
func (c Cluster) Healthy(except ...string) (bool, []Health) {
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	var order []string
	for _, n := range c.Nodes {
		order = append(order, n.Name)
	}
	extra := map[string]bool{}
	for _, g := range c.Groups {
		for _, m := range g.Members {
			if _, ok := c.node(m.Node); !ok {
				extra[m.Node] = true
			}
		}
	}
	order = append(order, sortedKeys(extra)...)
	all := true
	var hs []Health
	for _, name := range order {
		if skip[name] {
			continue
		}
		h := c.NodeHealth(name)
		all = all && h.Healthy
		hs = append(hs, h)
	}
	return all, hs
}

// Validate reports what makes c unusable: nodes without a name or listed twice,
// groups listed twice, and every group's own problems (Group.Validate), joined
// into one error.
func (c Cluster) Validate() error {
	var errs []error
	nodes := map[string]bool{}
	for _, n := range c.Nodes {
		switch {
		case n.Name == "":
			errs = append(errs, errors.New("node without a name"))
		case nodes[n.Name]:
			errs = append(errs, fmt.Errorf("duplicate node %s", n.Name))
		}
		nodes[n.Name] = true
	}
	groups := map[string]bool{}
	for _, g := range c.Groups {
		if g.Name != "" && groups[g.Name] {
			errs = append(errs, fmt.Errorf("duplicate group %s", g.Name))
		}
		groups[g.Name] = true
		errs = append(errs, g.Validate())
	}
	return errors.Join(errs...)
}
