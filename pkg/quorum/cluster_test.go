package quorum

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// up returns Node records for pods that are ready and connected.
func up(names ...string) []Node {
	var ns []Node
	for _, n := range names {
		ns = append(ns, Node{Name: n, PodReady: true, Connected: true})
	}
	return ns
}

// oneGroup returns a cluster of one group "g" whose members' pods are all ready
// and connected.
func oneGroup(leader string, minActiveBackups int, spec string) func(*testing.T) Cluster {
	return func(t *testing.T) Cluster {
		g := group(t, "g", leader, minActiveBackups, spec)
		c := Cluster{Groups: []Group{g}}
		for _, m := range g.Members {
			c.Nodes = append(c.Nodes, up(m.Node)...)
		}
		return c
	}
}

// fixture: as-4 is the only ACTIVE_BACKUP of default; sales has lost as-3 and
// has a messaging-only as-4 and a passive backup on as-5, which is down.
func fixture(t *testing.T) Cluster {
	return Cluster{
		Nodes: append(up("as-1", "as-2", "as-3", "as-4"), Node{Name: "as-5", PodReady: false, Connected: false}),
		Groups: []Group{
			group(t, "_admin", "as-1", 0, "as-1:P:ok as-2:P:ok as-3:P:ok"),
			group(t, "default", "as-2", 0, "as-1:P:ok as-2:P:ok as-3:P:ok as-4:A:ok"),
			group(t, "sales", "as-1", 0, "as-1:P:ok as-2:P:ok as-3:P:down as-4:M:ok as-5:PB:down"),
		},
	}
}

// troubled: g1 has no leader, g2 has lost its majority; m is a messaging-only
// member of g2; solo is a member of no group.
func troubled(t *testing.T) Cluster {
	return Cluster{
		Nodes: up("a", "b", "c", "m", "solo"),
		Groups: []Group{
			group(t, "g1", "", 0, "a:P:ok b:P:ok c:P:ok"),
			group(t, "g2", "a", 0, "a:P:ok b:P:down c:P:down m:M:ok"),
			group(t, "g3", "b", 0, "a:P:ok b:P:ok c:P:ok"),
		},
	}
}

