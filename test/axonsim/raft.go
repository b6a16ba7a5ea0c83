package axonsim

import (
	"time"
)

// group is one replication group's Raft state, as the cluster as a whole sees it.
type group struct {
	name     string
	contexts []string
	members  []*member // sorted by node

	leader       string
	term         int64
	votedFor     map[string]string // node -> candidate voted for in term
	lastIndex    int64             // the leader's last log index
	commitIndex  int64
	writeAcc     float64
	leaderLostAt time.Time // start of the current leaderless period
	noQuorumAt   time.Time // since when the leader has lacked a quorum
	quorum       int       // 0 not formed yet, 1 ok, -1 lost

	pending      *change // one membership change at a time
	pendingSince time.Time
}

// member is one node's membership of a group.
type member struct {
	node     string
	role     string
	logIndex int64
	caughtUp bool

	catchingUp   bool
	catchUpFrom  int64
	catchUpStart time.Time
}

// change is a pending membership change of a group.
type change struct {
	add     bool
	node    string
	role    string
	learner *member // an added node copying the log before it becomes a member
	taskID  string
}

func (g *group) member(node string) *member {
	for _, m := range g.members {
		if m.node == node {
			return m
		}
	}
	return nil
}

func (g *group) changePending() bool { return g.pending != nil }

// up: the node runs and belongs to the cluster in its own view, so it takes part in Raft.
func (c *Cluster) up(node string) bool {
	n := c.nodes[node]
	return n != nil && n.state == Running && n.knowsCluster
}

// CommitRule is Axon Server EE's rule (PrimaryMajorityAndActiveBackupsRule): a strict majority
// of the PRIMARY members, and, when the group has ACTIVE_BACKUP members, at least
// minActiveBackups of them (ActiveBackupsRule: "no active backups, or score >= min"; the
// minimum is not capped by the number of active backups, so min 2 with one active backup
// never commits). has tells whether a member has the entry (is a running, caught-up member).
func CommitRule(roles map[string]string, has func(node string) bool, minActiveBackups int) bool {
	var prim, primOK, ab, abOK int
	for node, role := range roles {
		switch role {
		case RolePrimary:
			prim++
			if has(node) {
				primOK++
			}
		case RoleActiveBackup:
			ab++
			if has(node) {
				abOK++
			}
		}
	}
	if prim == 0 || primOK*2 <= prim {
		return false
	}
	return ab == 0 || abOK >= minActiveBackups
}

func (g *group) roles() map[string]string {
	out := make(map[string]string, len(g.members))
	for _, m := range g.members {
		out[m.node] = m.role
	}
	return out
}

func (c *Cluster) quorumOK(g *group) bool {
	return CommitRule(g.roles(), func(node string) bool {
		m := g.member(node)
		return m != nil && m.caughtUp && c.up(node)
	}, c.minActiveBackups(g.leader))
}

// minActiveBackups is the min-active-backups in node's own configuration (the leader applies
// its own value; "" = the cluster's).
func (c *Cluster) minActiveBackups(node string) int {
	if n := c.nodes[node]; n != nil && n.spec.MinActiveBackups != nil {
		return *n.spec.MinActiveBackups
	}
	return c.topo.MinActiveBackups
}

// evaluate brings every group up to date with the nodes' states. Caller holds c.mu.
func (c *Cluster) evaluate(now time.Time) {
	for _, name := range c.gnames {
		c.evaluateGroup(c.groups[name], now)
	}
}

