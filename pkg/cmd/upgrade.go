package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

const upgradeExample = `  # Move every node of the cluster in namespace axon to a new image, one at a time
  kubectl axon upgrade -n axon --image axoniq/axonserver:2024.2.0-nonroot

  # Show the plan (order, groups, safety verdicts) and change nothing
  kubectl axon upgrade -n axon --image axoniq/axonserver:2024.2.0-nonroot --dry-run

  # Two nodes only, one JSON event per line for a runbook
  kubectl axon upgrade -n axon --image axoniq/axonserver:2024.2.0-nonroot axonserver-1 axonserver-2 -o json

  # Roll one node back
  kubectl axon upgrade -n axon --image axoniq/axonserver:2024.1.0-nonroot axonserver-3`

// UpgradeOptions moves nodes to a new image, one singleton StatefulSet at a time.
type UpgradeOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	RollingFlags
	Image     string
	Container string
	Nodes     []string

	clients
}

// NewCmdUpgrade returns `kubectl axon upgrade`.
func NewCmdUpgrade(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &UpgradeOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), RollingFlags: DefaultRollingFlags()}
	c := &cobra.Command{
		Use:   "upgrade --image REF [NODE...]",
		Short: "Rolling upgrade to a new image that never costs a replication group its quorum",
		Long: `Move Axon Server nodes (default: every node of the cluster) to a new image, one
singleton StatefulSet at a time: unhealthy nodes first, then followers, then the nodes
that lead groups, ordered so each group sees as few leader elections as possible.
Before each node the cluster must be healthy apart from it and stopping it must keep
every group's quorum (waiting up to --safety-timeout for that); after it, the new pod
must be Ready on the new revision and the node healthy in Axon Server's terms
(connected, caught up, every group led), then every node. Nodes already on the image
and healthy are skipped, so a rerun resumes. One operation at a time per cluster (a
Lease). Exit 3 when a safety check refuses, 4 when a node does not come back.`,
		Example:           upgradeExample,
		ValidArgsFunction: completeNodeNames(o.Flags, open),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	f.StringVar(&o.Image, "image", o.Image, "the image to move to (required), e.g. axoniq/axonserver:2024.2.0-nonroot")
	f.StringVar(&o.Container, "container", o.Container, "the container to change (default: the Axon Server container)")
	o.RollingFlags.AddFlags(f)
	return c
}

// Complete takes the node names to upgrade (none: every node).
func (o *UpgradeOptions) Complete(args []string) error {
	o.Nodes = args
	return nil
}

// Validate checks the flags; nothing has been contacted yet.
func (o *UpgradeOptions) Validate() error {
	if err := o.RollingFlags.Validate(o.Flags, "upgrade changes StatefulSets"); err != nil {
		return err
	}
	if o.Image == "" {
		return cli.Usagef("--image is required")
	}
	if err := ValidateImageRef(o.Image); err != nil {
		return cli.Usagef("--image %q: %v", o.Image, err)
	}
	return nil
}