func TestCanStop(t *testing.T) {
	tests := []struct {
		name    string
		cluster func(*testing.T) Cluster
		nodes   []string
		want    Verdict
	}{
		{"only active backup", fixture, []string{"as-4"}, Verdict{Node: "as-4", Blocked: []Impact{
			{"default", "stopping as-4 leaves 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)"},
		}}},
		{"leader, other group short of a primary", fixture, []string{"as-1"}, Verdict{Node: "as-1", Leads: []string{"_admin", "sales"}, Blocked: []Impact{
			{"sales", "stopping as-1 leaves 1 of 3 PRIMARY members up and caught up (needs 2)"},
		}}},
		{"follower already down in one group", fixture, []string{"as-3"}, Verdict{Node: "as-3", Safe: true}},
		{"node down already", fixture, []string{"as-5"}, Verdict{Node: "as-5", Safe: true}},
		{"unknown node", fixture, []string{"as-9"}, Verdict{Node: "as-9", Blocked: []Impact{{"", "unknown node as-9"}}}},
		{"two nodes together", fixture, []string{"as-2", "as-1"}, Verdict{Node: "as-1, as-2", Leads: []string{"_admin", "default", "sales"}, Blocked: []Impact{
			{"_admin", "stopping as-1, as-2 leaves 1 of 3 PRIMARY members up and caught up (needs 2)"},
			{"default", "stopping as-1, as-2 leaves 1 of 3 PRIMARY members up and caught up (needs 2)"},
			{"sales", "stopping as-1, as-2 leaves 0 of 3 PRIMARY members up and caught up (needs 2)"},
		}}},
		{"down node ignored in a set", fixture, []string{"as-5", "as-4", "as-4"}, Verdict{Node: "as-4, as-5", Blocked: []Impact{
			{"default", "stopping as-4 leaves 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)"},
		}}},
		{"nothing to stop", fixture, nil, Verdict{Safe: true}},
		{"leader with healthy followers", troubled, []string{"b"}, Verdict{Node: "b", Leads: []string{"g3"}, Blocked: []Impact{
			{"g1", "no leader (an election may be in progress); wait until one is elected"},
			{"g2", "already cannot commit: only 1 of 3 PRIMARY members up and caught up (needs 2)"},
		}}},
		{"non-voter of a group without quorum", troubled, []string{"m"}, Verdict{Node: "m", Blocked: []Impact{
			{"g2", "already cannot commit: only 1 of 3 PRIMARY members up and caught up (needs 2)"},
		}}},
		{"connected node in no group", troubled, []string{"solo"}, Verdict{Node: "solo", Safe: true}},
		{"leader of a healthy group", oneGroup("a", 0, "a:P:ok b:P:ok c:P:ok"), []string{"a"}, Verdict{Node: "a", Safe: true, Leads: []string{"g"}}},
		{"follower when the other follower lags", oneGroup("a", 0, "a:P:ok b:P:ok c:P:lag"), []string{"b"}, Verdict{Node: "b", Blocked: []Impact{
			{"g", "stopping b leaves 1 of 3 PRIMARY members up and caught up (needs 2)"},
		}}},
		{"lagging follower itself", oneGroup("a", 0, "a:P:ok b:P:ok c:P:lag"), []string{"c"}, Verdict{Node: "c", Safe: true}},
		{"one of two active backups, min 2", oneGroup("a", 2, "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok"), []string{"e"}, Verdict{Node: "e", Blocked: []Impact{
			{"g", "stopping e leaves 1 of 2 ACTIVE_BACKUP members up and caught up (min-active-backups 2)"},
		}}},
		{"one of two active backups, min 1", oneGroup("a", 1, "a:P:ok b:P:ok c:P:ok d:A:ok e:A:ok"), []string{"e"}, Verdict{Node: "e", Safe: true}},
		{"disconnected but up in a group is not down", func(t *testing.T) Cluster {
			return Cluster{Nodes: []Node{{Name: "a", PodReady: true, Connected: true}, {Name: "b"}},
				Groups: []Group{group(t, "g", "a", 0, "a:P:ok b:P:ok")}}
		}, []string{"b"}, Verdict{Node: "b", Blocked: []Impact{
			{"g", "stopping b leaves 1 of 2 PRIMARY members up and caught up (needs 2)"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cluster(t)
			var got Verdict
			if len(tt.nodes) == 1 {
				got = c.CanStop(tt.nodes[0])
			} else {
				got = c.CanStopAll(tt.nodes)
			}
			// A cluster built by hand is fully seen: yes or no, never unknown.
			if want := map[bool]Answer{true: Yes, false: No}[tt.want.Safe]; got.Answer != want || got.Evidence == "" {
				t.Errorf("answer %q (evidence %q), want %q with evidence", got.Answer, got.Evidence, want)
			}
			got.Answer, got.Evidence = "", ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestImpactString(t *testing.T) {
	if got := (Impact{"_admin", "x"}).String(); got != "_admin: x" {
		t.Errorf("String() = %q", got)
	}
	if got := (Impact{"", "unknown node z"}).String(); got != "unknown node z" {
		t.Errorf("String() = %q", got)
	}
}

func TestVerdictJSON(t *testing.T) {
	b, err := json.Marshal(fixture(t).CanStop("as-4"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"node":"as-4","safe":false,"answer":"no","evidence":"not safe: default: stopping as-4 leaves 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)","blocked":[{"group":"default","reason":"stopping as-4 leaves 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)"}]}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant  %s", b, want)
	}
}

// healthFixture: a is fine but g2 has no leader; b's pod is not ready; c is
// disconnected and down; d lags in g1; m is a lagging messaging-only member;
// m2 is a messaging-only member that is down; ghost has no Node record.
func healthFixture(t *testing.T) Cluster {
	return Cluster{
		Nodes: append(up("a", "d", "m", "m2", "idle"),
			Node{Name: "b", PodReady: false, Connected: true},
			Node{Name: "c", PodReady: true, Connected: false}),
		Groups: []Group{
			group(t, "g1", "a", 0, "a:P:ok b:P:ok c:P:down d:P:lag m:M:lag m2:M:down"),
			group(t, "g2", "", 0, "a:P:ok d:A:ok"),
			group(t, "g3", "a", 0, "a:P:ok ghost:PB:ok"),
		},
	}
}

func TestNodeHealth(t *testing.T) {
	tests := []struct {
		node string
		want []string
	}{
		{"a", []string{"group g2 has no leader"}},
		{"b", []string{"pod not ready or not at the current revision"}},
		{"c", []string{"not connected to the cluster", "not up in group g1"}},
		{"d", []string{"not caught up in group g1", "group g2 has no leader"}},
		{"m", nil},
		{"m2", []string{"not up in group g1"}},
		{"idle", nil},
		{"ghost", []string{"unknown node"}},
		{"nobody", []string{"unknown node"}},
	}
	c := healthFixture(t)
	for _, tt := range tests {
		h := c.NodeHealth(tt.node)
		want := Health{Node: tt.node, Healthy: len(tt.want) == 0, Problems: tt.want}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("NodeHealth(%s) = %+v; want %+v", tt.node, h, want)
		}
	}
}

func TestHealthy(t *testing.T) {
	names := func(hs []Health) string {
		var s []string
		for _, h := range hs {
			s = append(s, h.Node)
		}
		return strings.Join(s, " ")
	}
	c := healthFixture(t)
	ok, hs := c.Healthy()
	if ok {
		t.Error("Healthy() = true for an unhealthy cluster")
	}
	if got, want := names(hs), "a d m m2 idle b c ghost"; got != want {
		t.Errorf("Healthy() checked %q; want %q", got, want)
	}

	c = Cluster{Nodes: append(up("a", "c"), Node{Name: "b", Connected: true}),
		Groups: []Group{group(t, "g", "a", 0, "a:P:ok b:P:down c:P:ok")}}
	if ok, hs := c.Healthy(); ok || len(hs) != 3 || hs[2].Node != "b" || hs[2].Healthy {
		t.Errorf("Healthy() = %v, %+v; want b unhealthy", ok, hs)
	}
	if ok, hs := c.Healthy("b"); !ok || names(hs) != "a c" {
		t.Errorf(`Healthy("b") = %v, %+v; want true for a and c`, ok, hs)
	}
}

func TestMembershipQueries(t *testing.T) {
	c := fixture(t)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"GroupsOf as-4", c.GroupsOf("as-4"), []string{"default", "sales"}},
		{"GroupsOf as-5", c.GroupsOf("as-5"), []string{"sales"}},
		{"GroupsOf unknown", c.GroupsOf("x"), []string(nil)},
		{"Leads as-1", c.Leads("as-1"), []string{"_admin", "sales"}},
		{"Leads as-3", c.Leads("as-3"), []string(nil)},
		{"Leads empty name", troubled(t).Leads(""), []string(nil)},
		{"LeaderOf default", c.LeaderOf("default"), "as-2"},
		{"LeaderOf unknown", c.LeaderOf("nope"), ""},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v; want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestClusterValidate(t *testing.T) {
	if err := fixture(t).Validate(); err != nil {
		t.Errorf("fixture: Validate() = %v", err)
	}
	c := Cluster{
		Nodes: []Node{{Name: "a"}, {Name: "a"}, {}},
		Groups: []Group{
			{Name: "g", Members: []Member{{Node: "a", Role: Primary}}},
			{Name: "g", Members: []Member{{Node: "a", Role: PassiveBackup}}},
		},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, w := range []string{"duplicate node a", "node without a name", "duplicate group g", "group g: no PRIMARY member"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %q; want it to contain %q", err, w)
		}
	}
}

// TestCanStopWithoutSight: a verdict is evidence or it is unknown. What the
// observation could not see turns yes into unknown, never into yes; a no stays a no
// (it needs no more evidence); a node stopped on both sides stays safe.
func TestCanStopWithoutSight(t *testing.T) {
	blind := func(t *testing.T) Cluster {
		// What an observation that read no groups holds: nodes only, all "connected"
		// because they answered something.
		return Cluster{Nodes: up("as-1", "as-2", "as-3"), Sight: Sight{Blind: "no Axon Server node answered"}}
	}
	unseen := func(t *testing.T) Cluster {
		c := fixture(t)
		c.Sight = Sight{From: "as-1", Unseen: map[string]string{"as-3": "connection refused", "as-4": "HTTP 403"},
			Stopped: map[string]string{"as-5": "no pod"}}
		return c
	}
	tests := []struct {
		name     string
		cluster  func(*testing.T) Cluster
		nodes    []string
		answer   Answer
		evidence string
	}{
		{"no groups read", blind, []string{"as-1"}, Unknown, "the replication groups could not be read (no Axon Server node answered)"},
		{"no groups read, unknown node", blind, []string{"as-9"}, Unknown, "groups of as-9 are not known"},
		{"unseen follower that would be safe", unseen, []string{"as-3"}, Unknown, "as-3 did not answer (connection refused)"},
		{"unseen node that blocks is a no", unseen, []string{"as-4"}, No, "default: stopping as-4 leaves 0 of 1 ACTIVE_BACKUP"},
		{"seen node", func(t *testing.T) Cluster {
			c := oneGroup("a", 0, "a:P:ok b:P:ok c:P:ok")(t)
			c.Sight = Sight{From: "a", Unseen: map[string]string{"c": "timed out"}}
			return c
		}, []string{"b"}, Yes, "every group it is in keeps its commit quorum without it (g) (groups as a reports them)"},
		{"stopped on both sides", unseen, []string{"as-5"}, Yes, "as-5 is already stopped (Kubernetes: no pod; Axon Server reports it disconnected"},
		{"a set with one unseen node", unseen, []string{"as-5", "as-3"}, Unknown, "as-3 did not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.cluster(t).CanStopAll(tt.nodes)
			if v.Answer != tt.answer || !strings.Contains(v.Evidence, tt.evidence) {
				t.Errorf("got %q: %q\nwant %q: ...%s...", v.Answer, v.Evidence, tt.answer, tt.evidence)
			}
			if v.Safe != (v.Answer == Yes) {
				t.Errorf("Safe %v with answer %q", v.Safe, v.Answer)
			}
			if tt.answer == Unknown && len(v.Unseen) == 0 {
				t.Errorf("unknown without Unseen: %+v", v)
			}
		})
	}
}

// TestNodeHealthWithoutSight: a node that did not answer, or a cluster whose groups
// were not read, is not healthy, whatever else was seen.
func TestNodeHealthWithoutSight(t *testing.T) {
	c := fixture(t)
	if h := c.NodeHealth("as-2"); !h.Healthy {
		t.Fatalf("as-2 seen: %+v", h)
	}
	c.Sight = Sight{Unseen: map[string]string{"as-2": "timed out"}}
	if h := c.NodeHealth("as-2"); h.Healthy || !strings.Contains(strings.Join(h.Problems, ";"), "did not answer: timed out") {
		t.Errorf("as-2 unseen: %+v", h)
	}
	c.Sight = Sight{Blind: "no Axon Server node answered"}
	if h := c.NodeHealth("as-1"); h.Healthy || !strings.Contains(strings.Join(h.Problems, ";"), "replication groups not seen") {
		t.Errorf("blind: %+v", h)
	}
}

// TestOutOfService: down in Axon Server's view and not serving in Kubernetes'
// (stopped, or a pod that is not Ready); never on what was not seen.
func TestOutOfService(t *testing.T) {
	base := func() Cluster {
		return Cluster{Nodes: []Node{{Name: "a", PodReady: true, Connected: true}, {Name: "b"}, {Name: "c", PodReady: true}, {Name: "d"}},
			Groups: []Group{{Name: "g", Leader: "a", Members: []Member{
				{Node: "a", Role: Primary, Up: true, CaughtUp: true}, {Node: "b", Role: Primary}, {Node: "c", Role: Primary}, {Node: "d", Role: Primary, Up: true}}}},
			Sight: Sight{From: "a"}}
	}
	for _, tc := range []struct {
		name string
		c    func() Cluster
		node string
		want bool
	}{
		{"serving", base, "a", false},
		{"pod not Ready, down in Axon Server", base, "b", true},
		{"pod Ready, down in Axon Server: it may serve soon", base, "c", false},
		{"pod not Ready but up in a group", base, "d", false},
		{"stopped on both sides", func() Cluster {
			c := base()
			c.Nodes[2].PodReady = true
			c.Sight.Stopped = map[string]string{"c": "container waiting (CrashLoopBackOff)"}
			return c
		}, "c", true},
		{"not seen", func() Cluster { c := base(); c.Sight.Unseen = map[string]string{"b": "timed out"}; return c }, "b", false},
		{"blind", func() Cluster { c := base(); c.Sight.Blind = "no node answered"; return c }, "b", false},
		{"unknown node", base, "z", false},
	} {
		if got := tc.c().OutOfService(tc.node); got != tc.want {
			t.Errorf("%s: OutOfService(%s) = %v, want %v", tc.name, tc.node, got, tc.want)
		}
	}
}

// TestHealthScopes: NodeHealth counts a group without a leader against each member;
// SelfHealth does not, but still wants the node up and caught up there;
// HealthWhereLed judges only the groups that have a leader.
func TestHealthScopes(t *testing.T) {
	c := Cluster{Nodes: []Node{{Name: "a", PodReady: true, Connected: true}},
		Groups: []Group{
			{Name: "led", Leader: "b", Members: []Member{{Node: "a", Role: Primary, Up: true, CaughtUp: true}, {Node: "b", Role: Primary, Up: true, CaughtUp: true}}},
			{Name: "leaderless", Members: []Member{{Node: "a", Role: Primary, Up: true, CaughtUp: true}, {Node: "b", Role: Primary}}},
		}}
	for _, tc := range []struct {
		name   string
		health func(string) Health
		want   string
	}{
		{"NodeHealth", c.NodeHealth, "group leaderless has no leader"},
		{"SelfHealth", c.SelfHealth, ""},
		{"HealthWhereLed", c.HealthWhereLed, ""},
	} {
		if got := strings.Join(tc.health("a").Problems, "; "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	c.Groups[1].Members[0].CaughtUp = false // a lags in the leaderless group
	if got := c.SelfHealth("a").Problems; len(got) != 1 || got[0] != "not caught up in group leaderless" {
		t.Errorf("SelfHealth with a lagging member: %q", got)
	}
	if h := c.HealthWhereLed("a"); !h.Healthy {
		t.Errorf("HealthWhereLed judged a group without a leader: %q", h.Problems)
	}
	if h := c.HealthWhereLed("z"); h.Healthy || h.Problems[0] != "unknown node" {
		t.Errorf("unknown node: %+v", h)
	}
}
