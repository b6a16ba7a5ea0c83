package quorum

import (
	"fmt"
	"strings"
	"testing"
)

// shortRoles maps the role codes of test specs to roles.
var shortRoles = map[string]Role{"P": Primary, "A": ActiveBackup, "PB": PassiveBackup, "M": MessagingOnly, "S": Secondary}

// members builds members from a spec of space-separated "node:ROLE:state", where
// ROLE is P, A, PB, M, S (or any other text, taken as the role itself) and state
// is ok (up and caught up), lag (up, behind) or down.
func members(t *testing.T, spec string) []Member {
	t.Helper()
	var ms []Member
	for _, f := range strings.Fields(spec) {
		parts := strings.Split(f, ":")
		if len(parts) != 3 {
			t.Fatalf("bad member spec %q", f)
		}
		role, ok := shortRoles[parts[1]]
		if !ok {
			role = Role(parts[1])
		}
		m := Member{Node: parts[0], Role: role}
		switch parts[2] {
		case "ok":
			m.Up, m.CaughtUp = true, true
		case "lag":
			m.Up = true
		case "down":
		default:
			t.Fatalf("bad state in %q", f)
		}
		ms = append(ms, m)
	}
	return ms
}

// group builds a group from a members spec.
func group(t *testing.T, name, leader string, minActiveBackups int, spec string) Group {
	t.Helper()
	return Group{Name: name, Leader: leader, MinActiveBackups: minActiveBackups, Members: members(t, spec)}
}