// The reference grammar of the OCI distribution spec (distribution/reference):
// [domain[:port]/]path[:tag][@digest], path components lower case.
var imageRef = func() *regexp.Regexp {
	alnum := `[a-z0-9]+`
	sep := `(?:[._]|__|[-]+)`
	comp := alnum + `(?:` + sep + alnum + `)*`
	domainComp := `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domain := `(?:` + domainComp + `(?:\.` + domainComp + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	tag := `[\w][\w.-]{0,127}`
	digest := `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	name := `(?:` + domain + `/)?` + comp + `(?:/` + comp + `)*`
	return regexp.MustCompile(`^(` + name + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`)
}()

// ValidateImageRef checks ref against the distribution spec's reference grammar and
// wants a tag or a digest (an image without either would mean "latest").
func ValidateImageRef(ref string) error {
	m := imageRef.FindStringSubmatch(ref)
	if m == nil {
		if strings.ToLower(ref) != ref {
			return errors.New("not a valid image reference (repository names are lower case)")
		}
		return errors.New("not a valid image reference ([registry/]repository[:tag][@digest])")
	}
	// As Docker normalises names: the first component is a registry only when it
	// has a dot or a port or is localhost; everything else is the lower-case path.
	path := m[1]
	if first, rest, ok := strings.Cut(m[1], "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		path = rest
	}
	if strings.ToLower(path) != path {
		return errors.New("not a valid image reference (repository names are lower case)")
	}
	if len(m[1]) > 255 {
		return errors.New("repository name longer than 255 characters")
	}
	if m[2] == "" && m[3] == "" {
		return errors.New("give a tag or a digest (an image without one means \"latest\", which no rolling upgrade can pin)")
	}
	return nil
}

// upgradeTarget is one member with the container to change.
type upgradeTarget struct {
	member    discovery.Member
	container string
	image     string // the container's image now
}

// Run plans, prints the plan and, unless --dry-run, takes the steps.
func (o *UpgradeOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	snap, err := o.observer(o.session)(ctx)
	if err != nil {
		return err
	}
	targets, err := o.targets(snap)
	if err != nil {
		return err
	}
	plan := o.plan(snap, targets)
	sink, done, err := o.presentPlan(o.IOStreams, o.planDoc(snap, plan), fmt.Sprintf("%d steps", len(plan.Steps)),
		func(w io.Writer) error { return o.printPlan(w, snap, plan) })
	if done || err != nil {
		return err
	}
	defer sink.Close()
	if err := o.refuseUnsafe(plan.Blocked()); err != nil {
		return err
	}
	if len(plan.Steps) == 0 {
		sink.Emit(progress.Event{Kind: "summary", Message: "nothing to do: every node already runs " + o.Image + " and is healthy"})
		return nil
	}
	holder := lock.Identity("upgrade to " + o.Image)
	release, err := o.holdLock(ctx, o.session.Kube, snap, holder, sink, stop)
	if err != nil {
		return err
	}
	defer release()
	byNode := map[string]upgradeTarget{}
	for _, t := range targets {
		byNode[t.member.NodeName] = t
	}
	r := o.runner(o.session, snap, sink)
	r.Act = func(ctx context.Context, m discovery.Member) (bool, error) {
		return o.act(ctx, m, byNode[m.NodeName].container, sink)
	}
	r.Op = record.Op{Operation: "upgrade", Detail: "to " + o.Image, Holder: holder}
	r.Resume = o.commandLine(snap, o.Image, o.Nodes)
	r.RollBack = func(node string) string {
		if prev := previousImage(byNode[node], o.Image); prev != "" {
			return o.commandLine(snap, prev, []string{node})
		}
		return ""
	}
	sum, runErr := r.Run(ctx, plan)
	if o.Output == "json" {
		sink.Emit(progress.Event{Kind: "summary", Message: summaryLine(sum, runErr), Data: sum})
	} else {
		sink.Close()
		o.printSummary(o.Out, sum, runErr)
	}
	return runErr
}

// targets maps the NODE arguments (default: every node) to members and containers.
func (o *UpgradeOptions) targets(snap *snapshot.Snapshot) ([]upgradeTarget, error) {
	var names []string
	for _, m := range snap.Members {
		names = append(names, m.NodeName)
	}
	var members []discovery.Member
	if len(o.Nodes) == 0 {
		members = snap.Members
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		m, ok := snap.Member(n)
		if !ok {
			return nil, cli.Usagef("no node %q in cluster %s (nodes: %s)", n, snap.Cluster, strings.Join(names, ", "))
		}
		if !seen[m.NodeName] {
			seen[m.NodeName] = true
			members = append(members, m)
		}
	}
	var out []upgradeTarget
	for _, m := range members {
		c := o.Container
		if c == "" {
			c = m.Container
		}
		img, ok := containerImage(m.StatefulSet, c)
		if !ok {
			return nil, cli.Usagef("StatefulSet %s has no container %q", m.StatefulSet.Name, c)
		}
		if ru := m.StatefulSet.Spec.UpdateStrategy.RollingUpdate; m.StatefulSet.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
			ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			return nil, cli.Usagef("StatefulSet %s has rollingUpdate.partition %d: its pod would come back on the old revision; set the partition to 0", m.StatefulSet.Name, *ru.Partition)
		}
		out = append(out, upgradeTarget{member: m, container: c, image: img})
	}
	return out, nil
}

func containerImage(sts *appsv1.StatefulSet, name string) (string, bool) {
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c.Image, true
		}
	}
	return "", false
}

// plan: a node is done when its template has the image and its pod runs the update revision.
func (o *UpgradeOptions) plan(snap *snapshot.Snapshot, targets []upgradeTarget) stepper.Plan {
	done := map[string]bool{}
	var names []string
	for _, t := range targets {
		names = append(names, t.member.NodeName)
		done[t.member.NodeName] = t.image == o.Image && t.member.Pod != nil &&
			discovery.OnCurrentRevision(t.member.StatefulSet, t.member.Pod) &&
			t.member.StatefulSet.Status.ObservedGeneration >= t.member.StatefulSet.Generation
	}
	return stepper.NewPlan(stepper.Input{Cluster: snap.Quorum(), Targets: names, Done: done})
}

// act patches the pod template's image (idempotent), waits for the controller to
// publish the new revision, and deletes the pod itself under OnDelete or when the
// pod is not Ready (a StatefulSet rolling update does not replace a broken pod).
func (o *UpgradeOptions) act(ctx context.Context, m discovery.Member, container string, sink progress.Sink) (bool, error) {
	stss := o.session.Kube.AppsV1().StatefulSets(m.Namespace)
	sts := m.StatefulSet // as the look before the step saw it; the patch does not depend on it
	patched := false
	if cur, _ := containerImage(sts, container); cur != o.Image {
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{record.PreviousImage: cur}},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []map[string]string{{"name": container, "image": o.Image}}}}},
		})
		var err error
		if sts, err = stss.Patch(ctx, m.StatefulSet.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: record.Component}); err != nil {
			return false, fmt.Errorf("patching StatefulSet %s: %w", m.StatefulSet.Name, err)
		}
		patched = true
	}
	sts, err := o.observed(ctx, stss, sts, m.NodeName, sink)
	if err != nil {
		return false, err
	}
	pods := o.session.Kube.CoreV1().Pods(m.Namespace)
	pod := m.Pod
	if !patched || pod == nil {
		// A rerun (the template was changed before) or no pod seen: the pod as it is.
		pod, err = pods.Get(ctx, stepper.PodName(sts), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		if discovery.OnCurrentRevision(sts, pod) {
			return false, nil
		}
	}
	// The template changed under the pod: it is on an older revision. The delete is
	// conditional on its UID, so a pod already replaced is left alone.
	if pod.DeletionTimestamp == nil && (sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType || !discovery.PodReady(pod)) {
		uid := pod.UID
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, fmt.Errorf("deleting pod %s: %w", pod.Name, err)
		}
	}
	return true, nil
}

// observed waits until the StatefulSet controller has seen sts's generation, so that
// its update revision is the new template's (a pod deleted before that would be
// recreated from the old one). It waits on the session's watch of the cluster's
// StatefulSets; without one, on a watch of its own. The wait is announced
// (a waiting event with data waitingFor: statefulset-controller): it is
// Kubernetes' time, and a controller that does not run shows here.
func (o *UpgradeOptions) observed(ctx context.Context, stss typedappsv1.StatefulSetInterface, sts *appsv1.StatefulSet, node string, sink progress.Sink) (*appsv1.StatefulSet, error) {
	gen := sts.Generation
	done := func(s *appsv1.StatefulSet) bool { return s.Status.ObservedGeneration >= gen }
	if done(sts) {
		return sts, nil
	}
	if sink != nil {
		sink.Emit(progress.Event{Kind: "waiting", Transient: true, Node: node,
			Message: "waiting for the StatefulSet controller to see the new template of " + sts.Name,
			Data:    map[string]string{"waitingFor": ControllerWait}})
	}
	out, err := o.session.Query(false).Cache.WaitStatefulSet(ctx, sts.Namespace, sts.Name, done)
	if errors.Is(err, discovery.ErrNotWatched) {
		lw := discovery.ListWatchOne(sts.Name, stss.List, stss.Watch)
		var ev *watch.Event
		ev, err = watchtools.UntilWithSync(ctx, lw, &appsv1.StatefulSet{}, nil, func(e watch.Event) (bool, error) {
			s, ok := e.Object.(*appsv1.StatefulSet)
			return ok && e.Type != watch.Deleted && done(s), nil
		})
		if err == nil {
			out = ev.Object.(*appsv1.StatefulSet)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for the StatefulSet controller to see the new template of %s: %w", sts.Name, err)
	}
	return out, nil
}

// ControllerWait is the waitingFor of the event that announces the wait for the
// StatefulSet controller after a template change.
const ControllerWait = "statefulset-controller"

// previousImage is the image to roll back to: the one before this run, or the
// one recorded by the run that set the target image.
func previousImage(t upgradeTarget, target string) string {
	if t.image != "" && t.image != target {
		return t.image
	}
	if t.member.StatefulSet != nil {
		if prev := t.member.StatefulSet.Annotations[record.PreviousImage]; prev != target {
			return prev
		}
	}
	return ""
}

func (o *UpgradeOptions) commandLine(snap *snapshot.Snapshot, image string, nodes []string) string {
	s := fmt.Sprintf("kubectl axon upgrade -n %s --axon-cluster %s --image %s", snap.Namespace, snap.Cluster, image)
	if len(nodes) > 0 {
		s += " " + strings.Join(nodes, " ")
	}
	return s
}

// planDoc is the plan as data.
func (o *UpgradeOptions) planDoc(snap *snapshot.Snapshot, p stepper.Plan) map[string]any {
	steps := p.Steps
	if steps == nil {
		steps = []stepper.Step{}
	}
	return map[string]any{"kind": "AxonUpgradePlan", "cluster": snap.Cluster, "namespace": snap.Namespace,
		"image": o.Image, "steps": steps, "skipped": p.Skipped, "elections": p.Elections, "safe": len(p.Blocked()) == 0}
}

func (o *UpgradeOptions) printPlan(w io.Writer, snap *snapshot.Snapshot, p stepper.Plan) error {
	fmt.Fprintf(w, "Upgrade plan for cluster %s in namespace %s to %s\n", snap.Cluster, snap.Namespace, o.Image)
	if err := writeSteps(w, p, "SAFE TO STOP", "already on the image and healthy"); err != nil || len(p.Steps) == 0 {
		return err
	}
	stepper.WriteElections(w, p)
	return nil
}

func listOr(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func summaryLine(sum *stepper.Summary, err error) string {
	return stepper.SummaryLine(sum, "upgraded", err)
}

func (o *UpgradeOptions) printSummary(w io.Writer, sum *stepper.Summary, err error) {
	stepper.WriteSummary(w, sum, "upgraded", err)
}

// completeNodeNames completes NODE arguments with the Axon Server node names of the
// cluster the flags select; upgrade, replace-node and drain-node share it.
func completeNodeNames(flags *connect.Flags, open connect.Opener) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeWith(flags, open, func(ctx context.Context, s *connect.Session, args []string) ([]string, error) {
		found, err := discovery.Discover(ctx, s.Kube, s.Query(false))
		if err != nil {
			return nil, err
		}
		given := map[string]bool{}
		for _, a := range args {
			given[a] = true
		}
		var out []string
		for _, m := range found.Members {
			if !given[m.NodeName] {
				out = append(out, m.NodeName)
			}
		}
		return out, nil
	})
}
