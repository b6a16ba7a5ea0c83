package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/rebuild"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

const replaceExample = `  # Replace one node's pod (e.g. to pick up a new JVM or base image under the same tag)
  kubectl axon replace-node -n axon axonserver-2

  # Rolling restart of the whole cluster in the safe order (leaders last)
  kubectl axon replace-node -n axon --all

  # Show the plan and change nothing
  kubectl axon replace-node -n axon --all --dry-run

  # Rebuild a node whose volume was lost: unregister it, delete its PVCs and pod,
  # and add the new node back to its groups with its former roles
  kubectl axon replace-node -n axon --fresh-volume axonserver-3

  # The same from a script (no prompt), one JSON event per line
  kubectl axon replace-node -n axon --fresh-volume --yes -o json axonserver-3`

// ReplaceOptions replaces nodes' pods, one singleton StatefulSet at a time, with or
// without their volumes.
type ReplaceOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	RollingFlags
	Nodes       []string
	All         bool
	FreshVolume bool
	Yes         bool
	JoinWait    time.Duration

	clients
}

// NewCmdReplaceNode returns `kubectl axon replace-node`.
func NewCmdReplaceNode(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &ReplaceOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), RollingFlags: DefaultRollingFlags(),
		JoinWait: 20 * time.Second}
	c := &cobra.Command{
		Use:   "replace-node (NODE... | --all) [--fresh-volume]",
		Short: "Replace nodes with freshly built ones, one at a time, optionally on fresh volumes",
		Long: `Replace Axon Server nodes with freshly built ones, one singleton StatefulSet at a
time: for each node, wait until the cluster is healthy apart from it and stopping it
keeps every group's quorum, delete its pod, let the StatefulSet recreate it, and wait
until the node and then every node is healthy. --all is a rolling restart of the
whole cluster in the safe order (unhealthy nodes first, leaders last). NODE is an Axon
Server node name or a StatefulSet name.

--fresh-volume rebuilds each node on empty volumes (after a lost volume, or to start
clean): it records the node's replication groups and roles on its StatefulSet, checks
that every group keeps committing without the node for the whole rebuild (refusing
otherwise), unregisters the node from the cluster (which moves leadership off it),
deletes the pod's own PVCs and the pod, waits for the new node to register (autocluster,
else POST /v1/cluster), adds it back to each group with its former role and waits
until it has caught up everywhere. It asks for confirmation, naming the PVCs it deletes
(--yes for scripts). Every step is recorded on the StatefulSet: rerun the same command
to continue after an interruption. One operation at a time per cluster (a Lease).
Exit 3 when a safety check refuses, 4 when a node does not come back.`,
		Example:           replaceExample,
		ValidArgsFunction: completeNodeNames(o.Flags, open),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	f.BoolVar(&o.All, "all", o.All, "replace every node of the cluster (a rolling restart in the safe order)")
	f.BoolVar(&o.FreshVolume, "fresh-volume", o.FreshVolume, "rebuild the nodes on empty volumes: unregister, delete the pod's PVCs and pod, rejoin with the former roles")
	f.BoolVarP(&o.Yes, "yes", "y", o.Yes, "do not ask for confirmation before deleting PVCs (--fresh-volume)")
	f.DurationVar(&o.JoinWait, "join-wait", o.JoinWait, "with --fresh-volume: how long the new node may take to register by itself (autocluster) before it is sent POST /v1/cluster")
	o.RollingFlags.AddFlags(f)
	return c
}

// Complete takes the node names to replace.
func (o *ReplaceOptions) Complete(args []string) error {
	o.Nodes = args
	return nil
}

// Validate checks the flags; nothing has been contacted yet.
func (o *ReplaceOptions) Validate() error {
	if err := o.RollingFlags.Validate(o.Flags, "replace-node deletes pods"); err != nil {
		return err
	}
	switch {
	case o.All && len(o.Nodes) > 0:
		return cli.Usagef("give NODE names or --all, not both")
	case !o.All && len(o.Nodes) == 0:
		return cli.Usagef("name the nodes to replace, or give --all")
	case o.FreshVolume && o.Force:
		return cli.Usagef("--force does not apply to --fresh-volume: a rebuild that would cost a group its commit availability is always refused")
	case o.JoinWait < 0:
		return cli.Usagef("--join-wait must not be negative")
	case o.FreshVolume && !o.DryRun && !o.Yes && !isTerminalIn(o.In):
		return cli.Usagef("--fresh-volume deletes PVCs and asks for confirmation, but stdin is not a terminal: give --yes")
	}
	return nil
}