func TestCanCommitAndFaultTolerance(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		min    int
		ok     bool
		reason string
		ft     int
	}{
		// PRIMARY only: majority P/2+1.
		{"1 primary up", "a:P:ok", 0, true, "", 0},
		{"1 primary down", "a:P:down", 0, false, "only 0 of 1 PRIMARY members up and caught up (needs 1)", -1},
		{"2 primaries up", "a:P:ok b:P:ok", 0, true, "", 0},
		{"2 primaries one down", "a:P:ok b:P:down", 0, false, "only 1 of 2 PRIMARY members up and caught up (needs 2)", -1},
		{"3 primaries up", "a:P:ok b:P:ok c:P:ok", 0, true, "", 1},
		{"3 primaries one down", "a:P:ok b:P:ok c:P:down", 0, true, "", 0},
		{"3 primaries one lagging one down", "a:P:ok b:P:lag c:P:down", 0, false, "only 1 of 3 PRIMARY members up and caught up (needs 2)", -1},
		{"3 primaries two lagging", "a:P:ok b:P:lag c:P:lag", 0, false, "only 1 of 3 PRIMARY members up and caught up (needs 2)", -1},
		{"4 primaries up", "a:P:ok b:P:ok c:P:ok d:P:ok", 0, true, "", 1},
		{"4 primaries one down", "a:P:ok b:P:ok c:P:ok d:P:down", 0, true, "", 0},
		{"4 primaries two down", "a:P:ok b:P:ok c:P:down d:P:down", 0, false, "only 2 of 4 PRIMARY members up and caught up (needs 3)", -1},
		{"5 primaries up", "a:P:ok b:P:ok c:P:ok d:P:ok e:P:ok", 0, true, "", 2},
		{"5 primaries two down", "a:P:ok b:P:ok c:P:ok d:P:down e:P:down", 0, true, "", 0},
		{"5 primaries three down", "a:P:ok b:P:ok c:P:down d:P:down e:P:down", 0, false, "only 2 of 5 PRIMARY members up and caught up (needs 3)", -1},
		{"no primary", "a:A:ok b:PB:ok", 0, false, "no PRIMARY members (a group needs at least one)", -1},
		{"no members", "", 0, false, "no PRIMARY members (a group needs at least one)", -1},

		// ACTIVE_BACKUP: at least min-active-backups of them, when there are any.
		{"only active backup up", "a:P:ok b:P:ok c:P:ok d:A:ok", 0, true, "", 0},
		{"only active backup down", "a:P:ok b:P:ok c:P:ok d:A:down", 0, false, "only 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)", -1},
		{"only active backup lagging", "a:P:ok d:A:lag", 0, false, "only 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)", -1},
		{"two active backups min 1", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok", 1, true, "", 1},
		{"two active backups min 1 one down", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:down", 0, true, "", 0},
		{"two active backups min 2", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok", 2, true, "", 0},
		{"two active backups min 2 one down", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:down", 2, false, "only 1 of 2 ACTIVE_BACKUP members up and caught up (min-active-backups 2)", -1},
		{"min 2 exceeds one active backup", "a:P:ok b:P:ok c:P:ok d:A:ok", 2, false, "only 1 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 2 exceeds the 1 members: the group can never commit)", -1},
		{"primary slack smaller than backup slack", "a:P:ok b:P:ok c:P:down d:A:ok e:A:ok f:A:ok", 1, true, "", 0},
		{"backup slack smaller than primary slack", "a:P:ok b:P:ok c:P:ok d:P:ok e:P:ok f:A:ok g:A:ok h:A:ok", 2, true, "", 1},
		{"primary failure reported before backup", "a:P:down b:A:down", 0, false, "only 0 of 1 PRIMARY members up and caught up (needs 1)", -1},

		// PASSIVE_BACKUP, SECONDARY and MESSAGING_ONLY never count.
		{"non-voters down do not hurt", "a:P:ok b:PB:down c:M:down d:S:down", 0, true, "", 0},
		{"non-voters up do not help", "a:P:ok b:P:down c:P:down d:PB:ok e:M:ok f:S:ok", 0, false, "only 1 of 3 PRIMARY members up and caught up (needs 2)", -1},
		{"min-active-backups ignored without active backups", "a:P:ok b:PB:ok", 3, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := group(t, "g", "", tt.min, tt.spec)
			ok, reason := g.CanCommit()
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("CanCommit() = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
			if ft := g.FaultTolerance(); ft != tt.ft {
				t.Errorf("FaultTolerance() = %d; want %d", ft, tt.ft)
			}
		})
	}
}

// TestFaultToleranceMeansFailures checks FaultTolerance against brute force: the
// group survives every set of ft more voter failures and some set of ft+1 stops it.
func TestFaultToleranceMeansFailures(t *testing.T) {
	specs := []struct {
		spec string
		min  int
	}{
		{"a:P:ok b:P:ok c:P:ok", 0},
		{"a:P:ok b:P:ok c:P:ok d:P:ok e:P:ok f:A:ok g:A:ok", 0},
		{"a:P:ok b:P:ok c:P:ok d:P:ok e:P:ok f:A:ok g:A:ok h:A:lag", 2},
		{"a:P:ok b:P:ok c:P:ok d:P:down e:A:ok f:M:ok", 0},
	}
	for _, s := range specs {
		g := group(t, "g", "", s.min, s.spec)
		ft := g.FaultTolerance()
		var voters []string
		for _, m := range g.Members {
			if m.Role.Votes() && m.Up && m.CaughtUp {
				voters = append(voters, m.Node)
			}
		}
		worst := len(voters) + 1 // smallest number of failures that stops the group
		for mask := 0; mask < 1<<len(voters); mask++ {
			down := map[string]bool{}
			for i, v := range voters {
				if mask&(1<<i) != 0 {
					down[v] = true
				}
			}
			if _, ok := g.shortfall(down); !ok && len(down) < worst {
				worst = len(down)
			}
		}
		if ft != worst-1 {
			t.Errorf("%s min %d: FaultTolerance() = %d, brute force %d", s.spec, s.min, ft, worst-1)
		}
	}
}

func TestRole(t *testing.T) {
	tests := []struct {
		role                                     Role
		known, valid, votes, canLead, hasStorage bool
	}{
		{Primary, true, true, true, true, true},
		{ActiveBackup, true, true, true, false, true},
		{PassiveBackup, true, true, false, false, true},
		{Secondary, true, true, false, false, true},
		{MessagingOnly, true, true, false, false, false},
		{Analytics, true, true, false, false, true},
		// Roles kubectl axon does not know: valid, non-voting, never leading.
		{Role("LEADER"), false, true, false, false, true},
		{Role("primary"), false, true, false, false, true},
		{Role(""), false, false, false, false, false},
	}
	for _, tt := range tests {
		got := []bool{tt.role.Known(), tt.role.Valid(), tt.role.Votes(), tt.role.CanLead(), tt.role.HasStorage()}
		want := []bool{tt.known, tt.valid, tt.votes, tt.canLead, tt.hasStorage}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: Known, Valid, Votes, CanLead, HasStorage = %v; want %v", tt.role, got, want)
		}
	}
	if len(Roles()) != 6 {
		t.Errorf("Roles() = %v; want 6 roles", Roles())
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		err  string
	}{
		{"PRIMARY", Primary, ""},
		{"primary", Primary, ""},
		{"Active_Backup", ActiveBackup, ""},
		{"active-backup", ActiveBackup, ""},
		{" passive_backup ", PassiveBackup, ""},
		{"messaging_only", MessagingOnly, ""},
		{"Secondary", Secondary, ""},
		{"analytics", Analytics, ""},
		{"leader", "", `unknown role "leader" (valid: PRIMARY, ACTIVE_BACKUP, PASSIVE_BACKUP, MESSAGING_ONLY, SECONDARY, ANALYTICS)`},
		{"", "", `unknown role ""`},
	}
	for _, tt := range tests {
		got, err := ParseRole(tt.in)
		if got != tt.want {
			t.Errorf("ParseRole(%q) = %q; want %q", tt.in, got, tt.want)
		}
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseRole(%q) error %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseRole(%q) error %v; want it to contain %q", tt.in, err, tt.err)
		}
	}
}

func TestHasLeader(t *testing.T) {
	tests := []struct {
		leader string
		want   bool
	}{
		{"a", true},
		{"", false},
		{"b", false}, // leader named but down
		{"c", false}, // not a PRIMARY
		{"z", false}, // not a member
	}
	for _, tt := range tests {
		g := group(t, "g", tt.leader, 0, "a:P:ok b:P:down c:A:ok")
		if got := g.HasLeader(); got != tt.want {
			t.Errorf("leader %q: HasLeader() = %v; want %v", tt.leader, got, tt.want)
		}
	}
}

func TestGroupValidate(t *testing.T) {
	tests := []struct {
		name string
		g    Group
		want []string // substrings of the error; none means valid
	}{
		{"valid", Group{Name: "g", Leader: "a", Members: []Member{{Node: "a", Role: Primary}, {Node: "b", Role: ActiveBackup}}}, nil},
		{"valid without leader", Group{Name: "g", Members: []Member{{Node: "a", Role: Primary}}}, nil},
		{"no primary", Group{Name: "g", Members: []Member{{Node: "a", Role: ActiveBackup}}}, []string{"group g: no PRIMARY member"}},
		{"no members", Group{Name: "g"}, []string{"group g: no PRIMARY member"}},
		{"unknown role is valid", Group{Name: "g", Members: []Member{{Node: "a", Role: Primary}, {Node: "b", Role: "QUANTUM"}, {Node: "c", Role: Analytics}}}, nil},
		{"member without a role", Group{Name: "g", Members: []Member{{Node: "a", Role: Primary}, {Node: "b", Role: " "}}},
			[]string{`group g: member b without a role`}},
		{"duplicate member", Group{Name: "g", Members: []Member{{Node: "a", Role: Primary}, {Node: "a", Role: ActiveBackup}}},
			[]string{"group g: duplicate member a"}},
		{"member without node", Group{Name: "g", Members: []Member{{Node: "a", Role: Primary}, {Role: Primary}}},
			[]string{"group g: member without a node name"}},
		{"leader not primary", Group{Name: "g", Leader: "b", Members: []Member{{Node: "a", Role: Primary}, {Node: "b", Role: ActiveBackup}}},
			[]string{"group g: leader b is not a PRIMARY member"}},
		{"leader not member", Group{Name: "g", Leader: "z", Members: []Member{{Node: "a", Role: Primary}}},
			[]string{"group g: leader z is not a PRIMARY member"}},
		{"negative min", Group{Name: "g", MinActiveBackups: -1, Members: []Member{{Node: "a", Role: Primary}}},
			[]string{"negative min-active-backups -1"}},
		{"no name and several problems", Group{Members: []Member{{Node: "a", Role: ""}, {Node: "a", Role: PassiveBackup}}},
			[]string{"group without a name", `member a without a role`, "duplicate member a", "no PRIMARY member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	abc := map[string]string{"a": "z1", "b": "z2", "c": "z3"}
	allZ1 := map[string]string{"a": "z1", "b": "z1", "c": "z1", "d": "z1", "p": "z2"}
	tests := []struct {
		name  string
		spec  string
		min   int
		zones map[string]string
		want  []string // one substring per warning, in order
	}{
		{"three primaries", "a:P:ok b:P:ok c:P:ok", 0, nil, nil},
		{"state does not matter", "a:P:down b:P:down c:P:ok", 0, abc, nil},
		{"one primary", "a:P:ok", 0, nil, []string{"only one PRIMARY member"}},
		{"two primaries", "a:P:ok b:P:ok", 0, nil, []string{"2 PRIMARY members: an even number tolerates no more failures than 1"}},
		{"four primaries", "a:P:ok b:P:ok c:P:ok d:P:ok", 0, nil, []string{"4 PRIMARY members: an even number"}},
		{"non-voters do not make it even", "a:P:ok b:P:ok c:P:ok d:PB:ok", 0, nil, nil},
		{"all voters in one zone", "a:P:ok b:P:ok c:P:ok", 0, allZ1, []string{"all voting members are in zone z1"}},
		{"passive backup elsewhere does not help", "a:P:ok b:P:ok c:P:ok p:PB:ok", 0, allZ1, []string{"all voting members are in zone z1"}},
		{"spread over zones", "a:P:ok b:P:ok c:P:ok", 0, abc, nil},
		{"zone of a voter unknown", "a:P:ok b:P:ok c:P:ok", 0, map[string]string{"a": "z1", "b": "z1"}, nil},
		{"single voter in a zone", "a:P:ok p:PB:ok", 0, allZ1, []string{"only one PRIMARY member"}},
		{"primary and active backup in one zone", "a:P:ok d:A:ok", 0, allZ1,
			[]string{"only one PRIMARY member", "all voting members are in zone z1", "stopping any ACTIVE_BACKUP stops writes"}},
		{"only active backup", "a:P:ok b:P:ok c:P:ok d:A:ok", 0, nil,
			[]string{"1 ACTIVE_BACKUP members and min-active-backups 1: stopping any ACTIVE_BACKUP stops writes"}},
		{"two active backups min 1", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok", 1, nil, nil},
		{"two active backups min 2", "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok", 2, nil,
			[]string{"2 ACTIVE_BACKUP members and min-active-backups 2"}},
		{"min exceeds active backups", "a:P:ok b:P:ok c:P:ok d:A:ok", 2, nil,
			[]string{"1 ACTIVE_BACKUP members but min-active-backups 2: the group can never commit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := group(t, "g", "", tt.min, tt.spec).Warnings(tt.zones)
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings() = %q; want %d warnings like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q; want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// Roles kubectl axon does not know (and ANALYTICS, which it knows as non-voting)
// never count for the commit rule, never lead, and never make the model fail.
func TestUnknownRolesAreNonVoting(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		ok     bool
		ft     int
		leader string
		lead   bool
	}{
		{"analytics down does not matter", "a:P:ok b:P:ok c:P:ok d:ANALYTICS:down", true, 1, "a", true},
		{"unknown role down does not matter", "a:P:ok b:P:ok c:P:ok d:QUANTUM:down e:QUANTUM:down", true, 1, "a", true},
		{"unknown roles do not make a majority", "a:P:ok b:P:down c:P:down d:QUANTUM:ok e:ANALYTICS:ok", false, -1, "a", true},
		{"an unknown role cannot lead", "a:P:ok d:QUANTUM:ok", true, 0, "d", false},
		{"active backups still counted beside them", "a:P:ok b:A:down d:ANALYTICS:ok", false, -1, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := group(t, "g", tt.leader, 0, tt.spec)
			if err := g.Validate(); err != nil && tt.lead {
				t.Fatalf("Validate() = %v", err)
			}
			if ok, why := g.CanCommit(); ok != tt.ok {
				t.Errorf("CanCommit() = %v (%s); want %v", ok, why, tt.ok)
			}
			if got := g.FaultTolerance(); got != tt.ft {
				t.Errorf("FaultTolerance() = %d; want %d", got, tt.ft)
			}
			if got := g.HasLeader(); got != tt.lead {
				t.Errorf("HasLeader() = %v; want %v", got, tt.lead)
			}
		})
	}
	c := Cluster{Groups: []Group{
		group(t, "orders", "a", 0, "a:P:ok b:QUANTUM:ok c:ANALYTICS:ok"),
		group(t, "default", "a", 0, "a:P:ok c:QUANTUM:ok"),
	}}
	if got := UnknownRoles(c); len(got) != 1 || strings.Join(got["QUANTUM"], ",") != "default/c,orders/b" {
		t.Errorf("UnknownRoles = %v", got)
	}
	w := UnknownRoleWarnings(c)
	if len(w) != 1 || !strings.Contains(w[0], "role QUANTUM (default/c, orders/b) is unknown to kubectl axon: treated as non-voting") {
		t.Errorf("UnknownRoleWarnings = %q", w)
	}
	if !Analytics.Known() || Analytics.Votes() || Role("QUANTUM").Known() || Role("QUANTUM").Votes() || !Role("QUANTUM").Valid() {
		t.Error("role predicates")
	}
}

func TestWithout(t *testing.T) {
	g := Group{Name: "g", Leader: "a", Members: []Member{
		{Node: "a", Role: Primary, Up: true, CaughtUp: true},
		{Node: "b", Role: Primary, Up: true, CaughtUp: true},
		{Node: "c", Role: ActiveBackup, Up: true, CaughtUp: true},
	}}
	w := g.Without("a", "c")
	if w.Leader != "" || len(w.Members) != 1 || w.Members[0].Node != "b" {
		t.Fatalf("Without(a, c) = %+v", w)
	}
	if len(g.Members) != 3 || g.Leader != "a" {
		t.Fatalf("Without changed its receiver: %+v", g)
	}
	if w := g.Without("b"); w.Leader != "a" || len(w.Members) != 2 {
		t.Fatalf("Without(b) = %+v: the leader stays when it does not leave", w)
	}
	// With its only ACTIVE_BACKUP gone the group has none, and ActiveBackupsRule
	// holds with none: it still commits on its PRIMARY members.
	if ok, why := g.Without("c").CanCommit(); !ok {
		t.Fatalf("Without(c) cannot commit: %s", why)
	}
}
