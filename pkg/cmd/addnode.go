package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/membership"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

const addNodeExample = `  # Add the next node (axonserver-6 after axonserver-5), laid out like the newest healthy one
  kubectl axon add-node -n axon --groups orders:PRIMARY,payments:ACTIVE_BACKUP

  # Name it, take axonserver-2 as the template, and pin it to a zone
  kubectl axon add-node axonserver-6 -n axon --like axonserver-2 --zone zone-c --groups orders:PRIMARY

  # The plan only
  kubectl axon add-node -n axon --groups orders:PRIMARY --dry-run -o json`

// addAnnotation marks the objects an add-node run created (its state, on the
// StatefulSet): a rerun continues with them instead of refusing the name as taken.
const addAnnotation = record.Prefix + "add-node"

// addState is an add-node run's record.
type addState struct {
	Run    string                  `json:"run"`
	Like   string                  `json:"like"`
	Groups []membership.Membership `json:"groups"`
}

// AddNodeOptions adds a node to the cluster.
type AddNodeOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags
	ShapeFlags
	Name   string
	Like   string
	Groups []string
	Zone   string

	clients
}

// NewCmdAddNode returns `kubectl axon add-node`.
func NewCmdAddNode(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &AddNodeOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), ShapeFlags: DefaultShapeFlags()}
	c := &cobra.Command{
		Use:   "add-node [NAME] [--like NODE] [--groups GROUP:ROLE,...] [--zone ZONE]",
		Short: "Add a node: a new singleton StatefulSet like the others, registered, added to groups and caught up",
		Long: `Add an Axon Server node to the cluster: a new singleton StatefulSet with its headless
Service and autocluster ConfigMap, laid out like the node --like (default: the newest
healthy node), every mention of that node's name replaced by NAME (default: the next
free name: PREFIX-N after the highest N in use by a StatefulSet, an Axon Server node or a
kept PVC). --zone pins the new pod to a zone (a required node affinity).

Once the pod is Ready and the node registered (autocluster, else POST /v1/cluster after
--join-wait), it is added to each --groups group with its role (default PRIMARY), one
change at a time, each confirmed by reading the group, and waited for until it has
caught up (Raft indices). Memberships autocluster gives it are kept.

Preflight (exit 3, nothing changed): the name is free in Kubernetes and in Axon Server,
the zone exists, each group exists and takes a change now. A group that would end with
an even number of voters is warned about. Axon Server's REST API reports no license
limit on nodes, so none is checked. A rerun continues with the objects the first run
created (they carry the annotation ` + addAnnotation + `).`,
		Example: addNodeExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	f.StringVar(&o.Like, "like", o.Like, "the node whose StatefulSet, Service and ConfigMap are the template (default: the newest healthy node)")
	f.StringSliceVar(&o.Groups, "groups", o.Groups, "replication groups to add the node to, as GROUP:ROLE (ROLE default PRIMARY)")
	f.StringVar(&o.Zone, "zone", o.Zone, "the zone (label "+discovery.ZoneLabel+") the new pod must run in")
	f.DurationVar(&o.JoinWait, "join-wait", o.JoinWait, "how long the new node may take to register by itself (autocluster) before it is sent POST /v1/cluster")
	o.ShapeFlags.AddFlags(f)
	return c
}

// nodeNameRE is what a StatefulSet (and so an Axon Server node) may be named.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Complete takes the name.
func (o *AddNodeOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.Name = args[0]
	}
	return nil
}

// Validate checks the flags.
func (o *AddNodeOptions) Validate() error {
	if err := o.ShapeFlags.Validate(o.Flags, "add-node creates a StatefulSet"); err != nil {
		return err
	}
	if o.Name != "" && (!nodeNameRE.MatchString(o.Name) || len(o.Name) > 52) {
		return cli.Usagef("%q is not a valid node name (lower-case letters, digits and '-', at most 52 characters: the pod adds -0)", o.Name)
	}
	_, err := parseMemberships(o.Groups)
	return err
}

