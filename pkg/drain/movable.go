// Package drain holds the pure parts of `kubectl axon drain-node`: whether an Axon
// Server pod can run on another worker (its volumes' node affinity, its own
// scheduling constraints, the workers that are schedulable), the zone and worker
// warnings a move raises, and the plan that orders the moves; and the eviction
// through the Eviction API that retries while a PodDisruptionBudget refuses.
//
// The movability check answers the question the scheduler will answer after the
// eviction, before the eviction: a pod whose local volume or zonal disk is bound to
// the drained worker's zone, with no other schedulable worker in that zone, would
// stay Pending after the eviction, and its node would be down until the worker
// comes back. It follows the scheduler's filters that decide this for a pod with
// bound volumes: NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector
// and required node affinity) and VolumeBinding (the PVs' node affinity). It does
// not evaluate resources, ports, inter-pod affinity or topology spread: the plan
// says so.
package drain

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Worker is a Kubernetes node as the movability check sees it.
type Worker struct {
	Name          string            `json:"name"`
	Zone          string            `json:"zone,omitempty"`
	Labels        map[string]string `json:"-"`
	Taints        []corev1.Taint    `json:"-"`
	Unschedulable bool              `json:"unschedulable,omitempty"`
	Ready         bool              `json:"ready"`
}

// ZoneLabel is the well-known label of a worker's zone.
const ZoneLabel = "topology.kubernetes.io/zone"

