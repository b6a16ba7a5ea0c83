package axonserver

import (
	"encoding/json"
	"strconv"
	"strings"
)

// JSON shapes of Axon Server's REST API. Field names follow the Java classes at git
// tag axonserver-ee-4.4.2 of AxonIQ/axon-server-se (see testdata/*/README.md for the
// class behind each shape). Java Integer/Long fields may be null; they decode to 0.

// Node is one element of GET /v1/public (PublicRestController.JsonServerNode).
type Node struct {
	Name             string `json:"name"`
	HostName         string `json:"hostName"`
	GrpcPort         int    `json:"grpcPort"`
	InternalHostName string `json:"internalHostName"`
	GrpcInternalPort int    `json:"grpcInternalPort"`
	HTTPPort         int    `json:"httpPort"`
	Connected        bool   `json:"connected"`
}

// NodeInfo is GET /v1/public/me (rest/json/NodeConfiguration).
type NodeInfo struct {
	Name                string   `json:"name"`
	HostName            string   `json:"hostName"`
	GrpcPort            int      `json:"grpcPort"`
	InternalHostName    string   `json:"internalHostName"`
	GrpcInternalPort    int      `json:"grpcInternalPort"`
	HTTPPort            int      `json:"httpPort"`
	Authentication      bool     `json:"authentication"`
	Clustered           bool     `json:"clustered"` // false: SE, or no clustering in the license
	SSL                 bool     `json:"ssl"`
	AdminNode           bool     `json:"adminNode"`
	DevelopmentMode     bool     `json:"developmentMode"`
	ContextNames        []string `json:"contextNames"`
	StorageContextNames []string `json:"storageContextNames"`
	// PluginsEnabled appears in 4.5+; nil when the server does not send it.
	PluginsEnabled *bool `json:"pluginsEnabled,omitempty"`
	// Initialized appears in 2023.0+; nil when the server does not send it.
	Initialized *bool `json:"initialized,omitempty"`
}

// ClusterNode is an element of GET /v1/cluster and the answer of GET
// /v1/cluster/{name} (ClusterRestController.JsonClusterNode). Note the port is
// internalGrpcPort here and grpcInternalPort in /v1/public.
type ClusterNode struct {
	Name             string            `json:"name"`
	InternalHostName string            `json:"internalHostName"`
	InternalGrpcPort int               `json:"internalGrpcPort"`
	HostName         string            `json:"hostName"`
	GrpcPort         int               `json:"grpcPort"`
	HTTPPort         int               `json:"httpPort"`
	Connected        bool              `json:"connected"`
	Tags             map[string]string `json:"tags"`
}

// JoinRequest is the body of POST /v1/cluster (ClusterRestController.ClusterJoinRequest),
// sent to the node that should join; the addresses are those of a node already in
// the cluster. Context and NoContexts must not be combined.
type JoinRequest struct {
	InternalHostName string `json:"internalHostName"`
	InternalGrpcPort int    `json:"internalGrpcPort"`
	Context          string `json:"context,omitempty"`
	NoContexts       *bool  `json:"noContexts,omitempty"`
}

// RestResponse is Axon Server's generic {success, message} answer.
type RestResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// NodeRole is a member of a replication group (rest/NodeAndRole).
type NodeRole struct {
	Node string `json:"node"`
	Role string `json:"role"`
}

// Context is an element of GET /v1/public/context (rest/ContextJSON). Leader is
// "" when the server sends null. 4.3 servers send Nodes and Roles but no
// ReplicationGroup; use Members for a version-independent member list.
type Context struct {
	Context          string            `json:"context"`
	ReplicationGroup string            `json:"replicationGroup,omitempty"`
	MetaData         map[string]string `json:"metaData,omitempty"`
	ChangePending    bool              `json:"changePending"`
	PendingSince     int64             `json:"pendingSince"` // epoch ms, 0 if none
	Leader           string            `json:"leader"`
	Roles            []NodeRole        `json:"roles"`
	// Nodes is the 4.3 (and older) member list; absent from 4.4 on.
	Nodes []string `json:"nodes,omitempty"`
}

// Group returns the replication group of the context; before 4.4 every context was
// its own group.
func (c Context) Group() string {
	if c.ReplicationGroup != "" {
		return c.ReplicationGroup
	}
	return c.Context
}