func (c *Cluster) evaluateGroup(g *group, now time.Time) {
	timeout := time.Duration(c.topo.Timing.ElectionTimeoutMillis) * time.Millisecond
	catchUp := seconds(c.topo.Timing.CatchUpSeconds)

	// A leader that no longer runs is gone at once (its followers notice within a
	// heartbeat; the election itself waits for the election timeout).
	if g.leader != "" && !c.up(g.leader) {
		c.loseLeader(g, now, "leader stopped")
	}
	// Members that are down are no longer caught up; members that are up and behind
	// copy the leader's log over catchUpSeconds.
	for _, m := range g.members {
		c.progress(g, m, now, catchUp)
	}
	if g.pending != nil && g.pending.learner != nil {
		c.progress(g, g.pending.learner, now, catchUp)
	}
	c.checkQuorum(g)

	// A leader that cannot reach a quorum steps down after the election timeout.
	if g.leader != "" {
		if g.quorum == 1 {
			g.noQuorumAt = time.Time{}
		} else if g.noQuorumAt.IsZero() {
			g.noQuorumAt = now
		} else if now.Sub(g.noQuorumAt) >= timeout {
			c.loseLeader(g, now, "no quorum: leader stepped down")
		}
	}
	if g.leader == "" && now.Sub(g.leaderLostAt) >= timeout {
		c.elect(g, now)
	}
	c.checkQuorum(g)

	// Steady write load: the leader appends and commits while it has a quorum.
	if g.leader != "" && g.quorum == 1 {
		dt := c.opts.TickInterval.Seconds()
		g.writeAcc += c.topo.WritesPerSecond * dt
		k := int64(g.writeAcc)
		g.writeAcc -= float64(k)
		g.lastIndex += k
		for _, m := range g.members {
			if m.caughtUp && c.up(m.node) {
				m.logIndex = g.lastIndex
			}
		}
		g.commitIndex = g.lastIndex
	}
	c.applyChange(g, now)
}

// progress advances a member's catch-up.
func (c *Cluster) progress(g *group, m *member, now time.Time, catchUp time.Duration) {
	if !c.up(m.node) {
		m.caughtUp, m.catchingUp = false, false
		return
	}
	if m.caughtUp || g.leader == "" {
		if g.leader == "" {
			m.catchingUp = false
		}
		return
	}
	if m.node == g.leader {
		m.caughtUp = true
		return
	}
	if !m.catchingUp {
		if m.logIndex > g.lastIndex {
			m.logIndex = g.lastIndex // a divergent tail is truncated
		}
		m.catchingUp, m.catchUpFrom, m.catchUpStart = true, m.logIndex, now
	}
	frac := 1.0
	if catchUp > 0 {
		frac = float64(now.Sub(m.catchUpStart)) / float64(catchUp)
	}
	if frac >= 1 {
		m.logIndex, m.caughtUp, m.catchingUp = g.lastIndex, true, false
		if g.member(m.node) == m { // learners report when they are added
			c.emit(Event{Event: EvCaughtUp, Group: g.name, Node: m.node, Index: m.logIndex})
		}
		return
	}
	m.logIndex = m.catchUpFrom + int64(float64(g.lastIndex-m.catchUpFrom)*frac)
}

func (c *Cluster) loseLeader(g *group, now time.Time, reason string) {
	old := g.leader
	g.leader = ""
	g.leaderLostAt = now
	g.noQuorumAt = time.Time{}
	c.emit(Event{Event: EvLeaderLost, Group: g.name, Node: old, Term: g.term, Reason: reason})
}

// checkQuorum fires quorum-lost/quorum-restored on transitions only. The first time a group
// reaches a quorum (cluster formation) is silent.
func (c *Cluster) checkQuorum(g *group) {
	ok := c.quorumOK(g)
	switch {
	case ok && g.quorum == -1:
		g.quorum = 1
		c.emit(Event{Event: EvQuorumRestored, Group: g.name, Term: g.term})
	case ok:
		g.quorum = 1
	case !ok && g.quorum == 1:
		g.quorum = -1
		c.emit(Event{Event: EvQuorumLost, Group: g.name, Term: g.term})
	}
}

