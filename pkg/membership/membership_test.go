package membership

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// grp builds a group from "node:ROLE" members, every one up and caught up unless
// marked with a trailing "!" (down); the leader is the first PRIMARY that is up.
func grp(name string, contexts []string, members ...string) Group {
	g := Group{Group: quorum.Group{Name: name}, Contexts: contexts}
	for _, s := range members {
		down := strings.HasSuffix(s, "!")
		s = strings.TrimSuffix(s, "!")
		node, role, _ := strings.Cut(s, ":")
		g.Members = append(g.Members, quorum.Member{Node: node, Role: quorum.Role(role), Up: !down, CaughtUp: !down})
		if g.Leader == "" && role == string(quorum.Primary) && !down {
			g.Leader = node
		}
	}
	return g
}

func view(groups ...Group) View {
	return View{Groups: groups, Nodes: []string{"n1", "n2", "n3", "n4", "n5"}}
}

func rules(p Plan) []string {
	var out []string
	for _, r := range p.Refusals {
		out = append(out, r.Group+"/"+string(r.Rule))
	}
	return out
}

func TestRemoveNode(t *testing.T) {
	ctx := []string{"ctx"}
	for _, tc := range []struct {
		name    string
		v       View
		node    string
		moveTo  []string
		want    []string // refusals as group/rule
		changes []string // every change, "group: op node"
		before  map[string][2]int
	}{
		{name: "three primaries lose one: ok", node: "n3",
			v:       view(grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY")),
			changes: []string{"g: remove n3"}, before: map[string][2]int{"g": {3, 2}}},
		{name: "two primaries with one down: commit lost", node: "n1",
			v:    view(grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY!")),
			want: []string{"g/commit"}, changes: []string{"g: remove n1"}},
		{name: "only member storing a context", node: "n2",
			v:    view(grp("solo", ctx, "n2:PRIMARY")),
			want: []string{"solo/no-primary", "solo/only-store"}, changes: []string{"solo: remove n2"}},
		{name: "only store, but messaging-only members remain", node: "n1",
			v:    view(grp("g", ctx, "n1:PRIMARY", "n2:MESSAGING_ONLY")),
			want: []string{"g/no-primary", "g/only-store"}, changes: []string{"g: remove n1"}},
		{name: "only store, moved first: ok", node: "n2", moveTo: []string{"n4"},
			v:       view(grp("solo", ctx, "n2:PRIMARY")),
			changes: []string{"solo: add n4 as PRIMARY", "solo: remove n2"}, before: map[string][2]int{"solo": {1, 1}}},
		{name: "a group without contexts needs no store", node: "n1",
			v: view(grp("g", nil, "n1:PASSIVE_BACKUP", "n2:PRIMARY")), changes: []string{"g: remove n1"}},
		{name: "last _admin member", node: "n1",
			v:    view(grp(AdminGroup, []string{"_admin"}, "n1:PRIMARY")),
			want: []string{"_admin/last-admin"}, changes: []string{"_admin: remove n1"}},
		{name: "active backups below min", node: "n3",
			v:    view(grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:ACTIVE_BACKUP")),
			want: []string{"g/min-active-backups"}, changes: []string{"g: remove n3"}},
		{name: "active backups: the backup moved keeps the count", node: "n3", moveTo: []string{"n4"},
			v:       view(grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:ACTIVE_BACKUP")),
			changes: []string{"g: add n4 as ACTIVE_BACKUP", "g: remove n3"}},
		{name: "two active backups, min 1: one may go", node: "n4",
			v:       view(grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY", "n4:ACTIVE_BACKUP", "n5:ACTIVE_BACKUP")),
			changes: []string{"g: remove n4"}},
		{name: "pending change", node: "n3",
			v: func() View {
				g := grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY")
				g.ChangePending = true
				return view(g)
			}(),
			want: []string{"g/change-pending"}, changes: []string{"g: remove n3"}},
		{name: "no leader", node: "n3",
			v: func() View {
				g := grp("g", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY")
				g.Leader = ""
				return view(g)
			}(),
			want: []string{"g/no-leader"}, changes: []string{"g: remove n3"}},
		{name: "targets spread over --move-to, skipping members", node: "n1", moveTo: []string{"n4", "n5"},
			v: view(grp("a", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY"),
				grp("b", ctx, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY"),
				grp("c", ctx, "n1:PRIMARY", "n4:PRIMARY", "n5:PRIMARY")),
			changes: []string{"a: add n4 as PRIMARY", "a: remove n1", "b: add n5 as PRIMARY", "b: remove n1", "c: remove n1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := tc.v.Memberships(tc.node)
			p := RemoveNode(tc.v, tc.node, ms, Targets(tc.v, tc.node, ms, tc.moveTo, nil), false)
			if got := rules(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("refusals %v, want %v (%s)", got, tc.want, p.RefusalText())
			}
			if p.Refused() != (len(tc.want) > 0) {
				t.Errorf("Refused() = %v", p.Refused())
			}
			var got []string
			for _, c := range p.Changes() {
				got = append(got, c.Group+": "+c.String())
			}
			if !reflect.DeepEqual(got, tc.changes) {
				t.Errorf("changes %v, want %v", got, tc.changes)
			}
			for _, g := range p.Groups {
				if ba, ok := tc.before[g.Group]; ok && (g.VotersBefore != ba[0] || g.VotersAfter != ba[1]) {
					t.Errorf("%s: voters %d -> %d, want %d -> %d", g.Group, g.VotersBefore, g.VotersAfter, ba[0], ba[1])
				}
			}
		})
	}
}

func TestRemoveNodeLeaderAndTolerance(t *testing.T) {
	v := view(grp("g", []string{"ctx"}, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY"))
	ms := v.Memberships("n1")
	p := RemoveNode(v, "n1", ms, Targets(v, "n1", ms, []string{"n4"}, nil), false)
	g := p.Groups[0]
	if !g.Leads || g.Role != quorum.Primary {
		t.Errorf("n1 leads g as PRIMARY; plan says leads=%v role=%s", g.Leads, g.Role)
	}
	// 3 -> 4 (n4 added, caught up) -> 3: tolerance 1, 1 during (4 PRIMARY tolerate 1), 1 after.
	if g.Tolerance != 1 || g.ToleranceDuring != 1 || g.ToleranceAfter != 1 || g.VotersBefore != 3 || g.VotersAfter != 3 {
		t.Errorf("tolerance %d/%d/%d voters %d->%d", g.Tolerance, g.ToleranceDuring, g.ToleranceAfter, g.VotersBefore, g.VotersAfter)
	}
}

func TestRemoveNodeResume(t *testing.T) {
	// An earlier run added n4 and removed n1 from g, and recorded the choice: the
	// rerun has nothing left to do in g, although a change is pending (its own).
	g := grp("g", []string{"ctx"}, "n2:PRIMARY", "n3:PRIMARY", "n4:PRIMARY")
	g.ChangePending = true
	v := view(g)
	rec := []Membership{{Group: "g", Role: quorum.Primary}}
	p := RemoveNode(v, "n1", rec, Targets(v, "n1", rec, []string{"n5"}, map[string]string{"g": "n4"}), true)
	if p.Refused() || len(p.Changes()) != 0 {
		t.Fatalf("resume: refusals %v changes %v", p.Refusals, p.Changes())
	}
	if p.Groups[0].Verdict() != "nothing to do" {
		t.Errorf("verdict %q", p.Groups[0].Verdict())
	}
}

func TestAddNode(t *testing.T) {
	v := view(grp("g", []string{"ctx"}, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY"),
		grp("h", nil, "n1:PRIMARY", "n4:PRIMARY"))
	p := AddNode(v, "n4", []Membership{{Group: "g", Role: quorum.Primary}, {Group: "h", Role: quorum.ActiveBackup}, {Group: "x", Role: quorum.Primary}}, false)
	if got := rules(p); !reflect.DeepEqual(got, []string{"x/input"}) {
		t.Errorf("refusals %v", got)
	}
	g := p.Groups[0]
	if g.VotersBefore != 3 || g.VotersAfter != 4 || len(g.Warnings) == 0 || !strings.Contains(g.Warnings[0], "even number") {
		t.Errorf("g: voters %d->%d warnings %v", g.VotersBefore, g.VotersAfter, g.Warnings)
	}
	// n4 is a PRIMARY of h already: ACTIVE_BACKUP means remove and add back, and
	// without n4, h keeps n1 only: 1 of 1 PRIMARY commits.
	h := p.Groups[1]
	if len(h.Changes) != 2 || h.Changes[0].Op != Remove || h.Changes[1].Role != quorum.ActiveBackup || len(h.Refusals) != 0 {
		t.Errorf("h: %+v", h)
	}
	same := AddNode(v, "n4", []Membership{{Group: "h", Role: quorum.Primary}}, false)
	if len(same.Changes()) != 0 || same.Groups[0].Verdict() != "nothing to do" {
		t.Errorf("a membership it has: %+v", same)
	}
	five := AddNode(view(grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY", "n4:PRIMARY")), "n5", []Membership{{Group: "g", Role: quorum.Primary}}, false)
	if w := five.Groups[0].Warnings; len(w) != 0 {
		t.Errorf("4 -> 5 voters: no warning expected, got %v", w)
	}
}

func TestMoveMember(t *testing.T) {
	base := grp("g", []string{"ctx"}, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY")
	for _, tc := range []struct {
		name     string
		g        Group
		from, to string
		role     quorum.Role
		resuming bool
		want     []string
		changes  int
	}{
		{name: "move", g: base, from: "n3", to: "n4", changes: 2},
		{name: "move as another role", g: base, from: "n3", to: "n4", role: quorum.PassiveBackup, changes: 2},
		{name: "from no member", g: base, from: "n4", to: "n5", want: []string{"g/input"}},
		{name: "to a member already", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY", "n4:PASSIVE_BACKUP"), from: "n3", to: "n4", want: []string{"g/input"}},
		{name: "resumed after the add", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY", "n4:PRIMARY"), from: "n3", to: "n4", resuming: true, changes: 1},
		{name: "done already", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n4:PRIMARY"), from: "n3", to: "n4"},
		{name: "same node", g: base, from: "n3", to: "n3", want: []string{"g/input"}},
		{name: "unregistered target", g: base, from: "n3", to: "n9", want: []string{"g/input"}},
		{name: "the other two down: no commit without from", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY!", "n3:PRIMARY!"), from: "n1", to: "n4", want: []string{"g/commit"}, changes: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := MoveMember(view(tc.g), "g", tc.from, tc.to, tc.role, tc.resuming)
			if got := rules(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("refusals %v, want %v (%s)", got, tc.want, p.RefusalText())
			}
			if n := len(p.Changes()); n != tc.changes {
				t.Errorf("%d changes %v, want %d", n, p.Changes(), tc.changes)
			}
		})
	}
}

func TestSetRole(t *testing.T) {
	for _, tc := range []struct {
		name     string
		g        Group
		node     string
		role     quorum.Role
		resuming bool
		want     []string
		changes  int
	}{
		{name: "primary to active backup in a group of three", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY"), node: "n3", role: quorum.ActiveBackup,
			changes: 2},
		{name: "two primaries: the other must commit alone (1 of 1)", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY"), node: "n2", role: quorum.ActiveBackup,
			changes: 2},
		{name: "two primaries, the other down", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY!"), node: "n1", role: quorum.ActiveBackup,
			want: []string{"g/commit"}, changes: 2},
		{name: "the only active backup", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY", "n3:PRIMARY", "n4:ACTIVE_BACKUP"), node: "n4", role: quorum.PassiveBackup,
			want: []string{"g/min-active-backups"}, changes: 2},
		{name: "the role it has", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY"), node: "n2", role: quorum.Primary},
		{name: "no member", g: grp("g", nil, "n1:PRIMARY"), node: "n2", role: quorum.Primary, want: []string{"g/input"}},
		{name: "resumed after the removal", g: grp("g", nil, "n1:PRIMARY", "n2:PRIMARY"), node: "n3", role: quorum.ActiveBackup, resuming: true, changes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := SetRole(view(tc.g), "g", tc.node, tc.role, tc.resuming)
			if got := rules(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("refusals %v, want %v (%s)", got, tc.want, p.RefusalText())
			}
			if n := len(p.Changes()); n != tc.changes {
				t.Errorf("%d changes %v, want %d", n, p.Changes(), tc.changes)
			}
		})
	}
}
