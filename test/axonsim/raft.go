package axonsim

import (
	"encoding/binary"
	"hash/fnv"
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
	firstIndex   int64 // the leader's first log index after compaction
	writeAcc     float64
	lastWrite    time.Time
	leaderLostAt time.Time            // start of the current leaderless period
	deadline     map[string]time.Time // leaderless: when each PRIMARY's election timer fires
	electedAt    time.Time
	peers        map[string]*peer // on the leader: what it knows of each follower (ReplicatorPeer)
	quorum       int              // 0 not formed yet, 1 ok, -1 lost

	pending      *change // one membership change at a time
	pendingSince time.Time
}

// peer is the leader's view of one follower: when it last heard from it, and the index it
// has sent up to (nextIndex - 1). A new leader starts every peer as just heard from, sent up
// to its own last index: for up to the max election timeout every follower looks UP.
type peer struct {
	lastHeard time.Time
	sent      int64
}

// member is one node's membership of a group.
type member struct {
	node     string
	role     string
	logIndex int64
	caughtUp bool

	catchingUp   bool
	snapshot     bool  // receiving an InstallSnapshot of the whole log
	snapTarget   int64 // the index the snapshot brings it to
	acc          float64
	catchUpFrom  int64
	catchUpStart time.Time
	lastProgress time.Time
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

// up: the node runs, has initialised its stores and belongs to the cluster in its own view,
// so it takes part in Raft unless a partition cuts it off (inRaft).
func (c *Cluster) up(node string) bool {
	n := c.nodes[node]
	return n != nil && n.state == Running && n.knowsCluster && !n.initializing
}

// initDone ends the store initialisation window of nodes whose time has come.
func (c *Cluster) initDone(now time.Time) {
	for _, name := range c.names {
		n := c.nodes[name]
		if n.state == Running && n.initializing && !now.Before(n.initUntil) {
			n.initializing = false
			c.emit(Event{Event: EvNodeInitialized, Node: n.name})
		}
	}
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
		return m != nil && m.caughtUp && c.inRaft(g, node)
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
	c.initDone(now)
	for _, name := range c.gnames {
		c.evaluateGroup(c.groups[name], now)
	}
}

// drawTimeout is a random election timeout in [min, max] from the seeded source.
func (c *Cluster) drawTimeout() time.Duration {
	lo, hi := c.tm.minElection, c.tm.maxElection
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(c.rng.Int63n(int64(hi-lo)+1))
}

func (c *Cluster) evaluateGroup(g *group, now time.Time) {
	// A leader that no longer runs, or that a partition cut off from the group, is gone at
	// once (its followers stop hearing from it; each one's election timer runs from here).
	if g.leader != "" && !c.inRaft(g, g.leader) {
		reason := "leader stopped"
		if c.up(g.leader) {
			reason = "leader partitioned: its followers stop hearing from it"
		}
		c.loseLeader(g, now, reason)
	}
	for _, m := range g.members {
		c.progress(g, m, now)
	}
	if g.pending != nil && g.pending.learner != nil {
		c.progress(g, g.pending.learner, now)
	}
	c.updatePeers(g, now)
	c.checkQuorum(g)

	// LeaderTimeoutChecker: the leader steps down only when no voting majority (the commit
	// rule applied to the voters it heard from) answered within the max election timeout.
	// Voters that answer but lag keep it leader; its commits stall meanwhile.
	if g.leader != "" && !c.heardFromMajority(g, now) {
		c.loseLeader(g, now, "no quorum: leader stepped down")
	}
	if g.leader == "" {
		c.elect(g, now)
	}
	c.checkQuorum(g)

	// Steady write load: the leader appends and commits while it has a quorum. A group
	// without an event store (_admin with only the _admin context) carries no events:
	// its entries are configuration changes (recordAdminChange).
	if g.lastWrite.IsZero() || g.leader == "" || g.quorum != 1 || len(eventContexts(g)) == 0 {
		g.lastWrite = now
	}
	if g.leader != "" && g.quorum == 1 {
		g.writeAcc += c.topo.WritesPerSecond * now.Sub(g.lastWrite).Seconds()
		g.lastWrite = now
		k := int64(g.writeAcc)
		g.writeAcc -= float64(k)
		g.lastIndex += k
		for _, m := range g.members {
			if m.caughtUp && c.inRaft(g, m.node) {
				m.logIndex = g.lastIndex
			}
		}
		g.commitIndex = g.lastIndex
	}
	// Log compaction: entries older than the retention period are gone from the leader's log.
	keep := int64(c.topo.WritesPerSecond * c.tm.retention.Seconds())
	g.firstIndex = max(1, g.lastIndex-keep)
	c.applyChange(g, now)
}

// updatePeers refreshes the leader's view of its followers: a running follower answers
// within a heartbeat of the election (before that the leader's optimistic start stands);
// a follower that does not run, or that a partition cuts off, is not heard from.
func (c *Cluster) updatePeers(g *group, now time.Time) {
	if g.leader == "" {
		return
	}
	if g.peers == nil {
		g.peers = map[string]*peer{}
	}
	for _, m := range g.members {
		if m.node == g.leader {
			continue
		}
		p := g.peers[m.node]
		if p == nil {
			p = &peer{lastHeard: now, sent: g.lastIndex}
			g.peers[m.node] = p
		}
		if !c.inRaft(g, m.node) || now.Sub(g.electedAt) < c.tm.heartbeat {
			continue
		}
		p.lastHeard = now
		if m.caughtUp {
			p.sent = g.lastIndex
		} else {
			p.sent = min(g.lastIndex, m.logIndex+flowBuffer) // flow control: 1000 entries in flight
		}
	}
}

// flowBuffer is RaftProperties.flowBuffer: unconfirmed entries in flight to one peer.
const flowBuffer = 1000

// followerStatus is LeaderState.health for one follower: NO_ACK_RECEIVED when not heard from
// within the max election timeout, BEHIND when more than 100 entries behind what was sent.
func (c *Cluster) followerStatus(g *group, node string, now time.Time) string {
	p := g.peers[node]
	if p == nil {
		return "UP"
	}
	switch {
	case now.Sub(p.lastHeard) > c.tm.maxElection:
		return "NO_ACK_RECEIVED"
	case g.lastIndex-p.sent > 100:
		return "BEHIND"
	}
	return "UP"
}

func (c *Cluster) heardFromMajority(g *group, now time.Time) bool {
	return CommitRule(g.roles(), func(node string) bool {
		if node == g.leader {
			return true
		}
		p := g.peers[node]
		return p != nil && now.Sub(p.lastHeard) <= c.tm.maxElection
	}, c.minActiveBackups(g.leader))
}

// progress advances a member's catch-up: entries in batches of up to 1000 at
// catchUpEntriesPerSecond; a member whose next entry was compacted away, or a new member with
// an empty log, first receives a snapshot of the whole log at snapshotEntriesPerSecond.
func (c *Cluster) progress(g *group, m *member, now time.Time) {
	dt := 0.0
	if !m.lastProgress.IsZero() {
		dt = now.Sub(m.lastProgress).Seconds()
	}
	m.lastProgress = now
	if !c.inRaft(g, m.node) {
		m.caughtUp, m.catchingUp, m.snapshot = false, false, false
		return
	}
	if g.leader == "" {
		m.catchingUp, m.snapshot = false, false
		return
	}
	if m.node == g.leader {
		m.caughtUp = true
		return
	}
	if m.caughtUp {
		return
	}
	if !m.catchingUp {
		if m.logIndex > g.lastIndex {
			m.logIndex = g.lastIndex // a divergent tail is truncated
		}
		m.catchingUp, m.catchUpStart, m.catchUpFrom, m.acc = true, now, m.logIndex, 0
		m.snapshot = m.logIndex+1 < g.firstIndex || (m.logIndex == 0 && g.lastIndex > 0)
		m.snapTarget = g.lastIndex
		return
	}
	if m.snapshot {
		m.acc += c.tm.snapshotRate * dt
		if m.acc < float64(m.snapTarget) {
			return
		}
		m.logIndex, m.snapshot, m.acc = m.snapTarget, false, 0
	} else {
		m.acc += c.tm.catchUpRate * dt
		for m.logIndex < g.lastIndex {
			batch := min(int64(1000), g.lastIndex-m.logIndex)
			if m.acc < float64(batch) {
				break
			}
			m.acc -= float64(batch)
			m.logIndex += batch
		}
		if m.logIndex >= g.lastIndex {
			m.acc = 0
		}
	}
	// catchUpSeconds is a floor: the log cannot reach the leader's sooner (it is visibly
	// behind meanwhile, so raft status and the commit rule agree).
	if floor := c.tm.catchUpFloor; floor > 0 && m.catchUpFrom < g.lastIndex {
		if frac := float64(now.Sub(m.catchUpStart)) / float64(floor); frac < 1 {
			m.logIndex = min(m.logIndex, m.catchUpFrom+int64(float64(g.lastIndex-m.catchUpFrom)*frac))
			if m.logIndex >= g.lastIndex {
				m.logIndex = g.lastIndex - 1
			}
		}
	}
	if m.logIndex >= g.lastIndex && (now.Sub(m.catchUpStart) >= c.tm.catchUpFloor || m.catchUpFrom >= g.lastIndex) {
		m.logIndex, m.caughtUp, m.catchingUp = g.lastIndex, true, false
		if g.member(m.node) == m { // learners report when they are added
			c.emit(Event{Event: EvCaughtUp, Group: g.name, Node: m.node, Index: m.logIndex})
		}
	}
}

func (c *Cluster) loseLeader(g *group, now time.Time, reason string) {
	old := g.leader
	g.leader = ""
	g.leaderLostAt = now
	g.deadline = nil
	g.peers = nil
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

// elect runs the leaderless group's election timers: every running PRIMARY waits a random
// timeout in [min, max]; when one fires, the node pre-votes: it stands (and the term moves)
// only if the voters whose logs are not ahead of its own satisfy the commit rule, and then
// wins. A node that cannot win draws a new timeout and disturbs nobody.
func (c *Cluster) elect(g *group, now time.Time) {
	if g.deadline == nil {
		g.deadline = map[string]time.Time{}
	}
	var cand *member
	for _, m := range g.members {
		if m.role != RolePrimary || !c.inRaft(g, m.node) {
			delete(g.deadline, m.node)
			continue
		}
		d, ok := g.deadline[m.node]
		if !ok {
			start := g.leaderLostAt
			if n := c.nodes[m.node]; n.readyAt.After(start) {
				start = n.readyAt
			}
			d = start.Add(c.drawTimeout())
			g.deadline[m.node] = d
		}
		if now.Before(d) {
			continue
		}
		if cand == nil || d.Before(g.deadline[cand.node]) {
			cand = m
		}
	}
	if cand == nil {
		return
	}
	won := CommitRule(g.roles(), func(node string) bool {
		m := g.member(node)
		return m != nil && c.inRaft(g, node) && m.logIndex <= cand.logIndex
	}, c.minActiveBackups(cand.node))
	if !won {
		g.deadline[cand.node] = now.Add(c.drawTimeout()) // pre-vote failed
		return
	}
	c.becomeLeader(g, cand, "elected")
}

func (c *Cluster) becomeLeader(g *group, cand *member, reason string) {
	now := time.Now()
	g.term++
	g.leader = cand.node
	g.deadline = nil
	g.electedAt = now
	g.votedFor = map[string]string{}
	for _, m := range g.members {
		if c.inRaft(g, m.node) && m.logIndex <= cand.logIndex && isVoter(m.role) {
			g.votedFor[m.node] = cand.node
		}
	}
	g.lastIndex = cand.logIndex
	if g.commitIndex > g.lastIndex {
		g.commitIndex = g.lastIndex
	}
	// ReplicatorPeer starts each peer as just heard from, nextIndex = the leader's last + 1.
	g.peers = map[string]*peer{}
	for _, m := range g.members {
		if m.node != cand.node {
			g.peers[m.node] = &peer{lastHeard: now, sent: g.lastIndex}
		}
	}
	c.emit(Event{Event: EvLeaderElected, Group: g.name, Node: cand.node, Term: g.term, Index: g.lastIndex, Reason: reason})
	for _, m := range g.members {
		was := m.caughtUp
		m.catchingUp, m.snapshot = false, false
		m.caughtUp = c.inRaft(g, m.node) && m.logIndex == g.lastIndex
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
		c.emit(Event{Event: EvMemberAdded, Group: g.name, Node: ch.node, Role: ch.role, Index: l.logIndex})
		c.emit(Event{Event: EvCaughtUp, Group: g.name, Node: ch.node, Index: l.logIndex})
		c.checkQuorum(g)
		return
	}
	// Removal: the leader hands its leadership to another caught-up PRIMARY first.
	if ch.node == g.leader {
		var to *member
		for _, m := range g.members {
			if m.node != g.leader && m.role == RolePrimary && m.caughtUp && c.inRaft(g, m.node) {
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

// adminGroup is the replication group of the admin nodes, whose log holds the cluster's
// configuration, and the name of the context it holds.
const adminGroup = "_admin"

// recordAdminChange appends an entry to _admin's log when the admin tables changed since
// the last one. In Axon Server EE every change of the configuration (a context, a group,
// a member, a role, a change pending or done) is an entry of _admin's log
// (LocalRaftConfigService.appendToAdmin), which each admin node applies to its tables:
// those tables are what /v1/public/replicationgroups shows, the leaders apart (held in
// memory, RaftLeaderProvider). So an admin node's lastAppliedIndex for _admin moves
// whenever that view, less its leaders, changes. The simulation's view is the cluster's
// own state, so the entry is committed at once, quorum or not: any reader sees the
// index move with the change. Called on every tick and before every read of the
// Raft status or the views. Caller holds c.mu.
func (c *Cluster) recordAdminChange() {
	g := c.groups[adminGroup]
	if g == nil {
		return
	}
	d := c.adminTables()
	if d == c.adminDigest {
		return
	}
	c.adminDigest = d
	g.lastIndex++
	g.commitIndex = g.lastIndex
	for _, m := range g.members {
		if m.caughtUp && c.inRaft(g, m.node) {
			m.logIndex = g.lastIndex
		}
	}
}

// initAdminLog gives _admin the log of the configuration the topology describes: an
// entry for each group and each context, on every member (the cluster was set up before
// the simulation starts). An _admin group that also holds contexts with events (a
// topology may put "default" there) starts empty, like every group with events: its
// stores are derived from its log. Caller: NewCluster.
func (c *Cluster) initAdminLog() {
	g := c.groups[adminGroup]
	if g == nil {
		return
	}
	c.adminDigest = c.adminTables()
	if len(eventContexts(g)) > 0 {
		return
	}
	n := int64(len(c.gnames))
	for _, name := range c.gnames {
		n += int64(len(c.groups[name].contexts))
	}
	g.lastIndex, g.commitIndex, c.adminSetUp = n, n, n
	for _, m := range g.members {
		m.logIndex = n
	}
}

// adminTables is a digest of the admin tables: every group's members and their roles,
// its pending change and its contexts. Caller holds c.mu.
func (c *Cluster) adminTables() uint64 {
	h := fnv.New64a()
	var b [8]byte
	word := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	for _, name := range c.gnames {
		g := c.groups[name]
		word(g.name)
		for _, m := range g.members {
			word(m.node)
			word(m.role)
		}
		var since int64 // 0: no change pending
		if g.pending != nil {
			since = g.pendingSince.UnixNano()
		}
		binary.LittleEndian.PutUint64(b[:], uint64(since))
		h.Write(b[:])
		for _, ctx := range g.contexts {
			word(ctx)
		}
		word("")
	}
	return h.Sum64()
}
