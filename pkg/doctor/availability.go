package doctor

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

const hostnameKey = "kubernetes.io/hostname"

// podLabels are the labels of m's pod (its template's when there is no pod).
func podLabels(m discovery.Member) labels.Set {
	if m.Pod != nil {
		return m.Pod.Labels
	}
	return m.StatefulSet.Spec.Template.Labels
}

func selects(sel *metav1.LabelSelector, ls labels.Set) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(ls)
}

// checkPDB: one PodDisruptionBudget covers every pod of the cluster and lets exactly
// one go at a time.
func checkPDB(c *ctx) []Finding {
	if c.PDBs == nil || len(c.Members) == 0 {
		return nil
	}
	obj := "cluster/" + c.Cluster
	n := len(c.Members)
	covering := map[string][]string{} // pdb -> statefulsets
	var uncovered []string
	for _, m := range c.Members {
		var mine []string
		for _, p := range c.PDBs {
			if selects(p.Spec.Selector, podLabels(m)) {
				covering[p.Name] = append(covering[p.Name], m.StatefulSet.Name)
				mine = append(mine, p.Name)
			}
		}
		switch {
		case len(mine) == 0:
			uncovered = append(uncovered, m.StatefulSet.Name)
		case len(mine) > 1:
			sort.Strings(mine)
			return []Finding{finding(Warning, "availability/pdb-overlap", stsObject(m),
				"the Eviction API refuses to evict a pod that more than one budget covers, so drains stall",
				"delete all but one of "+strings.Join(mine, ", "),
				"pod covered by %d PodDisruptionBudgets: %s", len(mine), strings.Join(mine, ", "))}
		}
	}
	create := c.kubectl("create", "poddisruptionbudget", c.Cluster, "--selector=cluster="+c.Cluster, "--max-unavailable=1")
	if len(covering) == 0 {
		return []Finding{finding(Warning, "availability/pdb-missing", obj,
			"without a disruption budget a node drain or cluster upgrade may evict several Axon Server pods at once and cost replication groups their quorum",
			create, "no PodDisruptionBudget covers the cluster's pods")}
	}
	var out []Finding
	if len(uncovered) > 0 {
		out = append(out, finding(Warning, "availability/pdb-partial", obj,
			"pods outside the budget can be evicted together with one inside it",
			"widen the budget's selector to cluster="+c.Cluster+", or "+create,
			"no PodDisruptionBudget covers %s", strings.Join(uncovered, ", ")))
	}
	for _, p := range c.PDBs {
		if len(covering[p.Name]) == 0 {
			continue
		}
		allowed, ok := allowedDisruptions(p.Spec.MinAvailable, p.Spec.MaxUnavailable, n)
		if !ok {
			continue
		}
		fix := c.kubectl("patch", "poddisruptionbudget", p.Name, "--type=merge", "-p", `'{"spec":{"minAvailable":null,"maxUnavailable":1}}'`)
		switch {
		case allowed > 1:
			out = append(out, finding(Warning, "availability/pdb-loose", "poddisruptionbudget/"+p.Name,
				"evicting two Axon Server nodes at once can take a replication group below its majority", fix,
				"allows %d of %d pods to be disrupted at once", allowed, n))
		case allowed < 1:
			out = append(out, finding(Warning, "availability/pdb-blocks", "poddisruptionbudget/"+p.Name,
				"a budget that never allows a disruption blocks every node drain and cluster upgrade", fix,
				"allows no disruption even with all %d pods up", n))
		}
	}
	return out
}

// allowedDisruptions is how many of n healthy pods the budget lets go.
func allowedDisruptions(minAvail, maxUnavail *intstr.IntOrString, n int) (int, bool) {
	switch {
	case maxUnavail != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(maxUnavail, n, true)
		return v, err == nil
	case minAvail != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(minAvail, n, true)
		return n - v, err == nil
	}
	return 0, false
}

