package drain

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

func worker(name, zone string, mods ...func(*Worker)) Worker {
	w := Worker{Name: name, Zone: zone, Ready: true,
		Labels: map[string]string{ZoneLabel: zone, "kubernetes.io/hostname": name}}
	for _, m := range mods {
		m(&w)
	}
	return w
}

func cordoned(w *Worker) { w.Unschedulable = true }
func notReady(w *Worker) { w.Ready = false }
func tainted(key, value string, effect corev1.TaintEffect) func(*Worker) {
	return func(w *Worker) { w.Taints = append(w.Taints, corev1.Taint{Key: key, Value: value, Effect: effect}) }
}
func labelled(k, v string) func(*Worker) { return func(w *Worker) { w.Labels[k] = v } }

func inZones(zones ...string) *corev1.NodeSelector {
	return &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: zones}}}}}
}

func pod(node string, mods ...func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: node + "-0", Namespace: "axon"}}
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func TestMovable(t *testing.T) {
	workers := []Worker{worker("w-a1", "zone-a"), worker("w-a2", "zone-a"), worker("w-b1", "zone-b")}
	zonal := []Volume{{Claim: "data-axonserver-1-0", PV: "pv-1", Affinity: inZones("zone-a")}}
	for _, tc := range []struct {
		name       string
		pod        Pod
		workers    []Worker
		drained    string
		candidates []string
		why        []string // substrings of Why when not movable
		comesBack  bool
	}{
		{name: "no constraints: anywhere else", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1")},
			workers: workers, drained: "w-a1", candidates: []string{"w-a2", "w-b1"}},
		{name: "zonal volume: within its zone", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1"), Volumes: zonal},
			workers: workers, drained: "w-a1", candidates: []string{"w-a2"}},
		{name: "zonal volume, the zone's other worker cordoned",
			pod:     Pod{Node: "axonserver-1", Pod: pod("axonserver-1"), Volumes: zonal},
			workers: []Worker{worker("w-a1", "zone-a"), worker("w-a2", "zone-a", cordoned), worker("w-b1", "zone-b")}, drained: "w-a1",
			why: []string{"volume data-axonserver-1-0 (pv-1) may only be used on workers with topology.kubernetes.io/zone in [zone-a] (w-b1)", "cordoned (w-a2)"}},
		{name: "zonal volume, alone in its zone",
			pod:     Pod{Node: "axonserver-1", Pod: pod("axonserver-1"), Volumes: zonal},
			workers: []Worker{worker("w-a1", "zone-a"), worker("w-b1", "zone-b"), worker("w-c1", "zone-c")}, drained: "w-a1",
			why: []string{"zone in [zone-a] (w-b1, w-c1)"}},
		{name: "unbound claim: no constraint", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1"), Volumes: []Volume{{Claim: "data"}}},
			workers: workers, drained: "w-a1", candidates: []string{"w-a2", "w-b1"}},
		{name: "the only worker", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1")},
			workers: []Worker{worker("w-a1", "zone-a")}, drained: "w-a1", why: []string{"there is no other worker"}},
		{name: "not Ready and tainted workers", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1")},
			workers: []Worker{worker("w-a1", "zone-a"), worker("w-a2", "zone-a", notReady), worker("w-b1", "zone-b", tainted("dedicated", "kafka", corev1.TaintEffectNoSchedule)),
				worker("w-b2", "zone-b", tainted("soft", "", corev1.TaintEffectPreferNoSchedule))},
			drained: "w-a1", candidates: []string{"w-b2"}},
		{name: "taint tolerated", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "axon", Effect: corev1.TaintEffectNoSchedule}}
		})},
			workers: []Worker{worker("w-a1", "zone-a"), worker("w-b1", "zone-b", tainted("dedicated", "axon", corev1.TaintEffectNoSchedule)),
				worker("w-b2", "zone-b", tainted("dedicated", "kafka", corev1.TaintEffectNoExecute))},
			drained: "w-a1", candidates: []string{"w-b1"}},
		{name: "nodeSelector", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1", func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"pool": "axon"} })},
			workers: []Worker{worker("w-a1", "zone-a", labelled("pool", "axon")), worker("w-a2", "zone-a"), worker("w-b1", "zone-b", labelled("pool", "axon"))},
			drained: "w-a1", candidates: []string{"w-b1"}},
		{name: "pinned by required node affinity", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1", func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"w-a1"}}}}}}}}
		})},
			workers: workers, drained: "w-a1", why: []string{"required node affinity (metadata.name in [w-a1]) not matched (w-a2, w-b1)"}},
		{name: "tolerates the cordon: may come back", pod: Pod{Node: "axonserver-1", Pod: pod("axonserver-1", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		})},
			workers: []Worker{worker("w-a1", "zone-a"), worker("w-a2", "zone-a", cordoned)}, drained: "w-a1", candidates: []string{"w-a2"}, comesBack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Movable(tc.pod, tc.workers, tc.drained)
			if m.Movable != (len(tc.why) == 0) || strings.Join(m.Candidates, ",") != strings.Join(tc.candidates, ",") || m.ComesBack != tc.comesBack {
				t.Fatalf("got %+v", m)
			}
			for _, w := range tc.why {
				if !strings.Contains(m.Why, w) {
					t.Errorf("why %q lacks %q", m.Why, w)
				}
			}
		})
	}
}

