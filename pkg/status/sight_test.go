package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// unanswered makes node(i) fail every call with err while its pod keeps running; Axon
// Server's view (from axonserver-1) still has it connected unless told otherwise.
func (f *fx) unanswered(i int, err error) *fx {
	f.obs.Nodes[node(i)] = &inspect.NodeView{Node: node(i), Err: err}
	return f
}

// blind: no node gave the cluster-wide view (what a refused or missing token, or
// every node unreachable, leaves).
func (f *fx) blind(err error) *fx {
	for n, v := range f.obs.Nodes {
		f.obs.Nodes[n] = &inspect.NodeView{Node: n, Reachable: true, Info: v.Info, Err: err}
	}
	f.obs.From, f.obs.Public, f.obs.Groups, f.obs.ClusterErr = "", nil, nil, errors.New("no Axon Server node answered")
	return f
}

// TestVerdictsRestOnEvidence: a node whose state was not seen is never safe to stop,
// in the report or its JSON; a node stopped on both sides is, and says why.
func TestVerdictsRestOnEvidence(t *testing.T) {
	refused := errors.New("axonserver-3: GET /v1/public/me: connection refused")
	tests := []struct {
		name string
		in   Input
		// want per node: verdict, then a piece of its evidence.
		want map[string][2]string
		// table: pieces of the SAFE TO STOP column per node.
		table map[string]string
	}{
		{
			name: "no group view: every node unknown",
			in:   newFx(3).group("default", 1, "1", "2", "3").blind(errors.New("GET /v1/public/me: HTTP 403 Forbidden")).input(),
			want: map[string][2]string{
				"axonserver-1": {"unknown", "the replication groups could not be read (no Axon Server node answered)"},
				"axonserver-2": {"unknown", "groups of axonserver-2 are not known"},
				"axonserver-3": {"unknown", "groups of axonserver-3 are not known"},
			},
			table: map[string]string{"axonserver-1": "unknown (groups not read)"},
		},
		{
			name: "a running node that does not answer",
			// Five PRIMARY members: without axonserver-3 (not seen caught up) the
			// others may still stop one at a time.
			in: newFx(5).group("default", 1, "1", "2", "3", "4", "5").unanswered(3, refused).input(),
			want: map[string][2]string{
				"axonserver-1": {"yes", "keeps its commit quorum"},
				"axonserver-3": {"unknown", "axonserver-3 did not answer (axonserver-3: GET /v1/public/me: connection refused)"},
			},
			table: map[string]string{"axonserver-3": "unknown (did not answer)"},
		},
		{
			name: "a running node that does not answer and that Axon Server reports down",
			in: newFx(3).group("default", 1, "1", "2", "3").unanswered(3, refused).with(func(f *fx) {
				f.obs.Public[2].Connected = false
			}).input(),
			want: map[string][2]string{
				"axonserver-1": {"no", "stopping axonserver-1 leaves 1 of 3"},
				"axonserver-3": {"unknown", "did not answer"},
			},
		},
		{
			name: "no pod and Axon Server reports it down: already stopped",
			in:   newFx(3).group("default", 1, "1", "2", "3").stop(3).input(),
			want: map[string][2]string{
				"axonserver-3": {"yes", "axonserver-3 is already stopped (Kubernetes: no pod; Axon Server reports it disconnected and down in every group) (groups as axonserver-1 reports them)"},
			},
			table: map[string]string{"axonserver-3": "yes"},
		},
		{
			name: "pod Pending and Axon Server reports it down: already stopped",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.members[2].Pod = f.members[1].Pod.DeepCopy()
				f.members[2].Pod.Status.Phase = corev1.PodPending
			}).input(),
			want: map[string][2]string{"axonserver-3": {"yes", "Kubernetes: pod Pending"}},
		},
		{
			name: "container in CrashLoopBackOff and Axon Server reports it down: already stopped",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.members[2].Pod = f.members[1].Pod.DeepCopy()
				f.members[2].Pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			}).input(),
			want: map[string][2]string{"axonserver-3": {"yes", "Kubernetes: container axonserver waiting (CrashLoopBackOff)"}},
		},
		{
			name: "pod Running but not Ready and Axon Server reports it down: already out of service",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.members[2].Pod = f.members[1].Pod.DeepCopy()
				f.members[2].Pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			}).input(),
			want: map[string][2]string{"axonserver-3": {"yes", "Kubernetes: pod Running but not Ready"}},
		},
		{
			name: "pod Ready that does not answer, Axon Server reports it down: unknown",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.members[2].Pod = f.members[1].Pod.DeepCopy()
			}).input(),
			want: map[string][2]string{"axonserver-3": {"unknown", "did not answer"}},
		},
		{
			name: "no pod but Axon Server reports it connected: unknown",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.obs.Public[2].Connected = true
			}).input(),
			want: map[string][2]string{"axonserver-3": {"unknown", "did not answer (no pod)"}},
		},
		{
			name: "without Kubernetes a node that does not answer is unknown, down or not",
			in: newFx(3).group("default", 1, "1", "2", "3").stop(3).with(func(f *fx) {
				f.members = nil
			}).input(),
			want: map[string][2]string{"axonserver-3": {"unknown", "did not answer"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.in)
			for _, n := range r.Nodes {
				w, ok := tt.want[n.Name]
				if !ok {
					continue
				}
				if string(n.SafeToStopVerdict) != w[0] || !strings.Contains(n.SafeToStopEvidence, w[1]) {
					t.Errorf("%s: %s: %q\nwant %s: ...%s...", n.Name, n.SafeToStopVerdict, n.SafeToStopEvidence, w[0], w[1])
				}
				if n.SafeToStop != (n.SafeToStopVerdict == quorum.Yes) {
					t.Errorf("%s: safeToStop %v with verdict %s", n.Name, n.SafeToStop, n.SafeToStopVerdict)
				}
				if n.SafeToStopVerdict == quorum.Unknown && n.Healthy {
					t.Errorf("%s: healthy although not seen", n.Name)
				}
			}
			for _, n := range r.Nodes {
				if n.SafeToStopVerdict == quorum.Unknown && r.Healthy {
					t.Errorf("report healthy with %s unknown", n.Name)
				}
			}
			var js bytes.Buffer
			if err := Write(&js, r, FormatJSON); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Nodes []map[string]any `json:"nodes"`
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for _, n := range doc.Nodes {
				if n["safeToStopVerdict"] == "unknown" && n["safeToStop"] != false {
					t.Errorf("JSON: %v unknown but safeToStop %v", n["name"], n["safeToStop"])
				}
				if _, ok := n["safeToStopEvidence"].(string); !ok {
					t.Errorf("JSON: %v has no safeToStopEvidence", n["name"])
				}
			}
			var tbl bytes.Buffer
			if err := Write(&tbl, r, FormatTable); err != nil {
				t.Fatal(err)
			}
			for name, cell := range tt.table {
				if !tableRowHas(tbl.String(), name, cell) {
					t.Errorf("table row of %s lacks %q:\n%s", name, cell, tbl.String())
				}
			}
		})
	}
}

func tableRowHas(table, node, cell string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, node+" ") && strings.HasSuffix(strings.TrimSpace(l), cell) {
			return true
		}
	}
	return false
}
