package stepper

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// cl builds a healthy cluster from "group:leader:node=ROLE,node=ROLE" specs; every
// member is up and caught up, every node ready and connected. Roles: P A S M (primary,
// active backup, passive backup, messaging only).
func cl(specs ...string) quorum.Cluster {
	var c quorum.Cluster
	nodes := map[string]bool{}
	roles := map[string]quorum.Role{"P": quorum.Primary, "A": quorum.ActiveBackup, "S": quorum.PassiveBackup, "M": quorum.MessagingOnly}
	for _, spec := range specs {
		parts := strings.SplitN(spec, ":", 3)
		g := quorum.Group{Name: parts[0], Leader: parts[1]}
		for _, m := range strings.Split(parts[2], ",") {
			n, r, _ := strings.Cut(m, "=")
			g.Members = append(g.Members, quorum.Member{Node: n, Role: roles[r], Up: true, CaughtUp: true})
			if !nodes[n] {
				nodes[n] = true
				c.Nodes = append(c.Nodes, quorum.Node{Name: n, PodReady: true, Connected: true})
			}
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

// down marks node down everywhere.
func down(c quorum.Cluster, node string) quorum.Cluster {
	for i := range c.Nodes {
		if c.Nodes[i].Name == node {
			c.Nodes[i].PodReady, c.Nodes[i].Connected = false, false
		}
	}
	for gi := range c.Groups {
		g := &c.Groups[gi]
		g.Members = append([]quorum.Member(nil), g.Members...)
		for mi := range g.Members {
			if g.Members[mi].Node == node {
				g.Members[mi].Up, g.Members[mi].CaughtUp = false, false
			}
		}
		if g.Leader == node {
			g.Leader = ""
		}
	}
	return c
}

func noLeader(c quorum.Cluster, group string) quorum.Cluster {
	for i := range c.Groups {
		if c.Groups[i].Name == group {
			c.Groups[i].Leader = ""
		}
	}
	return c
}

func order(p Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Node+"/"+string(s.Kind))
	}
	return out
}

func TestNewPlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         quorum.Cluster
		targets   []string
		done      []string
		order     []string
		skipped   []string
		elections map[string]int
		blocked   []string // structural steps
		unsafeNow []string // steps whose projected verdict is unsafe
		risk      map[string][]string
	}{
		{
			name:      "leader last",
			c:         cl("g:c:a=P,b=P,c=P"),
			targets:   []string{"c", "b", "a"},
			order:     []string{"a/follower", "b/follower", "c/leader"},
			elections: map[string]int{"g": 1},
		},
		{
			name:      "done and healthy nodes are skipped; done but unhealthy ones are waited for first",
			c:         down(cl("g:a:a=P,b=P,c=P"), "c"),
			targets:   []string{"a", "b", "c"},
			done:      []string{"b", "c"},
			order:     []string{"c/unhealthy", "a/leader"},
			skipped:   []string{"b"},
			elections: map[string]int{"g": 1},
		},
		{
			name: "mixed roles: backups and messaging-only nodes are followers; leaders ordered so no group's new leader is still to restart",
			// x leads A where y is a PRIMARY; y leads B where x is not a member:
			// y must go before x.
			// p leads _admin where no other leader is a member: p can go first.
			c: cl("A:x:x=P,y=P,p=P,s=S,m=M",
				"B:y:y=P,p=P,q=P,ab=A,ab2=A",
				"_admin:p:p=P,q=P,r=P"),
			targets:   []string{"x", "y", "p", "q", "r", "s", "m", "ab", "ab2"},
			order:     []string{"ab/follower", "ab2/follower", "m/follower", "q/follower", "r/follower", "s/follower", "p/leader", "y/leader", "x/leader"},
			elections: map[string]int{"A": 1, "B": 1, "_admin": 1},
		},
		{
			name: "a cycle between two leaders: the worst case is two elections in one group",
			// a leads g1, b leads g2, both are PRIMARY in both.
			c:         cl("g1:a:a=P,b=P,c=P", "g2:b:a=P,b=P,c=P"),
			targets:   []string{"a", "b", "c"},
			order:     []string{"c/follower", "a/leader", "b/leader"},
			elections: map[string]int{"g1": 2, "g2": 1},
			risk:      map[string][]string{"a": {"g1"}},
		},
		{
			name: "an interrupted step: its group between leaders does not make the done nodes redo or the others jump the queue",
			// c was restarting (done: on the new image) and led g; g has no leader yet.
			c:         noLeader(down(cl("g:c:a=P,b=P,c=P,d=P,e=P", "h:a:a=P,b=P,d=P"), "c"), "g"),
			targets:   []string{"a", "b", "c", "d", "e"},
			done:      []string{"c", "d"},
			order:     []string{"c/unhealthy", "b/follower", "e/follower", "a/leader"},
			skipped:   []string{"d"},
			elections: map[string]int{"g": 0, "h": 1},
		},
		{
			name:    "a group of one member: no safe order exists",
			c:       cl("g:a:a=P,b=P,c=P", "solo:c:c=P"),
			targets: []string{"a", "b", "c"},
			// c first among the leaders: restarting a while c is still to go could
			// make c g's new leader.
			order:     []string{"b/follower", "c/leader", "a/leader"},
			elections: map[string]int{"g": 1, "solo": 1},
			blocked:   []string{"c"},
			unsafeNow: []string{"c"},
		},
		{
			name:      "the only active backup (min-active-backups 1) is structural",
			c:         cl("g:a:a=P,b=P,c=P,d=A"),
			targets:   []string{"a", "b", "c", "d"},
			order:     []string{"b/follower", "c/follower", "d/follower", "a/leader"},
			elections: map[string]int{"g": 1},
			blocked:   []string{"d"},
			unsafeNow: []string{"d"},
		},
		{
			name: "a node down outside the targets makes a step unsafe now, not for ever",
			c:    down(cl("g:a:a=P,b=P,c=P"), "c"),
			// upgrade a and b only: with c down, stopping either loses the majority
			targets:   []string{"a", "b"},
			order:     []string{"b/follower", "a/leader"},
			elections: map[string]int{"g": 1},
			unsafeNow: []string{"b", "a"},
		},
		{
			name:      "an unhealthy target goes first and makes the later steps safe once back",
			c:         down(cl("g:a:a=P,b=P,c=P"), "c"),
			targets:   []string{"a", "b", "c"},
			order:     []string{"c/unhealthy", "b/follower", "a/leader"},
			elections: map[string]int{"g": 1},
		},
		{
			name:      "a subset: nodes outside the targets are never restarted, so no risk from them",
			c:         cl("g1:a:a=P,b=P,c=P", "g2:b:a=P,b=P,c=P"),
			targets:   []string{"a"},
			order:     []string{"a/leader"},
			elections: map[string]int{"g1": 1, "g2": 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := map[string]bool{}
			for _, d := range tc.done {
				done[d] = true
			}
			p := NewPlan(Input{Cluster: tc.c, Targets: tc.targets, Done: done})
			if got := order(p); !reflect.DeepEqual(got, tc.order) {
				t.Errorf("order %v, want %v", got, tc.order)
			}
			var skipped []string
			for _, s := range p.Skipped {
				skipped = append(skipped, s.Node)
			}
			if !reflect.DeepEqual(skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
			if !reflect.DeepEqual(p.Elections, tc.elections) {
				t.Errorf("elections %v, want %v", p.Elections, tc.elections)
			}
			var blocked, unsafe []string
			for _, s := range p.Blocked() {
				blocked = append(blocked, s.Node)
			}
			for _, s := range p.Steps {
				if !s.Verdict.Safe {
					unsafe = append(unsafe, s.Node)
				}
				if want := tc.risk[s.Node]; !reflect.DeepEqual(s.ElectionRisk, want) {
					t.Errorf("%s: election risk %v, want %v", s.Node, s.ElectionRisk, want)
				}
			}
			if !reflect.DeepEqual(blocked, tc.blocked) {
				t.Errorf("blocked %v, want %v", blocked, tc.blocked)
			}
			if !reflect.DeepEqual(unsafe, tc.unsafeNow) {
				t.Errorf("unsafe now %v, want %v", unsafe, tc.unsafeNow)
			}
		})
	}
}