// WorkerOf reads a Node.
func WorkerOf(n *corev1.Node) Worker {
	w := Worker{Name: n.Name, Zone: n.Labels[ZoneLabel], Labels: n.Labels, Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			w.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return w
}

// Volume is one persistent volume claim of a pod and, once bound, its volume's node
// affinity.
type Volume struct {
	Claim string `json:"claim"`
	PV    string `json:"pv,omitempty"` // "" while the claim is unbound
	// Affinity is the PV's spec.nodeAffinity.required; nil when the volume may be
	// used on any worker (network storage, or an unbound claim).
	Affinity *corev1.NodeSelector `json:"-"`
}

// Pod is an Axon Server pod on the worker to drain.
type Pod struct {
	Node    string // the Axon Server node name
	Pod     *corev1.Pod
	Volumes []Volume
}

// Movability says whether a pod can run on another worker, and where.
type Movability struct {
	Node string `json:"node"`
	Pod  string `json:"pod"`
	// Movable: at least one other schedulable worker satisfies the pod's
	// constraints and its volumes' node affinity.
	Movable bool `json:"movable"`
	// Candidates are those workers, by name; Zones their zones.
	Candidates []string `json:"candidates,omitempty"`
	Zones      []string `json:"zones,omitempty"`
	// Why says, when not movable, why no worker will do (the reasons grouped, with
	// the workers each rules out).
	Why string `json:"why,omitempty"`
	// Rejected maps each reason to the workers it rules out.
	Rejected map[string][]string `json:"rejected,omitempty"`
	// Volumes are the constraints of its volumes, in words ("data-x-0: zone in
	// [zone-a]").
	Volumes []string `json:"volumes,omitempty"`
	// ComesBack: the pod tolerates the cordon (node.kubernetes.io/unschedulable),
	// so the scheduler may put it back on the drained worker.
	ComesBack bool `json:"comesBack,omitempty"`
}

// TaintUnschedulable is the taint a cordon implies.
const TaintUnschedulable = "node.kubernetes.io/unschedulable"

// Movable checks where p may run once the worker named drained is cordoned.
func Movable(p Pod, workers []Worker, drained string) Movability {
	m := Movability{Node: p.Node, Pod: p.Pod.Name, Rejected: map[string][]string{}}
	for _, v := range p.Volumes {
		if v.Affinity != nil {
			m.Volumes = append(m.Volumes, fmt.Sprintf("%s: %s", v.Claim, describeSelector(v.Affinity)))
		}
	}
	m.ComesBack = tolerates(p.Pod.Spec.Tolerations, corev1.Taint{Key: TaintUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	zones := map[string]bool{}
	for _, w := range workers {
		if w.Name == drained {
			continue
		}
		if why := rejects(p, w); why != "" {
			m.Rejected[why] = append(m.Rejected[why], w.Name)
			continue
		}
		m.Candidates = append(m.Candidates, w.Name)
		if w.Zone != "" && !zones[w.Zone] {
			zones[w.Zone] = true
			m.Zones = append(m.Zones, w.Zone)
		}
	}
	sort.Strings(m.Candidates)
	sort.Strings(m.Zones)
	m.Movable = len(m.Candidates) > 0
	if !m.Movable {
		m.Why = explain(m.Rejected, len(workers) <= 1)
	}
	if len(m.Rejected) == 0 {
		m.Rejected = nil
	}
	return m
}

// rejects says why p may not run on w, "" when it may. The first reason found,
// in the order a user fixes them: the worker's state, then the pod's own
// constraints, then its volumes.
func rejects(p Pod, w Worker) string {
	spec := p.Pod.Spec
	if w.Unschedulable && !tolerates(spec.Tolerations, corev1.Taint{Key: TaintUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return "cordoned"
	}
	if !w.Ready {
		return "not Ready"
	}
	for _, t := range w.Taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !tolerates(spec.Tolerations, t) {
			return fmt.Sprintf("taint %s not tolerated", taintString(t))
		}
	}
	for k, v := range spec.NodeSelector {
		if got, ok := w.Labels[k]; !ok || got != v {
			return fmt.Sprintf("nodeSelector %s=%s not matched", k, v)
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		if ns := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; !MatchNodeSelector(ns, w) {
			return "required node affinity (" + describeSelector(ns) + ") not matched"
		}
	}
	for _, v := range p.Volumes {
		if v.Affinity != nil && !MatchNodeSelector(v.Affinity, w) {
			return fmt.Sprintf("volume %s (%s) may only be used on workers with %s", v.Claim, v.PV, describeSelector(v.Affinity))
		}
	}
	return ""
}

// explain turns the rejections into one sentence: "no other worker will do:
// volume ... (w-b1, w-c1); cordoned (w-a2)".
func explain(rejected map[string][]string, alone bool) string {
	if len(rejected) == 0 {
		if alone {
			return "there is no other worker"
		}
		return "no other worker"
	}
	reasons := make([]string, 0, len(rejected))
	for r := range rejected {
		reasons = append(reasons, r)
	}
	// The reason that rules out most workers first: it is the one to fix.
	sort.Slice(reasons, func(i, j int) bool {
		a, b := rejected[reasons[i]], rejected[reasons[j]]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		ws := append([]string(nil), rejected[r]...)
		sort.Strings(ws)
		if len(ws) > 4 {
			ws = append(ws[:4], fmt.Sprintf("%d more", len(rejected[r])-4))
		}
		parts[i] = fmt.Sprintf("%s (%s)", r, strings.Join(ws, ", "))
	}
	return "no other worker will do: " + strings.Join(parts, "; ")
}

// tolerates reports whether one of ts tolerates t (the scheduler's rule for the
// Equal and Exists operators).
func tolerates(ts []corev1.Toleration, t corev1.Taint) bool {
	for _, tol := range ts {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key == "" {
			// An empty key with Exists tolerates every taint.
			if tol.Operator == corev1.TolerationOpExists {
				return true
			}
			continue
		}
		if tol.Key != t.Key {
			continue
		}
		switch tol.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s:%s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
}

// MatchNodeSelector reports whether w satisfies ns: any of its terms (an empty
// term matches nothing), each term all of its expressions and fields.
func MatchNodeSelector(ns *corev1.NodeSelector, w Worker) bool {
	for _, t := range ns.NodeSelectorTerms {
		if matchTerm(t, w) {
			return true
		}
	}
	return false
}

func matchTerm(t corev1.NodeSelectorTerm, w Worker) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := w.Labels[r.Key]
		if !matchRequirement(r, v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !matchRequirement(r, w.Name, true) {
			return false
		}
	}
	return true
}

func matchRequirement(r corev1.NodeSelectorRequirement, v string, ok bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return ok && contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// describeSelector puts a node selector in words: "topology.kubernetes.io/zone in
// [zone-a]", terms joined by " or ".
func describeSelector(ns *corev1.NodeSelector) string {
	var terms []string
	for _, t := range ns.NodeSelectorTerms {
		var reqs []string
		for _, r := range append(append([]corev1.NodeSelectorRequirement(nil), t.MatchExpressions...), t.MatchFields...) {
			switch r.Operator {
			case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
				reqs = append(reqs, fmt.Sprintf("%s %s", r.Key, strings.ToLower(string(r.Operator))))
			default:
				reqs = append(reqs, fmt.Sprintf("%s %s [%s]", r.Key, strings.ToLower(string(r.Operator)), strings.Join(r.Values, ", ")))
			}
		}
		terms = append(terms, strings.Join(reqs, " and "))
	}
	return strings.Join(terms, " or ")
}