// spreads says whether m's pod template keeps it away from other pods of the cluster
// (anti-affinity or a topology spread constraint over workers or zones).
func spreads(m discovery.Member, others []discovery.Member) bool {
	spec := m.StatefulSet.Spec.Template.Spec
	matchesOther := func(sel *metav1.LabelSelector) bool {
		for _, o := range others {
			if o.StatefulSet.Name != m.StatefulSet.Name && selects(sel, podLabels(o)) {
				return true
			}
		}
		return false
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		var terms []corev1.PodAffinityTerm
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
		for _, t := range terms {
			if (t.TopologyKey == hostnameKey || t.TopologyKey == discovery.ZoneLabel) && matchesOther(t.LabelSelector) {
				return true
			}
		}
	}
	for _, t := range spec.TopologySpreadConstraints {
		if (t.TopologyKey == hostnameKey || t.TopologyKey == discovery.ZoneLabel) && matchesOther(t.LabelSelector) {
			return true
		}
	}
	return false
}

// checkSpread: the pod templates keep Axon Server nodes on different workers and zones.
func checkSpread(c *ctx) []Finding {
	if len(c.Members) < 2 {
		return nil
	}
	var loose []string
	for _, m := range c.Members {
		if !spreads(m, c.Members) {
			loose = append(loose, m.StatefulSet.Name)
		}
	}
	if len(loose) == 0 {
		return nil
	}
	return []Finding{finding(Warning, "availability/spread", "cluster/"+c.Cluster,
		"nothing stops the scheduler from putting a replication group's voters on one worker or in one zone, whose loss then stops the group",
		"add a preferred podAntiAffinity on "+hostnameKey+" and a topologySpreadConstraint on "+discovery.ZoneLabel+" selecting cluster="+c.Cluster+" (as `kubectl axon generate` does)",
		"no anti-affinity or topology spread between the Axon Server pods (%s)", strings.Join(loose, ", "))}
}

// stopsGroup says whether g can no longer commit with the nodes in down stopped.
func stopsGroup(g quorum.Group, down map[string]bool) bool {
	h := g
	h.Members = make([]quorum.Member, len(g.Members))
	for i, m := range g.Members {
		m.Up, m.CaughtUp = !down[m.Node], !down[m.Node]
		h.Members[i] = m
	}
	ok, _ := h.CanCommit()
	return !ok
}

// checkPlacement: where the pods are now. With the replication groups known, no
// single worker (error) or zone (warning) may hold enough of a group to stop it;
// without them, no two nodes should share a worker.
func checkPlacement(c *ctx) []Finding {
	workerOf, zoneOf := map[string]string{}, map[string]string{}
	byWorker, byZone := map[string][]string{}, map[string][]string{}
	for _, m := range c.Members {
		if m.Pod == nil || m.Worker == "" {
			continue
		}
		workerOf[m.NodeName] = m.Worker
		byWorker[m.Worker] = append(byWorker[m.Worker], m.NodeName)
		if m.Zone != "" {
			zoneOf[m.NodeName] = m.Zone
			byZone[m.Zone] = append(byZone[m.Zone], m.NodeName)
		}
	}
	var out []Finding
	if c.Axon == nil || len(c.Axon.Groups) == 0 {
		for _, w := range sortedKeys(byWorker) {
			if nodes := byWorker[w]; len(nodes) > 1 {
				out = append(out, finding(Warning, "availability/same-worker", "node/"+w,
					"losing that worker stops all of them at once, which costs any replication group they share its majority",
					"spread the pods (see availability/spread), then delete one of them so it is rescheduled",
					"Axon Server nodes %s run on the same worker", strings.Join(nodes, ", ")))
			}
		}
		return out
	}
	// Only a place holding two or more members of a group is a placement problem; a
	// group stopped by losing one member is a layout problem (see checkGroups).
	losses := func(g quorum.Group, places map[string][]string, sev Severity, check, what, why, fix string) {
		for _, p := range sortedKeys(places) {
			if down := set(places[p]); members(g, down) > 1 && stopsGroup(g, down) {
				out = append(out, finding(sev, check, "group/"+g.Name, why, fix,
					"losing %s %s (%s) stops the group", what, p, strings.Join(inGroup(g, down), ", ")))
			}
		}
	}
	for _, g := range c.Axon.Groups {
		losses(g, byWorker, Error, "availability/worker-quorum", "worker",
			"one worker failing or being drained stops the group's writes",
			"spread the pods (see availability/spread), then delete one of them so it is rescheduled on another worker")
		if len(byZone) > 1 {
			losses(g, byZone, Warning, "availability/zone-quorum", "zone",
				"an outage of one zone stops the group's writes although the cluster spans several",
				"place the group's voters in different zones: reschedule a member's pod to another zone, or move the group's membership to a node there (kubectl axon move-member GROUP --from NODE --to NODE; add-node --zone ZONE adds one)")
		}
	}
	return out
}

