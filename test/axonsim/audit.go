package axonsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Audit event names.
const (
	EvNodeStarted        = "node-started"        // a node process started (consistency checks begin)
	EvNodeReady          = "node-ready"          // the node serves HTTP (/actuator/info answers)
	EvNodeInitialized    = "node-initialized"    // event stores initialised, Raft groups started (4.5.3+: after node-ready)
	EvNodeStopped        = "node-stopped"        // clean stop finished
	EvNodeKilled         = "node-killed"         // unclean stop (kill, crash, grace exceeded)
	EvLeaderElected      = "leader-elected"      // group, node = new leader
	EvLeaderLost         = "leader-lost"         // group, node = old leader
	EvQuorumLost         = "quorum-lost"         // group: running caught-up voters fail the commit rule
	EvQuorumRestored     = "quorum-restored"     // group: they satisfy it again
	EvCaughtUp           = "caught-up"           // group, node: follower reached the leader's log
	EvMemberAdded        = "member-added"        // group, node, role
	EvMemberRemoved      = "member-removed"      // group, node
	EvRemovalScheduled   = "removal-scheduled"   // group, node: a removal task was published (DELETE of a membership or of the node); it runs when _admin has a leader
	EvNodeJoined         = "node-joined"         // node registered with the cluster (autocluster or POST /v1/cluster)
	EvNodeUnregistered   = "node-unregistered"   // node removed from the cluster (DELETE /v1/cluster/{name})
	EvClusterInitialised = "cluster-initialised" // node initialised a cluster of its own (autocluster.first, empty control DB)
	EvTaskFailed         = "task-failed"         // group, node: a scheduled task failed for good (reason: task and error)
	EvPartitioned        = "partitioned"         // node: cut off from every other node (reason: for how long)
	EvPartitionHealed    = "partition-healed"    // node: its partition ended (reason: time limit or Heal)
	EvStoreLoaded        = "store-loaded"        // group, node, context: a node started on restored files loaded this context's events (events, index = last token, checksum)
	EvRecoveryApplied    = "recovery-applied"    // node: it started in recovery mode (recovery.json) and updated its control DB (reason: the nodes)
)

// Event is one audit line.
type Event struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Group  string    `json:"group,omitempty"`
	Node   string    `json:"node,omitempty"`
	Role   string    `json:"role,omitempty"`
	Term   int64     `json:"term,omitempty"`
	Index  int64     `json:"index,omitempty"`
	Reason string    `json:"reason,omitempty"`
	// store-loaded: the context, its event count and the checksum over its events
	// (EventsChecksum).
	Context  string `json:"context,omitempty"`
	Events   int64  `json:"events,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// Namespace is the cluster's Options.Namespace: "" for the main cluster (the
	// sandbox's topology), the Kubernetes namespace of any other cluster writing to the
	// same audit log.
	Namespace string `json:"namespace,omitempty"`
}

// MarshalJSON writes time as RFC3339Nano in UTC.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		Time string `json:"time"`
		plain
	}{e.Time.UTC().Format(time.RFC3339Nano), plain(e)})
}

// ReadAudit parses an audit log (one JSON object per line; blank lines are skipped).
func ReadAudit(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return out, fmt.Errorf("audit line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Count counts events named event; group "" matches every group.
func Count(events []Event, event, group string) int {
	return len(Filter(events, event, group, ""))
}

// CountNode counts events named event for node (any group).
func CountNode(events []Event, event, node string) int {
	return len(Filter(events, event, "", node))
}

// Filter returns the events matching event, group and node ("" matches anything).
func Filter(events []Event, event, group, node string) []Event {
	var out []Event
	for _, e := range events {
		if (event == "" || e.Event == event) && (group == "" || e.Group == group) && (node == "" || e.Node == node) {
			out = append(out, e)
		}
	}
	return out
}

// InNamespace returns the events of the cluster of namespace ns ("": the main cluster,
// whose events carry no namespace).
func InNamespace(events []Event, ns string) []Event {
	out := make([]Event, 0, len(events))
	for _, e := range events {
		if e.Namespace == ns {
			out = append(out, e)
		}
	}
	return out
}

// Since returns the events at or after t.
func Since(events []Event, t time.Time) []Event {
	var out []Event
	for _, e := range events {
		if !e.Time.Before(t) {
			out = append(out, e)
		}
	}
	return out
}
