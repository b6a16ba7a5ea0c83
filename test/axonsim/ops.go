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
	ErrUpdateInProgress = ErrorCode{"AXONIQ-2102", http.StatusBadRequest}
	ErrInternalContext  = ErrorCode{"AXONIQ-2304", http.StatusForbidden}
	ErrAlreadyMember    = ErrorCode{"AXONIQ-2306", http.StatusNotAcceptable}
	ErrLastNode         = ErrorCode{"AXONIQ-2310", http.StatusNotAcceptable}
	ErrCannotJoin       = ErrorCode{"AXONIQ-2502", http.StatusBadRequest}
	ErrUnknownRole      = ErrorCode{"AXONIQ-2510", http.StatusBadRequest}
	ErrOther            = ErrorCode{"AXONIQ-0001", http.StatusInternalServerError}
)

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

// task is an entry of /v1/tasks (io.axoniq.axonserver.taskscheduler.Task).
type task struct {
	ID          string
	Executor    string
	PayloadType string
	Payload     map[string]string
	Created     time.Time
	Context     string
	node        string // for unregister tasks
}

func (c *Cluster) newTask(executor, payloadType, node string, payload map[string]string) *task {
	c.taskSeq++
	t := &task{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", c.taskSeq), Executor: executor, PayloadType: payloadType,
		Payload: payload, Created: time.Now(), Context: "_admin", node: node}
	c.tasks = append(c.tasks, t)
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

// Task executors as Axon names them.
const (
	taskDeleteNode = "io.axoniq.axonserver.enterprise.taskscheduler.task.DeleteNodeFromReplicationGroupTask"
	taskUnregister = "io.axoniq.axonserver.enterprise.taskscheduler.task.UnregisterNodeTask"
)

// AddMember starts adding node to group with role (POST /v1/replicationgroups/{group}/{node}).
func (c *Cluster) AddMember(groupName, node, role string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addMember(groupName, node, role)
}

func (c *Cluster) addMember(groupName, node, role string) error {
	if role == "" {
		role = RolePrimary
	}
	if !validRole(role) {
		return perr(ErrUnknownRole, "%s: unknown role", role)
	}
	g := c.groups[groupName]
	if g == nil {
		return perr(ErrContextNotFound, "%s: replication group not found", groupName)
	}
	n := c.nodes[node]
	if n == nil || !n.registered {
		return perr(ErrNoSuchNode, "%s: node not found", node)
	}
	if g.changePending() {
		return perr(ErrUpdateInProgress, "%s: Another update is pending", groupName)
	}
	if m := g.member(node); m != nil && m.role == role {
		return nil // nothing to change
	}
	ch := &change{add: true, node: node, role: role}
	if g.member(node) == nil {
		ch.learner = &member{node: node, role: role, logIndex: c.storedIndex(n, groupName)}
	}
	g.pending, g.pendingSince = ch, time.Now()
	return nil
}

// RemoveMember starts removing node from group (DELETE /v1/replicationgroups/{group}/{node}).
func (c *Cluster) RemoveMember(groupName, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeMember(groupName, node)
}

func (c *Cluster) removeMember(groupName, node string) error {
	g := c.groups[groupName]
	if g == nil {
		return perr(ErrContextNotFound, "%s: replication group not found", groupName)
	}
	if c.nodes[node] == nil {
		return perr(ErrNoSuchNode, "%s: node not found", node)
	}
	if g.member(node) == nil {
		return perr(ErrNoSuchNode, "%s: node is not a member of %s", node, groupName)
	}
	if g.changePending() {
		return perr(ErrUpdateInProgress, "%s: Another update is pending", groupName)
	}
	if len(g.members) == 1 {
		return perr(ErrLastNode, "%s: Cannot remove last node from replication group", groupName)
	}
	t := c.newTask(taskDeleteNode, "io.axoniq.axonserver.grpc.internal.DeleteNodeFromReplicationGroup", node, map[string]string{"replicationGroup": groupName, "node": node})
	g.pending, g.pendingSince = &change{node: node, taskID: t.ID}, time.Now()
	return nil
}

// Unregister removes node from every replication group, then from the cluster
// (DELETE /v1/cluster/{name}); asynchronous. Unknown nodes are a no-op.
func (c *Cluster) Unregister(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil || !n.registered {
		return
	}
	for _, t := range c.tasks {
		if t.Executor == taskUnregister && t.node == node {
			return
		}
	}
	c.newTask(taskUnregister, "io.axoniq.axonserver.grpc.internal.NodeName", node, map[string]string{"node": node})
}

// processTasks drives unregistering: one group at a time, then the cluster entry.
func (c *Cluster) processTasks(now time.Time) {
	for _, t := range append([]*task(nil), c.tasks...) {
		if t.Executor != taskUnregister {
			continue
		}
		done := true
		for _, gname := range c.gnames {
			g := c.groups[gname]
			if g.member(t.node) == nil {
				continue
			}
			done = false
			if !g.changePending() {
				if len(g.members) == 1 {
					continue // the last member stays; the task waits (as real Axon retries)
				}
				_ = c.removeMember(gname, t.node)
			}
		}
		if !done {
			continue
		}
		n := c.nodes[t.node]
		n.registered = false
		n.knowsCluster = false
		c.removeTask(t.ID)
		c.emit(Event{Event: EvNodeUnregistered, Node: t.node})
	}
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
		if n.state != Running || n.knowsCluster {
			continue
		}
		var req *joinRequest
		target, auto := n.joinTarget, false
		if target != "" {
			req = n.joinContext
		} else if a := c.topo.Autocluster; a != nil && a.First != name {
			target, auto = a.First, true
			req = &joinRequest{}
		}
		if target == "" || !c.up(target) {
			continue
		}
		n.knowsCluster, n.registered, n.joinTarget, n.joinContext = true, true, "", nil
		c.emit(Event{Event: EvNodeJoined, Node: name, Reason: "registered with " + target})
		for _, g := range c.memberGroups(n) {
			c.ensureGroupFiles(n, g) // still a member: it will copy the whole log
		}
		_ = c.writeNodeState(n)
		var want []string // groups to join as PRIMARY
		switch {
		case auto:
			for _, ctx := range c.topo.Autocluster.Contexts {
				want = append(want, c.ctxGroup[ctx])
			}
		case req.Context != "":
			want = append(want, c.ctxGroup[req.Context])
		case !req.NoContexts:
			want = append(want, c.gnames...)
		}
		for _, gname := range want {
			if g := c.groups[gname]; g != nil && g.member(name) == nil && !g.changePending() {
				_ = c.addMember(gname, name, RolePrimary)
			}
		}
	}
}

