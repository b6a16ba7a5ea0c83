// Package quorum is kubectl axon's safety model: the Axon Server EE commit rule for
// replication groups, and from it whether a node may be stopped now, how many more
// voters each group can lose, and whether a node counts as healthy.
//
// It is pure: no Kubernetes, no HTTP. Callers build a Cluster from whatever they
// observed and ask it questions.
//
// # The commit rule, and where it comes from
//
// A group can commit (and elect a leader, and keep one) when
//
//   - a strict majority of its PRIMARY members, the leader included, is up and
//     caught up: at least P/2+1 of P, so 1 of 1, 2 of 2, 2 of 3, 3 of 4, 3 of 5; and
//   - if the group has any ACTIVE_BACKUP member, at least min-active-backups
//     (default 1) of them are up and caught up. The minimum is not capped by the
//     number of active backups: with min-active-backups 2 and one ACTIVE_BACKUP
//     the group can never commit. With no ACTIVE_BACKUP at all the minimum is
//     ignored.
//
// PASSIVE_BACKUP, SECONDARY, MESSAGING_ONLY, ANALYTICS (2025.2) and any role this
// package does not know never count. Only a PRIMARY leads.
//
// This follows the Raft module axonserver-cluster of Axon Server EE (public repo
// AxonIQ/axon-server-se, package io.axoniq.axonserver.cluster):
//
//   - rules.PrimaryMajorityRule (since 4.3): counts the local node (the leader or
//     candidate) plus every peer whose role RoleUtils.primaryNode accepts (PRIMARY
//     only) and requires an absolute majority of them.
//   - rules.ActiveBackupsRule (since 4.3): counts ACTIVE_BACKUP peers only; true
//     when there are none, otherwise when at least minActiveBackups pass. There is
//     no min(minActiveBackups, count), hence "min > count never commits".
//   - rules.PrimaryMajorityAndActiveBackupsRule: both of the above. It is used by
//     replication.MajorityMatchStrategy (an index commits when peer matchIndex
//     reaches it), by election.PrimaryAndVotingMajorityStrategy (votes granted) and
//     by util.LeaderTimeoutChecker (a leader steps down when it has not heard from
//     such a set within the max election timeout).
//   - util.RoleUtils: votingNode = PRIMARY or ACTIVE_BACKUP; hasStorage = every
//     role but MESSAGING_ONLY. The storage options default minActiveBackups to 1.
package quorum

import (
	"fmt"
	"sort"
	"strings"
)

// Role is a member's role in a replication group, as Axon Server names it. Newer
// servers bring roles this list does not name (ANALYTICS in 2025.2, and perhaps
// more): such a role is shown as it is named, counts as non-voting, never leads,
// and never makes the model fail (see Known).
type Role string

const (
	Primary       Role = "PRIMARY"
	ActiveBackup  Role = "ACTIVE_BACKUP"
	PassiveBackup Role = "PASSIVE_BACKUP"
	MessagingOnly Role = "MESSAGING_ONLY"
	Secondary     Role = "SECONDARY"
	// Analytics (2025.2+): a node for analytics workloads; it does not vote.
	Analytics Role = "ANALYTICS"
)

// roles lists the roles kubectl axon knows, in the order error messages show them.
var roles = []Role{Primary, ActiveBackup, PassiveBackup, MessagingOnly, Secondary, Analytics}

// Roles returns every role kubectl axon knows.
func Roles() []Role { return append([]Role(nil), roles...) }

// Known reports whether r is one of the roles kubectl axon knows. A role it does
// not know is still a valid role of some Axon Server version: treat it as
// non-voting (Votes is false) and warn about it once (UnknownRoles).
func (r Role) Known() bool {
	for _, v := range roles {
		if r == v {
			return true
		}
	}
	return false
}

// Valid reports whether r is usable as a member's role: any non-empty name. Roles
// kubectl axon does not know are valid (see Known).
func (r Role) Valid() bool { return strings.TrimSpace(string(r)) != "" }

// Votes reports whether members with role r count for the commit rule and vote in
// elections: PRIMARY and ACTIVE_BACKUP (RoleUtils.votingNode). Every other role,
// known or not, does not.
func (r Role) Votes() bool { return r == Primary || r == ActiveBackup }

// CanLead reports whether a member with role r can become leader: PRIMARY only.
func (r Role) CanLead() bool { return r == Primary }

// HasStorage reports whether members with role r keep an event store: every known
// role but MESSAGING_ONLY (RoleUtils.hasStorage); unknown roles are assumed to.
func (r Role) HasStorage() bool { return r.Valid() && r != MessagingOnly }

// ParseRole turns s into a known Role, ignoring case and accepting "-" for "_"
// ("active-backup" is ACTIVE_BACKUP). The error lists the known roles.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_")))
	if r.Known() {
		return r, nil
	}
	names := make([]string, len(roles))
	for i, v := range roles {
		names[i] = string(v)
	}
	return "", fmt.Errorf("unknown role %q (valid: %s)", s, strings.Join(names, ", "))
}

// UnknownRoles lists the roles of c's members that kubectl axon does not know,
// once each, with the members holding them ("group/node"), sorted: the model treats
// them as non-voting; callers warn once per role.
func UnknownRoles(c Cluster) map[Role][]string {
	out := map[Role][]string{}
	for _, g := range c.Groups {
		for _, m := range g.Members {
			if !m.Role.Known() {
				out[m.Role] = append(out[m.Role], g.Name+"/"+m.Node)
			}
		}
	}
	for r := range out {
		sort.Strings(out[r])
	}
	return out
}

// UnknownRoleWarnings words UnknownRoles as one warning per role, sorted by role.
func UnknownRoleWarnings(c Cluster) []string {
	u := UnknownRoles(c)
	names := make([]string, 0, len(u))
	for r := range u {
		names = append(names, string(r))
	}
	sort.Strings(names)
	var out []string
	for _, r := range names {
		out = append(out, fmt.Sprintf("role %s (%s) is unknown to kubectl axon: treated as non-voting (it never counts for the commit rule nor leads)",
			r, strings.Join(u[Role(r)], ", ")))
	}
	return out
}

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
	// Sight is what the observation behind the snapshot could not see (cluster.go);
	// the zero value means everything was seen.
	Sight Sight `json:"sight,omitzero"`
}