// Run plans, and unless --dry-run adds the node.
func (o *AddNodeOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	snap, err := o.observer(o.session)(ctx)
	if err != nil {
		return err
	}
	want, _ := parseMemberships(o.Groups)
	kube := o.session.Kube
	ns := snap.Namespace
	like, err := o.template(snap)
	if err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		if name, err = nextName(ctx, o.session, snap, like.StatefulSet.Name); err != nil {
			return err
		}
	}
	// Is the name free, or is this a rerun of ours?
	st := addState{Run: time.Now().UTC().Format(time.RFC3339Nano), Like: like.NodeName, Groups: want}
	resuming := false
	existing, err := kube.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		v, ours := existing.Annotations[addAnnotation]
		if !ours || v == "" {
			return cli.Refusedf("StatefulSet %s exists already: the name is taken; nothing was changed", name)
		}
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			return fmt.Errorf("StatefulSet %s: annotation %s: %w", name, addAnnotation, err)
		}
		if len(want) == 0 {
			want = st.Groups
		}
		st.Groups, resuming = want, true
		if m, ok := snap.Member(st.Like); ok && o.Like == "" {
			like = m // the template the first run used: the objects it created came from it
		}
	case !apierrors.IsNotFound(err):
		return err
	}
	v := viewOf(snap)
	plan := membership.AddNode(v, name, want, resuming)
	if v.Registered(name) && !resuming {
		plan.Refuse("", membership.RuleInput, "a node called %s is registered in the Axon Server cluster already", name)
	}
	if sts, svc, cms, err := o.objects(ctx, snap, like, name, st); err != nil {
		plan.Refuse("", membership.RuleInput, "%v", err)
	} else if !resuming {
		for _, x := range o.taken(ctx, ns, sts, svc, cms) {
			plan.Refuse("", membership.RuleInput, "%s", x)
		}
	}
	if o.Zone != "" {
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: discovery.ZoneLabel + "=" + o.Zone})
		if err == nil && len(nodes.Items) == 0 {
			plan.Refuse("", membership.RuleInput, "no worker is in zone %s (label %s)", o.Zone, discovery.ZoneLabel)
		}
	}
	title := fmt.Sprintf("Add node %s to cluster %s in namespace %s, like %s", name, snap.Cluster, snap.Namespace, like.NodeName)
	if o.Zone != "" {
		title += ", in zone " + o.Zone
	}
	if resuming {
		title += fmt.Sprintf(" (resuming the run of %s)", st.Run)
	}
	title += fmt.Sprintf("\nFirst: StatefulSet %s, its headless Service and ConfigMaps created; the pod Ready; the node registered", name)
	doc := planDoc("AxonAddNodePlan", snap, plan)
	doc["like"], doc["zone"], doc["resuming"] = like.NodeName, o.Zone, resuming
	needs := append(shapeNeeds(),
		access{group: "apps", resource: "statefulsets", verb: "create"},
		access{resource: "services", verb: "create"},
		access{resource: "configmaps", verb: "create"})
	run, done, err := o.start(ctx, o.IOStreams, o.session, snap, "add-node", name, plan, doc, title, needs, stop)
	if err != nil || done {
		return err
	}
	began := time.Now()
	sts, err := o.add(ctx, run, snap, like, name, st, want)
	return run.finish(sts, began, fmt.Sprintf("%s is registered, in groups %s, caught up", name, membershipList(want)), err)
}

// template is the --like node, or the newest healthy one.
func (o *AddNodeOptions) template(snap *snapshot.Snapshot) (discovery.Member, error) {
	if o.Like != "" {
		m, ok := snap.Member(o.Like)
		if !ok {
			return m, cli.Usagef("--like %s: no node %q in cluster %s", o.Like, o.Like, snap.Cluster)
		}
		return m, nil
	}
	c := snap.Quorum()
	var best *discovery.Member
	for i := range snap.Members {
		m := &snap.Members[i]
		if m.StatefulSet.Annotations[addAnnotation] != "" || !c.NodeHealth(m.NodeName).Healthy {
			continue
		}
		if best == nil || best.StatefulSet.CreationTimestamp.Before(&m.StatefulSet.CreationTimestamp) ||
			best.StatefulSet.CreationTimestamp.Equal(&m.StatefulSet.CreationTimestamp) && m.StatefulSet.Name > best.StatefulSet.Name {
			best = m
		}
	}
	if best == nil {
		return discovery.Member{}, cli.Refusedf("no healthy node to take as the template: give --like NODE")
	}
	return *best, nil
}

// ordinalSuffix splits "axonserver-12" into "axonserver-" and 12.
var ordinalSuffix = regexp.MustCompile(`^(.*-)(\d+)$`)

