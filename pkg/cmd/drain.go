package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/drain"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

const drainExample = `  # Move the Axon Server pods of the cluster in namespace axon off worker-3, one at a time
  kubectl axon drain-node -n axon worker-3

  # Show the plan (the pods, where each may go, the safety verdicts) and change nothing
  kubectl axon drain-node -n axon worker-3 --dry-run

  # Move what can move, leave the pods no other worker can take; JSON events for a runbook
  kubectl axon drain-node -n axon worker-3 --skip-unmovable -o json

  # Then empty the worker of everything else
  kubectl drain worker-3 --ignore-daemonsets`

// DrainOptions moves an Axon Server cluster's pods off one Kubernetes worker, one
// at a time.
type DrainOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags
	RollingFlags

	Worker        string
	NoCordon      bool
	SkipUnmovable bool
	EvictionRetry time.Duration

	clients
}

// NewCmdDrainNode returns `kubectl axon drain-node`.
func NewCmdDrainNode(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &DrainOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), RollingFlags: DefaultRollingFlags(),
		EvictionRetry: drain.DefaultRetry}
	c := &cobra.Command{
		Use:   "drain-node WORKER",
		Short: "Move an Axon Server cluster's pods off a Kubernetes worker without costing a replication group its quorum",
		Long: `Empty a Kubernetes worker (node) of one Axon Server cluster's pods before
maintenance, one pod at a time, where kubectl drain would evict them all at once.

First, for every pod of the cluster on WORKER, check that another worker can take it:
its volumes' node affinity (local volumes, zonal disks), its nodeSelector, required
node affinity and tolerations against the taints and cordons of the other workers.
A pod no other worker can take is refused with the reason, and nothing is changed;
--skip-unmovable moves the others and leaves it. Then cordon WORKER (unless
--no-cordon) and for each pod, in the safe order (unhealthy nodes first, leaders
last): wait until the cluster is healthy apart from its node and stopping it keeps
every group's quorum, evict it through the Eviction API (a PodDisruptionBudget that
refuses is waited for, with the reason, up to --safety-timeout), and wait until the
new pod is Ready on another worker and the node, then every node, is healthy in Axon
Server's terms. So pods on one worker that share a group are never down together.
Warns when a move puts two voters of a group in one zone, or all of a group's voters
on one worker. WORKER stays cordoned; what is left on it is listed, for kubectl drain.
A rerun resumes. One operation at a time per cluster (a Lease). Exit 3 when a safety
check refuses, 4 when a node does not come back.`,
		Example:           drainExample,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeWorkers(o.Flags, open),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	o.RollingFlags.AddFlags(f)
	f.BoolVar(&o.NoCordon, "no-cordon", o.NoCordon, "do not cordon the worker (it is cordoned or tainted already; else the evicted pods may come back to it)")
	f.BoolVar(&o.SkipUnmovable, "skip-unmovable", o.SkipUnmovable, "move the pods that can move and leave those no other worker can take (else nothing is done)")
	f.DurationVar(&o.EvictionRetry, "eviction-retry", o.EvictionRetry, "wait between eviction attempts a PodDisruptionBudget refuses")
	return c
}

// Complete takes the worker (cobra has checked there is exactly one argument).
func (o *DrainOptions) Complete(args []string) error {
	o.Worker = args[0]
	return nil
}

// Validate checks the flags; nothing has been contacted yet.
func (o *DrainOptions) Validate() error {
	if err := o.RollingFlags.Validate(o.Flags, "drain-node evicts pods and cordons a worker"); err != nil {
		return err
	}
	if o.EvictionRetry < 10*time.Millisecond {
		return cli.Usagef("--eviction-retry must be at least 10ms")
	}
	return nil
}

