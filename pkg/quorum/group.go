package quorum

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// EffectiveMinActiveBackups is the min-active-backups the commit rule applies to g:
// MinActiveBackups, or Axon Server's default when it is not set.
func (g Group) EffectiveMinActiveBackups() int { return g.minActiveBackups() }

// minActiveBackups is the effective min-active-backups of the group.
func (g Group) minActiveBackups() int {
	if g.MinActiveBackups <= 0 {
		return DefaultMinActiveBackups
	}
	return g.MinActiveBackups
}

// Member returns the membership of node in g.
func (g Group) Member(node string) (Member, bool) {
	for _, m := range g.Members {
		if m.Node == node {
			return m, true
		}
	}
	return Member{}, false
}

// Without returns g with the memberships of nodes taken out: the group as it is
// once they have left it. A leader among them is no leader of the result (Axon
// Server hands leadership over before a leader leaves); the member list is a copy.
func (g Group) Without(nodes ...string) Group {
	out := g
	out.Members = nil
	for _, m := range g.Members {
		gone := false
		for _, n := range nodes {
			gone = gone || m.Node == n
		}
		if !gone {
			out.Members = append(out.Members, m)
		}
	}
	for _, n := range nodes {
		if out.Leader == n {
			out.Leader = ""
		}
	}
	return out
}

// HasLeader reports whether g has a usable leader: Leader names a PRIMARY member
// that is up. A leader the observation names but that is down or not a PRIMARY
// counts as no leader.
func (g Group) HasLeader() bool {
	if g.Leader == "" {
		return false
	}
	m, ok := g.Member(g.Leader)
	return ok && m.Up && m.Role.CanLead()
}

// roleCount is how many members of one voting role a group has, how many of them
// are up and caught up, and how many it needs for the commit rule.
type roleCount struct {
	role              Role
	total, good, need int
}

// met reports whether the role satisfies its part of the rule. A role without
// members is met only if it needs none (ACTIVE_BACKUP: ActiveBackupsRule).
func (rc roleCount) met() bool { return rc.good >= rc.need }

// slack is how many more of the role's good members may fail before it is unmet.
func (rc roleCount) slack() int { return rc.good - rc.need }

// String describes the count, e.g. "1 of 3 PRIMARY members up and caught up (needs 2)".
func (rc roleCount) String() string {
	s := fmt.Sprintf("%d of %d %s members up and caught up", rc.good, rc.total, rc.role)
	switch {
	case rc.role == Primary && rc.total == 0:
		return "no PRIMARY members (a group needs at least one)"
	case rc.role == Primary:
		return s + fmt.Sprintf(" (needs %d)", rc.need)
	case rc.need > rc.total:
		return s + fmt.Sprintf(" (min-active-backups %d exceeds the %d members: the group can never commit)",
			rc.need, rc.total)
	default:
		return s + fmt.Sprintf(" (min-active-backups %d)", rc.need)
	}
}

// counts returns the PRIMARY and ACTIVE_BACKUP counts of g, treating the members
// on the nodes in down as not up. The ACTIVE_BACKUP count needs nothing when the
// group has no ACTIVE_BACKUP members.
func (g Group) counts(down map[string]bool) (primary, backup roleCount) {
	primary.role, backup.role = Primary, ActiveBackup
	for _, m := range g.Members {
		var rc *roleCount
		switch m.Role {
		case Primary:
			rc = &primary
		case ActiveBackup:
			rc = &backup
		default:
			continue
		}
		rc.total++
		if m.Up && m.CaughtUp && !down[m.Node] {
			rc.good++
		}
	}
	primary.need = primary.total/2 + 1
	if backup.total > 0 {
		backup.need = g.minActiveBackups()
	}
	return primary, backup
}

// shortfall returns the first role count that fails the commit rule when the
// nodes in down are stopped, or ok when none does.
func (g Group) shortfall(down map[string]bool) (rc roleCount, ok bool) {
	primary, backup := g.counts(down)
	if !primary.met() {
		return primary, false
	}
	if !backup.met() {
		return backup, false
	}
	return roleCount{}, true
}

// CanCommit applies the commit rule to g as observed. When the group cannot
// commit, reason says why, e.g. "only 1 of 3 PRIMARY members up and caught up
// (needs 2)" or "only 0 of 1 ACTIVE_BACKUP members up and caught up
// (min-active-backups 1)". Whether the group has a leader right now is not part
// of the rule (a group that satisfies it elects one); see HasLeader.
func (g Group) CanCommit() (ok bool, reason string) {
	rc, ok := g.shortfall(nil)
	if ok {
		return true, ""
	}
	if rc.role == Primary && rc.total == 0 {
		return false, rc.String()
	}
	return false, "only " + rc.String()
}