// Members returns Roles, or for servers that only sent Nodes, those nodes as
// PRIMARY members.
func (c Context) Members() []NodeRole {
	if len(c.Roles) > 0 || len(c.Nodes) == 0 {
		return c.Roles
	}
	out := make([]NodeRole, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = NodeRole{Node: n, Role: "PRIMARY"}
	}
	return out
}

// ReplicationGroup is an element of GET /v1/public/replicationgroups (EE 4.4+,
// rest/ReplicationGroupJSON). The contexts inside carry context, replicationGroup
// and metaData; their leader and roles are null.
type ReplicationGroup struct {
	Name          string     `json:"name"`
	Leader        string     `json:"leader"`
	Roles         []NodeRole `json:"roles"`
	ChangePending bool       `json:"changePending"`
	PendingSince  int64      `json:"pendingSince"`
	Contexts      []Context  `json:"contexts"`
}

// RaftMember is an element of RaftStatus.Configuration: {id, name, host, port,
// role} from 4.4 on (LocalRaftConfigService); older answers may lack name and role.
type RaftMember struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Host string `json:"host"`
	Port int    `json:"port"`
	Role string `json:"role,omitempty"`
}

// RaftStatus is one element of GET /internal/raft/status: the queried node's view
// of one replication group. From 4.4 on the group is under the key
// "replicationGroup"; older answers (and some 4.4 builds) call it "context". Both
// decode into ReplicationGroup, "replicationGroup" winning when both are sent.
type RaftStatus struct {
	NodeID              string       `json:"nodeId"`
	ReplicationGroup    string       `json:"replicationGroup"`
	CommitIndex         int64        `json:"commitIndex"`
	CommitTerm          int64        `json:"commitTerm"`
	LastAppliedIndex    int64        `json:"lastAppliedIndex"`
	LastAppliedTerm     int64        `json:"lastAppliedTerm"`
	LastLogIndex        int64        `json:"lastLogIndex"`
	LastLogTerm         int64        `json:"lastLogTerm"`
	FirstLogIndex       int64        `json:"firstLogIndex"`
	FirstLogTerm        int64        `json:"firstLogTerm"`
	MinElectionTimeout  int64        `json:"minElectionTimeout"`
	MaxElectionTimeout  int64        `json:"maxElectionTimeout"`
	HeartbeatTimeout    int64        `json:"heartbeatTimeout"`
	MaxEntriesPerBatch  int64        `json:"maxEntriesPerBatch"`
	MaxReplicationRound int64        `json:"maxReplicationRound"`
	FlowBuffer          int64        `json:"flowBuffer"`
	CurrentTerm         int64        `json:"currentTerm"`
	VotedFor            string       `json:"votedFor"`
	LeaderID            string       `json:"leaderId"`
	LeaderName          string       `json:"leaderName"`
	IsLeader            bool         `json:"isLeader"`
	Configuration       []RaftMember `json:"configuration"`
}

// UnmarshalJSON accepts the group under "replicationGroup" or the older "context".
func (r *RaftStatus) UnmarshalJSON(b []byte) error {
	type plain RaftStatus
	var v struct {
		plain
		Context string `json:"context"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = RaftStatus(v.plain)
	if r.ReplicationGroup == "" {
		r.ReplicationGroup = v.Context
	}
	return nil
}

// Task is an element of GET /v1/tasks (taskscheduler/Task): a scheduled task such
// as a pending node removal. Status is SCHEDULED, RUNNING, COMPLETED, FAILED or
// CANCELLED.
type Task struct {
	TaskID        string          `json:"taskId"`
	TaskExecutor  string          `json:"taskExecutor"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Timestamp     int64           `json:"timestamp"` // epoch ms when it is due
	Status        string          `json:"status"`
	RetryInterval int64           `json:"retryInterval"`
	Context       string          `json:"context"`
	Message       string          `json:"message"`
}

// Info is GET /actuator/info.
type Info struct {
	App struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Version     string `json:"version"`
	} `json:"app"`
}