func set(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func members(g quorum.Group, nodes map[string]bool) int { return len(inGroup(g, nodes)) }

func inGroup(g quorum.Group, nodes map[string]bool) []string {
	var out []string
	for _, m := range g.Members {
		if nodes[m.Node] {
			out = append(out, m.Node)
		}
	}
	return out
}

// checkGroups: the replication groups' layout (needs Axon Server's answers).
func checkGroups(c *ctx) []Finding {
	if c.Axon == nil {
		return nil
	}
	ours := map[string]bool{}
	for _, m := range c.Members {
		ours[m.NodeName] = true
	}
	zones, known := c.zones()
	var out []Finding
	for _, g := range c.Axon.Groups {
		obj := "group/" + g.Name
		var primaries, backups []string
		external := false
		for _, m := range g.Members {
			switch m.Role {
			case quorum.Primary:
				primaries = append(primaries, m.Node)
			case quorum.ActiveBackup:
				backups = append(backups, m.Node)
			}
			if (m.Role == quorum.ActiveBackup || m.Role == quorum.PassiveBackup) && !ours[m.Node] {
				external = true
			}
		}
		switch p := len(primaries); {
		case p == 1 && len(c.Members) > 1:
			out = append(out, finding(Warning, "availability/single-primary", obj,
				"stopping its only PRIMARY, for an upgrade or a drain, stops the group's writes",
				"add PRIMARY members until the group has 3 (POST /v1/replicationgroups/"+g.Name+"/NODE?role=PRIMARY)",
				"one PRIMARY member (%s)", primaries[0]))
		case p > 0 && p%2 == 0:
			out = append(out, finding(Warning, "availability/even-voters", obj,
				fmt.Sprintf("a majority of %d PRIMARY members tolerates no more failures than %d do, so the extra member adds load and no safety", p, p-1),
				"add or remove a PRIMARY member to make the number odd",
				"%d PRIMARY members (%s)", p, strings.Join(primaries, ", ")))
		}
		minAB := g.MinActiveBackups
		if minAB <= 0 {
			minAB = quorum.DefaultMinActiveBackups
		}
		switch b := len(backups); {
		case b > 0 && b < minAB:
			out = append(out, finding(Error, "availability/active-backups", obj,
				"a commit needs min-active-backups ACTIVE_BACKUP members, so the group can never commit",
				"add ACTIVE_BACKUP members or lower axoniq.axonserver.replication.min-active-backups",
				"%d ACTIVE_BACKUP members, min-active-backups %d", b, minAB))
		case b > 0 && b == minAB:
			out = append(out, finding(Warning, "availability/active-backups", obj,
				"every commit waits for all of them, so stopping any one (for a backup or an upgrade) stops the group's writes",
				"add one more ACTIVE_BACKUP member (the advice is a pair with min-active-backups 1)",
				"%d ACTIVE_BACKUP members and min-active-backups %d (%s)", b, minAB, strings.Join(backups, ", ")))
		}
		if known && len(zones) == 1 && !external {
			out = append(out, finding(Warning, "availability/no-backup", obj,
				"every copy of the group's events is in one zone: losing it loses the data, or at least the means to build a replacement cluster elsewhere",
				"add a PASSIVE_BACKUP (or a pair of ACTIVE_BACKUP) node in another zone or region, or back the volumes up there",
				"the cluster spans one zone (%s) and the group has no backup node outside it", sortedKeys(zones)[0]))
		}
	}
	return out
}