// Join handles POST /v1/cluster on node: register with the node at host.
func (c *Cluster) join(n *Node, host string, req joinRequest) error {
	if n.knowsCluster && c.clusterSize() > 1 {
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
	Node     string           `json:"node"`
	Cluster  string           `json:"cluster"`
	LogIndex map[string]int64 `json:"logIndex"`
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
	s := nodeState{Node: n.name, Cluster: c.topo.Name, LogIndex: map[string]int64{}}
	for _, gname := range c.gnames {
		g := c.groups[gname]
		if m := g.member(n.name); m != nil {
			s.LogIndex[gname] = m.logIndex
		} else if g.pending != nil && g.pending.learner != nil && g.pending.learner.node == n.name {
			s.LogIndex[gname] = g.pending.learner.logIndex
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return os.WriteFile(filepath.Join(n.dataDir, stateFile), b, 0o644)
}

func (c *Cluster) persistNodeData(n *Node) {
	if n.knowsCluster {
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
	switch {
	case s != nil:
		n.knowsCluster = n.registered
		for _, gname := range c.gnames {
			g := c.groups[gname]
			if m := g.member(n.name); m != nil {
				m.logIndex = s.LogIndex[gname]
			}
			if g.pending != nil && g.pending.learner != nil && g.pending.learner.node == n.name {
				g.pending.learner.logIndex = s.LogIndex[gname]
			}
		}
	case !n.everStarted:
		n.knowsCluster = true // initial cluster formation: the topology's memberships apply
		for _, g := range c.groups {
			if m := g.member(n.name); m != nil {
				m.logIndex = 0
			}
		}
	default:
		// Lost volume: an empty controldb and no Raft logs. The node knows no cluster until it
		// registers (autocluster or POST /v1/cluster); groups still listing it will copy their
		// whole log to it from index 0.
		n.knowsCluster = false
		for _, g := range c.groups {
			if m := g.member(n.name); m != nil {
				m.logIndex, m.caughtUp, m.catchingUp = 0, false, false
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(n.dataDir, "controldb"), 0o755); err != nil {
		return err
	}
	if err := touch(filepath.Join(n.dataDir, "controldb", "axonserver-controldb.mv.db")); err != nil {
		return err
	}
	if n.knowsCluster {
		for _, gname := range c.gnames {
			if c.groups[gname].member(n.name) != nil {
				c.ensureGroupFiles(n, c.groups[gname])
			}
		}
		return c.writeNodeState(n)
	}
	return nil
}

// groupFiles lists the files a member of g keeps (what the backup endpoints list): the
// replication log, and the event store unless the group has none for it.
func groupFiles(n *Node, g *group) []string {
	out := []string{filepath.Join(n.dataDir, "log", g.name, fmt.Sprintf("%020d.log", 1))}
	if m := g.member(n.name); (m != nil && m.role == RoleMessagingOnly) || g.name == "_admin" {
		return out // no event store
	}
	for _, ctx := range g.contexts {
		for _, ext := range []string{"events", "index", "snapshots", "sindex"} {
			out = append(out, filepath.Join(n.dataDir, "events", ctx, fmt.Sprintf("%020d.%s", 0, ext)))
		}
	}
	return out
}

// ensureGroupFiles creates the files of a member of g; the log file marks a complete set.
func (c *Cluster) ensureGroupFiles(n *Node, g *group) {
	if n == nil || n.dataDir == "" {
		return
	}
	files := groupFiles(n, g)
	if fileExists(files[0]) {
		return
	}
	for _, f := range files[1:] {
		_ = touch(f)
	}
	_ = touch(files[0])
}

func touch(p string) error {
	if fileExists(p) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, nil, 0o644)
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