// elect runs an election: the running PRIMARY with the most complete log stands; it wins
// when the voters whose logs are not ahead of its own satisfy the commit rule.
func (c *Cluster) elect(g *group, now time.Time) {
	var cand *member
	for _, m := range g.members {
		if m.role != RolePrimary || !c.up(m.node) {
			continue
		}
		if cand == nil || m.logIndex > cand.logIndex || (m.logIndex == cand.logIndex && c.rng.Intn(2) == 0) {
			cand = m
		}
	}
	g.leaderLostAt = now // a failed election is retried after another timeout
	if cand == nil {
		return
	}
	won := CommitRule(g.roles(), func(node string) bool {
		m := g.member(node)
		return m != nil && c.up(node) && m.logIndex <= cand.logIndex
	}, c.minActiveBackups(cand.node))
	if !won {
		return
	}
	c.becomeLeader(g, cand, "elected")
}

func (c *Cluster) becomeLeader(g *group, cand *member, reason string) {
	g.term++
	g.leader = cand.node
	g.noQuorumAt = time.Time{}
	g.votedFor = map[string]string{}
	for _, m := range g.members {
		if c.up(m.node) && m.logIndex <= cand.logIndex && isVoter(m.role) {
			g.votedFor[m.node] = cand.node
		}
	}
	g.lastIndex = cand.logIndex
	if g.commitIndex > g.lastIndex {
		g.commitIndex = g.lastIndex
	}
	c.emit(Event{Event: EvLeaderElected, Group: g.name, Node: cand.node, Term: g.term, Index: g.lastIndex, Reason: reason})
	for _, m := range g.members {
		was := m.caughtUp
		m.catchingUp = false
		m.caughtUp = c.up(m.node) && m.logIndex == g.lastIndex
		if m.caughtUp && !was && m.node != cand.node {
			// a returning follower whose log already matches the new leader's
			c.emit(Event{Event: EvCaughtUp, Group: g.name, Node: m.node, Index: m.logIndex})
		}
	}
}

// applyChange moves the group's pending membership change forward; a change needs a leader
// with a quorum (it is a log entry). Caller holds c.mu.
func (c *Cluster) applyChange(g *group, now time.Time) {
	ch := g.pending
	if ch == nil || g.leader == "" || g.quorum != 1 {
		return
	}
	if ch.add {
		l := ch.learner
		if l == nil || !l.caughtUp {
			return // still copying the log (or the node is not up)
		}
		g.members = append(g.members, l)
		sortMembers(g.members)
		c.finishChange(g)
		c.ensureGroupFiles(c.nodes[ch.node], g)
		c.emit(Event{Event: EvMemberAdded, Group: g.name, Node: ch.node, Role: ch.role, Index: l.logIndex})
		c.emit(Event{Event: EvCaughtUp, Group: g.name, Node: ch.node, Index: l.logIndex})
		c.checkQuorum(g)
		return
	}
	// Removal: the leader hands its leadership to another caught-up PRIMARY first.
	if ch.node == g.leader {
		var to *member
		for _, m := range g.members {
			if m.node != g.leader && m.role == RolePrimary && m.caughtUp && c.up(m.node) {
				if to == nil || m.logIndex > to.logIndex {
					to = m
				}
			}
		}
		if to == nil {
			return // nobody to take over yet
		}
		c.loseLeader(g, now, "leadership transfer: leader is being removed")
		c.becomeLeader(g, to, "leadership transfer")
		return // the removal itself is the next entry
	}
	var kept []*member
	for _, m := range g.members {
		if m.node != ch.node {
			kept = append(kept, m)
		}
	}
	g.members = kept
	c.finishChange(g)
	c.emit(Event{Event: EvMemberRemoved, Group: g.name, Node: ch.node})
	if ch.taskID != "" {
		// DeleteNodeFromContextTask done: the removed node drops the group's data.
		c.newTask(taskDeleteContextNode, g.name, ch.node, now)
	}
	c.checkQuorum(g)
}

func (c *Cluster) finishChange(g *group) {
	if g.pending != nil && g.pending.taskID != "" {
		c.removeTask(g.pending.taskID)
	}
	g.pending = nil
	g.pendingSince = time.Time{}
}

func sortMembers(ms []*member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].node < ms[j-1].node; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