func TestPlanStepsCarryGroupsAndVerdicts(t *testing.T) {
	p := NewPlan(Input{Cluster: cl("g:a:a=P,b=P,c=P", "solo:c:c=P"), Targets: []string{"a", "c"}})
	last := p.Steps[0]
	if last.Node != "c" || !reflect.DeepEqual(last.Groups, []string{"g", "solo"}) || !reflect.DeepEqual(last.Leads, []string{"solo"}) {
		t.Fatalf("step c: %+v", last)
	}
	if last.Verdict.Safe || len(last.Verdict.Blocked) != 1 || last.Verdict.Blocked[0].Group != "solo" {
		t.Fatalf("verdict c: %+v", last.Verdict)
	}
}

// TestPlanUnknownVerdicts: a plan made from an observation that could not see the
// groups, or one node, says "unknown" for the steps that depend on it, never yes, and
// never NEVER (blindness is not a structural problem).
func TestPlanUnknownVerdicts(t *testing.T) {
	blind := quorum.Cluster{Nodes: cl("g:a:a=P,b=P,c=P").Nodes,
		Sight: quorum.Sight{Blind: "no Axon Server node answered"}}
	unseen := cl("g:a:a=P,b=P,c=P,d=P,e=P")
	unseen.Sight = quorum.Sight{From: "a", Unseen: map[string]string{"c": "connection refused"}}
	for name, tc := range map[string]struct {
		c       quorum.Cluster
		unknown []string
	}{
		"blind":  {blind, []string{"a", "b", "c"}},
		"unseen": {unseen, []string{"c"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := NewPlan(Input{Cluster: tc.c, Targets: []string{"a", "b", "c"}})
			var unknown []string
			for _, s := range p.Steps {
				if s.Verdict.Answer == quorum.Unknown {
					unknown = append(unknown, s.Node)
					if s.Kind != KindUnhealthy || s.Verdict.Safe || s.Structural || !strings.HasPrefix(VerdictText(s), "unknown: ") {
						t.Errorf("%s: kind %s safe %v structural %v text %q", s.Node, s.Kind, s.Verdict.Safe, s.Structural, VerdictText(s))
					}
				} else if s.Verdict.Answer == "" {
					t.Errorf("%s: no answer", s.Node)
				}
			}
			if !reflect.DeepEqual(unknown, tc.unknown) {
				t.Errorf("unknown %v, want %v", unknown, tc.unknown)
			}
			if ok, why := SafeToStop(tc.c, tc.unknown[0]); ok || len(why) == 0 {
				t.Errorf("SafeToStop(%s) = %v %v", tc.unknown[0], ok, why)
			}
		})
	}
}

// TestPlanOutOfServiceFirst: among unhealthy targets, those out of service go
// first (they may go whatever the state of the others), then the rest by name.
func TestPlanOutOfServiceFirst(t *testing.T) {
	c := cl("g:a:a=P,b=P,c=P,d=P,e=P")
	c = down(down(c, "d"), "e")
	c.Nodes[0].PodReady = false // a: unhealthy, but connected and serving
	p := NewPlan(Input{Cluster: c, Targets: []string{"a", "b", "c", "d", "e"}})
	var got []string
	for _, s := range p.Steps {
		got = append(got, s.Node+":"+string(s.Kind))
	}
	want := "[d:unhealthy e:unhealthy a:unhealthy b:follower c:follower]"
	if fmt.Sprint(got) != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
