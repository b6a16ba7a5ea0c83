package status

import (
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

// fx is a synthetic cluster for Build: nodes axonserver-1..N, each a ready pod on
// worker w<i> in zone z<i%3>, reachable and connected; axonserver-1 is the admin node
// the cluster view came from. Every group member is caught up (its Raft status at the
// leader's commit index, and UP in its leader's raft health) unless made otherwise.
type fx struct {
	namespace string
	members   []discovery.Member
	obs       *inspect.Observation
}

var observedAt = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func node(i int) string { return fmt.Sprintf("axonserver-%d", i) }

func newFx(n int) *fx {
	f := &fx{namespace: "axon", obs: &inspect.Observation{Nodes: map[string]*inspect.NodeView{}, From: node(1), Clustered: true}}
	for i := 1; i <= n; i++ {
		name := node(i)
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "axon"},
			Status: appsv1.StatefulSetStatus{UpdateRevision: name + "-rev2"}}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-0", Namespace: "axon",
				Labels: map[string]string{appsv1.StatefulSetRevisionLabel: name + "-rev2"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "axonserver", RestartCount: int32(i - 1)}}},
		}
		f.members = append(f.members, discovery.Member{Cluster: "axon", Namespace: "axon", StatefulSet: sts, Pod: pod,
			NodeName: name, Container: "axonserver", Image: "axoniq/axonserver:2024.2.1-nonroot",
			Worker: fmt.Sprintf("w%d", i), Zone: fmt.Sprintf("z%d", i%3)})
		v := &inspect.NodeView{Node: name, Reachable: true, Info: &axonserver.Info{},
			Me:     &axonserver.NodeInfo{Name: name, Clustered: true, AdminNode: i == 1},
			Health: &axonserver.Health{Status: "UP", Components: map[string]*axonserver.Health{"raft": {Status: "UP", Details: map[string]any{}}}}}
		v.Info.App.Version = "2024.2.1"
		f.obs.Nodes[name] = v
		f.obs.Public = append(f.obs.Public, axonserver.Node{Name: name, Connected: true})
	}
	return f
}

var roleNames = map[string]string{"": "PRIMARY", "AB": "ACTIVE_BACKUP", "PB": "PASSIVE_BACKUP", "MO": "MESSAGING_ONLY", "S": "SECONDARY"}

// group adds a replication group led by node(leader) (0: none); members are "<i>" for
// a PRIMARY or "<i>:<AB|PB|MO|S>".
func (f *fx) group(name string, leader int, members ...string) *fx {
	g := axonserver.ReplicationGroup{Name: name, Contexts: []axonserver.Context{{Context: name, ReplicationGroup: name}}}
	if leader > 0 {
		g.Leader = node(leader)
	}
	for _, m := range members {
		i, role, _ := strings.Cut(m, ":")
		n := "axonserver-" + i
		g.Roles = append(g.Roles, axonserver.NodeRole{Node: n, Role: roleNames[role]})
		f.obs.Nodes[n].Raft = append(f.obs.Nodes[n].Raft, axonserver.RaftStatus{ReplicationGroup: name, IsLeader: n == g.Leader,
			CommitIndex: fxCommit, LastLogIndex: fxCommit, CurrentTerm: 1, CommitTerm: 1, LastLogTerm: 1})
		if leader > 0 && n != g.Leader {
			f.follower(g.Leader, name, n, axonserver.StatusUp)
		}
	}
	f.obs.Groups = append(f.obs.Groups, g)
	return f
}

// fxCommit is the commit index of every group of the fixture.
const fxCommit = 1000

// follower sets the leader's health word for n; anything but UP also puts n's log
// 500 entries behind the leader's commit index (the Raft indices decide).
func (f *fx) follower(leader, group, n, status string) *fx {
	f.obs.Nodes[leader].Health.Components["raft"].Details[group+".follower."+n+".status"] = status
	if status != axonserver.StatusUp {
		for i, r := range f.obs.Nodes[n].Raft {
			if r.ReplicationGroup == group {
				f.obs.Nodes[n].Raft[i].LastLogIndex = fxCommit - 500
			}
		}
	}
	return f
}

// stop makes node(i) gone: no pod, unreachable, disconnected in /v1/public.
func (f *fx) stop(i int) *fx {
	name := node(i)
	f.members[i-1].Pod = nil
	f.obs.Nodes[name] = &inspect.NodeView{Node: name, Err: errors.New("no pod")}
	f.obs.Public[i-1].Connected = false
	return f
}

func (f *fx) with(fn func(*fx)) *fx { fn(f); return f }

func (f *fx) input() Input {
	return Input{Cluster: "axon", Namespace: f.namespace, Members: f.members, Obs: f.obs, MinActiveBackups: 1, Now: observedAt}
}
