package axonsim

import (
	"fmt"
	"time"
)

// partition is a network partition that cuts one node off from every other Axon node. Its
// process, its HTTP API and its pod are untouched: only the links between Axon nodes are cut.
type partition struct {
	since time.Time
	until time.Time // zero: until Heal
	// knew and forget are the node's own view while cut off: the leader it knew of each group
	// when the partition began, and when it stops believing in it (a leader steps down after
	// the max election timeout without a majority, LeaderTimeoutChecker; a follower's election
	// timer fires and it finds no leader).
	knew   map[string]string
	forget map[string]time.Time
}

// Partition cuts node off from every other node for d (d <= 0: until Heal). The node keeps
// running and answering HTTP; the others see it disconnected and leave it out of Raft; it sees
// every peer disconnected and, once its timers have run out, no leader. A restart of the node
// does not end the partition (a network fault outlives a process); the time limit or Heal does.
func (c *Cluster) Partition(node string, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %q", node)
	}
	now := time.Now()
	p := &partition{since: now}
	if d > 0 {
		p.until = now.Add(d)
	}
	if n.partition != nil {
		p = n.partition // a second partition of the same node moves its end only
		p.until = now.Add(d)
		if d <= 0 {
			p.until = time.Time{}
		}
	} else {
		c.rememberLeaders(n, p, now)
	}
	n.partition = p
	reason := "until healed"
	if d > 0 {
		reason = "for " + d.String()
	}
	c.emit(Event{Event: EvPartitioned, Node: node, Reason: reason})
	c.evaluate(now)
	return nil
}

// Heal ends node's partition at once (no-op when it has none).
func (c *Cluster) Heal(node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %q", node)
	}
	c.heal(n, "healed")
	return nil
}

// Partitioned reports whether node is cut off from the others now.
func (c *Cluster) Partitioned(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	return n != nil && n.partition != nil
}

// heal ends n's partition and lets the model see it again. Caller holds c.mu.
func (c *Cluster) heal(n *Node, reason string) {
	if n.partition == nil {
		return
	}
	n.partition = nil
	c.emit(Event{Event: EvPartitionHealed, Node: n.name, Reason: reason})
	c.evaluate(time.Now())
}

// healDue heals the partitions whose time is up. Caller holds c.mu.
func (c *Cluster) healDue(now time.Time) {
	for _, name := range c.names {
		if n := c.nodes[name]; n.partition != nil && !n.partition.until.IsZero() && !now.Before(n.partition.until) {
			c.heal(n, "time limit reached")
		}
	}
}

// rememberLeaders records, for the groups n takes part in, the leader n knows at the start of
// the partition and how long it keeps believing in it: a leader for the max election timeout
// (it steps down without a majority), a follower for one election timeout. A node that is not
// in Raft (stopped, starting) knows no leader. Caller holds c.mu.
func (c *Cluster) rememberLeaders(n *Node, p *partition, now time.Time) {
	p.knew, p.forget = map[string]string{}, map[string]time.Time{}
	if !c.up(n.name) {
		return
	}
	for _, g := range c.memberGroups(n) {
		if g.leader == "" {
			continue
		}
		p.knew[g.name] = g.leader
		wait := c.drawTimeout()
		if g.leader == n.name {
			wait = c.tm.maxElection
		}
		p.forget[g.name] = now.Add(wait)
	}
}

// forgetLeaders clears what a partitioned node knew of its groups' leaders: a restarted process
// starts with no leader and cannot reach any. Caller holds c.mu.
func (n *Node) forgetLeaders() {
	if n.partition != nil {
		n.partition.knew, n.partition.forget = map[string]string{}, map[string]time.Time{}
	}
}

// cutOff reports whether nodes a and b cannot reach each other: one of them is partitioned.
// Caller holds c.mu.
func (c *Cluster) cutOff(a, b string) bool {
	if a == b {
		return false
	}
	na, nb := c.nodes[a], c.nodes[b]
	return (na != nil && na.partition != nil) || (nb != nil && nb.partition != nil)
}

// soloSide returns the partitioned member of g whose vote alone satisfies the commit rule (the
// group's only voter, say): the group then lives on its side of the partition and the others
// are the ones cut off. "" in the usual case, where the rest of the group holds the majority.
// Caller holds c.mu.
func (c *Cluster) soloSide(g *group) string {
	for _, m := range g.members {
		if n := c.nodes[m.node]; n == nil || n.partition == nil {
			continue
		}
		if CommitRule(g.roles(), func(node string) bool { return node == m.node }, c.minActiveBackups(m.node)) {
			return m.node
		}
	}
	return ""
}

// inRaft reports whether node takes part in group g's Raft as the model's single view of the
// group sees it: it is up, and not cut off from the side of the partition the group lives on.
// Caller holds c.mu.
func (c *Cluster) inRaft(g *group, node string) bool {
	if !c.up(node) {
		return false
	}
	if solo := c.soloSide(g); solo != "" {
		return node == solo
	}
	return c.nodes[node].partition == nil
}

// leaderSeenBy is g's leader in n's own view: the model's leader, except on a partitioned node
// cut off from the group, which believes in the leader it knew until its timer runs out and
// then knows none. Caller holds c.mu.
func (c *Cluster) leaderSeenBy(n *Node, g *group, now time.Time) string {
	p := n.partition
	if p == nil || c.inRaft(g, n.name) {
		return g.leader
	}
	if l := p.knew[g.name]; l != "" && now.Before(p.forget[g.name]) {
		return l
	}
	return ""
}

// adminUnreachable reports whether n, partitioned, cannot reach the _admin group's leader (a
// configuration change sent to it cannot be forwarded). Caller holds c.mu.
func (c *Cluster) adminUnreachable(n *Node) bool {
	g := c.groups[adminGroup]
	return n.partition != nil && n.ownGroups == nil && g != nil && !c.inRaft(g, n.name)
}
