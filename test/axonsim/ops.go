package axonsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Error codes (io.axoniq.axonserver.exception.ErrorCode) the simulator answers with.
var (
	ErrInvalidToken     = ErrorCode{"AXONIQ-1001", http.StatusForbidden}
	ErrNoSuchNode       = ErrorCode{"AXONIQ-1301", http.StatusNotFound}
	ErrContextNotFound  = ErrorCode{"AXONIQ-1302", http.StatusNotFound}
	ErrNoLeader         = ErrorCode{"AXONIQ-2100", http.StatusNotFound}
	ErrUpdateInProgress = ErrorCode{"AXONIQ-2102", http.StatusBadRequest} // CONTEXT_UPDATE_IN_PROGRESS, up to 4.4
	// ErrGroupUpdateInProgress is REPLICATION_GROUP_UPDATE_IN_PROGRESS (4.5 on).
	ErrGroupUpdateInProgress = ErrorCode{"AXONIQ-2107", http.StatusBadRequest}
	// ErrGroupNotFound is REPLICATION_GROUP_NOT_FOUND (4.5 on; 4.4 answers CONTEXT_NOT_FOUND).
	ErrGroupNotFound   = ErrorCode{"AXONIQ-2108", http.StatusNotFound}
	ErrInternalContext = ErrorCode{"AXONIQ-2304", http.StatusForbidden}
	ErrAlreadyMember   = ErrorCode{"AXONIQ-2306", http.StatusNotAcceptable}
	ErrLastNode        = ErrorCode{"AXONIQ-2310", http.StatusNotAcceptable}
	ErrCannotJoin      = ErrorCode{"AXONIQ-2502", http.StatusBadRequest}
	ErrUnknownRole     = ErrorCode{"AXONIQ-2510", http.StatusBadRequest}
	ErrOther           = ErrorCode{"AXONIQ-0001", http.StatusInternalServerError}
)

// updateInProgress is the code of "another change of this group is pending" for a node version.
func updateInProgress(version string) ErrorCode {
	if versionAtLeast(version, 4, 5) {
		return ErrGroupUpdateInProgress
	}
	return ErrUpdateInProgress
}

// groupNotFound is the code of "no such replication group" for a node version.
func groupNotFound(version string) ErrorCode {
	if versionAtLeast(version, 4, 5) {
		return ErrGroupNotFound
	}
	return ErrContextNotFound
}

// ErrorCode is an Axon Server error code with its HTTP status.
type ErrorCode struct {
	Code   string
	Status int
}

// PlatformError is a MessagingPlatformException: its message reads "[code] text".
type PlatformError struct {
	ErrorCode
	Text string
}

func (e *PlatformError) Error() string { return "[" + e.Code + "] " + e.Text }

func perr(code ErrorCode, format string, args ...any) *PlatformError {
	return &PlatformError{code, fmt.Sprintf(format, args...)}
}

// Scheduled tasks (/v1/tasks) as EE runs them: io.axoniq.axonserver.taskscheduler.Task rows in
// the _admin group, executed by the _admin leader (ClusterTaskManager). A transient failure
// reschedules the task with a doubled retry interval (from 10 ms, at most 1 min); any other
// failure leaves it listed with status FAILED and the exception as message (BaseTaskManager).
const (
	taskPackage            = "io.axoniq.axonserver.enterprise.taskscheduler.task."
	taskPrepareDeleteNode  = "PrepareDeleteNodeFromContextTask"
	taskDeleteNode         = "DeleteNodeFromContextTask"
	taskDeleteContextNode  = "DeleteContextFromNodeTask"
	taskUnregister         = "UnregisterNodeTask"
	payloadNodeContext     = taskPackage + "NodeContext"
	payloadString          = "java.lang.String"
	taskFirstRetry         = 10 * time.Millisecond // TaskPublisher.publishScheduledTask
	taskMaxRetry           = time.Minute           // BaseTaskManager.MAX_RETRY_INTERVAL
	deleteNodeTaskDelay    = time.Second           // PrepareDeleteNodeFromContextTask -> DeleteNodeFromContextTask
	unregisterNodeTaskWait = time.Second           // deleteNode -> UnregisterNodeTask
)

