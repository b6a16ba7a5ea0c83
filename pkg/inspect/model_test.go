package inspect

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// obsBuilder makes observations for BuildModel: nodes n1..n3 answer, n1 is the
// admin node the cluster view came from, and every node is connected.
type obsBuilder struct{ obs *Observation }

func newObs(nodes ...string) *obsBuilder {
	if len(nodes) == 0 {
		nodes = []string{"n1", "n2", "n3"}
	}
	o := &Observation{Nodes: map[string]*NodeView{}, From: nodes[0], Clustered: true}
	for _, n := range nodes {
		o.Nodes[n] = &NodeView{Node: n, Reachable: true}
		o.Public = append(o.Public, axonserver.Node{Name: n, Connected: true})
	}
	return &obsBuilder{obs: o}
}

// group adds a replication group; roles are "node:ROLE" pairs.
func (b *obsBuilder) group(name, leader string, roles ...string) *obsBuilder {
	g := axonserver.ReplicationGroup{Name: name, Leader: leader}
	for _, r := range roles {
		node, role := r, "PRIMARY"
		for i := range r {
			if r[i] == ':' {
				node, role = r[:i], r[i+1:]
			}
		}
		g.Roles = append(g.Roles, axonserver.NodeRole{Node: node, Role: role})
	}
	b.obs.Groups = append(b.obs.Groups, g)
	return b
}

// raft gives node a Raft status for group, everything in term 1.
func (b *obsBuilder) raft(node, group string, leader bool, commit, lastLog int64) *obsBuilder {
	v := b.obs.Nodes[node]
	v.Raft = append(v.Raft, axonserver.RaftStatus{ReplicationGroup: group, IsLeader: leader, CommitIndex: commit, LastLogIndex: lastLog,
		CurrentTerm: 1, CommitTerm: 1, LastLogTerm: 1})
	return b
}

// terms sets the terms of node's Raft status for group.
func (b *obsBuilder) terms(node, group string, current, commit, lastLog int64) *obsBuilder {
	for i, r := range b.obs.Nodes[node].Raft {
		if r.ReplicationGroup == group {
			b.obs.Nodes[node].Raft[i].CurrentTerm, b.obs.Nodes[node].Raft[i].CommitTerm, b.obs.Nodes[node].Raft[i].LastLogTerm = current, commit, lastLog
		}
	}
	return b
}

// follower puts "<group>.follower.<node>.status" = status into leader's raft health.
func (b *obsBuilder) follower(leader, group, node, status string) *obsBuilder {
	v := b.obs.Nodes[leader]
	if v.Health == nil {
		v.Health = &axonserver.Health{Status: "UP", Components: map[string]*axonserver.Health{"raft": {Status: "UP", Details: map[string]any{}}}}
	}
	v.Health.Components["raft"].Details[group+".follower."+node+".status"] = status
	return b
}

func (b *obsBuilder) disconnected(node string) *obsBuilder {
	for i := range b.obs.Public {
		if b.obs.Public[i].Name == node {
			b.obs.Public[i].Connected = false
		}
	}
	v := b.obs.Nodes[node]
	v.Reachable, v.Raft, v.Health = false, nil, nil
	return b
}

func (b *obsBuilder) with(f func(*Observation)) *obsBuilder { f(b.obs); return b }

func allReady(nodes ...string) map[string]PodState {
	if len(nodes) == 0 {
		nodes = []string{"n1", "n2", "n3"}
	}
	out := map[string]PodState{}
	for _, n := range nodes {
		out[n] = PodState{Ready: true}
	}
	return out
}

// member is one expected group member: up, caught up, lag status and distance.
type member struct {
	up, caughtUp bool
	status       string
	behind       int64
}

