package rebuild

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// ClaimNames are the PVCs a StatefulSet's pod owns: <claimTemplate>-<sts>-<ordinal>,
// one per volumeClaimTemplate.
func ClaimNames(sts *appsv1.StatefulSet, ordinal int) []string {
	var out []string
	for _, t := range sts.Spec.VolumeClaimTemplates {
		out = append(out, fmt.Sprintf("%s-%s-%d", t.Name, sts.Name, ordinal))
	}
	return out
}

// Ordinal is the ordinal of a StatefulSet's pod from its name (<sts>-<ordinal>).
func Ordinal(sts *appsv1.StatefulSet, pod *corev1.Pod) (int, bool) {
	rest, ok := strings.CutPrefix(pod.Name, sts.Name+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// OwnedClaims returns the PVCs of pod that step 4 may delete, and refuses anything
// it cannot prove belongs to the node: the pod must belong to the StatefulSet (its
// name and controller reference), and each claim must be named
// <claimTemplate>-<sts>-<ordinal> and be referenced by the pod's volume of that
// template's name. A pod volume on a PVC that is not one of the StatefulSet's claims
// (a shared volume) is left alone, and reported in skipped.
func OwnedClaims(sts *appsv1.StatefulSet, pod *corev1.Pod) (claims, skipped []string, err error) {
	if pod == nil {
		return nil, nil, fmt.Errorf("StatefulSet %s has no pod: cannot check which volumes it uses", sts.Name)
	}
	ord, ok := Ordinal(sts, pod)
	if !ok {
		return nil, nil, fmt.Errorf("pod %s is not a pod of StatefulSet %s", pod.Name, sts.Name)
	}
	owner := false
	for _, r := range pod.OwnerReferences {
		if r.Controller != nil && *r.Controller && r.Kind == "StatefulSet" && r.Name == sts.Name && (sts.UID == "" || r.UID == sts.UID) {
			owner = true
		}
	}
	if !owner {
		return nil, nil, fmt.Errorf("pod %s is not controlled by StatefulSet %s", pod.Name, sts.Name)
	}
	byVolume := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			byVolume[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	owned := map[string]bool{}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		name := fmt.Sprintf("%s-%s-%d", t.Name, sts.Name, ord)
		ref, ok := byVolume[t.Name]
		if !ok {
			return nil, nil, fmt.Errorf("pod %s has no volume %s for claim template %s", pod.Name, t.Name, t.Name)
		}
		if ref != name {
			return nil, nil, fmt.Errorf("pod %s volume %s uses claim %s, not %s: not the StatefulSet's own claim", pod.Name, t.Name, ref, name)
		}
		owned[name] = true
		claims = append(claims, name)
	}
	for _, v := range pod.Spec.Volumes {
		if c := v.PersistentVolumeClaim; c != nil && !owned[c.ClaimName] {
			skipped = append(skipped, c.ClaimName)
		}
	}
	if len(claims) == 0 {
		return nil, skipped, fmt.Errorf("StatefulSet %s has no volumeClaimTemplates: its pod has no volume of its own to replace", sts.Name)
	}
	return claims, skipped, nil
}

// ClaimBelongs checks one PVC object before it is deleted: its name is one of the
// StatefulSet's claims and its labels carry the StatefulSet's selector (the
// StatefulSet controller labels the claims it creates with it).
func ClaimBelongs(sts *appsv1.StatefulSet, ordinal int, pvc *corev1.PersistentVolumeClaim) error {
	found := false
	for _, n := range ClaimNames(sts, ordinal) {
		found = found || n == pvc.Name
	}
	if !found {
		return fmt.Errorf("PVC %s is not a claim of StatefulSet %s", pvc.Name, sts.Name)
	}
	if sel := sts.Spec.Selector; sel != nil {
		for k, v := range sel.MatchLabels {
			if pvc.Labels[k] != v {
				return fmt.Errorf("PVC %s lacks the label %s=%s of StatefulSet %s's selector", pvc.Name, k, v, sts.Name)
			}
		}
	}
	return nil
}

// GroupImpact is what a rebuild does to one group of the node.
type GroupImpact struct {
	Group string      `json:"group"`
	Role  quorum.Role `json:"role"`
	// FaultTolerance now, and During the rebuild (the group without the node): how
	// many more voting members may fail before the group stops committing.
	FaultTolerance int `json:"faultTolerance"`
	During         int `json:"faultToleranceDuring"`
	// Blocked says why the rebuild is refused for this group ("" when it is not).
	Blocked string `json:"blocked,omitempty"`
	// Structural: no waiting makes it safe (the group would lose its last PRIMARY,
	// or could never commit without the node).
	Structural bool `json:"structural,omitempty"`
}

// Removal judges a rebuild of node: every group it is a member of (or, once it is
// unregistered, was: recorded) must keep a PRIMARY and its commit availability
// without it for the whole rebuild. Unlike CanStop it looks at the group without the
// node's membership: the node leaves its groups while it is still running, so a group
// of two PRIMARY members keeps committing on one.
func Removal(c quorum.Cluster, node string, recorded []Membership) (quorum.Verdict, []GroupImpact) {
	v := quorum.Verdict{Node: node}
	var out []GroupImpact
	roles := map[string]quorum.Role{}
	for _, m := range recorded {
		roles[m.Group] = m.Role
	}
	for _, g := range c.Groups {
		m, member := g.Member(node)
		role, rec := roles[g.Name]
		if !member && !rec {
			continue
		}
		if member {
			role = m.Role
		}
		gi := GroupImpact{Group: g.Name, Role: role, FaultTolerance: g.FaultTolerance()}
		without := g.Without(node) // leadership moves off the node first
		gi.During = without.FaultTolerance()
		ideal := without
		ideal.Members = append([]quorum.Member(nil), without.Members...)
		for i := range ideal.Members {
			ideal.Members[i].Up, ideal.Members[i].CaughtUp = true, true
		}
		primaries := 0
		for _, x := range without.Members {
			if x.Role == quorum.Primary {
				primaries++
			}
		}
		switch {
		case primaries == 0:
			gi.Blocked, gi.Structural = fmt.Sprintf("removing %s leaves no PRIMARY member", node), true
		case !okCommit(ideal):
			_, why := ideal.CanCommit()
			gi.Blocked, gi.Structural = fmt.Sprintf("without %s the group can never commit: %s", node, why), true
		case member && !g.HasLeader():
			gi.Blocked = "no leader (an election may be in progress); wait until one is elected"
		case !okCommit(without):
			_, why := without.CanCommit()
			gi.Blocked = fmt.Sprintf("without %s the group cannot commit now: %s", node, why)
		}
		if member && g.Leader == node {
			v.Leads = append(v.Leads, g.Name)
		}
		if gi.Blocked != "" {
			v.Blocked = append(v.Blocked, quorum.Impact{Group: g.Name, Reason: gi.Blocked})
		}
		out = append(out, gi)
	}
	v.Safe = len(v.Blocked) == 0
	return v, out
}

func okCommit(g quorum.Group) bool {
	ok, _ := g.CanCommit()
	return ok
}