// FaultTolerance returns how many more voting members of g may fail, whichever
// they are, before g can no longer commit: 0 when any one more failure stops
// it, -1 when it already cannot commit. With ACTIVE_BACKUP members it is the
// smaller of the PRIMARY slack (up and caught up beyond the majority) and the
// ACTIVE_BACKUP slack (beyond min-active-backups).
func (g Group) FaultTolerance() int {
	primary, backup := g.counts(nil)
	ft := primary.slack()
	if backup.total > 0 {
		ft = min(ft, backup.slack())
	}
	return max(ft, -1)
}

// Validate reports what makes g unusable as a model of an Axon Server group:
// no name, no PRIMARY member, members without a node name or a role,
// duplicate members, a leader that is not a PRIMARY member, a negative
// min-active-backups. A role kubectl axon does not know is not a problem. All problems are joined into one error.
func (g Group) Validate() error {
	var errs []error
	if g.Name == "" {
		errs = append(errs, errors.New("group without a name"))
	}
	name := g.Name
	seen := map[string]bool{}
	primaries := 0
	for _, m := range g.Members {
		switch {
		case m.Node == "":
			errs = append(errs, fmt.Errorf("group %s: member without a node name", name))
		case seen[m.Node]:
			errs = append(errs, fmt.Errorf("group %s: duplicate member %s", name, m.Node))
		}
		seen[m.Node] = true
		if !m.Role.Valid() {
			errs = append(errs, fmt.Errorf("group %s: member %s without a role", name, m.Node))
		}
		if m.Role == Primary {
			primaries++
		}
	}
	if primaries == 0 {
		errs = append(errs, fmt.Errorf("group %s: no PRIMARY member (a group needs at least one)", name))
	}
	if g.Leader != "" {
		if m, ok := g.Member(g.Leader); !ok || !m.Role.CanLead() {
			errs = append(errs, fmt.Errorf("group %s: leader %s is not a PRIMARY member", name, g.Leader))
		}
	}
	if g.MinActiveBackups < 0 {
		errs = append(errs, fmt.Errorf("group %s: negative min-active-backups %d", name, g.MinActiveBackups))
	}
	return errors.Join(errs...)
}

// Warnings returns advice about how g is laid out, not about its current state:
//
//   - an even number of PRIMARY members (Axon advises odd: 2 tolerate no more
//     failures than 1, 4 no more than 3);
//   - a single PRIMARY (stopping it stops writes);
//   - all voting members in one zone, when zoneOf knows the zone of every voting
//     member and there is more than one;
//   - exactly min-active-backups ACTIVE_BACKUP members (stopping any one stops
//     writes), or fewer than min-active-backups (the group can never commit).
//
// zoneOf maps node names to zones; nil or empty skips the zone check.
func (g Group) Warnings(zoneOf map[string]string) []string {
	var w []string
	primary, backup := g.counts(nil)
	switch {
	case primary.total == 1:
		w = append(w, "only one PRIMARY member: stopping it stops writes")
	case primary.total > 0 && primary.total%2 == 0:
		w = append(w, fmt.Sprintf("%d PRIMARY members: an even number tolerates no more failures than %d; Axon advises an odd number",
			primary.total, primary.total-1))
	}
	if z, ok := g.singleZone(zoneOf); ok {
		w = append(w, fmt.Sprintf("all voting members are in zone %s: losing that zone stops writes", z))
	}
	switch {
	case backup.total > 0 && backup.total < backup.need:
		w = append(w, fmt.Sprintf("%d ACTIVE_BACKUP members but min-active-backups %d: the group can never commit",
			backup.total, backup.need))
	case backup.total > 0 && backup.total == backup.need:
		w = append(w, fmt.Sprintf("%d ACTIVE_BACKUP members and min-active-backups %d: stopping any ACTIVE_BACKUP stops writes",
			backup.total, backup.need))
	}
	return w
}

// singleZone returns the zone all voting members of g share, when every voting
// member's zone is known and there is more than one voting member.
func (g Group) singleZone(zoneOf map[string]string) (string, bool) {
	zones := map[string]bool{}
	voters := 0
	for _, m := range g.Members {
		if !m.Role.Votes() {
			continue
		}
		voters++
		z := zoneOf[m.Node]
		if z == "" {
			return "", false
		}
		zones[z] = true
	}
	if voters < 2 || len(zones) != 1 {
		return "", false
	}
	for z := range zones {
		return z, true
	}
	return "", false
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// joinNodes names a set of nodes in messages: "a" or "a, b".
func joinNodes(nodes []string) string { return strings.Join(nodes, ", ") }