func TestMatchNodeSelector(t *testing.T) {
	w := worker("w-1", "zone-a", labelled("gen", "5"))
	req := func(key string, op corev1.NodeSelectorOperator, vals ...string) *corev1.NodeSelector {
		return &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}}}
	}
	for _, tc := range []struct {
		ns   *corev1.NodeSelector
		want bool
	}{
		{req(ZoneLabel, corev1.NodeSelectorOpIn, "zone-a", "zone-b"), true},
		{req(ZoneLabel, corev1.NodeSelectorOpNotIn, "zone-a"), false},
		{req("absent", corev1.NodeSelectorOpNotIn, "x"), true},
		{req("gen", corev1.NodeSelectorOpExists), true},
		{req("gen", corev1.NodeSelectorOpDoesNotExist), false},
		{req("gen", corev1.NodeSelectorOpGt, "4"), true},
		{req("gen", corev1.NodeSelectorOpLt, "4"), false},
		{&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}, false}, // an empty term matches nothing
		{&corev1.NodeSelector{NodeSelectorTerms: append(inZones("zone-b").NodeSelectorTerms, inZones("zone-a").NodeSelectorTerms...)}, true},
	} {
		if got := MatchNodeSelector(tc.ns, w); got != tc.want {
			t.Errorf("%s: got %v", describeSelector(tc.ns), got)
		}
	}
}