// Run plans, prints the plan and, unless --dry-run, cordons and moves the pods.
func (o *DrainOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	observe := o.observer(o.session)
	snap, err := observe(ctx)
	if err != nil {
		return err
	}
	kube := o.session.Kube
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return snapshot.ExplainKube(fmt.Errorf("listing workers: %w", err))
	}
	in, err := o.input(ctx, snap, nodes.Items)
	if err != nil {
		return err
	}
	plan := drain.NewPlan(in)
	sink, done, err := o.presentPlan(o.IOStreams, o.planDoc(snap, plan),
		fmt.Sprintf("%d pods to move, %d cannot move", len(plan.Steps), len(plan.Unmovable)),
		func(w io.Writer) error { return o.printPlan(w, snap, plan) })
	if done || err != nil {
		return err
	}
	defer sink.Close()
	if len(plan.Unmovable) > 0 && !o.SkipUnmovable {
		return cli.Refusedf("%s; nothing was changed (%s is not cordoned); rerun with --skip-unmovable to move the others", o.unmovableText(snap, plan), o.Worker)
	}
	if err := o.refuseUnsafe(plan.Blocked()); err != nil {
		return err
	}
	holder := lock.Identity("drain-node " + o.Worker)
	release, err := o.holdLock(ctx, kube, snap, holder, sink, stop)
	if err != nil {
		return err
	}
	defer release()
	for _, m := range plan.Unmovable {
		sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Node: m.Node,
			Message: fmt.Sprintf("--skip-unmovable: leaving %s on %s: %s", m.Pod, o.Worker, m.Why)})
	}
	if err := o.cordon(ctx, cordonedNow(in.Workers, o.Worker), sink); err != nil {
		return err
	}
	var sum *stepper.Summary
	var runErr error
	if len(plan.Steps) > 0 {
		r := o.runner(o.session, snap, sink)
		r.Resume = o.commandLine(snap)
		r.Act = o.evict(observe, sink, r.Resume)
		r.AfterReady = o.elsewhere
		r.Op = record.Op{Operation: "drain-node", Detail: "from worker " + o.Worker, Holder: holder}
		sum, runErr = r.Run(ctx, plan.Stepper)
	} else {
		sum = &stepper.Summary{Operation: "drain-node", Elections: map[string]int{}}
	}
	left, scope, leftErr := o.leftOn(snap)
	res := drainResult{Summary: sum, Worker: o.Worker, Cordoned: !o.NoCordon, Left: left, LeftScope: scope}
	for _, m := range plan.Unmovable {
		res.Unmovable = append(res.Unmovable, m.Node)
	}
	if o.Output == "json" {
		if leftErr != nil {
			sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: "listing the pods left on " + o.Worker + ": " + leftErr.Error()})
		}
		sink.Emit(progress.Event{Kind: "summary", Message: stepper.SummaryLine(sum, "moved", runErr) + "; " + drainSummaryLine(res), Data: res})
	} else {
		sink.Close()
		o.printResult(o.Out, res, runErr, leftErr)
	}
	return runErr
}

// input gathers what the plan needs: the workers, the cluster's pods on WORKER
// and their volumes. It lists claims and volumes once (not one call per claim: the
// client's rate limit would slow the first step down).
func (o *DrainOptions) input(ctx context.Context, snap *snapshot.Snapshot, nodes []corev1.Node) (drain.Input, error) {
	in := drain.Input{Cluster: snap.Quorum(), Worker: o.Worker, Placed: map[string]string{}}
	found := false
	var names []string
	for i := range nodes {
		in.Workers = append(in.Workers, drain.WorkerOf(&nodes[i]))
		names = append(names, nodes[i].Name)
		found = found || nodes[i].Name == o.Worker
	}
	if !found {
		return in, cli.Usagef("no worker %q (workers: %s)", o.Worker, strings.Join(names, ", "))
	}
	var on []discovery.Member
	for _, m := range snap.Members {
		if m.Pod == nil {
			continue
		}
		in.Placed[m.NodeName] = m.Pod.Spec.NodeName
		if m.Pod.Spec.NodeName == o.Worker {
			on = append(on, m)
		}
	}
	if len(on) == 0 {
		return in, nil
	}
	vols, err := o.volumes(ctx, snap.Namespace)
	if err != nil {
		return in, err
	}
	for _, m := range on {
		p := drain.Pod{Node: m.NodeName, Pod: m.Pod}
		for _, v := range m.Pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				vol, ok := vols[v.PersistentVolumeClaim.ClaimName]
				if !ok {
					vol = drain.Volume{Claim: v.PersistentVolumeClaim.ClaimName}
				}
				p.Volumes = append(p.Volumes, vol)
			}
		}
		in.Pods = append(in.Pods, p)
	}
	return in, nil
}

// volumes maps the namespace's claims to their volumes and those volumes' node
// affinity.
func (o *DrainOptions) volumes(ctx context.Context, ns string) (map[string]drain.Volume, error) {
	pvcs, err := o.session.Kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, snapshot.ExplainKube(fmt.Errorf("listing claims: %w", err))
	}
	pvs, err := o.session.Kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, snapshot.ExplainKube(fmt.Errorf("listing volumes: %w", err))
	}
	affinity := map[string]*corev1.NodeSelector{}
	for _, pv := range pvs.Items {
		if pv.Spec.NodeAffinity != nil {
			affinity[pv.Name] = pv.Spec.NodeAffinity.Required
		}
	}
	out := map[string]drain.Volume{}
	for _, c := range pvcs.Items {
		out[c.Name] = drain.Volume{Claim: c.Name, PV: c.Spec.VolumeName, Affinity: affinity[c.Spec.VolumeName]}
	}
	return out, nil
}

