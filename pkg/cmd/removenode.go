package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/membership"
	"github.com/kubectl-axon/kubectl-axon/pkg/podconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/rebuild"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

const removeNodeExample = `  # The plan: per group the role, voters before and after, and the verdict
  kubectl axon remove-node -n axon axonserver-5 --dry-run

  # Decommission a node, first moving each of its memberships to axonserver-6
  kubectl axon remove-node -n axon axonserver-5 --move-to axonserver-6

  # ... and delete its volumes too (default: kept, labelled kubectl-axon.io/removed-node)
  kubectl axon remove-node -n axon axonserver-5 --move-to axonserver-6 --delete-volumes`

// RemovedNodeLabel marks the PVCs remove-node kept: the node they belonged to.
const RemovedNodeLabel = record.Prefix + "removed-node"

// removeAnnotation holds a remove-node run's state on the node's StatefulSet, so
// that a rerun continues where it stopped.
const removeAnnotation = record.Prefix + "remove-node"

// removeState is what a remove-node run records before it changes anything.
type removeState struct {
	Run string `json:"run"`
	// Groups are the node's memberships when the run began; Targets the node that
	// takes each over (group → node; absent: none).
	Groups        []membership.Membership `json:"groups"`
	Targets       map[string]string       `json:"targets,omitempty"`
	DeleteVolumes bool                    `json:"deleteVolumes,omitempty"`
}

// RemoveNodeOptions decommissions a node.
type RemoveNodeOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags
	ShapeFlags
	Node          string
	MoveTo        []string
	DeleteVolumes bool

	clients
}

// NewCmdRemoveNode returns `kubectl axon remove-node`.
func NewCmdRemoveNode(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &RemoveNodeOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), ShapeFlags: DefaultShapeFlags()}
	c := &cobra.Command{
		Use:   "remove-node NODE [--move-to NODE,...] [--delete-volumes]",
		Short: "Decommission a node: move or drop its memberships, unregister it, delete its StatefulSet",
		Long: `Decommission an Axon Server node. The plan shows, per replication group, the node's
role, the voters before and after and the verdict. It is refused (exit 3, nothing
changed) when a group would lose its commit availability, when the node is the only
member storing a context (its events would be gone: give --move-to), when ACTIVE_BACKUP
members would drop below min-active-backups, when it is the last member of _admin, or
while a group has a membership change pending.

With --move-to, each membership is first added on one of the given nodes (the one with
the fewest taken over so far that is no member yet) with the same role, and waited for
until it has caught up. Then the node leaves every group, one change at a time, each
confirmed by reading the group (a leader hands leadership over first); its StatefulSet
is scaled to 0; DELETE /v1/cluster/NODE unregisters it, confirmed by reading the
cluster; its PVCs are labelled ` + RemovedNodeLabel + `=NODE and kept (deleted with
--delete-volumes); its headless Service, autocluster ConfigMap and StatefulSet are
deleted. The run is recorded on the StatefulSet: a rerun continues from the first
unfinished step. One operation at a time per cluster (a Lease).`,
		Example:           removeNodeExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeNodeNames(o.Flags, open),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	f.StringSliceVar(&o.MoveTo, "move-to", o.MoveTo, "nodes that take over the node's memberships (same role, caught up before the node leaves)")
	f.BoolVar(&o.DeleteVolumes, "delete-volumes", o.DeleteVolumes, "delete the node's PVCs too (default: keep them, labelled "+RemovedNodeLabel+")")
	o.ShapeFlags.AddFlags(f)
	return c
}

// Complete takes the node.
func (o *RemoveNodeOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.Node = args[0]
	}
	return nil
}

// Validate checks the flags.
func (o *RemoveNodeOptions) Validate() error {
	if err := o.ShapeFlags.Validate(o.Flags, "remove-node deletes a StatefulSet"); err != nil {
		return err
	}
	if o.Node == "" {
		return cli.Usagef("name the node to remove")
	}
	if slices.Contains(o.MoveTo, o.Node) {
		return cli.Usagef("--move-to %s: the node being removed cannot take over its own memberships", o.Node)
	}
	return nil
}