// EventStoreBackup is GET /v1/backup/eventstore (4.5.17+).
type EventStoreBackup struct {
	LastClosedSegment int64    `json:"lastClosedSegment"`
	Filenames         []string `json:"filenames"`
}

// Replication group roles, as GET /v1/replicationgroups/roles names them.
const (
	RolePrimary       = "PRIMARY"
	RoleActiveBackup  = "ACTIVE_BACKUP"
	RolePassiveBackup = "PASSIVE_BACKUP"
	RoleMessagingOnly = "MESSAGING_ONLY"
	RoleSecondary     = "SECONDARY"
)

// Role names newer than the five above: ANALYTICS appears in 2025.2 (a node for
// analytics workloads; it does not vote). Expect further names and never fail on one.
const RoleAnalytics = "ANALYTICS"

// Env is GET /actuator/env (Spring Boot): the effective configuration as property
// sources, highest precedence first. Spring masks the values of secrets ("******").
type Env struct {
	ActiveProfiles  []string         `json:"activeProfiles"`
	PropertySources []PropertySource `json:"propertySources"`
}

// PropertySource is one source of properties (command line, environment,
// application.properties, axonserver.properties ...).
type PropertySource struct {
	Name       string                   `json:"name"`
	Properties map[string]PropertyValue `json:"properties"`
}

// PropertyValue is one property's value and where it was set.
type PropertyValue struct {
	Value  any    `json:"value"`
	Origin string `json:"origin,omitempty"`
}

// Property returns the effective value of key (e.g.
// "axoniq.axonserver.replication.min-active-backups") and the source that set it:
// the first source, in precedence order, holding the key itself or its environment
// variable form (AXONIQ_AXONSERVER_REPLICATION_MIN_ACTIVE_BACKUPS), as Spring's
// relaxed binding reads it. ok is false when no source sets it.
func (e *Env) Property(key string) (value, source string, ok bool) {
	if e == nil {
		return "", "", false
	}
	envForm := strings.ToUpper(strings.NewReplacer(".", "_", "-", "").Replace(key))
	envFormDash := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
	for _, ps := range e.PropertySources {
		for _, k := range []string{key, envFormDash, envForm} {
			if v, found := ps.Properties[k]; found && v.Value != nil {
				return valueString(v.Value), ps.Name, true
			}
		}
	}
	return "", "", false
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Task executors of membership changes (short class names, as Task.Executor gives
// them): DELETE /v1/replicationgroups/{g}/{n} schedules PrepareDeleteNodeFromContextTask,
// which schedules DeleteNodeFromContextTask; DeleteContextFromNodeTask removes the data
// from the node; DELETE /v1/cluster/{n} ends in UnregisterNodeTask.
const (
	TaskPrepareDeleteNode  = "PrepareDeleteNodeFromContextTask"
	TaskDeleteNode         = "DeleteNodeFromContextTask"
	TaskDeleteContextNode  = "DeleteContextFromNodeTask"
	TaskUnregisterNode     = "UnregisterNodeTask"
	TaskStatusFailed       = "FAILED"
	taskPayloadNodeContext = "NodeContext"
)

// Executor is the task's class without its package, e.g.
// "PrepareDeleteNodeFromContextTask".
func (t Task) Executor() string {
	return t.TaskExecutor[strings.LastIndexByte(t.TaskExecutor, '.')+1:]
}

// NodeContext returns the node and replication group (context) a membership task is
// about, from its payload {type, data}: data is the JSON of a NodeContext {node,
// context, preserveEventStore}, base64-encoded as Java's byte[] is; for an
// UnregisterNodeTask it is the node's name as a JSON string. ok is false for other
// payloads.
func (t Task) NodeContext() (node, group string, ok bool) {
	var p struct {
		Type string `json:"type"`
		Data []byte `json:"data"`
	}
	if len(t.Payload) == 0 || json.Unmarshal(t.Payload, &p) != nil {
		return "", "", false
	}
	var nc struct {
		Node    string `json:"node"`
		Context string `json:"context"`
	}
	if err := json.Unmarshal(p.Data, &nc); err == nil && nc.Node != "" {
		return nc.Node, nc.Context, true
	}
	var name string
	if err := json.Unmarshal(p.Data, &name); err == nil && name != "" {
		return name, "", true
	}
	return "", "", false
}