// nextName is PREFIX-N for the template's PREFIX and the lowest N above every one in
// use by a StatefulSet, an Axon Server node, or a PVC (kept by remove-node).
func nextName(ctx context.Context, sess *connect.Session, snap *snapshot.Snapshot, like string) (string, error) {
	mm := ordinalSuffix.FindStringSubmatch(like)
	if mm == nil {
		return "", cli.Usagef("the template %s is not named PREFIX-N: give the new node's NAME", like)
	}
	prefix := mm[1]
	var used []string
	for _, m := range snap.Members {
		used = append(used, m.StatefulSet.Name, m.NodeName)
	}
	if snap.Obs != nil {
		for _, n := range snap.Obs.Public {
			used = append(used, n.Name)
		}
	}
	if pvcs, err := sess.Kube.CoreV1().PersistentVolumeClaims(snap.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pvcs.Items {
			if i := strings.Index(p.Name, "-"+prefix); i >= 0 {
				used = append(used, strings.TrimSuffix(p.Name[i+1:], "-0"))
			}
		}
	}
	high := 0
	for _, u := range used {
		if rest, ok := strings.CutPrefix(u, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > high {
				high = n
			}
		}
	}
	return prefix + strconv.Itoa(high+1), nil
}

// objects derives the new node's StatefulSet, headless Service and own ConfigMaps
// from the template's (renameNode), the new StatefulSet recording st.
func (o *AddNodeOptions) objects(ctx context.Context, snap *snapshot.Snapshot, like discovery.Member, name string, st addState) (*appsv1.StatefulSet, *corev1.Service, []*corev1.ConfigMap, error) {
	kube := o.session.Kube
	var svc *corev1.Service
	if sn := like.StatefulSet.Spec.ServiceName; sn != "" {
		s, err := kube.CoreV1().Services(snap.Namespace).Get(ctx, sn, metav1.GetOptions{})
		if err == nil && ownService(s, like.StatefulSet) {
			svc = s
		}
	}
	var cms []*corev1.ConfigMap
	for _, ref := range configMapRefs(like.StatefulSet) {
		if !strings.Contains(ref, like.StatefulSet.Name) {
			continue // shared: the new node uses it as it is
		}
		cm, err := kube.CoreV1().ConfigMaps(snap.Namespace).Get(ctx, ref, metav1.GetOptions{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("ConfigMap %s of the template %s: %w", ref, like.NodeName, err)
		}
		cms = append(cms, cm)
	}
	return cloneNode(like.StatefulSet, svc, cms, like.StatefulSet.Name, name, o.Zone, mustJSON(st))
}

// taken lists the objects of the new node that exist already (a name in use).
func (o *AddNodeOptions) taken(ctx context.Context, ns string, sts *appsv1.StatefulSet, svc *corev1.Service, cms []*corev1.ConfigMap) []string {
	kube := o.session.Kube
	var out []string
	if svc != nil {
		if _, err := kube.CoreV1().Services(ns).Get(ctx, svc.Name, metav1.GetOptions{}); err == nil {
			out = append(out, "Service "+svc.Name+" exists already")
		}
	}
	for _, cm := range cms {
		if _, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
			out = append(out, "ConfigMap "+cm.Name+" exists already")
		}
	}
	for _, claim := range sts.Spec.VolumeClaimTemplates {
		pvc := fmt.Sprintf("%s-%s-0", claim.Name, sts.Name)
		if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, pvc, metav1.GetOptions{}); err == nil {
			out = append(out, "PVC "+pvc+" exists already (a removed node's volume?): delete it or choose another name")
		}
	}
	return out
}

// add creates the objects (each one that exists already carries this run's mark),
// waits for the pod to be Ready and the node registered, and gives it its groups.
func (o *AddNodeOptions) add(ctx context.Context, run *shapeRun, snap *snapshot.Snapshot, like discovery.Member, name string, st addState, want []membership.Membership) (*appsv1.StatefulSet, error) {
	kube := o.session.Kube
	ns := snap.Namespace
	sts, svc, cms, err := o.objects(ctx, snap, like, name, st)
	if err != nil {
		return nil, err
	}
	for _, cm := range cms {
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating ConfigMap %s: %w", cm.Name, err)
		}
	}
	if svc != nil {
		if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating Service %s: %w", svc.Name, err)
		}
	}
	created, err := kube.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		if created, err = kube.AppsV1().StatefulSets(ns).Get(ctx, sts.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("creating StatefulSet %s: %w", sts.Name, err)
	default:
		run.sink.Emit(progress.Event{Kind: "created", Node: name, Message: fmt.Sprintf("created StatefulSet %s (like %s)", name, like.StatefulSet.Name)})
	}
	run.started(created, fmt.Sprintf("adding node %s like %s (groups %s)", name, like.NodeName, membershipList(want)))
	pod := stepper.PodName(created)
	if err := waitPod(ctx, kube, ns, pod, o.NodeTimeout, func(p *corev1.Pod) bool { return p != nil && discovery.PodReady(p) }, func(p *corev1.Pod) {
		msg := "waiting for pod " + pod
		switch {
		case p != nil && discovery.PodReady(p):
			return // done: "pod-ready" says so
		case p != nil:
			msg += ": " + stepper.PodState(p)
		}
		run.sink.Emit(progress.Event{Kind: "waiting", Node: name, Transient: true, Message: msg})
	}); err != nil {
		return created, fmt.Errorf("waiting for pod %s of %s to be Ready: %w", pod, name, err)
	}
	run.sink.Emit(progress.Event{Kind: "pod-ready", Node: name, Message: "pod " + pod + " is Ready"})
	if err := run.env.Register(ctx, name); err != nil {
		return created, err
	}
	if err := run.env.Join(ctx, name, want); err != nil {
		return created, err
	}
	return created, run.rec.Annotate(ctx, created.Name, map[string]string{addAnnotation: ""})
}

