package drain

import (
	"sort"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

// Input is what a drain is planned from.
type Input struct {
	Cluster quorum.Cluster
	// Worker is the worker to drain; Workers every worker (it included).
	Worker  string
	Workers []Worker
	// Pods are the cluster's Axon Server pods on the worker.
	Pods []Pod
	// Placed maps every node of the cluster to the worker its pod runs on ("" or
	// absent when it has no pod).
	Placed map[string]string
}

// Step is one pod's move.
type Step struct {
	stepper.Step
	Pod  string     `json:"pod"`
	Move Movability `json:"move"`
	// Warnings: where the move weakens a group (zones, workers).
	Warnings []string `json:"warnings,omitempty"`
}

// Plan is the ordered moves, and the pods that cannot move.
type Plan struct {
	Worker string `json:"worker"`
	// Steps are the movable pods in the order the runner takes them: one at a time,
	// unhealthy nodes first, then followers, then leaders (stepper.NewPlan).
	Steps []Step `json:"steps"`
	// Unmovable are the pods no other worker can take.
	Unmovable []Movability `json:"unmovable,omitempty"`
	// Elections is, per group, the most leader elections the moves may cause.
	Elections map[string]int `json:"elections"`
	// AllAtOnce is what evicting every Axon pod on the worker together would do
	// (what kubectl drain does): the reason this command exists.
	AllAtOnce quorum.Verdict `json:"allAtOnce"`
	// Stepper is the plan the runner takes.
	Stepper stepper.Plan `json:"-"`
}

// Blocked returns the steps no order can make safe (a group of one member, too few
// active backups): without --force, the drain refuses them.
func (p Plan) Blocked() []stepper.Step {
	var out []stepper.Step
	for _, s := range p.Steps {
		if s.Structural {
			out = append(out, s.Step)
		}
	}
	return out
}

// NewPlan checks each pod's movability and orders the movable ones. It does no I/O.
func NewPlan(in Input) Plan {
	p := Plan{Worker: in.Worker}
	from := ""
	zoneOf := map[string]string{}
	for _, w := range in.Workers {
		zoneOf[w.Name] = w.Zone
		if w.Name == in.Worker {
			from = w.Zone
		}
	}
	// The nodes that stay where they are: every node not on the drained worker.
	placed := map[string]string{}
	for n, w := range in.Placed {
		if w != "" && w != in.Worker {
			placed[n] = w
		}
	}
	moves := map[string]Movability{}
	pods := map[string]string{}
	var all, targets []string
	for _, pod := range in.Pods {
		m := Movable(pod, in.Workers, in.Worker)
		all = append(all, pod.Node)
		pods[pod.Node] = pod.Pod.Name
		if !m.Movable {
			p.Unmovable = append(p.Unmovable, m)
			continue
		}
		moves[pod.Node] = m
		targets = append(targets, pod.Node)
	}
	sort.Slice(p.Unmovable, func(i, j int) bool { return p.Unmovable[i].Node < p.Unmovable[j].Node })
	if len(all) > 0 {
		p.AllAtOnce = in.Cluster.CanStopAll(all)
	} else {
		p.AllAtOnce = quorum.Verdict{Safe: true}
	}
	p.Stepper = stepper.NewPlan(stepper.Input{Cluster: in.Cluster, Targets: targets})
	p.Elections = p.Stepper.Elections
	for _, s := range p.Stepper.Steps {
		m := moves[s.Node]
		p.Steps = append(p.Steps, Step{Step: s, Pod: pods[s.Node], Move: m,
			Warnings: MoveWarnings(in.Cluster, s.Node, from, m, placed, zoneOf)})
	}
	return p
}