// cordon marks WORKER unschedulable (idempotent), unless --no-cordon;
// unschedulable is the worker's state as listed.
func (o *DrainOptions) cordon(ctx context.Context, unschedulable bool, sink progress.Sink) error {
	nodes := o.session.Kube.CoreV1().Nodes()
	switch {
	case o.NoCordon && !unschedulable:
		sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn,
			Message: fmt.Sprintf("--no-cordon: %s is schedulable, so the scheduler may put the evicted pods back on it", o.Worker)})
	case o.NoCordon:
	case unschedulable:
		sink.Emit(progress.Event{Kind: "cordoned", Message: o.Worker + " was cordoned already"})
	default:
		if _, err := nodes.Patch(ctx, o.Worker, types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":true}}`),
			metav1.PatchOptions{FieldManager: record.Component}); err != nil {
			return snapshot.ExplainKube(fmt.Errorf("cordoning %s: %w", o.Worker, err))
		}
		sink.Emit(progress.Event{Kind: "cordoned", Message: "cordoned " + o.Worker + " (kubectl uncordon " + o.Worker + " after the maintenance)"})
	}
	return nil
}

func cordonedNow(ws []drain.Worker, name string) bool {
	for _, w := range ws {
		if w.Name == name {
			return w.Unschedulable
		}
	}
	return false
}

// evict is the runner's action: evict the node's pod if it is still on WORKER,
// retrying while a PodDisruptionBudget refuses (and checking again, before each
// retry, that the node may still be stopped).
func (o *DrainOptions) evict(observe stepper.Observer, sink progress.Sink, resume string) stepper.Action {
	return func(ctx context.Context, m discovery.Member) (bool, error) {
		// The pod as the preflight just saw it (one API call fewer per step).
		pod := m.Pod
		switch {
		case pod == nil:
			return true, nil
		case pod.DeletionTimestamp != nil:
			return true, nil
		case pod.Spec.NodeName != o.Worker:
			return false, nil // moved already (a rerun)
		}
		e := &drain.Evictor{Kube: o.session.Kube, Retry: o.EvictionRetry, Timeout: o.SafetyTimeout,
			Blocked: func(reason string, attempt int, wait time.Duration) {
				sink.Emit(progress.Event{Kind: "eviction-blocked", Level: progress.Warn, Node: m.NodeName,
					Message: fmt.Sprintf("eviction of %s refused (attempt %d): %s; retrying in %s", pod.Name, attempt, reason, wait)})
			}}
		if !o.Force {
			e.Ready = func(ctx context.Context) (bool, string) { return safeToStop(ctx, observe, m.NodeName) }
		}
		err := e.Evict(ctx, pod)
		var be *drain.BlockedError
		if errors.As(err, &be) {
			return false, cli.Refusedf("%v (--safety-timeout %s); nothing was changed on this node; %s", be, o.SafetyTimeout,
				"free the budget, or rerun later to resume: "+resume)
		}
		return err == nil, err
	}
}

// elsewhere fails a step whose new pod runs on WORKER again: it tolerates the
// cordon, or --no-cordon left the worker schedulable.
func (o *DrainOptions) elsewhere(ctx context.Context, m discovery.Member) error {
	pod, err := o.session.Kube.CoreV1().Pods(m.Namespace).Get(ctx, stepper.PodName(m.StatefulSet), metav1.GetOptions{})
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == o.Worker {
		return fmt.Errorf("%s: the new pod %s runs on %s again (it tolerates the cordon, or the worker is schedulable); cordon or taint %s so that the pod does not tolerate it, and rerun",
			m.NodeName, pod.Name, o.Worker, o.Worker)
	}
	return nil
}

// safeToStop is the runner's preflight asked again: the cluster healthy apart from
// node, and stopping node keeps every group's quorum.
func safeToStop(ctx context.Context, observe stepper.Observer, node string) (bool, string) {
	snap, err := observe(ctx)
	if err != nil {
		return false, err.Error()
	}
	ok, why := stepper.SafeToStop(snap.Quorum(), node)
	return ok, strings.Join(why, "; ")
}

