// Package membership plans changes to a cluster's shape: adding a node to
// replication groups (add-node), taking a node out of every group before it is
// unregistered (remove-node), moving a membership to another node (move-member) and
// changing a member's role (set-role).
//
// It is pure: no Kubernetes, no HTTP. A plan is a list of membership changes per
// group, in the order they are to be made, each judged on the configurations the
// group passes through. The rules, and where they come from:
//
//   - Axon Server makes one change per group at a time, and a role changes only by
//     removing the member and adding it back (axon-server-facts.md: "Changing a
//     member's role"); an added member is waited for until it has caught up before
//     the next change, so an added member counts as up and caught up in the
//     configurations after it.
//   - After every removal the group must keep a PRIMARY and its commit availability
//     (the commit rule of pkg/quorum: Group.CanCommit on the group as observed, and on
//     the same group with every member up: a layout that can never commit is refused
//     whatever the timing).
//   - A group with contexts must keep a member that stores events (every role but
//     MESSAGING_ONLY): removing the only one loses the data (Strimzi refuses to scale
//     down a broker that still holds partitions for the same reason).
//   - A group with ACTIVE_BACKUP members must keep at least min-active-backups of
//     them: fewer (but some) never commits, and none silently drops the backup
//     guarantee the operator configured.
//   - _admin keeps at least one member: it holds the cluster's configuration.
//   - A group with a change pending takes no other (AXONIQ-2107): the plan is refused
//     until it finished, unless the run resumes its own.
//   - A change needs the group's leader (it is made through the Raft log).
package membership

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// AdminGroup is the replication group that holds the cluster's configuration.
const AdminGroup = "_admin"

// Membership is one node's membership of a group: the group and the role.
type Membership struct {
	Group string      `json:"group"`
	Role  quorum.Role `json:"role"`
}

// Group is what a plan needs of one replication group: the safety model's view of
// it, its contexts, and whether a membership change is pending in it.
type Group struct {
	quorum.Group
	Contexts      []string `json:"contexts,omitempty"`
	ChangePending bool     `json:"changePending,omitempty"`
}

// View is the cluster as the plans see it.
type View struct {
	Groups []Group
	// Nodes are the nodes registered in the Axon Server cluster.
	Nodes []string
}

