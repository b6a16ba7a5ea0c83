// Package quorum is kubectl axon's safety model: the Axon Server EE commit rule for
// replication groups, and from it whether a node may be stopped now, how many more
// voters each group can lose, and whether a node counts as healthy.
//
// It is pure: no Kubernetes, no HTTP. Callers build a Cluster from whatever they
// observed and ask it questions.
package quorum

// Role is a member's role in a replication group, as Axon Server names it.
type Role string

const (
	Primary       Role = "PRIMARY"
	ActiveBackup  Role = "ACTIVE_BACKUP"
	PassiveBackup Role = "PASSIVE_BACKUP"
	MessagingOnly Role = "MESSAGING_ONLY"
	Secondary     Role = "SECONDARY"
)

// DefaultMinActiveBackups is Axon Server's default for
// axoniq.axonserver.replication.min-active-backups.
const DefaultMinActiveBackups = 1

// Member is one node's membership of a group, with what was observed of it.
type Member struct {
	Node string `json:"node"`
	Role Role   `json:"role"`
	// Up: the node runs and the group can reach it (Axon reports it connected).
	Up bool `json:"up"`
	// CaughtUp: the leader's view says it is UP, or its log reached the leader's
	// commit index. Meaningless when Up is false.
	CaughtUp bool `json:"caughtUp"`
}

// Group is one replication group.
type Group struct {
	Name    string   `json:"name"`
	Leader  string   `json:"leader,omitempty"` // "" when the group has no leader
	Members []Member `json:"members"`
	// MinActiveBackups is the cluster's min-active-backups; 0 means the default (1).
	MinActiveBackups int `json:"minActiveBackups,omitempty"`
}

// Node is what the safety model needs to know about one Axon Server node beyond its
// group memberships.
type Node struct {
	Name string `json:"name"`
	// PodReady: the pod is Ready and runs the StatefulSet's current revision.
	PodReady bool `json:"podReady"`
	// Connected: Axon Server reports the node connected to the cluster.
	Connected bool `json:"connected"`
}

// Cluster is a snapshot of nodes and groups.
type Cluster struct {
	Nodes  []Node  `json:"nodes"`
	Groups []Group `json:"groups"`
}