// cloneNode derives a new node's objects from a template node's: every whole-word
// occurrence of from (not inside a longer name: axonserver-1 is not in
// axonserver-10) in names, labels, selectors, env values, volume and ConfigMap
// references is replaced by to; what the API server sets (uid, resourceVersion,
// status, ...) and kubectl axon's own annotations are dropped. A ConfigMap's data is
// kept as it is: it names other nodes (autocluster.first), never the template's own
// role. zone, when set, adds a required node affinity on that zone. mark is the
// add-node annotation the objects carry.
func cloneNode(sts *appsv1.StatefulSet, svc *corev1.Service, cms []*corev1.ConfigMap, from, to, zone, mark string) (*appsv1.StatefulSet, *corev1.Service, []*corev1.ConfigMap, error) {
	word := regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(from) + `($|[^A-Za-z0-9])`)
	var rename func(v any) any
	rename = func(v any) any {
		switch x := v.(type) {
		case string:
			// Twice: adjacent occurrences share a boundary character.
			return word.ReplaceAllString(word.ReplaceAllString(x, "${1}"+to+"${2}"), "${1}"+to+"${2}")
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[rename(k).(string)] = rename(e)
			}
			return out
		case []any:
			for i := range x {
				x[i] = rename(x[i])
			}
			return x
		}
		return v
	}
	convert := func(in, out any, keepData bool) error {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		data, binary := m["data"], m["binaryData"]
		delete(m, "status")
		meta, _ := m["metadata"].(map[string]any)
		for _, k := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences", "selfLink", "deletionTimestamp"} {
			delete(meta, k)
		}
		if ann, ok := meta["annotations"].(map[string]any); ok {
			for k := range ann {
				if strings.HasPrefix(k, record.Prefix) || k == "kubectl.kubernetes.io/last-applied-configuration" {
					delete(ann, k)
				}
			}
		}
		m = rename(m).(map[string]any)
		if keepData {
			m["data"], m["binaryData"] = data, binary
		}
		mm := m["metadata"].(map[string]any)
		ann, _ := mm["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann[addAnnotation] = mark
		mm["annotations"] = ann
		b, err = json.Marshal(m)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, out)
	}
	nsts := &appsv1.StatefulSet{}
	if err := convert(sts, nsts, false); err != nil {
		return nil, nil, nil, err
	}
	one := int32(1)
	nsts.Spec.Replicas = &one
	if nsts.Name != to {
		return nil, nil, nil, fmt.Errorf("the template's StatefulSet %s is not named after its node %s: cannot derive %s from it", sts.Name, from, to)
	}
	if zone != "" {
		requireZone(&nsts.Spec.Template.Spec, zone)
	}
	var nsvc *corev1.Service
	if svc != nil {
		nsvc = &corev1.Service{}
		if err := convert(svc, nsvc, false); err != nil {
			return nil, nil, nil, err
		}
		nsvc.Spec.ClusterIPs = nil
		nsvc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	var ncms []*corev1.ConfigMap
	for _, cm := range cms {
		n := &corev1.ConfigMap{}
		if err := convert(cm, n, true); err != nil {
			return nil, nil, nil, err
		}
		ncms = append(ncms, n)
	}
	sort.Slice(ncms, func(i, j int) bool { return ncms[i].Name < ncms[j].Name })
	return nsts, nsvc, ncms, nil
}

// requireZone makes the pod schedulable in zone only: the requirement is added to
// every required node-selector term (they are ORed), or is the one term.
func requireZone(spec *corev1.PodSpec, zone string) {
	req := corev1.NodeSelectorRequirement{Key: discovery.ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		terms = []corev1.NodeSelectorTerm{{}}
	}
	for i := range terms {
		terms[i].MatchExpressions = append(terms[i].MatchExpressions, req)
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = terms
}
