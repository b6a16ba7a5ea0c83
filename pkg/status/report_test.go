package status

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeLine renders the verdicts of one node: "name healthy safe [blocked by] leads=..".
func nodeLine(n NodeStatus) string {
	var blocked []string
	for _, b := range n.BlockedBy {
		blocked = append(blocked, b.Group)
	}
	return fmt.Sprintf("%s healthy=%v safe=%v blocked=%s leads=%s groups=%s", n.Name, n.Healthy, n.SafeToStop,
		strings.Join(blocked, ","), strings.Join(n.Leads, ","), strings.Join(n.Groups, ","))
}

func groupLine(g GroupStatus) string {
	return fmt.Sprintf("%s leader=%s commit=%v ft=%d behind=%s contexts=%d", g.Name, g.Leader, g.CanCommit, g.FaultTolerance,
		strings.Join(g.Behind, ","), g.Contexts)
}

func lines[T any](xs []T, f func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name     string
		in       Input
		healthy  bool
		edition  string
		nodes    []string
		groups   []string
		reasons  map[string]string // group → Reason
		warnings []string          // substrings of Report.Warnings, in order
		summary  string
	}{
		{
			name:    "healthy 3 nodes",
			in:      newFx(3).group("_admin", 1, "1", "2", "3").group("default", 2, "1", "2", "3").input(),
			healthy: true, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=true blocked= leads=_admin groups=_admin,default",
				"axonserver-2 healthy=true safe=true blocked= leads=default groups=_admin,default",
				"axonserver-3 healthy=true safe=true blocked= leads= groups=_admin,default",
			},
			groups:  []string{"_admin leader=axonserver-1 commit=true ft=1 behind= contexts=1", "default leader=axonserver-2 commit=true ft=1 behind= contexts=1"},
			summary: "cluster axon is healthy: 3 nodes, 2 replication groups",
		},
		{
			name:    "healthy, but the only ACTIVE_BACKUP may not stop",
			in:      newFx(4).group("_admin", 1, "1", "2", "3").group("default", 1, "1", "2", "3", "4:AB").input(),
			healthy: true, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=true blocked= leads=_admin,default groups=_admin,default",
				"axonserver-2 healthy=true safe=true blocked= leads= groups=_admin,default",
				"axonserver-3 healthy=true safe=true blocked= leads= groups=_admin,default",
				"axonserver-4 healthy=true safe=false blocked=default leads= groups=default",
			},
			groups: []string{"_admin leader=axonserver-1 commit=true ft=1 behind= contexts=1", "default leader=axonserver-1 commit=true ft=0 behind= contexts=1"},
		},
		{
			name:    "a stopped node: the group still commits, nobody else may stop",
			in:      newFx(3).group("default", 1, "1", "2", "3").stop(3).input(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=false blocked=default leads=default groups=default",
				"axonserver-2 healthy=true safe=false blocked=default leads= groups=default",
				"axonserver-3 healthy=false safe=true blocked= leads= groups=default",
			},
			groups:  []string{"default leader=axonserver-1 commit=true ft=0 behind= contexts=1"},
			summary: "cluster axon is NOT healthy; unhealthy nodes: axonserver-3",
		},
		{
			name:    "a follower behind",
			in:      newFx(3).group("default", 1, "1", "2", "3").follower("axonserver-1", "default", "axonserver-2", "BEHIND").input(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=false blocked=default leads=default groups=default",
				"axonserver-2 healthy=false safe=true blocked= leads= groups=default",
				"axonserver-3 healthy=true safe=false blocked=default leads= groups=default",
			},
			groups:  []string{"default leader=axonserver-1 commit=true ft=0 behind=axonserver-2 contexts=1"},
			summary: "cluster axon is NOT healthy; unhealthy nodes: axonserver-2",
		},
		{
			name:    "lost quorum: two of three PRIMARY members down",
			in:      newFx(3).group("_admin", 1, "1", "2", "3").group("orders", 1, "1", "2", "3").stop(2).stop(3).input(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=false blocked=_admin,orders leads=_admin,orders groups=_admin,orders",
				"axonserver-2 healthy=false safe=true blocked= leads= groups=_admin,orders",
				"axonserver-3 healthy=false safe=true blocked= leads= groups=_admin,orders",
			},
			groups: []string{"_admin leader=axonserver-1 commit=false ft=-1 behind= contexts=1", "orders leader=axonserver-1 commit=false ft=-1 behind= contexts=1"},
			reasons: map[string]string{
				"_admin": "only 1 of 3 PRIMARY members up and caught up (needs 2)",
				"orders": "only 1 of 3 PRIMARY members up and caught up (needs 2)",
			},
			summary: "cluster axon is NOT healthy; unhealthy nodes: axonserver-2, axonserver-3; groups that cannot commit: _admin, orders",
		},
		{
			name:    "lost quorum: the only ACTIVE_BACKUP down",
			in:      newFx(4).group("default", 1, "1", "2", "3", "4:AB").stop(4).input(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=false blocked=default leads=default groups=default",
				"axonserver-2 healthy=true safe=false blocked=default leads= groups=default",
				"axonserver-3 healthy=true safe=false blocked=default leads= groups=default",
				"axonserver-4 healthy=false safe=true blocked= leads= groups=default",
			},
			groups:  []string{"default leader=axonserver-1 commit=false ft=-1 behind= contexts=1"},
			reasons: map[string]string{"default": "only 0 of 1 ACTIVE_BACKUP members up and caught up (min-active-backups 1)"},
			summary: "groups that cannot commit: default",
		},
		{
			name: "every node healthy, but min-active-backups 2 with one ACTIVE_BACKUP never commits",
			in: func() Input {
				in := newFx(4).group("default", 1, "1", "2", "3", "4:AB").input()
				in.MinActiveBackups = 2
				return in
			}(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=false blocked=default leads=default groups=default",
				"axonserver-2 healthy=true safe=false blocked=default leads= groups=default",
				"axonserver-3 healthy=true safe=false blocked=default leads= groups=default",
				"axonserver-4 healthy=true safe=false blocked=default leads= groups=default",
			},
			groups: []string{"default leader=axonserver-1 commit=false ft=-1 behind= contexts=1"},
			reasons: map[string]string{"default": "only 1 of 1 ACTIVE_BACKUP members up and caught up " +
				"(min-active-backups 2 exceeds the 1 members: the group can never commit)"},
			summary: "cluster axon is NOT healthy; groups that cannot commit: default",
		},
		{
			name: "a pod on an old revision is not healthy",
			in: newFx(3).group("default", 1, "1", "2", "3").with(func(f *fx) {
				f.members[1].Pod.Labels["controller-revision-hash"] = "axonserver-2-rev1"
			}).input(),
			healthy: false, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=true blocked= leads=default groups=default",
				"axonserver-2 healthy=false safe=true blocked= leads= groups=default",
				"axonserver-3 healthy=true safe=true blocked= leads= groups=default",
			},
			groups: []string{"default leader=axonserver-1 commit=true ft=1 behind= contexts=1"},
		},
		{
			name: "SE",
			in: newFx(1).with(func(f *fx) {
				f.obs.Clustered = false
				f.obs.Nodes[node(1)].Me.Clustered = false
			}).input(),
			healthy: true, edition: "SE",
			nodes:    []string{"axonserver-1 healthy=true safe=true blocked= leads= groups="},
			groups:   []string{},
			warnings: []string{"Axon Server SE (clustered: false): no replication groups"},
			summary:  "cluster axon is healthy: 1 nodes, 0 replication groups",
		},
		{
			name: "Axon-only mode: no pods, what answered counts as ready",
			in: newFx(3).group("default", 1, "1", "2", "3").with(func(f *fx) {
				f.members = nil
			}).input(),
			healthy: true, edition: "EE",
			nodes: []string{
				"axonserver-1 healthy=true safe=true blocked= leads=default groups=default",
				"axonserver-2 healthy=true safe=true blocked= leads= groups=default",
				"axonserver-3 healthy=true safe=true blocked= leads= groups=default",
			},
			groups: []string{"default leader=axonserver-1 commit=true ft=1 behind= contexts=1"},
		},
		{
			name: "cluster view unavailable",
			in: newFx(2).with(func(f *fx) {
				f.obs.From, f.obs.Public, f.obs.ClusterErr = "", nil, errors.New("GET /v1/public: HTTP 403\nInvalid token")
			}).input(),
			healthy: false, edition: "unknown",
			// Nothing is known of the groups: no node is healthy or safe to stop.
			nodes: []string{
				"axonserver-1 healthy=false safe=false blocked= leads= groups=",
				"axonserver-2 healthy=false safe=false blocked= leads= groups=",
			},
			groups:   []string{},
			warnings: []string{"cluster view unavailable: GET /v1/public: HTTP 403"},
			summary:  "cluster axon is NOT healthy; unhealthy nodes: axonserver-1, axonserver-2",
		},
		{
			name: "discovery warnings are kept",
			in: func() Input {
				in := newFx(1).with(func(f *fx) { f.obs.Clustered = false }).input()
				in.Warnings = []string{"zones unknown: not allowed to list nodes"}
				return in
			}(),
			healthy: true, edition: "SE",
			nodes:    []string{"axonserver-1 healthy=true safe=true blocked= leads= groups="},
			groups:   []string{},
			warnings: []string{"zones unknown", "Axon Server SE"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(tc.in)
			if r.Healthy != tc.healthy || r.Edition != tc.edition || r.Kind != Kind || r.SchemaVersion != SchemaVersion {
				t.Errorf("healthy %v edition %q kind %q v%d; want healthy %v edition %q", r.Healthy, r.Edition, r.Kind, r.SchemaVersion, tc.healthy, tc.edition)
			}
			if got := lines(r.Nodes, nodeLine); !reflect.DeepEqual(got, tc.nodes) {
				t.Errorf("nodes\n got %q\nwant %q", got, tc.nodes)
			}
			if got := lines(r.Groups, groupLine); !reflect.DeepEqual(got, tc.groups) {
				t.Errorf("groups\n got %q\nwant %q", got, tc.groups)
			}
			for _, g := range r.Groups {
				if g.Reason != tc.reasons[g.Name] {
					t.Errorf("group %s reason %q, want %q", g.Name, g.Reason, tc.reasons[g.Name])
				}
			}
			if len(r.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", r.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(r.Warnings[i], w) {
					t.Errorf("warning %q, want it to contain %q", r.Warnings[i], w)
				}
			}
			if !strings.Contains(r.Summary(), tc.summary) {
				t.Errorf("summary %q, want it to contain %q", r.Summary(), tc.summary)
			}
			if !r.ObservedAt.Equal(observedAt) {
				t.Errorf("observedAt %v", r.ObservedAt)
			}
		})
	}
}