// cluster builds a quorum.Cluster: groups as name -> node -> role, every node up.
func cluster(groups map[string]map[string]quorum.Role, leaders map[string]string) quorum.Cluster {
	c := quorum.Cluster{}
	seen := map[string]bool{}
	for _, name := range []string{"_admin", "orders", "payments"} {
		roles, ok := groups[name]
		if !ok {
			continue
		}
		g := quorum.Group{Name: name, Leader: leaders[name]}
		for _, n := range []string{"axonserver-1", "axonserver-2", "axonserver-3", "axonserver-4", "axonserver-5"} {
			if r, ok := roles[n]; ok {
				g.Members = append(g.Members, quorum.Member{Node: n, Role: r, Up: true, CaughtUp: true})
				if !seen[n] {
					seen[n] = true
					c.Nodes = append(c.Nodes, quorum.Node{Name: n, PodReady: true, Connected: true})
				}
			}
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

const P, AB, PB = quorum.Primary, quorum.ActiveBackup, quorum.PassiveBackup

func TestMoveWarnings(t *testing.T) {
	zoneOf := map[string]string{"w-a1": "zone-a", "w-a2": "zone-a", "w-b1": "zone-b", "w-c1": "zone-c"}
	c := cluster(map[string]map[string]quorum.Role{
		"_admin":   {"axonserver-1": P, "axonserver-2": P, "axonserver-3": P},
		"payments": {"axonserver-1": P, "axonserver-4": AB, "axonserver-5": PB},
	}, map[string]string{"_admin": "axonserver-2", "payments": "axonserver-1"})
	for _, tc := range []struct {
		name       string
		candidates []string
		placed     map[string]string
		want       []string
	}{
		{name: "stays in its zone: nothing new", candidates: []string{"w-a2"},
			placed: map[string]string{"axonserver-2": "w-b1", "axonserver-3": "w-a2", "axonserver-4": "w-c1", "axonserver-5": "w-b1"}},
		{name: "only into a zone with another voter", candidates: []string{"w-b1"},
			placed: map[string]string{"axonserver-2": "w-b1", "axonserver-3": "w-c1", "axonserver-4": "w-c1", "axonserver-5": "w-b1"},
			want:   []string{"moving axonserver-1 puts two voters of _admin in zone zone-b (with axonserver-2)"}},
		{name: "some candidates avoid it", candidates: []string{"w-b1", "w-c1"},
			placed: map[string]string{"axonserver-2": "w-b1", "axonserver-3": "w-a2", "axonserver-4": "w-a2", "axonserver-5": "w-b1"},
			want:   []string{"moving axonserver-1 may put two voters of _admin in zone zone-b (with axonserver-2) if the scheduler picks w-b1 (w-c1 would avoid it): losing that zone"}},
		{name: "every voter on one worker; the passive backup does not count", candidates: []string{"w-c1"},
			placed: map[string]string{"axonserver-2": "w-b1", "axonserver-3": "w-a2", "axonserver-4": "w-c1", "axonserver-5": "w-c1"},
			want: []string{"moving axonserver-1 puts every voter of payments on worker w-c1 (with axonserver-4)",
				"moving axonserver-1 puts two voters of payments in zone zone-c (with axonserver-4)"}},
		{name: "another voter moves too: its place is unknown", candidates: []string{"w-c1"},
			placed: map[string]string{"axonserver-2": "w-b1", "axonserver-3": "w-a2", "axonserver-5": "w-c1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MoveWarnings(c, "axonserver-1", "zone-a", Movability{Candidates: tc.candidates}, tc.placed, zoneOf)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %d warnings", got, len(tc.want))
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("no warning %q in %q", w, got)
				}
			}
		})
	}
}

func TestNewPlan(t *testing.T) {
	// Two nodes of _admin on w-a1 (one of them its leader), a third elsewhere in
	// zone-a; axonserver-4's volume is bound to zone-c, where no other worker is.
	c := cluster(map[string]map[string]quorum.Role{
		"_admin": {"axonserver-1": P, "axonserver-2": P, "axonserver-3": P},
		"orders": {"axonserver-3": P, "axonserver-4": P, "axonserver-5": P},
	}, map[string]string{"_admin": "axonserver-1", "orders": "axonserver-3"})
	workers := []Worker{worker("w-a1", "zone-a"), worker("w-a2", "zone-a"), worker("w-b1", "zone-b"), worker("w-c1", "zone-c")}
	in := Input{Cluster: c, Worker: "w-a1", Workers: workers,
		Pods: []Pod{
			{Node: "axonserver-1", Pod: pod("axonserver-1"), Volumes: []Volume{{Claim: "data-axonserver-1-0", PV: "pv-1", Affinity: inZones("zone-a")}}},
			{Node: "axonserver-2", Pod: pod("axonserver-2")},
		},
		Placed: map[string]string{"axonserver-1": "w-a1", "axonserver-2": "w-a1", "axonserver-3": "w-b1", "axonserver-4": "w-c1", "axonserver-5": "w-b1"}}
	p := NewPlan(in)
	if len(p.Steps) != 2 || p.Steps[0].Node != "axonserver-2" || p.Steps[1].Node != "axonserver-1" {
		t.Fatalf("followers first, the leader last: %+v", p.Steps)
	}
	if !p.Steps[0].Verdict.Safe || !p.Steps[1].Verdict.Safe || len(p.Blocked()) != 0 {
		t.Errorf("one at a time is safe: %+v", p.Steps)
	}
	if p.AllAtOnce.Safe || !strings.Contains(p.AllAtOnce.Blocked[0].String(), "_admin") {
		t.Errorf("both at once stops _admin: %+v", p.AllAtOnce)
	}
	if strings.Join(p.Steps[1].Move.Candidates, ",") != "w-a2" {
		t.Errorf("axonserver-1 stays in zone-a: %+v", p.Steps[1].Move)
	}
	// axonserver-2 may go to w-b1, where axonserver-3 (another _admin voter) runs.
	if len(p.Steps[0].Warnings) != 1 || !strings.Contains(p.Steps[0].Warnings[0], "zone zone-b") {
		t.Errorf("warnings: %q", p.Steps[0].Warnings)
	}

	in.Worker = "w-c1"
	in.Pods = []Pod{{Node: "axonserver-4", Pod: pod("axonserver-4"), Volumes: []Volume{{Claim: "data-axonserver-4-0", PV: "pv-4", Affinity: inZones("zone-c")}}}}
	p = NewPlan(in)
	if len(p.Steps) != 0 || len(p.Unmovable) != 1 || !strings.Contains(p.Unmovable[0].Why, "zone-c") {
		t.Fatalf("unmovable: %+v", p)
	}
}