// task is an entry of /v1/tasks.
type task struct {
	ID          string
	Executor    string // short class name; JSON carries taskPackage + Executor
	PayloadType string
	Payload     []byte // JSON (JacksonTaskPayloadSerializer)
	At          time.Time
	Status      string // SCHEDULED, FAILED
	Retry       time.Duration
	Message     string
	Context     string
	group, node string
}

func (c *Cluster) newTask(executor, group, node string, at time.Time) *task {
	c.taskSeq++
	t := &task{ID: fmt.Sprintf("%08x-0000-4000-8000-%012d", c.rng.Uint32(), c.taskSeq), Executor: executor,
		At: at, Status: "SCHEDULED", Retry: taskFirstRetry, Context: adminGroup, group: group, node: node}
	if executor == taskUnregister {
		t.PayloadType = payloadString
		t.Payload, _ = json.Marshal(node)
	} else {
		t.PayloadType = payloadNodeContext
		t.Payload, _ = json.Marshal(struct {
			Node               string `json:"node"`
			Context            string `json:"context"`
			PreserveEventStore bool   `json:"preserveEventStore"`
		}{node, group, false})
	}
	c.tasks = append(c.tasks, t)
	if executor == taskPrepareDeleteNode {
		c.emit(Event{Event: EvRemovalScheduled, Group: group, Node: node})
	}
	return t
}

func (c *Cluster) removeTask(id string) {
	for i, t := range c.tasks {
		if t.ID == id {
			c.tasks = append(c.tasks[:i], c.tasks[i+1:]...)
			return
		}
	}
}

