package axonsim

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Ports every node reports besides its HTTP port (Axon Server defaults).
const (
	grpcPort         = 8124
	grpcInternalPort = 8224
)

// ---- JSON shapes (field order as Jackson writes the EE 4.4.2 classes) ----

// JSONServerNode is an element of GET /v1/public (PublicRestController.JsonServerNode).
type JSONServerNode struct {
	HostName         string `json:"hostName"`
	GrpcPort         int    `json:"grpcPort"`
	InternalHostName string `json:"internalHostName"`
	GrpcInternalPort int    `json:"grpcInternalPort"`
	HTTPPort         int    `json:"httpPort"`
	Name             string `json:"name"`
	Connected        bool   `json:"connected"`
}

// JSONMe is GET /v1/public/me (ExtendedClusterNode).
type JSONMe struct {
	Authentication      bool     `json:"authentication"`
	Clustered           bool     `json:"clustered"`
	SSL                 bool     `json:"ssl"`
	HostName            string   `json:"hostName"`
	GrpcPort            int      `json:"grpcPort"`
	InternalHostName    string   `json:"internalHostName"`
	GrpcInternalPort    int      `json:"grpcInternalPort"`
	HTTPPort            int      `json:"httpPort"`
	Name                string   `json:"name"`
	ContextNames        []string `json:"contextNames"`
	StorageContextNames []string `json:"storageContextNames"`
	AdminNode           bool     `json:"adminNode"`
	DevelopmentMode     bool     `json:"developmentMode"`
	PluginsEnabled      *bool    `json:"pluginsEnabled,omitempty"` // 4.5+
	Initialized         *bool    `json:"initialized,omitempty"`    // 2023.0+
}

// JSONClusterNode is an element of GET /v1/cluster (ClusterRestController.JsonClusterNode).
type JSONClusterNode struct {
	Name             string            `json:"name"`
	InternalHostName string            `json:"internalHostName"`
	InternalGrpcPort int               `json:"internalGrpcPort"`
	HostName         string            `json:"hostName"`
	GrpcPort         int               `json:"grpcPort"`
	HTTPPort         int               `json:"httpPort"`
	Connected        bool              `json:"connected"`
	Tags             map[string]string `json:"tags"`
}

// JSONNodeAndRole is NodeAndRole.
type JSONNodeAndRole struct {
	Node string `json:"node"`
	Role string `json:"role"`
}

// JSONContext is an element of GET /v1/public/context (ContextJSON, 4.4).
type JSONContext struct {
	Context          string            `json:"context"`
	ReplicationGroup string            `json:"replicationGroup"`
	Leader           *string           `json:"leader"`
	Roles            []JSONNodeAndRole `json:"roles"` // null inside /v1/public/replicationgroups
	ChangePending    bool              `json:"changePending"`
	PendingSince     int64             `json:"pendingSince"`
	MetaData         map[string]string `json:"metaData"`
}

// JSONReplicationGroup is an element of GET /v1/public/replicationgroups (ReplicationGroupJSON).
type JSONReplicationGroup struct {
	Name          string            `json:"name"`
	Leader        *string           `json:"leader"`
	Roles         []JSONNodeAndRole `json:"roles"`
	ChangePending bool              `json:"changePending"`
	PendingSince  int64             `json:"pendingSince"`
	Contexts      []JSONContext     `json:"contexts"`
}