// Run plans, and unless --dry-run removes the node.
func (o *RemoveNodeOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	snap, err := o.observer(o.session)(ctx)
	if err != nil {
		return err
	}
	m, ok := snap.Member(o.Node)
	if !ok {
		return o.gone(ctx, snap)
	}
	node := m.NodeName
	v := viewOf(snap)
	for _, t := range o.MoveTo {
		tm, ok := snap.Member(t)
		switch {
		case !ok:
			return cli.Usagef("--move-to %s: no node %q in cluster %s", t, t, snap.Cluster)
		case tm.NodeName == node:
			return cli.Usagef("--move-to %s: the node being removed cannot take over its own memberships", t)
		case !v.Registered(tm.NodeName):
			return cli.Usagef("--move-to %s: not registered in the Axon Server cluster", t)
		}
	}
	var moveTo []string
	for _, t := range o.MoveTo {
		tm, _ := snap.Member(t)
		moveTo = append(moveTo, tm.NodeName)
	}
	st, resuming, err := loadRemoveState(m.StatefulSet)
	if err != nil {
		return err
	}
	if !resuming {
		st = removeState{Run: time.Now().UTC().Format(time.RFC3339Nano), Groups: v.Memberships(node), DeleteVolumes: o.DeleteVolumes}
	}
	st.Targets = membership.Targets(v, node, st.Groups, moveTo, st.Targets)
	plan := membership.RemoveNode(v, node, st.Groups, st.Targets, resuming)
	plan.Warnings = append(plan.Warnings, o.firstWarnings(ctx, snap, node)...)
	claims := rebuild.ClaimNames(m.StatefulSet, 0)
	volumes := "kept, labelled " + RemovedNodeLabel + "=" + node
	if o.DeleteVolumes || st.DeleteVolumes {
		volumes = "deleted"
	}
	title := fmt.Sprintf("Remove node %s from cluster %s in namespace %s", node, snap.Cluster, snap.Namespace)
	if resuming {
		title += fmt.Sprintf(" (resuming the run of %s)", st.Run)
	}
	title += fmt.Sprintf("\nThen: StatefulSet %s scaled to 0, DELETE /v1/cluster/%s, PVCs %s %s, StatefulSet, headless Service and autocluster ConfigMap deleted",
		m.StatefulSet.Name, node, orDash(strings.Join(claims, ", ")), volumes)
	doc := planDoc("AxonRemoveNodePlan", snap, plan)
	doc["pvcs"], doc["volumes"], doc["statefulSet"], doc["resuming"] = claims, volumes, m.StatefulSet.Name, resuming
	needs := append(shapeNeeds(),
		access{group: "apps", resource: "statefulsets", verb: "delete"},
		access{resource: "services", verb: "delete"},
		access{resource: "configmaps", verb: "delete"},
		access{resource: "persistentvolumeclaims", verb: "patch"})
	if o.DeleteVolumes {
		needs = append(needs, access{resource: "persistentvolumeclaims", verb: "delete"})
	}
	run, done, err := o.start(ctx, o.IOStreams, o.session, snap, "remove-node", node, plan, doc, title, needs, stop)
	if err != nil || done {
		return err
	}
	began := time.Now()
	sts := m.StatefulSet
	err = o.remove(ctx, run, snap, m, st, plan)
	return run.finish(sts, began, fmt.Sprintf("%s left %d groups, is unregistered, and StatefulSet %s is deleted; PVCs %s", node, len(st.Groups), sts.Name, volumes), err)
}

func loadRemoveState(sts *appsv1.StatefulSet) (removeState, bool, error) {
	var st removeState
	v, ok := sts.Annotations[removeAnnotation]
	if !ok || v == "" {
		return st, false, nil
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, false, fmt.Errorf("StatefulSet %s: annotation %s: %w", sts.Name, removeAnnotation, err)
	}
	return st, true, nil
}