// leftPod is a pod still on the worker after the drain.
type leftPod struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Owner       string `json:"owner,omitempty"` // Kind/name of its controller
	Axon        bool   `json:"axon"`            // one of this cluster's Axon Server pods
	Terminating bool   `json:"terminating,omitempty"`
}

// leftOn lists the pods on WORKER: in every namespace when allowed, else in the
// cluster's (the documented Role is namespaced); scope says which.
func (o *DrainOptions) leftOn(snap *snapshot.Snapshot) ([]leftPod, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", o.Worker).String()}
	scope := "all namespaces"
	list, err := o.session.Kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
	if apierrors.IsForbidden(err) {
		scope = "namespace " + snap.Namespace + " only (not allowed to list pods in every namespace)"
		list, err = o.session.Kube.CoreV1().Pods(snap.Namespace).List(ctx, opts)
	}
	if err != nil {
		return nil, scope, snapshot.ExplainKube(err)
	}
	axon := map[string]bool{}
	for _, m := range snap.Members {
		if m.StatefulSet != nil {
			axon[m.Namespace+"/"+stepper.PodName(m.StatefulSet)] = true
		}
	}
	out := []leftPod{}
	for _, p := range list.Items {
		if p.Spec.NodeName != o.Worker || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		lp := leftPod{Namespace: p.Namespace, Name: p.Name, Axon: axon[p.Namespace+"/"+p.Name], Terminating: p.DeletionTimestamp != nil}
		if c := metav1.GetControllerOf(&p); c != nil {
			lp.Owner = c.Kind + "/" + c.Name
		}
		out = append(out, lp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, scope, nil
}

// drainResult is the summary as data.
type drainResult struct {
	*stepper.Summary
	Worker    string    `json:"worker"`
	Cordoned  bool      `json:"cordoned"`
	Unmovable []string  `json:"unmovable,omitempty"`
	Left      []leftPod `json:"left"`
	LeftScope string    `json:"leftScope"`
}

func drainSummaryLine(res drainResult) string {
	others := 0
	for _, p := range res.Left {
		if !p.Axon {
			others++
		}
	}
	s := fmt.Sprintf("worker %s: ", res.Worker)
	if len(res.Unmovable) > 0 {
		s += fmt.Sprintf("%d Axon Server pods left that cannot move (%s); ", len(res.Unmovable), strings.Join(res.Unmovable, ", "))
	}
	return s + fmt.Sprintf("%d other pods", others)
}

func (o *DrainOptions) printResult(w io.Writer, res drainResult, err, leftErr error) {
	stepper.WriteSummary(w, res.Summary, "moved", err)
	fmt.Fprintln(w, drainSummaryLine(res))
	if res.Cordoned {
		fmt.Fprintf(w, "%s stays cordoned: kubectl uncordon %s after the maintenance.\n", res.Worker, res.Worker)
	}
	if leftErr != nil {
		fmt.Fprintf(w, "Could not list the pods left on %s: %v\n", res.Worker, leftErr)
		return
	}
	if len(res.Left) == 0 {
		fmt.Fprintf(w, "No pods left on %s (%s).\n", res.Worker, res.LeftScope)
		return
	}
	fmt.Fprintf(w, "Left on %s (%s):\n", res.Worker, res.LeftScope)
	t := table.New(w, "NAMESPACE", "POD", "OWNER", "NOTE")
	others := false
	for _, p := range res.Left {
		note := ""
		switch {
		case p.Terminating:
			note = "terminating"
		case p.Axon:
			note = "Axon Server pod of this cluster"
		default:
			others = true
		}
		t.Row(p.Namespace, p.Name, orDash(p.Owner), note)
	}
	_ = t.Flush()
	if others {
		fmt.Fprintf(w, "Evict the others with: kubectl drain %s --ignore-daemonsets\n", res.Worker)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (o *DrainOptions) commandLine(snap *snapshot.Snapshot) string {
	s := "kubectl axon drain-node"
	s += fmt.Sprintf(" -n %s --axon-cluster %s", snap.Namespace, snap.Cluster)
	if o.SkipUnmovable {
		s += " --skip-unmovable"
	}
	if o.NoCordon {
		s += " --no-cordon"
	}
	return s + " " + o.Worker
}

// unmovableText says which pods cannot move, why, and the way on.
func (o *DrainOptions) unmovableText(snap *snapshot.Snapshot, p drain.Plan) string {
	var parts []string
	for _, m := range p.Unmovable {
		parts = append(parts, fmt.Sprintf("%s cannot move off %s: %s; way on: %s", m.Pod, o.Worker, m.Why, o.wayOn(snap, m)))
	}
	return strings.Join(parts, "; ")
}

// wayOn is how to move an unmovable node anyway: rebuild it on a new, empty volume,
// which the scheduler then places on another worker.
func (o *DrainOptions) wayOn(snap *snapshot.Snapshot, m drain.Movability) string {
	if len(m.Volumes) == 0 {
		return "relax its scheduling constraints (nodeSelector, affinity, tolerations) or make another worker schedulable"
	}
	return fmt.Sprintf("kubectl cordon %s && kubectl axon replace-node -n %s --fresh-volume %s (rebuilds it on a new volume on another worker; it copies its data back from its groups)",
		o.Worker, snap.Namespace, m.Node)
}

// planDoc is the plan as data.
func (o *DrainOptions) planDoc(snap *snapshot.Snapshot, p drain.Plan) map[string]any {
	steps := p.Steps
	if steps == nil {
		steps = []drain.Step{}
	}
	ways := map[string]string{}
	for _, m := range p.Unmovable {
		ways[m.Node] = o.wayOn(snap, m)
	}
	return map[string]any{"kind": "AxonDrainPlan", "cluster": snap.Cluster, "namespace": snap.Namespace,
		"worker": o.Worker, "steps": steps, "unmovable": p.Unmovable, "wayOn": ways, "elections": p.Elections,
		"allAtOnce": p.AllAtOnce, "safe": len(p.Blocked()) == 0 && (len(p.Unmovable) == 0 || o.SkipUnmovable)}
}

func (o *DrainOptions) printPlan(w io.Writer, snap *snapshot.Snapshot, p drain.Plan) error {
	fmt.Fprintf(w, "Drain plan for worker %s: the pods of cluster %s in namespace %s\n", o.Worker, snap.Cluster, snap.Namespace)
	if len(p.Steps)+len(p.Unmovable) == 0 {
		fmt.Fprintln(w, "No Axon Server pods of the cluster on the worker: nothing to move.")
		return nil
	}
	if len(p.Steps) > 0 {
		t := table.New(w, "STEP", "NODE", "POD", "KIND", "GROUPS", "MAY GO TO", "SAFE TO STOP")
		for i, s := range p.Steps {
			t.Row(fmt.Sprint(i+1), s.Node, s.Pod, string(s.Kind), listOr(s.Groups), candidates(s.Move), stepper.VerdictText(s.Step))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	for _, m := range p.Unmovable {
		fmt.Fprintf(w, "CANNOT MOVE %s (%s): %s\n  way on: %s\n", m.Node, m.Pod, m.Why, o.wayOn(snap, m))
	}
	for _, s := range p.Steps {
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "Warning: %s\n", warn)
		}
		if s.Move.ComesBack {
			fmt.Fprintf(w, "Warning: %s tolerates the cordon: the scheduler may put it back on %s\n", s.Pod, o.Worker)
		}
	}
	if len(p.Steps)+len(p.Unmovable) > 1 {
		if p.AllAtOnce.Safe {
			fmt.Fprintln(w, "Evicting them all at once would keep every group's quorum; they are moved one at a time anyway.")
		} else {
			fmt.Fprintf(w, "Evicting them all at once (as kubectl drain does) would stop writes: %s; they are moved one at a time.\n", impactList(p.AllAtOnce.Blocked))
		}
	}
	stepper.WriteElections(w, p.Stepper)
	return nil
}

func candidates(m drain.Movability) string {
	s := strings.Join(m.Candidates, ",")
	if len(m.Candidates) > 3 {
		s = fmt.Sprintf("%s,... (%d workers)", strings.Join(m.Candidates[:3], ","), len(m.Candidates))
	}
	if len(m.Volumes) > 0 && len(m.Zones) > 0 {
		s += " (zone " + strings.Join(m.Zones, ",") + ")"
	}
	return s
}

// completeWorkers completes WORKER with the names of the Kubernetes nodes.
func completeWorkers(flags *connect.Flags, open connect.Opener) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeWith(flags, open, func(ctx context.Context, s *connect.Session, args []string) ([]string, error) {
		if len(args) > 0 {
			return nil, nil
		}
		nodes, err := s.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, n := range nodes.Items {
			out = append(out, n.Name)
		}
		return out, nil
	})
}

func impactList(is []quorum.Impact) string {
	out := make([]string, len(is))
	for i, x := range is {
		out[i] = x.String()
	}
	return strings.Join(out, "; ")
}