func TestEvictRetriesWhileBudgetRefuses(t *testing.T) {
	kube := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon", UID: "u1"}})
	refusals := 2
	var got []*policyv1.Eviction
	kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		got = append(got, a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction))
		if refusals > 0 {
			refusals--
			err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
			err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: "DisruptionBudget", Message: "The disruption budget axon needs 3 healthy pods and has 3 currently"}}
			return true, nil, err
		}
		return true, nil, nil
	})
	var reasons []string
	var slept time.Duration
	ready := 0
	e := &Evictor{Kube: kube, Retry: time.Second,
		Blocked: func(r string, attempt int, wait time.Duration) { reasons = append(reasons, r) },
		Ready: func(context.Context) (bool, string) {
			ready++
			return ready != 1, "axonserver-2 unhealthy"
		},
		Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon", UID: "u1"}}
	if err := e.Evict(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	// refused, not ready (no attempt), refused, evicted
	if len(got) != 3 || len(reasons) != 3 || slept != 3*time.Second {
		t.Fatalf("attempts %d, reasons %q, slept %s", len(got), reasons, slept)
	}
	if !strings.Contains(reasons[0], "The disruption budget axon needs 3 healthy pods") || !strings.Contains(reasons[1], "not safe to stop now: axonserver-2 unhealthy") {
		t.Errorf("reasons: %q", reasons)
	}
	if *got[0].DeleteOptions.Preconditions.UID != "u1" {
		t.Errorf("no UID precondition")
	}
}

func TestEvictOutcomes(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name    string
		err     error
		timeout time.Duration
		want    string // "" for success
	}{
		{name: "evicted"},
		{name: "already gone", err: apierrors.NewNotFound(gr, "axonserver-1-0")},
		{name: "replaced meanwhile", err: apierrors.NewConflict(gr, "axonserver-1-0", errors.New("UID precondition"))},
		{name: "forbidden", err: apierrors.NewForbidden(gr, "axonserver-1-0", errors.New("no")), want: "docs/rbac.yaml"},
		{name: "two budgets", err: apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget")), want: "more than one"},
		{name: "budget never allows", err: apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0),
			timeout: 3 * time.Second, want: "still refused after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset()
			kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.err
			})
			e := &Evictor{Kube: kube, Retry: time.Second, Timeout: tc.timeout, Sleep: func(context.Context, time.Duration) error {
				time.Sleep(time.Millisecond)
				return nil
			}}
			// The fake sleep does not advance the clock: time out through the clock instead.
			if tc.timeout > 0 {
				e.Timeout = time.Millisecond
			}
			err := e.Evict(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon"}})
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			var be *BlockedError
			if tc.timeout > 0 && (!errors.As(err, &be) || !strings.Contains(be.Reason, "disruption budget")) {
				t.Errorf("not a BlockedError with the reason: %v", err)
			}
		})
	}
}