// Group returns the group called name.
func (v View) Group(name string) (Group, bool) {
	for _, g := range v.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Memberships lists node's memberships, in group order.
func (v View) Memberships(node string) []Membership {
	out := []Membership{}
	for _, g := range v.Groups {
		if m, ok := g.Member(node); ok {
			out = append(out, Membership{Group: g.Name, Role: m.Role})
		}
	}
	return out
}

// Registered reports whether node is registered in the cluster.
func (v View) Registered(node string) bool { return slices.Contains(v.Nodes, node) }

// Rule names why a change is refused.
type Rule string

// The rules.
const (
	RuleCommit           Rule = "commit"             // the group would stop committing
	RuleNoPrimary        Rule = "no-primary"         // the group would have no PRIMARY
	RuleOnlyStore        Rule = "only-store"         // no member would store the group's contexts
	RuleMinActiveBackups Rule = "min-active-backups" // fewer ACTIVE_BACKUP members than min-active-backups
	RuleLastAdmin        Rule = "last-admin"         // _admin would have no member
	RulePending          Rule = "change-pending"     // the group has a change in progress
	RuleNoLeader         Rule = "no-leader"          // the group has no leader to make the change
	RuleInput            Rule = "input"              // the change makes no sense (no such group or member, ...)
	RulePermission       Rule = "permission"         // the user may not make the Kubernetes changes it needs
)

// Refusal is one reason not to make a plan's changes: the safety model's Impact (a
// group, "" for the operation as a whole, and a sentence; String prefixes the group)
// with the rule it breaks.
type Refusal struct {
	quorum.Impact
	Rule Rule `json:"rule"`
}

// Op is what a change does.
type Op string

// The ops.
const (
	Add    Op = "add"
	Remove Op = "remove"
)

// Change is one membership change: add Node to Group with Role, or remove it.
type Change struct {
	Op    Op          `json:"op"`
	Group string      `json:"group"`
	Node  string      `json:"node"`
	Role  quorum.Role `json:"role,omitempty"`
}

func (c Change) String() string {
	if c.Op == Add {
		return fmt.Sprintf("add %s as %s", c.Node, c.Role)
	}
	return "remove " + c.Node
}

// GroupPlan is one group's part of a plan.
type GroupPlan struct {
	Group string `json:"group"`
	// Role is the role of the plan's node in the group now ("" when it is no member).
	Role quorum.Role `json:"role,omitempty"`
	// Leader is the group's leader now; Leads says the plan's node is it.
	Leader string `json:"leader,omitempty"`
	Leads  bool   `json:"leads,omitempty"`
	// Changes are the group's changes, in order; none when there is nothing to do.
	Changes []Change `json:"changes"`
	// VotersBefore and VotersAfter count the voting members (PRIMARY, ACTIVE_BACKUP).
	VotersBefore int `json:"votersBefore"`
	VotersAfter  int `json:"votersAfter"`
	// Tolerance now, at the worst moment of the changes, and after them: how many more
	// voting members may fail before the group stops committing (-1: it cannot).
	Tolerance       int `json:"faultTolerance"`
	ToleranceDuring int `json:"faultToleranceDuring"`
	ToleranceAfter  int `json:"faultToleranceAfter"`
	// Refusals say why the changes may not be made; Warnings are advice.
	Refusals []Refusal `json:"refusals,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Verdict is the group's verdict in one phrase.
func (g GroupPlan) Verdict() string {
	switch {
	case len(g.Refusals) > 0:
		var why []string
		for _, r := range g.Refusals {
			why = append(why, r.Reason)
		}
		return "REFUSED: " + strings.Join(why, "; ")
	case len(g.Changes) == 0:
		return "nothing to do"
	}
	return "ok"
}

// Plan is a whole operation's plan.
type Plan struct {
	// Operation is add-node, remove-node, move-member or set-role; Node the node it is
	// about (for move-member: the node the membership leaves).
	Operation string      `json:"operation"`
	Node      string      `json:"node"`
	Groups    []GroupPlan `json:"groups"`
	// Refusals are every group's refusals and those about the operation as a whole.
	Refusals []Refusal `json:"refusals,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Refused reports whether the plan may not be carried out.
func (p Plan) Refused() bool { return len(p.Refusals) > 0 }

// Changes are every group's changes, group by group.
func (p Plan) Changes() []Change {
	var out []Change
	for _, g := range p.Groups {
		out = append(out, g.Changes...)
	}
	return out
}

// RefusalText joins the refusals for a one-line error.
func (p Plan) RefusalText() string {
	var s []string
	for _, r := range p.Refusals {
		s = append(s, r.String())
	}
	return strings.Join(s, "; ")
}

// Refuse adds a refusal to the plan (group "" for one about the whole operation).
func (p *Plan) Refuse(group string, rule Rule, format string, args ...any) {
	p.Refusals = append(p.Refusals, Refusal{Impact: quorum.Impact{Group: group, Reason: fmt.Sprintf(format, args...)}, Rule: rule})
}

// add appends a group's plan and collects its refusals.
func (p *Plan) add(gp GroupPlan) {
	p.Groups = append(p.Groups, gp)
	p.Refusals = append(p.Refusals, gp.Refusals...)
}

// voters counts g's voting members.
func voters(g quorum.Group) int {
	n := 0
	for _, m := range g.Members {
		if m.Role.Votes() {
			n++
		}
	}
	return n
}

func countRole(g quorum.Group, r quorum.Role) int {
	n := 0
	for _, m := range g.Members {
		if m.Role == r {
			n++
		}
	}
	return n
}

func stores(g quorum.Group) bool {
	for _, m := range g.Members {
		if m.Role.HasStorage() {
			return true
		}
	}
	return false
}

// allUp is g with every member up and caught up: its layout, whatever the timing.
func allUp(g quorum.Group) quorum.Group {
	g.Members = slices.Clone(g.Members)
	for i := range g.Members {
		g.Members[i].Up, g.Members[i].CaughtUp = true, true
	}
	return g
}

// apply makes one change on g. An added member counts as up and caught up: the
// procedure waits for that before the next change.
func apply(g quorum.Group, c Change) quorum.Group {
	g = g.Without(c.Node)
	if c.Op == Add {
		g.Members = append(g.Members, quorum.Member{Node: c.Node, Role: c.Role, Up: true, CaughtUp: true})
	}
	return g
}

// judge plans one group's changes: it walks the configurations the group passes
// through and applies the package's rules to each one a removal leads to. node is
// the plan's node (for Role, Leads); resuming says the run continues its own earlier
// one, whose change may be the one pending.
func judge(g Group, node string, changes []Change, resuming bool) GroupPlan {
	gp := GroupPlan{Group: g.Name, Leader: g.Leader, Leads: node != "" && g.Leader == node, Changes: changes,
		VotersBefore: voters(g.Group), Tolerance: g.FaultTolerance()}
	if gp.Changes == nil {
		gp.Changes = []Change{}
	}
	if m, ok := g.Member(node); ok {
		gp.Role = m.Role
	}
	cur := g.Group
	gp.ToleranceDuring = gp.Tolerance
	seen := map[Rule]bool{}
	refuse := func(rule Rule, format string, args ...any) {
		if !seen[rule] {
			seen[rule] = true
			gp.Refusals = append(gp.Refusals, Refusal{Impact: quorum.Impact{Group: g.Name, Reason: fmt.Sprintf(format, args...)}, Rule: rule})
		}
	}
	if len(changes) > 0 {
		if g.ChangePending && !resuming {
			refuse(RulePending, "a membership change is in progress (Axon Server takes one at a time); rerun when it has finished")
		}
		if !g.HasLeader() && !resuming {
			refuse(RuleNoLeader, "no leader (an election may be in progress); wait until one is elected")
		}
	}
	minAB := g.EffectiveMinActiveBackups()
	backupsBefore := countRole(g.Group, quorum.ActiveBackup)
	for i, c := range changes {
		cur = apply(cur, c)
		if i < len(changes)-1 {
			gp.ToleranceDuring = min(gp.ToleranceDuring, cur.FaultTolerance())
		}
		if c.Op != Remove {
			continue
		}
		who := c.Node
		switch {
		case g.Name == AdminGroup && len(cur.Members) == 0:
			refuse(RuleLastAdmin, "%s is the last member of _admin, which holds the cluster's configuration", who)
			continue
		case countRole(cur, quorum.Primary) == 0:
			refuse(RuleNoPrimary, "without %s the group has no PRIMARY member (a group needs one)", who)
		case !okCommit(allUp(cur)):
			_, why := allUp(cur).CanCommit()
			refuse(RuleCommit, "without %s the group can never commit: %s", who, why)
		case !okCommit(cur):
			_, why := cur.CanCommit()
			refuse(RuleCommit, "without %s the group cannot commit now: %s", who, why)
		}
		if len(g.Contexts) > 0 && !stores(cur) {
			refuse(RuleOnlyStore, "%s is the only member storing context %s: its events would be gone (move the membership to another node first: --move-to)",
				who, strings.Join(g.Contexts, ", "))
		}
		if n := countRole(cur, quorum.ActiveBackup); backupsBefore > 0 && n < minAB {
			refuse(RuleMinActiveBackups, "without %s the group keeps %d ACTIVE_BACKUP members, fewer than min-active-backups %d", who, n, minAB)
		}
	}
	gp.VotersAfter, gp.ToleranceAfter = voters(cur), cur.FaultTolerance()
	if len(changes) > 0 {
		gp.ToleranceDuring = min(gp.ToleranceDuring, gp.ToleranceAfter)
		before := g.Warnings(nil)
		for _, w := range cur.Warnings(nil) {
			if !slices.Contains(before, w) {
				gp.Warnings = append(gp.Warnings, "after: "+w)
			}
		}
	}
	return gp
}

func okCommit(g quorum.Group) bool {
	ok, _ := g.CanCommit()
	return ok
}

// toRole is the change that gives node role in g ("" role: no membership): none
// when it has it already, a removal and an addition for a member with another role
// (a POST to a member changes nothing).
func toRole(g Group, node string, role quorum.Role) []Change {
	m, member := g.Member(node)
	switch {
	case role == "" && !member, role != "" && member && m.Role == role:
		return nil
	case role == "":
		return []Change{{Op: Remove, Group: g.Name, Node: node}}
	case member:
		return []Change{{Op: Remove, Group: g.Name, Node: node}, {Op: Add, Group: g.Name, Node: node, Role: role}}
	}
	return []Change{{Op: Add, Group: g.Name, Node: node, Role: role}}
}

// AddNode plans giving a new (or just registered) node the memberships want, one
// group at a time. A membership the node has already with the role wanted is
// nothing to do; one with another role is removed and added back.
func AddNode(v View, node string, want []Membership, resuming bool) Plan {
	p := Plan{Operation: "add-node", Node: node}
	seen := map[string]bool{}
	for _, w := range want {
		g, ok := v.Group(w.Group)
		switch {
		case seen[w.Group]:
			p.Refuse(w.Group, RuleInput, "named twice")
			continue
		case !ok:
			p.Refuse(w.Group, RuleInput, "no such replication group")
			continue
		case !w.Role.Valid():
			p.Refuse(w.Group, RuleInput, "no role given")
			continue
		}
		seen[w.Group] = true
		gp := judge(g, node, toRole(g, node, w.Role), resuming)
		if gp.VotersAfter > gp.VotersBefore && gp.VotersAfter%2 == 0 && !slices.ContainsFunc(gp.Warnings, func(w string) bool { return strings.Contains(w, "even number") }) {
			gp.Warnings = append(gp.Warnings, fmt.Sprintf("%d voting members after: an even number tolerates no more failures than %d", gp.VotersAfter, gp.VotersAfter-1))
		}
		p.add(gp)
	}
	return p
}

// Targets picks, for each of node's memberships, the node of moveTo that takes it
// over: the one of them with the fewest memberships assigned so far that is no member
// of the group yet (in moveTo's order on a tie), none when every one of them is.
// fixed are the choices of an earlier run (group → node), kept as they are.
func Targets(v View, node string, ms []Membership, moveTo []string, fixed map[string]string) map[string]string {
	out := map[string]string{}
	load := map[string]int{}
	for g, t := range fixed {
		out[g] = t
		load[t]++
	}
	for _, m := range ms {
		if _, ok := out[m.Group]; ok || len(moveTo) == 0 {
			continue
		}
		g, _ := v.Group(m.Group)
		best := ""
		for _, t := range moveTo {
			if _, member := g.Member(t); member || t == node {
				continue
			}
			if best == "" || load[t] < load[best] {
				best = t
			}
		}
		if best != "" {
			out[m.Group] = best
			load[best]++
		}
	}
	return out
}

// RemoveNode plans the decommission of node: for each of its memberships ms (its
// current ones, or those an earlier run recorded), first the membership added on
// the target chosen for the group (targets, from Targets) with the same role, then
// node removed from the group. A group node has left already is nothing to do
// (unless its target still lacks the membership).
func RemoveNode(v View, node string, ms []Membership, targets map[string]string, resuming bool) Plan {
	p := Plan{Operation: "remove-node", Node: node}
	for _, m := range ms {
		g, ok := v.Group(m.Group)
		if !ok {
			if !resuming {
				p.Refuse(m.Group, RuleInput, "no such replication group")
			}
			continue
		}
		var changes []Change
		if t := targets[m.Group]; t != "" {
			changes = append(changes, toRole(g, t, m.Role)...)
		}
		changes = append(changes, toRole(g, node, "")...)
		gp := judge(g, node, changes, resuming)
		if gp.Role == "" {
			gp.Role = m.Role
		}
		p.add(gp)
	}
	return p
}

// MoveMember plans moving from's membership of group to node to, with role (from's
// role when ""): add it on to, wait until caught up, then remove from. A run that
// resumes finds to a member already and only removes from.
func MoveMember(v View, group, from, to string, role quorum.Role, resuming bool) Plan {
	p := Plan{Operation: "move-member", Node: from}
	g, ok := v.Group(group)
	if !ok {
		p.Refuse(group, RuleInput, "no such replication group")
		return p
	}
	fm, fromMember := g.Member(from)
	tm, toMember := g.Member(to)
	if role == "" {
		role = fm.Role
	}
	switch {
	case from == to:
		p.Refuse(group, RuleInput, "--from and --to are the same node")
		return p
	case !fromMember && toMember && (role == "" || tm.Role == role):
		p.add(judge(g, from, nil, resuming)) // done already
		return p
	case !fromMember:
		p.Refuse(group, RuleInput, "%s is no member of %s", from, group)
		return p
	case toMember && tm.Role != role && !resuming:
		p.Refuse(group, RuleInput, "%s is a member of %s already (as %s): use set-role to change its role", to, group, tm.Role)
		return p
	case !v.Registered(to):
		p.Refuse(group, RuleInput, "%s is not registered in the cluster", to)
		return p
	}
	changes := append(toRole(g, to, role), toRole(g, from, "")...)
	p.add(judge(g, from, changes, resuming))
	return p
}

// SetRole plans giving node role in group: remove the member and add it back with
// the role (Axon Server changes roles no other way), refused where the group would
// lose its commit availability (or its data) while the member is out. A run that
// resumes after the removal only adds the member back.
func SetRole(v View, group, node string, role quorum.Role, resuming bool) Plan {
	p := Plan{Operation: "set-role", Node: node}
	g, ok := v.Group(group)
	if !ok {
		p.Refuse(group, RuleInput, "no such replication group")
		return p
	}
	if _, member := g.Member(node); !member && !resuming {
		p.Refuse(group, RuleInput, "%s is no member of %s: add it with add-node --groups or move-member", node, group)
		return p
	}
	p.add(judge(g, node, toRole(g, node, role), resuming))
	return p
}