// gone answers a NODE with no StatefulSet: removed already when PVCs labelled for
// it exist (exit 0, nothing to do), else a usage error.
func (o *RemoveNodeOptions) gone(ctx context.Context, snap *snapshot.Snapshot) error {
	pvcs, err := o.session.Kube.CoreV1().PersistentVolumeClaims(snap.Namespace).List(ctx, metav1.ListOptions{LabelSelector: RemovedNodeLabel + "=" + o.Node})
	if err == nil && len(pvcs.Items) > 0 {
		var names []string
		for _, p := range pvcs.Items {
			names = append(names, p.Name)
		}
		fmt.Fprintf(o.Out, "Node %s was removed already; its PVCs are kept: %s\n", o.Node, strings.Join(names, ", "))
		return nil
	}
	var all []string
	for _, x := range snap.Members {
		all = append(all, x.NodeName)
	}
	return cli.Usagef("no node %q in cluster %s (nodes: %s)", o.Node, snap.Cluster, strings.Join(all, ", "))
}

// remove takes the steps; each checks what is done already, so a rerun continues.
func (o *RemoveNodeOptions) remove(ctx context.Context, run *shapeRun, snap *snapshot.Snapshot, m discovery.Member, st removeState, plan membership.Plan) error {
	node, sts := m.NodeName, m.StatefulSet
	kube := o.session.Kube
	if err := run.rec.Annotate(ctx, sts.Name, map[string]string{removeAnnotation: mustJSON(st)}); err != nil {
		return err
	}
	run.started(sts, fmt.Sprintf("removing node %s (groups %s)", node, membershipList(st.Groups)))
	// 1. Move and leave the groups, one change per group at a time.
	if err := run.apply(ctx, plan); err != nil {
		return err
	}
	// 2. Stop the node: scaled to 0, its pod gone. A running node that is
	// unregistered may register again by itself (autocluster).
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 0 {
		patch := []byte(`{"spec":{"replicas":0}}`)
		if _, err := kube.AppsV1().StatefulSets(snap.Namespace).Patch(ctx, sts.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("scaling StatefulSet %s to 0: %w", sts.Name, err)
		}
		run.sink.Emit(progress.Event{Kind: "scaled-down", Node: node, Message: fmt.Sprintf("StatefulSet %s scaled to 0", sts.Name)})
	}
	pod := stepper.PodName(sts)
	if err := waitPod(ctx, kube, snap.Namespace, pod, o.NodeTimeout, func(p *corev1.Pod) bool { return p == nil }, func(p *corev1.Pod) {
		if p != nil {
			run.sink.Emit(progress.Event{Kind: "waiting", Node: node, Transient: true, Message: "waiting for pod " + pod + " to be gone: " + stepper.PodState(p)})
		}
	}); err != nil {
		return fmt.Errorf("waiting for pod %s of %s to be gone: %w", pod, node, err)
	}
	// 3. Unregister: DELETE /v1/cluster/NODE until the cluster forgets it.
	if err := run.env.Unregister(ctx, node, st.Groups); err != nil {
		return err
	}
	// 4. The volumes: kept and labelled, or deleted.
	if err := o.volumes(ctx, run, sts, node, st.DeleteVolumes || o.DeleteVolumes); err != nil {
		return err
	}
	// 5. The node's own Service and autocluster ConfigMap, then the StatefulSet.
	if err := o.deleteOwn(ctx, run, snap.Namespace, sts); err != nil {
		return err
	}
	uid := sts.UID
	err := kube.AppsV1().StatefulSets(snap.Namespace).Delete(ctx, sts.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting StatefulSet %s: %w", sts.Name, err)
	}
	run.sink.Emit(progress.Event{Kind: "statefulset-deleted", Node: node, Message: "deleted StatefulSet " + sts.Name})
	return nil
}