func TestBuildModelGroups(t *testing.T) {
	tests := []struct {
		name   string
		obs    *obsBuilder
		leader string
		want   map[string]member
	}{
		{
			name:   "the leader's health alone proves nothing: followers UP in it but no Raft status read",
			obs:    newObs().group("g", "n2", "n1", "n2", "n3").follower("n2", "g", "n1", "UP").follower("n2", "g", "n3", "UP"),
			leader: "n2",
			want:   map[string]member{"n1": {true, false, "UNKNOWN", -1}, "n2": {true, true, "LEADER", 0}, "n3": {true, false, "UNKNOWN", -1}},
		},
		{
			name: "leader from Raft isLeader when the group names none",
			obs: newObs().group("g", "", "n1", "n2", "n3").
				raft("n1", "g", false, 90, 100).raft("n3", "g", true, 100, 100).raft("n2", "g", false, 100, 100).
				raft("n2", "other", true, 1, 1),
			leader: "n3",
			want:   map[string]member{"n1": {true, true, "UP", 0}, "n2": {true, true, "UP", 0}, "n3": {true, true, "LEADER", 0}},
		},
		{
			name: "health BEHIND and NO_ACK_RECEIVED do not overrule caught-up indices",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").follower("n1", "g", "n2", "BEHIND").follower("n1", "g", "n3", "NO_ACK_RECEIVED").
				raft("n1", "g", true, 1000, 1000).raft("n2", "g", false, 1000, 1000).raft("n3", "g", false, 990, 1003),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, true, "UP", 0}, "n3": {true, true, "UP", 0}},
		},
		{
			name: "50 behind is BEHIND, 500 behind is BEHIND",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").
				raft("n1", "g", true, 1000, 1000).raft("n2", "g", false, 950, 950).raft("n3", "g", false, 500, 500),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "BEHIND", 50}, "n3": {true, false, "BEHIND", 500}},
		},
		{
			name: "at the commit index is UP, one short is BEHIND, ahead is 0",
			obs: newObs("n1", "n2", "n3", "n4").group("g", "n1", "n1", "n2", "n3", "n4").
				raft("n1", "g", true, 1000, 1005).raft("n2", "g", false, 0, 1000).raft("n3", "g", false, 0, 999).raft("n4", "g", false, 0, 1003),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, true, "UP", 0}, "n3": {true, false, "BEHIND", 1}, "n4": {true, true, "UP", 0}},
		},
		{
			// Right after an election the new leader reports every follower UP.
			name: "stale UP: the indices win over the leader's health",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").
				raft("n1", "g", true, 1000, 1000).raft("n2", "g", false, 0, 400).raft("n3", "g", false, 0, 1000).
				follower("n1", "g", "n2", "UP").follower("n1", "g", "n3", "BEHIND"),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "BEHIND", 600}, "n3": {true, true, "UP", 0}},
		},
		{
			name: "election not settled: the leader has not committed an entry of its term yet",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").
				raft("n1", "g", true, 1000, 1001).raft("n2", "g", false, 1000, 1001).raft("n3", "g", false, 1000, 1001).
				terms("n1", "g", 5, 4, 5).terms("n2", "g", 5, 4, 5).terms("n3", "g", 5, 4, 5).
				follower("n1", "g", "n2", "UP").follower("n1", "g", "n3", "UP"),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "SETTLING", 0}, "n3": {true, false, "SETTLING", 0}},
		},
		{
			name: "election settled on the leader, not on the followers: an older term, or no entry of the new term yet",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").
				raft("n1", "g", true, 1001, 1001).raft("n2", "g", false, 1000, 1000).raft("n3", "g", false, 1000, 1001).
				terms("n1", "g", 5, 5, 5).terms("n2", "g", 4, 4, 4).terms("n3", "g", 5, 4, 4).
				follower("n1", "g", "n2", "UP").follower("n1", "g", "n3", "UP"),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "SETTLING", 1}, "n3": {true, false, "SETTLING", 0}},
		},
		{
			name: "settled: same term everywhere, the followers hold entries of it",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").
				raft("n1", "g", true, 1001, 1001).raft("n2", "g", false, 1001, 1001).raft("n3", "g", false, 1000, 1001).
				terms("n1", "g", 5, 5, 5).terms("n2", "g", 5, 5, 5).terms("n3", "g", 5, 4, 5),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, true, "UP", 0}, "n3": {true, true, "UP", 0}},
		},
		{
			name: "the named leader no longer says it leads",
			obs: newObs().group("g", "n1", "n1", "n2").
				raft("n1", "g", false, 1000, 1000).raft("n2", "g", false, 1000, 1000),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "SETTLING", 0}},
		},
		{
			name:   "another group's follower status does not count",
			obs:    newObs().group("g", "n1", "n1", "n2").follower("n1", "h", "n2", "UP").follower("n2", "g", "n2", "UP"),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, false, "UNKNOWN", -1}},
		},
		{
			name: "down when /v1/public says connected=false, whatever the leader's health says",
			obs: newObs().group("g", "n1", "n1", "n2", "n3:ACTIVE_BACKUP").disconnected("n3").follower("n1", "g", "n2", "UP").follower("n1", "g", "n3", "UP").
				raft("n1", "g", true, 10, 10).raft("n2", "g", false, 10, 10),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, true, "UP", 0}, "n3": {false, false, "DOWN", -1}},
		},
		{
			name: "no cluster view: up means reachable",
			obs: newObs().group("g", "n1", "n1", "n2", "n3").raft("n1", "g", true, 10, 10).raft("n2", "g", false, 10, 10).
				with(func(o *Observation) { o.From, o.Nodes["n3"].Reachable = "", false }),
			leader: "n1",
			want:   map[string]member{"n1": {true, true, "LEADER", 0}, "n2": {true, true, "UP", 0}, "n3": {false, false, "DOWN", -1}},
		},
		{
			name: "the node the view came from is up even if its own /v1/public entry says otherwise",
			obs: newObs().group("g", "n2", "n1", "n2").with(func(o *Observation) { o.Public[0].Connected = false }).
				raft("n2", "g", true, 10, 10).raft("n1", "g", false, 10, 10),
			leader: "n2",
			want:   map[string]member{"n1": {true, true, "UP", 0}, "n2": {true, true, "LEADER", 0}},
		},
		{
			// No leader: nothing to trail, so up members count as caught up and the
			// commit rule names the voters that are missing; the missing leader itself
			// blocks stops and health (pkg/quorum).
			name:   "no leader: up members NO_LEADER, counted as caught up",
			obs:    newObs().group("g", "", "n1", "n2"),
			leader: "",
			want:   map[string]member{"n1": {true, true, "NO_LEADER", -1}, "n2": {true, true, "NO_LEADER", -1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := BuildModel(tc.obs.obs, allReady(), 2)
			if len(m.Cluster.Groups) != 1 {
				t.Fatalf("groups %+v", m.Cluster.Groups)
			}
			g := m.Cluster.Groups[0]
			if g.Leader != tc.leader || g.MinActiveBackups != 2 {
				t.Errorf("leader %q min-active-backups %d, want %q 2", g.Leader, g.MinActiveBackups, tc.leader)
			}
			got := map[string]member{}
			for _, qm := range g.Members {
				lag := m.Lags[g.Name][qm.Node]
				got[qm.Node] = member{qm.Up, qm.CaughtUp, lag.Status, lag.Behind}
				if lag.CaughtUp != qm.CaughtUp {
					t.Errorf("%s: lag says caught up %v, the model %v", qm.Node, lag.CaughtUp, qm.CaughtUp)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("members\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBuildModelNodes(t *testing.T) {
	obs := newObs("n1", "n2", "n3").disconnected("n3").
		with(func(o *Observation) {
			// n5 is known to Axon Server but has no pod.
			o.Public = append(o.Public, axonserver.Node{Name: "n5", Connected: true})
		}).
		group("g", "n1", "n1", "n2:ACTIVE_BACKUP", "n3:PASSIVE_BACKUP").
		with(func(o *Observation) {
			o.Groups[0].ChangePending = true
			o.Groups[0].Contexts = []axonserver.Context{{Context: "a"}, {Context: "b"}}
		}).
		group("h", "n2", "n2")
	// n4 has a pod but Axon Server does not know it; n2's pod is not ready.
	pods := map[string]PodState{"n1": {Ready: true}, "n2": {Ready: false}, "n3": {Ready: true}, "n4": {Ready: true}}
	m := BuildModel(obs.obs, pods, 0)
	want := []quorum.Node{
		{Name: "n1", PodReady: true, Connected: true},
		{Name: "n2", PodReady: false, Connected: true},
		{Name: "n3", PodReady: true, Connected: false},
		{Name: "n4", PodReady: true, Connected: false},
		{Name: "n5", PodReady: false, Connected: true},
	}
	if !reflect.DeepEqual(m.Cluster.Nodes, want) {
		t.Errorf("nodes\n got %+v\nwant %+v", m.Cluster.Nodes, want)
	}
	if m.Contexts["g"] != 2 || !m.ChangePending["g"] || m.Contexts["h"] != 0 || m.ChangePending["h"] {
		t.Errorf("contexts %v change pending %v", m.Contexts, m.ChangePending)
	}
	if g := m.Cluster.Groups[0]; g.Members[1].Role != quorum.ActiveBackup || g.Members[2].Role != quorum.PassiveBackup {
		t.Errorf("roles %+v", g.Members)
	}
	if err := m.Cluster.Validate(); err != nil {
		t.Errorf("model does not validate: %v", err)
	}
}

func TestBuildModelSE(t *testing.T) {
	obs := newObs("axonserver").with(func(o *Observation) { o.Clustered = false })
	m := BuildModel(obs.obs, allReady("axonserver"), 0)
	if len(m.Cluster.Groups) != 0 || len(m.Cluster.Nodes) != 1 || !m.Cluster.Nodes[0].Connected {
		t.Errorf("SE model %+v", m.Cluster)
	}
	if h := m.Cluster.NodeHealth("axonserver"); !h.Healthy {
		t.Errorf("SE node unhealthy: %v", h.Problems)
	}
}

func envWith(props map[string]any) *axonserver.Env {
	ps := axonserver.PropertySource{Name: "axonserver.properties", Properties: map[string]axonserver.PropertyValue{}}
	for k, v := range props {
		ps.Properties[k] = axonserver.PropertyValue{Value: v}
	}
	return &axonserver.Env{PropertySources: []axonserver.PropertySource{ps}}
}

func TestMinActiveBackupsFromCluster(t *testing.T) {
	set := func(v any) *axonserver.Env { return envWith(map[string]any{MinActiveBackupsKey: v}) }
	none := envWith(nil)
	tests := []struct {
		name   string
		envs   map[string]*axonserver.Env // nil: /actuator/env not exposed
		flag   int
		want   int
		from   string
		byNode map[string]int
		warn   string
	}{
		{"not exposed anywhere: the default", nil, 0, 1, "default", map[string]int{}, ""},
		{"exposed, not set: Axon's default", map[string]*axonserver.Env{"n1": none, "n2": none, "n3": none}, 0, 1, "cluster", map[string]int{"n1": 1, "n2": 1, "n3": 1}, ""},
		{"every node says 2", map[string]*axonserver.Env{"n1": set("2"), "n2": set("2"), "n3": set(2.0)}, 0, 2, "cluster", map[string]int{"n1": 2, "n2": 2, "n3": 2}, ""},
		{"the flag wins", map[string]*axonserver.Env{"n1": set("2"), "n2": set("2")}, 1, 1, "flag", map[string]int{"n1": 2, "n2": 2}, ""},
		{"disagreement: the highest, with a warning", map[string]*axonserver.Env{"n1": set("2"), "n2": none, "n3": set("1")}, 0, 2, "cluster",
			map[string]int{"n1": 2, "n2": 1, "n3": 1}, "the nodes disagree on min-active-backups (1 on n2, n3; 2 on n1): using the highest"},
		{"disagreement with the flag set", map[string]*axonserver.Env{"n1": set("2"), "n2": none}, 3, 3, "flag",
			map[string]int{"n1": 2, "n2": 1}, "using --min-active-backups=3"},
		{"a value that is no number is ignored", map[string]*axonserver.Env{"n1": set("two"), "n2": set("2")}, 0, 2, "cluster",
			map[string]int{"n2": 2}, `n1: axoniq.axonserver.replication.min-active-backups="two" is not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newObs().group("g", "n1", "n1", "n2", "n3:ACTIVE_BACKUP")
			for n, e := range tc.envs {
				b.obs.Nodes[n].Env = e
			}
			m := BuildModel(b.obs, allReady(), tc.flag)
			if m.MinActiveBackups != tc.want || m.MinActiveBackupsFrom != tc.from || m.Cluster.Groups[0].MinActiveBackups != tc.want {
				t.Errorf("min-active-backups %d from %s (group %d); want %d from %s", m.MinActiveBackups, m.MinActiveBackupsFrom, m.Cluster.Groups[0].MinActiveBackups, tc.want, tc.from)
			}
			if !reflect.DeepEqual(m.MinActiveBackupsByNode, tc.byNode) {
				t.Errorf("by node %v; want %v", m.MinActiveBackupsByNode, tc.byNode)
			}
			got := strings.Join(m.Warnings, "\n")
			if (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("warnings %q; want %q", got, tc.warn)
			}
		})
	}
}

func TestUnknownRolesInTheModel(t *testing.T) {
	obs := newObs("n1", "n2", "n3", "n4").
		group("g", "n1", "n1", "n2", "n3:ANALYTICS", "n4:QUANTUM").
		group("h", "n1", "n1", "n4:QUANTUM").
		raft("n1", "g", true, 500, 500).raft("n2", "g", false, 500, 500).raft("n3", "g", false, 500, 500).raft("n4", "g", false, 2, 2).
		raft("n1", "h", true, 10, 10).raft("n4", "h", false, 10, 10)
	m := BuildModel(obs.obs, allReady("n1", "n2", "n3", "n4"), 0)
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "role QUANTUM (g/n4, h/n4) is unknown to kubectl axon: treated as non-voting") {
		t.Errorf("warnings %q", m.Warnings)
	}
	g := m.Cluster.Groups[0]
	if g.Members[2].Role != quorum.Analytics || g.Members[3].Role != "QUANTUM" || g.Members[3].CaughtUp {
		t.Errorf("members %+v", g.Members)
	}
	if ok, why := g.CanCommit(); !ok || g.FaultTolerance() != 0 {
		t.Errorf("CanCommit %v (%s), tolerates %d", ok, why, g.FaultTolerance())
	}
	if v := m.Cluster.CanStop("n4"); !v.Safe {
		t.Errorf("stopping the QUANTUM member blocked: %+v", v)
	}
	if err := m.Cluster.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
