// Package backup is the pure part of `kubectl axon backup`: which node a backup is
// taken from and why, whether Axon Server's storage paths lie on the pod's volumes,
// the manifest a backup directory holds, and the checks of `backup verify` and the
// rows of `backup list`. It knows nothing of HTTP or Kubernetes.
package backup

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// AdminGroup is the replication group that holds the Control DB's cluster data.
const AdminGroup = "_admin"

// Selection is what a backup copies: the contexts and the replication groups
// that hold them.
type Selection struct {
	Contexts []string
	// GroupOf maps each context to its replication group.
	GroupOf map[string]string
	// Groups are the groups of the contexts, sorted.
	Groups []string
}

// Select resolves the contexts to back up: every context of every group but
// _admin's own when want is empty. An unknown context is an error naming the known ones.
func Select(groups []axonserver.ReplicationGroup, want []string) (Selection, error) {
	all := map[string]string{}
	for _, g := range groups {
		for _, c := range g.Contexts {
			if c.Context != "" && c.Context != AdminGroup {
				all[c.Context] = g.Name
			}
		}
	}
	names := make([]string, 0, len(all))
	for c := range all {
		names = append(names, c)
	}
	sort.Strings(names)
	if len(want) == 0 {
		want = names
	}
	s := Selection{GroupOf: map[string]string{}}
	for _, c := range want {
		g, ok := all[c]
		if !ok {
			return Selection{}, fmt.Errorf("unknown context %q (the cluster has: %s)", c, strings.Join(names, ", "))
		}
		if _, dup := s.GroupOf[c]; dup {
			continue
		}
		s.Contexts = append(s.Contexts, c)
		s.GroupOf[c] = g
		if !slices.Contains(s.Groups, g) {
			s.Groups = append(s.Groups, g)
		}
	}
	if len(s.Contexts) == 0 {
		return Selection{}, fmt.Errorf("the cluster has no context to back up")
	}
	sort.Strings(s.Groups)
	return s, nil
}

// MembersOf records every group's members and roles, and the group of each of
// contexts (what a restore lays the files out by).
func MembersOf(groups []axonserver.ReplicationGroup, contexts []string) (map[string]map[string]string, map[string]string) {
	members, groupOf := map[string]map[string]string{}, map[string]string{}
	for _, g := range groups {
		members[g.Name] = map[string]string{}
		for _, r := range g.Roles {
			members[g.Name][r.Node] = r.Role
		}
		for _, c := range g.Contexts {
			if slices.Contains(contexts, c.Context) {
				groupOf[c.Context] = g.Name
			}
		}
	}
	return members, groupOf
}

// StoresEvents: the roles whose members keep a whole event store. SECONDARY keeps
// only older segments (tiered storage) and MESSAGING_ONLY none.
func StoresEvents(r quorum.Role) bool {
	return r == quorum.Primary || r == quorum.ActiveBackup || r == quorum.PassiveBackup
}

// Source is the node a backup is taken from, and why.
type Source struct {
	Node   string
	Reason string
	// ControlDB is the _admin member whose Control DB is exported (the source itself
	// when it is one).
	ControlDB string
}

// rank orders candidates: a backup node first (it serves no client, and a passive
// one counts for no quorum), then a follower PRIMARY, then a leader.
type rank int

const (
	rankPassive rank = iota
	rankActiveBackup
	rankFollower
	rankLeader
)