// volumes labels the node's PVCs RemovedNodeLabel=node (or deletes them), each
// checked to be the StatefulSet's own claim first. A StatefulSet whose retention
// policy would delete the claims with it is set to retain them.
func (o *RemoveNodeOptions) volumes(ctx context.Context, run *shapeRun, sts *appsv1.StatefulSet, node string, del bool) error {
	kube := o.session.Kube
	ns := sts.Namespace
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; !del && p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		patch := []byte(`{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain"}}}`)
		if _, err := kube.AppsV1().StatefulSets(ns).Patch(ctx, sts.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("keeping the PVCs of %s: %w", sts.Name, err)
		}
	}
	var done []string
	for _, name := range rebuild.ClaimNames(sts, 0) {
		pvc, err := kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := rebuild.ClaimBelongs(sts, 0, pvc); err != nil {
			return err
		}
		if del {
			uid := pvc.UID
			err = kube.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting PVC %s: %w", name, err)
			}
		} else {
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q}}}`, RemovedNodeLabel, node,
				record.Prefix+"removed-at", time.Now().UTC().Format(time.RFC3339))
			if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("labelling PVC %s: %w", name, err)
			}
		}
		done = append(done, name)
	}
	what := "kept and labelled " + RemovedNodeLabel + "=" + node
	if del {
		what = "deleted"
	}
	run.sink.Emit(progress.Event{Kind: "volumes", Node: node, Message: fmt.Sprintf("PVCs %s: %s", orDash(strings.Join(done, ", ")), what), Data: done})
	return nil
}

// deleteOwn deletes the node's headless Service (the StatefulSet's serviceName,
// when it selects the node's pod only) and its autocluster ConfigMap (when the pod
// template reads autocluster.first from it and no other StatefulSet does).
func (o *RemoveNodeOptions) deleteOwn(ctx context.Context, run *shapeRun, ns string, sts *appsv1.StatefulSet) error {
	kube := o.session.Kube
	if name := sts.Spec.ServiceName; name != "" {
		svc, err := kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return err
		case ownService(svc, sts):
			if err := kube.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting Service %s: %w", name, err)
			}
			run.sink.Emit(progress.Event{Kind: "service-deleted", Message: "deleted headless Service " + name})
		}
	}
	for _, cm := range configMapRefs(sts) {
		if !strings.Contains(cm, sts.Name) {
			continue // shared (the cluster's properties), not the node's own
		}
		err := kube.CoreV1().ConfigMaps(ns).Delete(ctx, cm, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting ConfigMap %s: %w", cm, err)
		}
		if err == nil {
			run.sink.Emit(progress.Event{Kind: "configmap-deleted", Message: "deleted ConfigMap " + cm})
		}
	}
	return nil
}

// ownService: a headless Service whose selector picks the StatefulSet's pods and
// includes a label only they carry (one that names the StatefulSet).
func ownService(svc *corev1.Service, sts *appsv1.StatefulSet) bool {
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Selector) == 0 {
		return false
	}
	named := false
	for k, v := range svc.Spec.Selector {
		if sts.Spec.Template.Labels[k] != v {
			return false
		}
		named = named || v == sts.Name
	}
	return named
}

// configMapRefs names the ConfigMaps the pod template's env reads keys of.
func configMapRefs(sts *appsv1.StatefulSet) []string {
	var out []string
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && !slices.Contains(out, e.ValueFrom.ConfigMapKeyRef.Name) {
				out = append(out, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}
	return out
}

func membershipList(ms []membership.Membership) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Group+":"+string(m.Role))
	}
	return orDash(strings.Join(s, ", "))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings: cannot fail
	}
	return string(b)
}

// firstWarnings names the other nodes whose autocluster.first names node: once it is
// gone, such a node rebuilt on an empty volume has no one to register with.
func (o *RemoveNodeOptions) firstWarnings(ctx context.Context, snap *snapshot.Snapshot, node string) []string {
	var out []string
	for _, m := range snap.Members {
		ct := rebuild.ContainerOf(m)
		if m.NodeName == node || ct == nil {
			continue
		}
		s, ok := podconfig.Find(*ct, m.StatefulSet.Spec.Template.Spec.Volumes, func(name string) (*corev1.ConfigMap, error) {
			return o.session.Kube.CoreV1().ConfigMaps(snap.Namespace).Get(ctx, name, metav1.GetOptions{})
		}, rebuild.AutoclusterFirstProperty)
		if ok && !s.Unreadable && rebuild.NamesNode(s.Value, node, "") {
			out = append(out, fmt.Sprintf("the autocluster.first of %s (%s) names %s: once it is gone, %s rebuilt on an empty volume has no one to register with; point it at another member",
				m.NodeName, s.Where(), node, m.NodeName))
		}
	}
	return out
}
