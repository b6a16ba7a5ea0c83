// Package rebuild is the procedure behind `kubectl axon replace-node`: replace a node's
// pod (a plain replacement), or rebuild the node on fresh volumes (--fresh-volume):
//
//  1. record the node's replication-group memberships and roles on its StatefulSet
//     (annotation kubectl-axon.io/replace), so that a rerun still knows them;
//  2. check that every group keeps commit availability without the node for the
//     whole rebuild (Removal);
//  3. unregister the node from the Axon cluster (DELETE /v1/cluster/{name}: it moves
//     leadership off the node first) and wait until no group lists it;
//  4. delete the pod's PersistentVolumeClaims (only those of its StatefulSet: Claims)
//     and the pod; the StatefulSet controller recreates both, on fresh volumes;
//  5. wait for the new node to register (autocluster; else POST /v1/cluster), then add
//     it to every recorded group with its recorded role;
//  6. wait until it has caught up in every group, showing progress per group; the
//     stepper then waits until every node is healthy.
//
// Every step is recorded in the annotation before and after it is taken, and checks
// whether it is already done, so a rerun continues where a run stopped. The stepper
// (pkg/stepper) runs the steps: preflight, lock, pod waits, progress and exit codes.
package rebuild

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/membership"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
)

// Annotation holds a node's State on its StatefulSet while a replace-node run has
// the node to do; it is removed when the node's step finished.
const Annotation = record.Prefix + "replace"

// Phase is how far a node's replacement got.
type Phase string

// The phases, in order.
const (
	// Pending: the run has the node to do; nothing changed on it yet.
	Pending Phase = "pending"
	// Unregistering: DELETE /v1/cluster/{name} may have been sent.
	Unregistering Phase = "unregistering"
	// Unregistered: no group lists the node.
	Unregistered Phase = "unregistered"
	// Deleting: the PVCs and the pod named in the State may have been deleted.
	Deleting Phase = "deleting"
	// VolumesDeleted: the PVCs and the pod are deleted (the new ones may exist).
	VolumesDeleted Phase = "volumes-deleted"
	// Rejoined: the new node is registered and back in every recorded group.
	Rejoined Phase = "rejoined"
)

var phaseOrder = []Phase{Pending, Unregistering, Unregistered, Deleting, VolumesDeleted, Rejoined}

// Rank orders phases; an unknown phase ranks as Pending.
func (p Phase) Rank() int { return max(slices.Index(phaseOrder, p), 0) }

// AtLeast reports whether p is q or later.
func (p Phase) AtLeast(q Phase) bool { return p.Rank() >= q.Rank() }

// Membership is one recorded group membership (one name for the concept:
// membership.Membership).
type Membership = membership.Membership

// Claim is a PVC deleted (or to be deleted) by step 4.
type Claim struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// State is the per-node record of a run.
type State struct {
	// Run identifies the run (its start time); Targets are its nodes, sorted.
	Run     string   `json:"run"`
	Targets []string `json:"targets"`
	Fresh   bool     `json:"freshVolume,omitempty"`
	Phase   Phase    `json:"phase"`
	// Groups are the node's memberships before the rebuild (step 1).
	Groups []Membership `json:"groups,omitempty"`
	// OldPod is the UID of the pod being replaced (set just before it is deleted).
	OldPod string `json:"oldPod,omitempty"`
	// Claims are the PVCs deleted in step 4.
	Claims []Claim `json:"claims,omitempty"`
	// Autocluster is the node's own autocluster.first, pointed at a healthy member
	// for the rebuild and restored once the node is back in its groups.
	Autocluster *AutoclusterChange `json:"autocluster,omitempty"`
}

// String is the annotation value.
func (s State) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Parse reads an annotation value.
func Parse(v string) (State, error) {
	var s State
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return s, fmt.Errorf("annotation %s: %w", Annotation, err)
	}
	return s, nil
}

// Memberships lists node's groups and roles in c.
func Memberships(c quorum.Cluster, node string) []Membership {
	out := []Membership{}
	for _, g := range c.Groups {
		if m, ok := g.Member(node); ok {
			out = append(out, Membership{Group: g.Name, Role: m.Role})
		}
	}
	return out
}

// Decision says how a run starts.
type Decision struct {
	// Resume: the marks on the targets are those of an earlier run of the same
	// targets and mode; the targets without a mark are done.
	Resume bool
	Run    string
	Done   map[string]bool
	// Keep are marks of nodes in the middle of a rebuild: the run must keep them
	// (their recorded groups above all) instead of marking the node afresh.
	Keep map[string]State
}

// Decide chooses between a new run and resuming one, from the marks found on the
// cluster's StatefulSets (node name → State). A node past the point of no return
// (unregistered, or its volumes deleted) must be finished by a --fresh-volume run that
// includes it; anything else is refused.
func Decide(targets []string, fresh bool, marks map[string]State, newRun string) (Decision, error) {
	want := append([]string(nil), targets...)
	sort.Strings(want)
	d := Decision{Run: newRun, Done: map[string]bool{}, Keep: map[string]State{}}
	inTargets := map[string]bool{}
	for _, t := range want {
		inTargets[t] = true
	}
	var stuck []string
	for _, n := range sortedNodes(marks) {
		st := marks[n]
		if !st.Fresh || !st.Phase.AtLeast(Unregistering) {
			continue
		}
		if !fresh || !inTargets[n] {
			stuck = append(stuck, fmt.Sprintf("%s (%s)", n, st.Phase))
			continue
		}
		d.Keep[n] = st
	}
	if len(stuck) > 0 {
		return d, fmt.Errorf("a replace-node --fresh-volume run stopped in the middle of rebuilding %s; finish it first: kubectl axon replace-node --fresh-volume %s",
			strings.Join(stuck, ", "), strings.Join(stuckNames(stuck), " "))
	}
	for _, n := range want {
		st, ok := marks[n]
		if ok && st.Fresh == fresh && slices.Equal(st.Targets, want) {
			d.Resume, d.Run = true, st.Run
			break
		}
	}
	for _, n := range want {
		_, marked := marks[n]
		d.Done[n] = d.Resume && !marked
	}
	return d, nil
}

func stuckNames(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i], _, _ = strings.Cut(x, " ")
	}
	return out
}

func sortedNodes(m map[string]State) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