// ChooseSource picks the node that stores every selected context and that the
// backup disturbs least: a backup member (PASSIVE_BACKUP, then ACTIVE_BACKUP) of every
// group involved, else a PRIMARY that leads none of them, else a leader; among
// equals one that is also an _admin member, then by name. Only a node that is
// connected and caught up in every group involved is chosen. given, when not "",
// is the operator's choice: it is checked, not ranked.
func ChooseSource(c quorum.Cluster, sel Selection, given string) (Source, error) {
	type cand struct {
		node   string
		rank   rank
		admin  bool
		leads  []string
		unwell string
	}
	nodes := map[string]*cand{}
	var order []string
	for _, n := range c.Nodes {
		nodes[n.Name] = &cand{node: n.Name}
		order = append(order, n.Name)
		if !n.Connected {
			nodes[n.Name].unwell = "not connected to the cluster"
		}
	}
	holds := map[string]int{}
	for _, gname := range sel.Groups {
		g, ok := c.Group(gname)
		if !ok {
			return Source{}, fmt.Errorf("replication group %s is not in the cluster's view", gname)
		}
		for _, m := range g.Members {
			x := nodes[m.Node]
			if x == nil || !StoresEvents(m.Role) {
				continue
			}
			holds[m.Node]++
			r := rankFollower
			switch {
			case g.Leader == m.Node:
				r = rankLeader
				x.leads = append(x.leads, gname)
			case m.Role == quorum.PassiveBackup:
				r = rankPassive
			case m.Role == quorum.ActiveBackup:
				r = rankActiveBackup
			}
			x.rank = max(x.rank, r)
			if x.unwell == "" && (!m.Up || !m.CaughtUp) {
				x.unwell = "not caught up in " + gname
			}
		}
	}
	if admin, ok := c.Group(AdminGroup); ok {
		for _, m := range admin.Members {
			if x := nodes[m.Node]; x != nil {
				x.admin = true
			}
		}
	}
	var ok []*cand
	for _, n := range order {
		if holds[n] == len(sel.Groups) {
			ok = append(ok, nodes[n])
		}
	}
	if given != "" {
		x := nodes[given]
		switch {
		case x == nil:
			return Source{}, fmt.Errorf("node %s is not in the cluster", given)
		case holds[given] != len(sel.Groups):
			return Source{}, fmt.Errorf("node %s does not store every selected context (%s); choose a member of %s, or --contexts",
				given, strings.Join(sel.Contexts, ", "), strings.Join(sel.Groups, ", "))
		case x.unwell != "":
			return Source{}, fmt.Errorf("node %s is %s: a backup from it would miss what it has not yet received", given, x.unwell)
		}
		return Source{Node: given, Reason: "chosen with --node", ControlDB: controlDBNode(c, x.node, x.admin)}, nil
	}
	if len(ok) == 0 {
		return Source{}, fmt.Errorf("no node stores every selected context (%s in groups %s): back them up per node with --contexts",
			strings.Join(sel.Contexts, ", "), strings.Join(sel.Groups, ", "))
	}
	var well []*cand
	var unwell []string
	for _, x := range ok {
		if x.unwell == "" {
			well = append(well, x)
		} else {
			unwell = append(unwell, x.node+" ("+x.unwell+")")
		}
	}
	if len(well) == 0 {
		return Source{}, fmt.Errorf("every node that stores the selected contexts is unwell: %s", strings.Join(unwell, "; "))
	}
	sort.SliceStable(well, func(i, j int) bool {
		if well[i].rank != well[j].rank {
			return well[i].rank < well[j].rank
		}
		if well[i].admin != well[j].admin {
			return well[i].admin
		}
		return well[i].node < well[j].node
	})
	x := well[0]
	var why string
	switch x.rank {
	case rankPassive, rankActiveBackup:
		why = "a backup member of every group involved (" + strings.Join(sel.Groups, ", ") + "): it serves no client"
	case rankFollower:
		why = "a PRIMARY that leads none of the groups involved: the leaders are not disturbed"
	default:
		why = "it leads " + strings.Join(x.leads, ", ") + ", but no other connected, caught-up node stores every selected context"
	}
	return Source{Node: x.node, Reason: why, ControlDB: controlDBNode(c, x.node, x.admin)}, nil
}

// controlDBNode is the node whose Control DB is exported: the source when it is an
// _admin member, else a connected _admin follower, else _admin's leader.
func controlDBNode(c quorum.Cluster, source string, sourceIsAdmin bool) string {
	if sourceIsAdmin {
		return source
	}
	g, ok := c.Group(AdminGroup)
	if !ok {
		return source // Axon Server SE, or no _admin in view: the source's own Control DB
	}
	connected := map[string]bool{}
	for _, n := range c.Nodes {
		connected[n.Name] = n.Connected
	}
	best := ""
	for _, m := range g.Members {
		if !connected[m.Node] || !m.Up {
			continue
		}
		if m.Node != g.Leader {
			return m.Node
		}
		best = m.Node
	}
	if best == "" {
		return g.Leader
	}
	return best
}