// JSONRestResponse is RestResponse.
type JSONRestResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// JSONRaftStatus is an element of GET /internal/raft/status (RaftStatusRestController.RaftContext,
// the same keys from EE 4.4 on: the group is "replicationGroup").
type JSONRaftStatus struct {
	NodeID              string              `json:"nodeId"`
	ReplicationGroup    string              `json:"replicationGroup"`
	CommitIndex         int64               `json:"commitIndex"`
	CommitTerm          int64               `json:"commitTerm"`
	LastAppliedIndex    int64               `json:"lastAppliedIndex"`
	LastAppliedTerm     int64               `json:"lastAppliedTerm"`
	LastLogIndex        int64               `json:"lastLogIndex"`
	LastLogTerm         int64               `json:"lastLogTerm"`
	FirstLogIndex       int64               `json:"firstLogIndex"`
	FirstLogTerm        int64               `json:"firstLogTerm"`
	MinElectionTimeout  int                 `json:"minElectionTimeout"`
	MaxElectionTimeout  int                 `json:"maxElectionTimeout"`
	HeartbeatTimeout    int                 `json:"heartbeatTimeout"`
	MaxEntriesPerBatch  int                 `json:"maxEntriesPerBatch"`
	MaxReplicationRound int                 `json:"maxReplicationRound"`
	FlowBuffer          int                 `json:"flowBuffer"`
	CurrentTerm         int64               `json:"currentTerm"`
	VotedFor            *string             `json:"votedFor"`
	LeaderID            *string             `json:"leaderId"`
	LeaderName          *string             `json:"leaderName"`
	IsLeader            bool                `json:"isLeader"`
	Configuration       []JSONRaftNodeEntry `json:"configuration"`
}

// JSONRaftNodeEntry is an element of configuration in /internal/raft/status
// (RaftStatusRestController.Nodes: id, name, port, host, role).
type JSONRaftNodeEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Port int    `json:"port"`
	Host string `json:"host"`
	Role string `json:"role"`
}

// JSONTask is an element of GET /v1/tasks (taskscheduler.Task).
type JSONTask struct {
	TaskID        string          `json:"taskId"`
	TaskExecutor  string          `json:"taskExecutor"`
	Payload       JSONTaskPayload `json:"payload"`
	Timestamp     int64           `json:"timestamp"`
	Status        string          `json:"status"`
	RetryInterval int64           `json:"retryInterval"`
	Context       string          `json:"context"`
	Message       *string         `json:"message"`
}

// JSONTaskPayload is taskscheduler.Payload (data is byte[]: base64 in JSON).
type JSONTaskPayload struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// JSONBackupEventStore is GET /v1/backup/eventstore.
type JSONBackupEventStore struct {
	LastClosedSegment int64    `json:"lastClosedSegment"`
	Filenames         []string `json:"filenames"`
}

// ---- handler ----

func (c *Cluster) handler(n *Node) http.Handler {
	mux := http.NewServeMux()
	h := &nodeHandler{c: c, n: n}
	mux.HandleFunc("GET /actuator/info", h.info)
	mux.HandleFunc("GET /actuator/health", h.health)
	mux.HandleFunc("GET /actuator/env", h.envEndpoint)
	mux.HandleFunc("GET /v1/public", h.public)
	mux.HandleFunc("GET /v1/public/me", h.me)
	mux.HandleFunc("GET /v1/public/license", h.license)
	mux.HandleFunc("GET /v1/cluster", h.clusterList)
	mux.HandleFunc("POST /v1/cluster", h.clusterJoin)
	mux.HandleFunc("GET /v1/cluster/{name}", h.clusterOne)
	mux.HandleFunc("DELETE /v1/cluster/{name}", h.clusterDelete)
	mux.HandleFunc("GET /v1/public/context", h.contexts)
	mux.HandleFunc("GET /v1/public/replicationgroups", h.replicationGroups)
	mux.HandleFunc("GET /v1/replicationgroups/roles", h.roles)
	mux.HandleFunc("POST /v1/replicationgroups/{group}/{node}", h.addMember)
	mux.HandleFunc("DELETE /v1/replicationgroups/{group}/{node}", h.removeMember)
	mux.HandleFunc("GET /internal/raft/status", h.raftStatus)
	mux.HandleFunc("GET /internal/diagnose/download", h.diagnose)
	mux.HandleFunc("GET /v1/tasks", h.tasks)
	mux.HandleFunc("GET /v1/backup/filenames", h.backupFilenames)
	mux.HandleFunc("GET /v1/backup/eventstore", h.backupEventStore)
	mux.HandleFunc("GET /v1/backup/log/filenames", h.backupLogFilenames)
	mux.HandleFunc("POST /v1/backup/createControlDbBackup", h.controlDbBackup)
	return h.guard(mux)
}