func TestBuildNodeDetails(t *testing.T) {
	f := newFx(3).group("default", 1, "1", "2", "3:MO").stop(3).with(func(f *fx) {
		p := f.members[1].Pod
		p.DeletionTimestamp = &metav1.Time{Time: observedAt}
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		f.obs.Nodes[node(3)].Err = errors.New("line one\nline two")
	})
	r := Build(f.input())
	n1, n2, n3 := r.Nodes[0], r.Nodes[1], r.Nodes[2]
	if n1.StatefulSet != "axonserver-1" || n1.Pod != "axonserver-1-0" || n1.Phase != "Running" || !n1.Ready || !n1.CurrentRevision ||
		n1.Version != "2024.2.1" || n1.Worker != "w1" || n1.Zone != "z1" || !n1.Admin || !n1.Reachable || !n1.Connected || n1.Replicas != 1 ||
		n1.Image != "axoniq/axonserver:2024.2.1-nonroot" {
		t.Errorf("axonserver-1: %+v", n1)
	}
	if n2.Phase != "Terminating (CrashLoopBackOff)" || n2.Restarts != 1 || n2.Admin {
		t.Errorf("axonserver-2: phase %q restarts %d admin %v", n2.Phase, n2.Restarts, n2.Admin)
	}
	if n3.Pod != "" || n3.Ready || n3.Reachable || n3.Connected || n3.Error != "line one line two" || n3.Healthy {
		t.Errorf("axonserver-3: %+v", n3)
	}
	wantProblems := []string{"pod not ready or not at the current revision", "not connected to the cluster", "not up in group default"}
	if !reflect.DeepEqual(n3.Problems, wantProblems) {
		t.Errorf("axonserver-3 problems %q, want %q", n3.Problems, wantProblems)
	}
	// A MESSAGING_ONLY member never blocks a stop; two PRIMARY of 2 both must stay.
	if g := r.Groups[0]; !g.CanCommit || g.Members[2].Status != "DOWN" || g.Members[2].Up || g.Members[2].Behind != -1 {
		t.Errorf("default group %+v", g)
	}
	if !strings.Contains(strings.Join(r.Groups[0].Warnings, "\n"), "2 PRIMARY members") {
		t.Errorf("group warnings %q", r.Groups[0].Warnings)
	}
}

func TestBuildZoneWarning(t *testing.T) {
	f := newFx(3).group("default", 1, "1", "2", "3")
	for i := range f.members {
		f.members[i].Zone = "eu-west-1a"
	}
	r := Build(f.input())
	if w := r.Groups[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "all voting members are in zone eu-west-1a") {
		t.Errorf("group warnings %q", w)
	}
	// Zones from discovery only: in Axon-only mode there are none, so no zone warning.
	f.members = nil
	if w := Build(f.input()).Groups[0].Warnings; len(w) != 0 {
		t.Errorf("Axon-only group warnings %q", w)
	}
}

func TestBuildAxonOnlyUnreachable(t *testing.T) {
	f := newFx(3).group("default", 1, "1", "2", "3")
	f.members = nil
	f.obs.Nodes[node(2)].Reachable = false
	r := Build(f.input())
	n2 := r.Nodes[1]
	if n2.StatefulSet != "" || n2.Pod != "" || n2.Healthy || r.Healthy {
		t.Errorf("axonserver-2 %+v, report healthy %v", n2, r.Healthy)
	}
	if !reflect.DeepEqual(n2.Problems, []string{"pod not ready or not at the current revision"}) {
		t.Errorf("problems %q", n2.Problems)
	}
}