// isTerminalIn says whether the confirmation can be asked on stdin: a terminal, not
// merely a character device (/dev/null is one).
func isTerminalIn(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// replaceTarget is one node of the run with what the plan shows of it.
type replaceTarget struct {
	member  discovery.Member
	groups  []rebuild.Membership
	impacts []rebuild.GroupImpact
	claims  []string
}

// Run plans, prints the plan, asks, and unless --dry-run takes the steps.
func (o *ReplaceOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	observe := o.observer(o.session)
	snap, err := observe(ctx)
	if err != nil {
		return err
	}
	members, err := o.members(snap)
	if err != nil {
		return err
	}
	names := make([]string, len(members))
	marks := map[string]rebuild.State{}
	for i, m := range members {
		names[i] = m.NodeName
	}
	for _, m := range snap.Members {
		if v, ok := m.StatefulSet.Annotations[rebuild.Annotation]; ok {
			st, err := rebuild.Parse(v)
			if err != nil {
				return fmt.Errorf("StatefulSet %s: %w", m.StatefulSet.Name, err)
			}
			marks[m.NodeName] = st
		}
	}
	dec, err := rebuild.Decide(names, o.FreshVolume, marks, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return cli.Refusedf("%v", err)
	}
	c := snap.Quorum()
	plan := stepper.NewPlan(stepper.Input{Cluster: c, Targets: names, Done: dec.Done})
	targets := map[string]*replaceTarget{}
	for _, m := range members {
		t := &replaceTarget{member: m, groups: rebuild.Memberships(c, m.NodeName)}
		if st, ok := marks[m.NodeName]; ok && st.Fresh && len(st.Groups) > 0 && (dec.Resume && st.Run == dec.Run || dec.Keep[m.NodeName].Run != "") {
			t.groups = st.Groups // recorded before an earlier run unregistered the node
		}
		targets[m.NodeName] = t
	}
	if o.FreshVolume {
		if err := o.freshPlan(snap, &plan, targets, marks); err != nil {
			return err
		}
	}
	if o.DryRun {
		if o.Output == "json" {
			return writeData(o.Out, o.planDoc(snap, plan, targets), "json")
		}
		return o.printPlan(o.Out, snap, plan, targets)
	}
	sink := o.sink(o.IOStreams)
	defer sink.Close()
	if o.Output == "json" {
		sink.Emit(progress.Event{Kind: "plan", Message: fmt.Sprintf("%d steps", len(plan.Steps)), Data: o.planDoc(snap, plan, targets)})
	} else if err := o.printPlan(o.Out, snap, plan, targets); err != nil {
		return err
	}
	if b := plan.Blocked(); len(b) > 0 && !o.Force {
		var why []string
		for _, s := range b {
			for _, i := range s.Verdict.Blocked {
				why = append(why, s.Node+": "+i.String())
			}
		}
		if o.FreshVolume {
			return cli.Refusedf("refusing to rebuild: %s; nothing was changed", strings.Join(why, "; "))
		}
		return cli.Refusedf("no safe order exists: even with every node healthy, %s; nothing was changed (--force overrides)", strings.Join(why, "; "))
	}
	if len(plan.Steps) == 0 {
		sink.Emit(progress.Event{Kind: "summary", Message: "nothing to do: every node was replaced by an earlier run and is healthy"})
		return nil
	}
	if o.FreshVolume && !o.Yes {
		if ok, err := o.confirm(plan, targets); err != nil || !ok {
			if err != nil {
				return err
			}
			return cli.Refusedf("not confirmed; nothing was changed")
		}
	}
	what := "replace-node"
	if o.FreshVolume {
		what += " --fresh-volume"
	}
	holder := lock.Identity(what + " " + strings.Join(names, " "))
	release, err := o.holdLock(ctx, o.session.Kube, snap, holder, sink, stop)
	if err != nil {
		return err
	}
	defer release()
	rec := newRecorder(o.session, snap.Namespace, sink)
	env := &rebuild.Env{Kube: o.session.Kube, Namespace: snap.Namespace, Observe: observe, Client: o.session.Client,
		Recorder: rec, Progress: sink, Poll: o.Poll, JoinWait: o.JoinWait, UnregisterTimeout: o.NodeTimeout}
	// Step 1: record each node still to do (kept as they are: marks of a resumed run,
	// and the recorded groups of a node in the middle of a rebuild).
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, s := range plan.Steps {
		if st, ok := marks[s.Node]; ok && (dec.Resume && st.Run == dec.Run || dec.Keep[s.Node].Run != "") {
			continue
		}
		st := rebuild.State{Run: dec.Run, Targets: sorted, Fresh: o.FreshVolume, Phase: rebuild.Pending}
		if o.FreshVolume {
			st.Groups = targets[s.Node].groups
		}
		if err := env.Save(ctx, targets[s.Node].member.StatefulSet.Name, st); err != nil {
			return err
		}
	}
	r := o.runner(o.session, snap, sink)
	r.Act, r.Recorder, r.Resume = env.Act, rec, o.commandLine(snap)
	r.Op = record.Op{Operation: "replace-node", Detail: o.detail(), Holder: holder}
	r.AfterStep = func(ctx context.Context, m discovery.Member) error {
		return env.Finish(ctx, m.StatefulSet.Name)
	}
	if o.FreshVolume {
		r.AfterReady = env.AfterReady
		r.Check = func(c quorum.Cluster, node string) quorum.Verdict {
			v, _ := rebuild.Removal(c, node, targets[node].groups)
			return removalAnswer(v)
		}
	}
	sum, runErr := r.Run(ctx, plan)
	if o.Output == "json" {
		sink.Emit(progress.Event{Kind: "summary", Message: stepper.SummaryLine(sum, "replaced", runErr), Data: sum})
	} else {
		sink.Close()
		stepper.WriteSummary(o.Out, sum, "replaced", runErr)
	}
	return runErr
}

func (o *ReplaceOptions) detail() string {
	if o.FreshVolume {
		return "on a fresh volume"
	}
	return ""
}

// members maps the NODE arguments (or --all) to singleton StatefulSets.
func (o *ReplaceOptions) members(snap *snapshot.Snapshot) ([]discovery.Member, error) {
	var all []string
	for _, m := range snap.Members {
		all = append(all, m.NodeName)
	}
	var out []discovery.Member
	if o.All {
		out = append(out, snap.Members...)
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		m, ok := snap.Member(n)
		if !ok {
			return nil, cli.Usagef("no node %q in cluster %s (nodes: %s)", n, snap.Cluster, strings.Join(all, ", "))
		}
		if !seen[m.NodeName] {
			seen[m.NodeName] = true
			out = append(out, m)
		}
	}
	for _, m := range out {
		if r := m.StatefulSet.Spec.Replicas; r != nil && *r != 1 {
			return nil, cli.Refusedf("StatefulSet %s has replicas=%d: replace-node handles singleton StatefulSets (one per Axon Server node) only", m.StatefulSet.Name, *r)
		}
	}
	return out, nil
}

// removalAnswer names the answer of a removal verdict (rebuild.Removal judges the
// groups the node leaves, on Axon Server's view of the others) and its evidence.
func removalAnswer(v quorum.Verdict) quorum.Verdict {
	if v.Answer != "" {
		return v
	}
	v.Answer, v.Evidence = quorum.Yes, "every group it leaves keeps its commit quorum while it is rebuilt"
	if !v.Safe {
		why := make([]string, 0, len(v.Blocked))
		for _, b := range v.Blocked {
			why = append(why, b.String())
		}
		v.Answer, v.Evidence = quorum.No, "not safe: "+strings.Join(why, "; ")
	}
	return v
}

// freshPlan judges each step by Removal instead of CanStop and lists the PVCs.
func (o *ReplaceOptions) freshPlan(snap *snapshot.Snapshot, plan *stepper.Plan, targets map[string]*replaceTarget, marks map[string]rebuild.State) error {
	c := snap.Quorum()
	for i := range plan.Steps {
		s := &plan.Steps[i]
		t := targets[s.Node]
		v, impacts := rebuild.Removal(c, s.Node, t.groups)
		t.impacts = impacts
		s.Verdict, s.Structural = removalAnswer(v), false
		for _, gi := range impacts {
			s.Structural = s.Structural || gi.Structural
		}
		if st, ok := marks[s.Node]; ok && st.Phase.AtLeast(rebuild.Deleting) {
			for _, cl := range st.Claims {
				t.claims = append(t.claims, cl.Name)
			}
			continue
		}
		claims, _, err := rebuild.OwnedClaims(t.member.StatefulSet, t.member.Pod)
		if err != nil {
			return cli.Refusedf("%s: %v", s.Node, err)
		}
		t.claims = claims
	}
	return nil
}

// confirm asks on the terminal, naming the PVCs.
func (o *ReplaceOptions) confirm(plan stepper.Plan, targets map[string]*replaceTarget) (bool, error) {
	fmt.Fprintln(o.ErrOut, "This deletes, one node at a time, these PersistentVolumeClaims and the data on their volumes:")
	for _, s := range plan.Steps {
		fmt.Fprintf(o.ErrOut, "  %s: %s\n", s.Node, strings.Join(targets[s.Node].claims, ", "))
	}
	fmt.Fprint(o.ErrOut, "Type yes to continue: ")
	line, err := bufio.NewReader(o.In).ReadString('\n')
	if err != nil && line == "" {
		return false, cli.Refusedf("no answer; nothing was changed")
	}
	return strings.TrimSpace(line) == "yes", nil
}

func (o *ReplaceOptions) commandLine(snap *snapshot.Snapshot) string {
	s := fmt.Sprintf("kubectl axon replace-node -n %s --axon-cluster %s", snap.Namespace, snap.Cluster)
	if o.FreshVolume {
		s += " --fresh-volume"
	}
	if o.All {
		return s + " --all"
	}
	return s + " " + strings.Join(o.Nodes, " ")
}

// replacePlanNode is a node's part of the plan document.
type replacePlanNode struct {
	Node   string                `json:"node"`
	Groups []rebuild.GroupImpact `json:"groups"`
	PVCs   []string              `json:"pvcs"`
}

func (o *ReplaceOptions) planDoc(snap *snapshot.Snapshot, p stepper.Plan, targets map[string]*replaceTarget) map[string]any {
	steps := p.Steps
	if steps == nil {
		steps = []stepper.Step{}
	}
	doc := map[string]any{"kind": "AxonReplaceNodePlan", "cluster": snap.Cluster, "namespace": snap.Namespace,
		"freshVolume": o.FreshVolume, "steps": steps, "skipped": p.Skipped, "elections": p.Elections, "safe": len(p.Blocked()) == 0}
	if o.FreshVolume {
		nodes := []replacePlanNode{}
		for _, s := range p.Steps {
			t := targets[s.Node]
			nodes = append(nodes, replacePlanNode{Node: s.Node, Groups: t.impacts, PVCs: t.claims})
		}
		doc["rebuild"] = nodes
	}
	return doc
}

func (o *ReplaceOptions) printPlan(w io.Writer, snap *snapshot.Snapshot, p stepper.Plan, targets map[string]*replaceTarget) error {
	how := "Replace"
	if o.FreshVolume {
		how = "Rebuild on fresh volumes"
	}
	fmt.Fprintf(w, "%s: plan for cluster %s in namespace %s\n", how, snap.Cluster, snap.Namespace)
	if err := writeSteps(w, p, "SAFE", "replaced by an earlier run and healthy"); err != nil || len(p.Steps) == 0 {
		return err
	}
	if o.FreshVolume {
		fmt.Fprintln(w, "\nDuring each rebuild (fault tolerance: how many more voting members each group may lose):")
		t := table.New(w, "NODE", "GROUP", "ROLE", "TOLERANCE NOW", "DURING", "VERDICT")
		for _, s := range p.Steps {
			for _, gi := range targets[s.Node].impacts {
				verdict := "ok"
				if gi.Blocked != "" {
					verdict = "REFUSED: " + gi.Blocked
				}
				t.Row(s.Node, gi.Group, string(gi.Role), fmt.Sprint(gi.FaultTolerance), fmt.Sprint(gi.During), verdict)
			}
		}
		if err := t.Flush(); err != nil {
			return err
		}
		for _, s := range p.Steps {
			fmt.Fprintf(w, "PVCs to delete for %s: %s\n", s.Node, strings.Join(targets[s.Node].claims, ", "))
		}
		return nil
	}
	stepper.WriteElections(w, p)
	return nil
}