type nodeHandler struct {
	c *Cluster
	n *Node
}

// guard applies the restErrorRate fault and access control to /v1/** and /internal/**.
func (h *nodeHandler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if on := h.c.opts.OnRequest; on != nil {
			on(h.n.name, r.Method, p)
		}
		if strings.HasPrefix(p, "/v1/") || p == "/v1" || strings.HasPrefix(p, "/internal/") {
			h.c.mu.Lock()
			fail := h.n.fault.RestErrorRate > 0 && h.c.rng.Float64() < h.n.fault.RestErrorRate
			h.c.mu.Unlock()
			if fail {
				http.Error(w, "Service Unavailable (injected fault)", http.StatusServiceUnavailable)
				return
			}
			if tok := h.c.topo.AccessToken; tok != "" {
				got := r.Header.Get("AxonIQ-Access-Token")
				if got == "" {
					got = r.URL.Query().Get("AxonIQ-Access-Token")
				}
				if got == "" {
					// WebSecurityConfigurer.handleAccessDenied: sendError(403) -> Spring Boot error JSON.
					writeJSON(w, http.StatusForbidden, map[string]any{
						"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000+00:00"), "status": 403,
						"error": "Forbidden", "message": "Forbidden", "path": p})
					return
				}
				if got != tok {
					// TokenAuthenticationFilter: status of AUTHENTICATION_INVALID_TOKEN (AXONIQ-1001, 403),
					// body "Invalid token" + newline, no AxonIQ-ErrorCode header, no content type.
					w.Header()["Content-Type"] = nil
					w.WriteHeader(ErrInvalidToken.Status)
					_, _ = w.Write([]byte("Invalid token\n"))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeCode answers like Axon's MessagingPlatformException handler: the code's HTTP status,
// header AxonIQ-ErrorCode and the exception message "[code] text" as body.
func writeCode(w http.ResponseWriter, code ErrorCode, text string) {
	w.Header().Set("AxonIQ-ErrorCode", code.Code)
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(code.Status)
	fmt.Fprintf(w, "[%s] %s", code.Code, text)
}

// writePlatformError answers a MessagingPlatformException thrown by a controller.
func writePlatformError(w http.ResponseWriter, err error) {
	var pe *PlatformError
	if !errors.As(err, &pe) {
		pe = &PlatformError{ErrOther, err.Error()}
	}
	writeCode(w, pe.ErrorCode, pe.Text)
}

// writeRestError answers like `new RestResponse(false, ex.getMessage()).asResponseEntity(code)`.
func writeRestError(w http.ResponseWriter, err error) {
	var pe *PlatformError
	if !errors.As(err, &pe) {
		pe = &PlatformError{ErrOther, err.Error()}
	}
	// RestResponse.asResponseEntity sets only the status: no AxonIQ-ErrorCode header;
	// the code is the "[AXONIQ-xxxx]" prefix of the message.
	msg := pe.Error()
	if pe.Code == "" {
		msg = pe.Text
	}
	writeJSON(w, pe.Status, JSONRestResponse{Success: false, Message: msg})
}

func (h *nodeHandler) info(w http.ResponseWriter, r *http.Request) {
	h.c.mu.Lock()
	v := h.n.version
	h.c.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.spring-boot.actuator.v3+json")
	writeJSON(w, http.StatusOK, map[string]any{"app": map[string]string{
		"name": "Axon Server", "description": "AxonIQ", "version": v}})
}

// memberGroups returns the groups node is a member of, in its own view. Caller holds c.mu.
func (c *Cluster) memberGroups(n *Node) []*group {
	var out []*group
	if n.ownGroups != nil {
		return n.ownGroups
	}
	if !n.knowsCluster {
		return out
	}
	for _, gname := range c.gnames {
		if g := c.groups[gname]; g.member(n.name) != nil {
			out = append(out, g)
		}
	}
	return out
}

func (c *Cluster) isAdminNode(n *Node) bool {
	if n.ownGroups != nil {
		return true
	}
	g := c.groups[adminGroup]
	return n.knowsCluster && g != nil && g.member(n.name) != nil
}

// visibleNodes: what this node's controldb lists. Caller holds c.mu.
func (c *Cluster) visibleNodes(n *Node) []*Node {
	if !n.knowsCluster {
		return []*Node{n}
	}
	var out []*Node
	for _, name := range c.names {
		if o := c.nodes[name]; o.registered || o == n {
			out = append(out, o)
		}
	}
	return out
}

// connected: from has a link to to (to runs, both know the cluster, no partition between them).
func (c *Cluster) connected(from, to *Node) bool {
	if from == to {
		return true
	}
	return from.knowsCluster && to.state == Running && to.knowsCluster && !c.cutOff(from.name, to.name)
}

func (c *Cluster) hostOf(n *Node) string {
	if n.host != "" {
		return n.host
	}
	return n.name
}

func (h *nodeHandler) public(w http.ResponseWriter, r *http.Request) {
	c, me := h.c, h.n
	c.mu.Lock()
	out := []JSONServerNode{}
	admin := c.isAdminNode(me)
	mine := map[string]bool{}
	for _, g := range c.memberGroups(me) {
		for _, m := range g.members {
			mine[m.node] = true
		}
	}
	for _, o := range c.visibleNodes(me) {
		if !admin && o != me && !mine[o.name] && !c.isAdminNode(o) {
			continue
		}
		out = append(out, JSONServerNode{HostName: c.hostOf(o), GrpcPort: grpcPort, InternalHostName: c.hostOf(o),
			GrpcInternalPort: grpcInternalPort, HTTPPort: o.port, Name: o.name, Connected: c.connected(me, o)})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (h *nodeHandler) me(w http.ResponseWriter, r *http.Request) {
	c, n := h.c, h.n
	c.mu.Lock()
	out := JSONMe{Authentication: c.topo.AccessToken != "", Clustered: true, SSL: c.ca != nil,
		HostName: c.hostOf(n), GrpcPort: grpcPort, InternalHostName: c.hostOf(n), GrpcInternalPort: grpcInternalPort,
		HTTPPort: n.port, Name: n.name, ContextNames: []string{}, StorageContextNames: []string{},
		AdminNode: c.isAdminNode(n)}
	for _, g := range c.memberGroups(n) {
		out.ContextNames = append(out.ContextNames, g.contexts...)
		if m := g.member(n.name); m.role != RoleMessagingOnly && g.name != adminGroup {
			out.StorageContextNames = append(out.StorageContextNames, g.contexts...)
		}
	}
	if versionAtLeast(n.version, 4, 5) {
		f := false
		out.PluginsEnabled = &f
	}
	if versionAtLeast(n.version, 2023, 0) {
		t := n.knowsCluster || n.ownGroups != nil
		out.Initialized = &t
	}
	c.mu.Unlock()
	sort.Strings(out.ContextNames)
	sort.Strings(out.StorageContextNames)
	writeJSON(w, http.StatusOK, out)
}

func (c *Cluster) clusterNodeJSON(me, o *Node) JSONClusterNode {
	tags := map[string]string{}
	for k, v := range o.spec.Tags {
		tags[k] = v
	}
	return JSONClusterNode{Name: o.name, InternalHostName: c.hostOf(o), InternalGrpcPort: grpcInternalPort,
		HostName: c.hostOf(o), GrpcPort: grpcPort, HTTPPort: o.port, Connected: c.connected(me, o), Tags: tags}
}

func (h *nodeHandler) clusterList(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	out := []JSONClusterNode{}
	for _, o := range c.visibleNodes(h.n) {
		out = append(out, c.clusterNodeJSON(h.n, o))
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (h *nodeHandler) clusterOne(w http.ResponseWriter, r *http.Request) {
	c, name := h.c, r.PathValue("name")
	c.mu.Lock()
	var found *JSONClusterNode
	for _, o := range c.visibleNodes(h.n) {
		if o.name == name {
			j := c.clusterNodeJSON(h.n, o)
			found = &j
		}
	}
	c.mu.Unlock()
	if found == nil {
		writeCode(w, ErrNoSuchNode, "Node "+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, found)
}

func (h *nodeHandler) clusterJoin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		InternalHostName *string `json:"internalHostName"`
		InternalGrpcPort *int    `json:"internalGrpcPort"`
		Context          string  `json:"context"`
		NoContexts       *bool   `json:"noContexts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, JSONRestResponse{false, "malformed body: " + err.Error()})
		return
	}
	if body.InternalHostName == nil {
		writeJSON(w, http.StatusBadRequest, JSONRestResponse{false, "missing required field: internalHostName"})
		return
	}
	if body.InternalGrpcPort == nil {
		writeJSON(w, http.StatusBadRequest, JSONRestResponse{false, "missing required field: internalGrpcPort"})
		return
	}
	noCtx := body.NoContexts != nil && *body.NoContexts
	if body.Context != "" && noCtx {
		writeRestError(w, perr(ErrorCode{"AXONIQ-2308", http.StatusBadRequest}, "Cannot combine joining context with noContexts."))
		return
	}
	h.c.mu.Lock()
	err := h.c.join(h.n, *body.InternalHostName, joinRequest{Context: body.Context, NoContexts: noCtx})
	h.c.mu.Unlock()
	if err != nil {
		writeRestError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, JSONRestResponse{true, "Accepted join request, may take a while to process"})
}

// adminLeader checks that the _admin group can take a configuration change (the request is
// forwarded to its leader). Caller holds c.mu.
func (c *Cluster) adminLeader(n *Node) error {
	if !n.knowsCluster {
		return perr(ErrNoLeader, "No leader for _admin")
	}
	g := c.groups[adminGroup]
	if g == nil {
		return nil
	}
	if g.leader == "" || g.quorum != 1 || c.adminUnreachable(n) {
		return perr(ErrNoLeader, "No leader for _admin")
	}
	return nil
}

func (h *nodeHandler) clusterDelete(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	err := c.adminLeader(h.n)
	c.mu.Unlock()
	if err != nil {
		writePlatformError(w, err)
		return
	}
	c.Unregister(r.PathValue("name"))
	w.WriteHeader(http.StatusOK)
}

// leaderPtr is g's leader as node n sees it (a partitioned node's own view), nil for none.
// Caller holds c.mu.
func (c *Cluster) leaderPtr(n *Node, g *group) *string {
	return strPtr(c.leaderSeenBy(n, g, time.Now()))
}

func pendingMillis(g *group) int64 {
	if g.pendingSince.IsZero() {
		return 0
	}
	return g.pendingSince.UnixMilli()
}

func groupRoles(g *group) []JSONNodeAndRole {
	out := make([]JSONNodeAndRole, 0, len(g.members))
	for _, m := range g.members { // members are kept sorted by node
		out = append(out, JSONNodeAndRole{Node: m.node, Role: m.role})
	}
	return out
}

func contextJSON(g *group, ctx string, leader *string) JSONContext {
	return JSONContext{Context: ctx, ReplicationGroup: g.name, Leader: leader, Roles: groupRoles(g),
		ChangePending: g.changePending(), PendingSince: pendingMillis(g), MetaData: map[string]string{}}
}

// adminGroups: on an admin node, every group (the admin tables); elsewhere none.
func (c *Cluster) adminGroups(n *Node) []*group {
	var out []*group
	if n.ownGroups != nil {
		return n.ownGroups
	}
	if !c.isAdminNode(n) {
		return out
	}
	for _, gname := range c.gnames {
		out = append(out, c.groups[gname])
	}
	return out
}

func (h *nodeHandler) contexts(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	c.recordAdminChange()
	out := []JSONContext{}
	for _, g := range c.adminGroups(h.n) {
		for _, ctx := range g.contexts {
			out = append(out, contextJSON(g, ctx, c.leaderPtr(h.n, g)))
		}
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Context < out[j].Context })
	writeJSON(w, http.StatusOK, out)
}

func (h *nodeHandler) replicationGroups(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	c.recordAdminChange()
	out := []JSONReplicationGroup{}
	for _, g := range c.adminGroups(h.n) {
		j := JSONReplicationGroup{Name: g.name, Leader: c.leaderPtr(h.n, g), Roles: groupRoles(g),
			ChangePending: g.changePending(), PendingSince: pendingMillis(g), Contexts: []JSONContext{}}
		for _, ctx := range g.contexts {
			// new ContextJSON(AdminContext): no leader, no roles, nothing pending.
			j.Contexts = append(j.Contexts, JSONContext{Context: ctx, ReplicationGroup: g.name, MetaData: map[string]string{}})
		}
		out = append(out, j)
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, out) // c.gnames is sorted by name
}

func (h *nodeHandler) roles(w http.ResponseWriter, r *http.Request) {
	h.c.mu.Lock()
	v := h.n.version
	h.c.mu.Unlock()
	writeJSON(w, http.StatusOK, rolesFor(v))
}

func (h *nodeHandler) addMember(w http.ResponseWriter, r *http.Request) {
	role := r.URL.Query().Get("role")
	if role == "" {
		role = RolePrimary
	}
	c := h.c
	c.mu.Lock()
	err := c.adminLeader(h.n)
	if h.n.ownGroups != nil { // its own cluster knows only itself
		err = nil
		if node := r.PathValue("node"); node != h.n.name {
			err = perr(ErrNoSuchNode, "Node %s not found", node)
		}
	}
	if err == nil && !c.roleAccepted(role, h.n.version) {
		// Role.valueOf throws IllegalArgumentException: ErrorCode.OTHER.
		err = &PlatformError{ErrOther, "No enum constant io.axoniq.axonserver.grpc.cluster.Role." + role}
	}
	if err == nil && h.n.ownGroups == nil {
		err = c.addMember(r.PathValue("group"), r.PathValue("node"), role, h.n.version)
	}
	c.mu.Unlock()
	if err != nil {
		writeRestError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, JSONRestResponse{true,
		"Started to add node to replication group. This may take some time depending on the number of events already in the contexts"})
}

func (h *nodeHandler) removeMember(w http.ResponseWriter, r *http.Request) {
	// PrepareDeleteNodeFromContextTask.prepareDeleteNodeFromContext publishes a task and does
	// not wait for it: 202 whatever becomes of the removal.
	c := h.c
	c.mu.Lock()
	if h.n.ownGroups != nil {
		c.emit(Event{Event: EvTaskFailed, Group: r.PathValue("group"), Node: r.PathValue("node"),
			Reason: taskDeleteNode + ": in the cluster of " + h.n.name + ", which knows no such member"})
	} else if c.adminUnreachable(h.n) {
		c.emit(Event{Event: EvTaskFailed, Group: r.PathValue("group"), Node: r.PathValue("node"),
			Reason: taskPrepareDeleteNode + ": not published: " + h.n.name + " is cut off from the _admin leader"})
	} else {
		_ = c.removeMember(r.PathValue("group"), r.PathValue("node"))
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusAccepted, JSONRestResponse{true, "Accepted delete request"})
}

// raftNodeID is the Raft node id of node in group (Axon generates one per group membership).
func raftNodeID(groupName, node string) string {
	sum := sha1.Sum([]byte(groupName + "/" + node))
	return node + "-" + hex.EncodeToString(sum[:6])
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (h *nodeHandler) raftStatus(w http.ResponseWriter, r *http.Request) {
	h.c.mu.Lock()
	h.c.recordAdminChange()
	out := h.c.raftStatusOf(h.n)
	h.c.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// raftStatusOf is GET /internal/raft/status of node n. Caller holds c.mu.
func (c *Cluster) raftStatusOf(n *Node) []JSONRaftStatus {
	out := []JSONRaftStatus{}
	var groups []*group
	if !n.initializing { // the Raft groups start once the event stores are initialised
		groups = c.memberGroups(n)
	}
	keep := int64(c.topo.WritesPerSecond * c.tm.retention.Seconds())
	now := time.Now()
	for _, g := range groups {
		m := g.member(n.name)
		commit := g.commitIndex
		if !m.caughtUp && m.logIndex < commit {
			commit = m.logIndex
		}
		last := m.logIndex
		if g.leader == n.name {
			last = g.lastIndex
		}
		seen := c.leaderSeenBy(n, g, now) // a partitioned node's own view
		st := JSONRaftStatus{NodeID: raftNodeID(g.name, n.name), ReplicationGroup: g.name,
			CommitIndex: commit, CommitTerm: g.term, LastAppliedIndex: commit, LastAppliedTerm: g.term,
			LastLogIndex: last, LastLogTerm: g.term, FirstLogIndex: max(1, last-keep), FirstLogTerm: 1,
			MinElectionTimeout: int(c.tm.minElection.Milliseconds()), MaxElectionTimeout: int(c.tm.maxElection.Milliseconds()),
			HeartbeatTimeout:   int(c.tm.heartbeat.Milliseconds()),
			MaxEntriesPerBatch: 10, MaxReplicationRound: 10, FlowBuffer: 1000,
			CurrentTerm: g.term, IsLeader: seen == n.name, Configuration: []JSONRaftNodeEntry{}}
		if v := g.votedFor[n.name]; v != "" {
			st.VotedFor = strPtr(raftNodeID(g.name, v))
		}
		if seen != "" {
			st.LeaderID = strPtr(raftNodeID(g.name, seen))
			st.LeaderName = strPtr(seen)
		}
		for _, x := range g.members {
			st.Configuration = append(st.Configuration, JSONRaftNodeEntry{ID: raftNodeID(g.name, x.node), Name: x.node,
				Port: grpcInternalPort, Host: c.hostOf(c.nodes[x.node]), Role: x.role})
		}
		out = append(out, st)
	}
	return out
}

func (h *nodeHandler) tasks(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	out := []JSONTask{}
	tasks := c.tasks
	if h.n.ownGroups != nil || !h.n.knowsCluster {
		tasks = nil // another cluster's (or no cluster's) _admin
	}
	for _, t := range tasks {
		out = append(out, JSONTask{TaskID: t.ID, TaskExecutor: taskPackage + t.Executor,
			Payload:   JSONTaskPayload{Type: t.PayloadType, Data: base64.StdEncoding.EncodeToString(t.Payload)},
			Timestamp: t.At.UnixMilli(), Status: t.Status, RetryInterval: t.Retry.Milliseconds(), Context: t.Context,
			Message: strPtr(t.Message)})
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// storedContext checks that ctx is stored on this node and returns its event or snapshot
// stream (typ EVENT or SNAPSHOT), after a flush of the node's stores.
func (h *nodeHandler) storedContext(ctx, typ string) (stream, error) {
	c, n := h.c, h.n
	c.mu.Lock()
	g := c.groups[c.ctxGroup[ctx]]
	if g == nil || ctx == adminGroup || !n.knowsCluster || g.member(n.name) == nil || g.member(n.name).role == RoleMessagingOnly {
		c.mu.Unlock()
		return stream{}, perr(ErrContextNotFound, "%s: context not found", ctx)
	}
	s := c.eventStream(n.layout, ctx)
	if typ == "SNAPSHOT" {
		s = c.snapshotStream(n.layout, ctx)
	}
	c.mu.Unlock()
	c.syncStore(n, s.dir)
	return s, nil
}

// backupFiles is LocalEventStore.getBackupFilenames: the data file and index files of every
// closed segment after lastSegment, and, with includeActive, the active segment's data file
// first (its index is still in memory); paths as the node sees them. last is
// getFirstCompletedSegment: the newest closed segment, -1 if none.
func (n *Node) backupFiles(s stream, lastSegment int64, includeActive bool) (files []string, last int64) {
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	closed, active := s.closed()
	files, last = []string{}, -1
	if includeActive && active >= 0 {
		files = append(files, n.layout.view(s.name(active, s.ext)))
	}
	var rest []string
	for _, seg := range closed {
		last = seg
		if seg <= lastSegment {
			continue
		}
		for _, ext := range append([]string{s.ext}, s.companions...) {
			rest = append(rest, n.layout.view(s.name(seg, ext)))
		}
	}
	sort.Strings(rest)
	return append(files, rest...), last
}

func intParam(r *http.Request, name string, def int64) int64 {
	if v, err := strconv.ParseInt(r.URL.Query().Get(name), 10, 64); err == nil {
		return v
	}
	return def
}

// eventFiles answers the event store backup listings: ctxParam names the context (default
// "default"), afterParam the last segment already backed up (default -1); type is required
// (EVENT or SNAPSHOT, any case; else 400 with no body, as EventType.valueOf fails there).
func (h *nodeHandler) eventFiles(w http.ResponseWriter, r *http.Request, ctxParam, afterParam string, includeActive bool) ([]string, int64, bool) {
	ctx := r.URL.Query().Get(ctxParam)
	if ctx == "" {
		ctx = "default"
	}
	typ := strings.ToUpper(r.URL.Query().Get("type"))
	if typ != "EVENT" && typ != "SNAPSHOT" {
		w.WriteHeader(http.StatusBadRequest)
		return nil, 0, false
	}
	s, err := h.storedContext(ctx, typ)
	if err != nil {
		writePlatformError(w, err)
		return nil, 0, false
	}
	files, last := h.n.backupFiles(s, intParam(r, afterParam, -1), includeActive)
	return files, last, true
}

func (h *nodeHandler) backupFilenames(w http.ResponseWriter, r *http.Request) {
	if files, _, ok := h.eventFiles(w, r, "context", "lastSegmentBackedUp", false); ok {
		writeJSON(w, http.StatusOK, files)
	}
}

func (h *nodeHandler) backupEventStore(w http.ResponseWriter, r *http.Request) {
	if files, last, ok := h.eventFiles(w, r, "targetContext", "lastClosedSegmentBackedUp", true); ok {
		writeJSON(w, http.StatusOK, JSONBackupEventStore{LastClosedSegment: last, Filenames: files})
	}
}

// backupLogFilenames is LogEntryStore.getBackupFilenames: every segment of the group's
// replication log (a full set each time), the active one's .log included.
func (h *nodeHandler) backupLogFilenames(w http.ResponseWriter, r *http.Request) {
	gname := r.URL.Query().Get("context")
	if gname == "" {
		gname = "default"
	}
	c, n := h.c, h.n
	c.mu.Lock()
	g := c.groups[gname]
	ok := g != nil && n.knowsCluster && g.member(n.name) != nil
	s := c.logStream(n.layout, gname)
	c.mu.Unlock()
	if !ok {
		writePlatformError(w, perr(ErrContextNotFound, "%s: replication group not found on this node", gname))
		return
	}
	c.syncStore(n, s.dir)
	n.store.mu.Lock()
	closed, active := s.closed()
	files := []string{}
	for _, seg := range closed {
		for _, ext := range append([]string{s.ext}, s.companions...) {
			files = append(files, n.layout.view(s.name(seg, ext)))
		}
	}
	if active >= 0 {
		files = append(files, n.layout.view(s.name(active, s.ext)))
	}
	n.store.mu.Unlock()
	sort.Strings(files)
	writeJSON(w, http.StatusOK, files)
}

// controlDbBackup writes the control DB zip in controldb-backup-location and answers its
// path as the node sees it (text/plain); a location it cannot create: 500.
func (h *nodeHandler) controlDbBackup(w http.ResponseWriter, r *http.Request) {
	h.c.mu.Lock()
	p, err := h.c.createControlDBBackup(h.n, time.Now())
	h.c.mu.Unlock()
	if err != nil {
		writePlatformError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = w.Write([]byte(p))
}