func (c *Cluster) findTask(id string) *task {
	for _, t := range c.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// retryTask: a transient failure; the task runs again after its retry interval, which doubles.
func (c *Cluster) retryTask(t *task, now time.Time, msg string) {
	t.At = now.Add(min(t.Retry, taskMaxRetry))
	t.Retry = min(2*t.Retry, taskMaxRetry)
	t.Message = msg
}

// failTask: a non-transient failure; the task stays listed as FAILED, and the audit log says so.
func (c *Cluster) failTask(t *task, err error) {
	t.Status = "FAILED"
	t.Message = "io.axoniq.axonserver.exception.MessagingPlatformException: " + err.Error()
	c.emit(Event{Event: EvTaskFailed, Group: t.group, Node: t.node, Reason: t.Executor + ": " + err.Error()})
}

// adminLeaderName is the _admin group's leader ("" for none), which runs the tasks.
func (c *Cluster) adminLeaderName() string {
	if g := c.groups[adminGroup]; g != nil {
		return g.leader
	}
	return ""
}

// adminVersion is the version of the _admin leader (whose code runs the tasks).
func (c *Cluster) adminVersion() string {
	if g := c.groups[adminGroup]; g != nil && g.leader != "" {
		return c.nodes[g.leader].version
	}
	return ""
}

// AddMember starts adding node to group with role (POST /v1/replicationgroups/{group}/{node}),
// with the error codes of the newest version.
func (c *Cluster) AddMember(groupName, node, role string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addMember(groupName, node, role, "")
}

// addMember follows LocalRaftConfigService.addNodeToReplicationGroup: pending change, group,
// node; a node that is already a member (whatever the role asked) changes nothing and
// succeeds ("already contains node"). version picks the error codes.
func (c *Cluster) addMember(groupName, node, role, version string) error {
	if role == "" {
		role = RolePrimary
	}
	if !c.roleAccepted(role, version) {
		return perr(ErrUnknownRole, "%s: unknown role", role)
	}
	g := c.groups[groupName]
	if g == nil {
		return perr(groupNotFound(version), "Replication group %s not found", groupName)
	}
	if g.changePending() {
		return perr(updateInProgress(version), "%s: pending update", groupName)
	}
	n := c.nodes[node]
	if n == nil || !n.registered {
		return perr(ErrNoSuchNode, "Node %s not found", node)
	}
	if g.member(node) != nil {
		c.logf("%s already contains node: %s", groupName, node)
		return nil
	}
	ch := &change{add: true, node: node, role: role}
	ch.learner = &member{node: node, role: role, logIndex: c.storedIndex(n, groupName)}
	g.pending, g.pendingSince = ch, time.Now()
	return nil
}

// RemoveMember starts removing node from group (DELETE /v1/replicationgroups/{group}/{node}).
// Like the REST call it only schedules the removal: an unknown group, an unknown member or
// the last member make the task fail later (audit event task-failed), not this call. It
// returns an error only when the task cannot be published (no _admin leader).
func (c *Cluster) RemoveMember(groupName, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeMember(groupName, node)
}

func (c *Cluster) removeMember(groupName, node string) error {
	if g := c.groups[adminGroup]; g != nil && (g.leader == "" || g.quorum != 1) {
		// TaskPublisher.publishScheduledTask fails; the controller does not wait for it.
		c.emit(Event{Event: EvTaskFailed, Group: groupName, Node: node,
			Reason: taskPrepareDeleteNode + ": not published: no leader for _admin"})
		return perr(ErrNoLeader, "No leader for _admin")
	}
	c.newTask(taskPrepareDeleteNode, groupName, node, time.Now())
	return nil
}

// Unregister removes node from every replication group, then from the cluster
// (DELETE /v1/cluster/{name}, LocalRaftConfigService.deleteNode): a
// PrepareDeleteNodeFromContextTask per group, and an UnregisterNodeTask a second later that
// retries until the node is in no group with other members. Unknown nodes are a no-op.
func (c *Cluster) Unregister(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil || !n.registered {
		return
	}
	for _, t := range c.tasks {
		if t.Executor == taskUnregister && t.node == node && t.Status == "SCHEDULED" {
			return
		}
	}
	now := time.Now()
	for _, gname := range c.gnames {
		if c.groups[gname].member(node) != nil {
			c.newTask(taskPrepareDeleteNode, gname, node, now)
		}
	}
	c.newTask(taskUnregister, "", node, now.Add(unregisterNodeTaskWait))
}

// processTasks runs the tasks that are due, on the _admin leader.
func (c *Cluster) processTasks(now time.Time) {
	if g := c.groups[adminGroup]; g != nil && (g.leader == "" || g.quorum != 1) {
		return
	}
	version := c.adminVersion()
	for _, t := range append([]*task(nil), c.tasks...) {
		if t.Status != "SCHEDULED" || now.Before(t.At) || c.findTask(t.ID) == nil {
			continue
		}
		switch t.Executor {
		case taskPrepareDeleteNode:
			c.removeTask(t.ID)
			c.newTask(taskDeleteNode, t.group, t.node, now.Add(deleteNodeTaskDelay))
		case taskDeleteNode:
			c.runDeleteNode(t, now, version)
		case taskDeleteContextNode:
			if !c.up(t.node) || c.cutOff(c.adminLeaderName(), t.node) {
				c.retryTask(t, now, "io.axoniq.axonserver.taskscheduler.TransientException: "+t.node+": UNAVAILABLE")
				continue
			}
			c.removeTask(t.ID)
			c.forgetGroup(c.nodes[t.node], t.group)
		case taskUnregister:
			n := c.nodes[t.node]
			busy := false
			for _, g := range c.groups {
				if g.member(t.node) != nil && len(g.members) > 1 {
					busy = true
				}
			}
			if busy {
				c.retryTask(t, now, "io.axoniq.axonserver.taskscheduler.TransientException: Node still member of contexts.")
				continue
			}
			c.removeTask(t.ID)
			if n != nil && n.registered {
				n.registered = false
				n.knowsCluster = false
				c.emit(Event{Event: EvNodeUnregistered, Node: t.node})
			}
		}
	}
}

// runDeleteNode is DeleteNodeFromContextTask: LocalRaftConfigService.deleteNodeFromReplicationGroup.
func (c *Cluster) runDeleteNode(t *task, now time.Time, version string) {
	g := c.groups[t.group]
	switch {
	case g == nil:
		c.failTask(t, perr(groupNotFound(version), "Replication group %s not found", t.group))
		return
	case g.member(t.node) == nil:
		c.failTask(t, perr(ErrNoSuchNode, "Node %s not found in replicationGroup %s", t.node, t.group))
		return
	case len(g.members) == 1:
		c.failTask(t, perr(ErrLastNode, "Node %s is last node in replication group %s, to delete the replication group use unregister context", t.node, t.group))
		return
	case g.pending != nil && g.pending.taskID == t.ID:
		return // under way: the leader hands over leadership, then commits the removal
	case g.pending != nil:
		c.retryTask(t, now, "io.axoniq.axonserver.exception.MessagingPlatformException: "+
			perr(updateInProgress(version), "%s: pending update", t.group).Error())
		return
	}
	g.pending, g.pendingSince = &change{node: t.node, taskID: t.ID}, now
}

// forgetGroup is DeleteContextFromNodeTask on the removed node: it drops the group's log.
func (c *Cluster) forgetGroup(n *Node, group string) {
	if n == nil || n.dataDir == "" {
		return
	}
	s, _ := c.readNodeState(n)
	if s == nil || s.LogIndex == nil {
		return
	}
	if _, ok := s.LogIndex[group]; !ok {
		return
	}
	delete(s.LogIndex, group)
	b, _ := json.MarshalIndent(s, "", "  ")
	_ = os.WriteFile(filepath.Join(n.dataDir, stateFile), b, 0o644)
}

// joinRequest is a pending POST /v1/cluster.
type joinRequest struct {
	Context    string
	NoContexts bool
}

// processJoins lets nodes that know no cluster join: autocluster (to autocluster.first) or
// an accepted POST /v1/cluster.
func (c *Cluster) processJoins(now time.Time) {
	for _, name := range c.names {
		n := c.nodes[name]
		if n.state != Running || n.knowsCluster || n.ownGroups != nil {
			continue
		}
		var req *joinRequest
		var auto *Autocluster
		target := n.joinTarget
		if target != "" {
			req = n.joinContext
		} else if a := c.autoclusterOf(n); a != nil && n.autoRegister && c.nodeByHost(a.First) != name {
			target, auto = c.nodeByHost(a.First), a
			req = &joinRequest{}
		}
		if target == "" || !c.up(target) || c.cutOff(name, target) {
			continue
		}
		n.knowsCluster, n.registered, n.joinTarget, n.joinContext, n.autoRegister = true, true, "", nil, false
		c.emit(Event{Event: EvNodeJoined, Node: name, Reason: "registered with " + target})
		_ = c.writeNodeState(n)
		c.flushStoreLocked(n) // still a member of its groups: their stores open (empty) at once
		var want []string     // groups to join as PRIMARY
		switch {
		case auto != nil:
			for _, ctx := range auto.Contexts {
				want = append(want, c.ctxGroup[ctx])
			}
		case req.Context != "":
			want = append(want, c.ctxGroup[req.Context])
		case !req.NoContexts:
			want = append(want, c.gnames...)
		}
		for _, gname := range want {
			if g := c.groups[gname]; g != nil && g.member(name) == nil && !g.changePending() {
				_ = c.addMember(gname, name, RolePrimary, c.nodes[target].version)
			}
		}
	}
}

// nodeByHost finds the node a host name (or node name) stands for; "" if none.
func (c *Cluster) nodeByHost(host string) string {
	for _, name := range c.names {
		o := c.nodes[name]
		if o.host == host || o.name == host || strings.HasPrefix(host, o.name+".") {
			return name
		}
	}
	return ""
}

// Join handles POST /v1/cluster on node: register with the node at host.
func (c *Cluster) join(n *Node, host string, req joinRequest) error {
	if (n.knowsCluster && c.clusterSize() > 1) || n.ownGroups != nil {
		return &PlatformError{ErrorCode{"", http.StatusConflict}, "Node already registered in a cluster"}
	}
	target := ""
	for _, name := range c.names {
		o := c.nodes[name]
		if o != n && (o.host == host || o.name == host || strings.HasPrefix(host, o.name+".")) {
			target = name
		}
	}
	if target == "" {
		return perr(ErrUnknownHost, "%s: unknown host", host)
	}
	if req.Context != "" && c.ctxGroup[req.Context] == "" {
		return perr(ErrContextNotFound, "%s: context not found", req.Context)
	}
	n.knowsCluster = false
	n.joinTarget, n.joinContext = target, &req
	return nil
}

// ErrUnknownHost is UNKNOWN_HOST.
var ErrUnknownHost = ErrorCode{"AXONIQ-2501", http.StatusBadRequest}

func (c *Cluster) clusterSize() int {
	k := 0
	for _, n := range c.nodes {
		if n.registered {
			k++
		}
	}
	return k
}

// ---- node data directory ----

const (
	runningMarker = ".axonsim-running" // present while the process runs: left behind by a kill
	stateFile     = "axonsim-node.json"
)

type nodeState struct {
	Node       string           `json:"node"`
	Cluster    string           `json:"cluster"`
	LogIndex   map[string]int64 `json:"logIndex"`
	OwnCluster []string         `json:"ownCluster,omitempty"` // contexts of a cluster this node initialised
}

func (c *Cluster) readNodeState(n *Node) (*nodeState, error) {
	b, err := os.ReadFile(filepath.Join(n.dataDir, stateFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var s nodeState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	return &s, nil
}

func (c *Cluster) storedIndex(n *Node, group string) int64 {
	if n.dataDir == "" || !n.knowsCluster {
		return 0
	}
	s, _ := c.readNodeState(n)
	if s == nil {
		return 0
	}
	return s.LogIndex[group]
}

func (c *Cluster) writeNodeState(n *Node) error {
	s := nodeState{Node: n.name, Cluster: c.clusterOf(n.name), LogIndex: map[string]int64{}}
	for _, g := range n.ownGroups {
		s.OwnCluster = append(s.OwnCluster, g.contexts...)
	}
	for _, gname := range c.gnames {
		g := c.groups[gname]
		if m := g.member(n.name); m != nil {
			s.LogIndex[gname] = m.logIndex
		} else if g.pending != nil && g.pending.learner != nil && g.pending.learner.node == n.name {
			s.LogIndex[gname] = g.pending.learner.logIndex
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(n.dataDir, stateFile), b, 0o644); err != nil {
		return err
	}
	return c.writeControlDB(n)
}

func (c *Cluster) persistNodeData(n *Node) {
	if n.knowsCluster || n.ownGroups != nil {
		if err := c.writeNodeState(n); err != nil {
			c.logf("node %s: %v", n.name, err)
		}
	}
}

// loadNodeData runs when a node becomes ready: resume from its data directory, or form the
// cluster (first start, empty directory), or come up knowing no cluster (lost volume).
func (c *Cluster) loadNodeData(n *Node) error {
	s, err := c.readNodeState(n)
	if err != nil {
		return err
	}
	// recovery.json (AxonIQ's "Recovery"): read at every start; a malformed file stops it.
	recovery, err := readRecovery(n.layout.host(n.layout.recovery))
	if err != nil {
		return err
	}
	var restored *ControlDB
	if s == nil {
		if restored, err = readControlDB(n.layout.host(n.layout.controlDB)); err != nil {
			return err
		}
		if restored != nil && len(restored.Nodes) == 0 {
			restored = nil // the control DB of a node that knows no cluster (a lost volume)
		}
	}
	if restored != nil && recovery != nil {
		what := applyRecovery(restored, recovery)
		c.nodeLog(n, "INFO", "i.a.a.e.cluster.RecoveryService", "Recovery mode: updated "+what)
		c.emit(Event{Event: EvRecoveryApplied, Node: n.name, Reason: "recovery.json: " + what})
	}
	switch {
	case restored != nil:
		// Restored files (a control DB unzipped from a backup, the event store and the
		// replication log copied in): the node loads them and goes on from there.
		if err := c.loadRestored(n, restored); err != nil {
			return err
		}
	case s != nil:
		n.knowsCluster = n.registered && len(s.OwnCluster) == 0
		for _, gname := range c.gnames {
			g := c.groups[gname]
			if m := g.member(n.name); m != nil {
				m.logIndex = s.LogIndex[gname]
			}
			if g.pending != nil && g.pending.learner != nil && g.pending.learner.node == n.name {
				g.pending.learner.logIndex = s.LogIndex[gname]
			}
		}
	case !n.everStarted && !n.spec.Spare:
		n.knowsCluster = true // initial cluster formation: the topology's memberships apply
		for _, g := range c.groups {
			if m := g.member(n.name); m != nil {
				m.logIndex = 0
				if g.name == adminGroup {
					m.logIndex = c.adminSetUp // the configuration the cluster was set up with
				}
			}
		}
	default:
		// Lost volume (or a spare node's first start: a new node added to a running
		// cluster): an empty controldb and no Raft logs. The node knows no cluster until it
		// registers (autocluster or POST /v1/cluster); groups still listing it will copy their
		// whole log to it from index 0.
		n.knowsCluster = false
		for _, g := range c.groups {
			if m := g.member(n.name); m != nil {
				m.logIndex, m.caughtUp, m.catchingUp = 0, false, false
			}
		}
		// AutoCluster: the node named by autocluster.first with no replication groups
		// initialises a cluster (_admin and the autocluster contexts): a second cluster.
		if a := c.autoclusterOf(n); a != nil && c.nodeByHost(a.First) == n.name {
			c.initOwnCluster(n, a.Contexts)
		}
	}
	if s != nil && len(s.OwnCluster) > 0 {
		n.knowsCluster = false
		c.setOwnGroups(n, s.OwnCluster)
	}
	n.autoRegister = !n.knowsCluster && n.ownGroups == nil
	if n.knowsCluster || n.ownGroups != nil {
		return c.writeNodeState(n)
	}
	return c.writeControlDB(n) // an empty control DB: no cluster
}

// initOwnCluster is InitClusterTask on node n: a new cluster with _admin and contexts, each
// context in a replication group of its name, n its only (PRIMARY) member and leader.
// Caller holds c.mu.
func (c *Cluster) initOwnCluster(n *Node, contexts []string) {
	all := []string{adminGroup}
	for _, ctx := range contexts {
		if ctx != adminGroup {
			all = append(all, ctx)
		}
	}
	c.setOwnGroups(n, all)
	c.emit(Event{Event: EvClusterInitialised, Node: n.name,
		Reason: "autocluster.first on an empty control DB: a new cluster with " + strings.Join(all, ",")})
}

func (c *Cluster) setOwnGroups(n *Node, contexts []string) {
	n.ownGroups = nil
	for _, ctx := range contexts {
		g := &group{name: ctx, contexts: []string{ctx}, leader: n.name, term: 1, quorum: 1,
			members: []*member{{node: n.name, role: RolePrimary, caughtUp: true}}}
		n.ownGroups = append(n.ownGroups, g)
	}
}

// ClusterOf names the cluster node belongs to in its own view: the topology's name, the
// topology's name + "@" + node for a cluster the node initialised on its own (a split), or ""
// when it knows no cluster.
func (c *Cluster) ClusterOf(node string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clusterOf(node)
}

func (c *Cluster) clusterOf(node string) string {
	n := c.nodes[node]
	switch {
	case n == nil:
		return ""
	case n.ownGroups != nil:
		return c.topo.Name + "@" + node
	case n.knowsCluster:
		return c.topo.Name
	}
	return ""
}

// Clusters returns, for every running node, the cluster it belongs to in its own view (see
// ClusterOf): more than one distinct non-empty value means the cluster has split.
func (c *Cluster) Clusters() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for _, name := range c.names {
		if c.nodes[name].state == Running {
			out[name] = c.clusterOf(name)
		}
	}
	return out
}

// listFiles returns the regular files directly under dir, sorted, as absolute paths.
func listFiles(dir, suffix string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{}
	}
	out := []string{}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}
