package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

// The CSI snapshot API (kubernetes-csi/external-snapshotter), read and written
// unstructured: the few fields a backup needs do not justify its client module.
const snapshotGroupVersion = "snapshot.storage.k8s.io/v1"

var volumeSnapshots = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}

// backupDynamic is the dynamic client of a session (tests put a fake here).
var backupDynamic = func(s *connect.Session) (dynamic.Interface, error) {
	if s.RESTConfig == nil {
		return nil, errors.New("no REST configuration for the snapshot API")
	}
	return dynamic.NewForConfig(s.RESTConfig)
}

// access is what this backup needs beyond kubectl axon's own Role: exec and an
// ephemeral container (the Control DB zip, and the files with --method files);
// the VolumeSnapshots, and the StatefulSet with --stop-node.
func (o *BackupOptions) access() []authv1.ResourceAttributes {
	out := slices.Clone(backupAccess)
	if o.Method != backup.MethodVolumeSnapshot {
		return out
	}
	for _, verb := range []string{"create", "get", "list", "watch"} {
		out = append(out, authv1.ResourceAttributes{Group: volumeSnapshots.Group, Resource: volumeSnapshots.Resource, Verb: verb})
	}
	if o.StopNode {
		for _, verb := range []string{"get", "patch"} {
			out = append(out, authv1.ResourceAttributes{Group: "apps", Resource: "statefulsets", Verb: verb})
		}
	}
	return out
}

// accessName words a permission as kubectl auth can-i takes it: "create pods/exec",
// "watch volumesnapshots.snapshot.storage.k8s.io".
func accessName(a authv1.ResourceAttributes) string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	return a.Verb + " " + r
}

// snapshotAPIServed refuses (exit 3) when the cluster does not serve
// snapshot.storage.k8s.io/v1 volumesnapshots.
func snapshotAPIServed(kube kubernetes.Interface) error {
	list, err := kube.Discovery().ServerResourcesForGroupVersion(snapshotGroupVersion)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("discovery of %s: %w", snapshotGroupVersion, err)
	}
	if err == nil {
		for _, r := range list.APIResources {
			if r.Name == volumeSnapshots.Resource {
				return nil
			}
		}
	}
	return cli.Refusedf("--method volume-snapshot: the cluster does not serve %s VolumeSnapshots (install the CSI snapshot CRDs and snapshot controller), or use --method files", snapshotGroupVersion)
}

// planSnapshots adds --method volume-snapshot's part to the plan: the API is
// served, the source pod's claims, and with --stop-node that stopping the node
// now keeps every group's quorum (the cluster healthy apart from it).
func (o *BackupOptions) planSnapshots(snap *snapshot.Snapshot, p *backupPlan) error {
	if err := snapshotAPIServed(o.session.Kube); err != nil {
		return err
	}
	vols := map[string]string{}
	for _, v := range p.source.Pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			vols[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	p.Claims = backup.SnapshotClaims(vols)
	if len(p.Claims) == 0 {
		return cli.Refusedf("pod %s of node %s has no PersistentVolumeClaim to snapshot", p.source.Pod.Name, p.Source.Node)
	}
	p.StopNode, p.SnapshotClass = o.StopNode, o.SnapshotClass
	if o.StopNode {
		if p.source.StatefulSet == nil {
			return cli.Refusedf("--stop-node: node %s has no StatefulSet to scale", p.Source.Node)
		}
		if ok, why := stepper.SafeToStop(snap.Quorum(), p.Source.Node); !ok {
			hint := ""
			if o.Node == "" {
				hint = " (--node chooses another source)"
			}
			return cli.Refusedf("--stop-node: node %s cannot be stopped now: %s; nothing was changed%s", p.Source.Node, strings.Join(why, "; "), hint)
		}
	}
	return nil
}

func printSnapshotPlan(w io.Writer, p *backupPlan) {
	var claims []string
	for _, c := range p.Claims {
		claims = append(claims, c.Name)
	}
	class := p.SnapshotClass
	if class == "" {
		class = "the default class"
	}
	fmt.Fprintf(w, "  Control DB zip read in ephemeral container %s (image %s) of pod %s, over pods/exec\n", p.Container, p.Image, p.controlDB.Pod.Name)
	fmt.Fprintf(w, "  one VolumeSnapshot (%s) per PVC of pod %s: %s\n", class, p.source.Pod.Name, strings.Join(claims, ", "))
	if p.StopNode {
		fmt.Fprintf(w, "  node %s stopped for the snapshots (StatefulSet %s scaled to 0, then back to 1 and waited for until healthy)\n", p.Source.Node, p.source.StatefulSet.Name)
	}
}

// takeSnapshots is --method volume-snapshot after the Control DB: one VolumeSnapshot
// per claim of the source pod, waited for until ready, within the window after the
// export; with --stop-node while the node is stopped.
func (o *BackupOptions) takeSnapshots(ctx context.Context, snap *snapshot.Snapshot, p *backupPlan, m *backup.Manifest, sink progress.Sink,
	step func(string) *backup.Step, exported time.Time) error {
	dyn, err := backupDynamic(o.session)
	if err != nil {
		return err
	}
	m.BackupID = backup.BackupID(p.Cluster, m.Started)
	s := step("snapshots")
	wctx, cancel := context.WithDeadline(ctx, exported.Add(backup.Window))
	defer cancel()
	take := func(ctx context.Context) error {
		got, err := o.snapshotClaims(ctx, dyn, p, m.BackupID, sink)
		m.Snapshots = got
		return err
	}
	if o.StopNode {
		m.NodeStopped = true
		err = o.stopNode(ctx, wctx, snap, p, sink, take)
	} else {
		err = take(wctx)
	}
	s.Finished = time.Now().UTC()
	s.Files = len(m.Snapshots)
	if err != nil && wctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		m.Incomplete = fmt.Sprintf("the VolumeSnapshots were not ready within AxonIQ's %s window after the Control DB export", backup.Window)
		return cli.Timeoutf("%s", m.Incomplete)
	}
	if err != nil {
		return err
	}
	if d := s.Finished.Sub(exported); d > backup.Window {
		m.Incomplete = fmt.Sprintf("step snapshots ended %s after the Control DB export, past AxonIQ's %s window", d.Round(time.Second), backup.Window)
		return cli.Timeoutf("%s", m.Incomplete)
	}
	m.Complete = true
	m.Finished = time.Now().UTC()
	sink.Emit(progress.Event{Kind: "summary", Node: p.Source.Node, Data: m,
		Message: fmt.Sprintf("backup complete in %s: Control DB %s and %d VolumeSnapshots ready (%s=%s), in %s",
			m.Finished.Sub(m.Started).Round(100*time.Millisecond), m.ControlDB, len(m.Snapshots), backup.LabelBackup, m.BackupID, o.To)})
	return nil
}

// snapshotClaims creates the backup's VolumeSnapshots (one there already, from an
// interrupted attempt of the same backup, is taken as it is) and waits on a watch
// until every one is ready to use; a snapshot that reports an error fails the wait.
func (o *BackupOptions) snapshotClaims(ctx context.Context, dyn dynamic.Interface, p *backupPlan, id string, sink progress.Sink) ([]backup.VolumeSnapshot, error) {
	ri := dyn.Resource(volumeSnapshots).Namespace(p.Namespace)
	var want []string
	out := map[string]*backup.VolumeSnapshot{}
	for _, c := range p.Claims {
		name := backup.SnapshotName(id, c.Name)
		spec := map[string]any{"source": map[string]any{"persistentVolumeClaimName": c.Name}}
		if p.SnapshotClass != "" {
			spec["volumeSnapshotClassName"] = p.SnapshotClass
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": snapshotGroupVersion, "kind": "VolumeSnapshot",
			"metadata": map[string]any{"name": name, "namespace": p.Namespace, "labels": map[string]any{
				backup.LabelBackup: id, "cluster": p.Cluster, "app.kubernetes.io/managed-by": "kubectl-axon",
			}},
			"spec": spec,
		}}
		if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating VolumeSnapshot %s of %s: %w", name, c.Name, err)
		}
		want = append(want, name)
		out[name] = &backup.VolumeSnapshot{Name: name, Namespace: p.Namespace, Volume: c.Volume, Claim: c.Name}
		sink.Emit(progress.Event{Kind: "snapshot", Node: p.Source.Node, Message: fmt.Sprintf("VolumeSnapshot %s of %s (volume %s)", name, c.Name, c.Volume)})
	}
	states := map[string]backup.SnapshotState{}
	seen := map[string]bool{}
	judge := func() (bool, error) {
		done, waiting, failed := backup.SnapshotsDone(want, states, seen)
		if failed != "" {
			return false, errors.New(failed)
		}
		if !done {
			sink.Emit(progress.Event{Kind: "waiting", Transient: true, Node: p.Source.Node,
				Message: fmt.Sprintf("waiting for %d of %d VolumeSnapshots to be ready: %s", len(waiting), len(want), strings.Join(waiting, ", "))})
		}
		return done, nil
	}
	sel := backup.LabelBackup + "=" + id
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.LabelSelector = sel
			return ri.List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.LabelSelector = sel
			return ri.Watch(ctx, lo)
		},
	}
	// (a client that cannot stream the initial list, the fake one of the tests, says so)
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, dyn), &unstructured.Unstructured{}, func(store cache.Store) (bool, error) {
		for _, x := range store.List() {
			if u, ok := x.(*unstructured.Unstructured); ok {
				states[u.GetName()], seen[u.GetName()] = snapshotState(u), true
			}
		}
		return judge()
	}, func(e watch.Event) (bool, error) {
		u, ok := e.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		if e.Type == watch.Deleted {
			delete(states, u.GetName())
		} else {
			states[u.GetName()], seen[u.GetName()] = snapshotState(u), true
		}
		return judge()
	})
	var list []backup.VolumeSnapshot
	for _, n := range want {
		v := out[n]
		if st, ok := states[n]; ok {
			v.Content, v.RestoreSize, v.CreationTime = st.Content, st.RestoreSize, st.CreationTime
		}
		list = append(list, *v)
	}
	if err != nil {
		if ctx.Err() != nil {
			return list, ctx.Err()
		}
		return list, err
	}
	for _, v := range list {
		sink.Emit(progress.Event{Kind: "snapshot-ready", Node: p.Source.Node, Data: v,
			Message: fmt.Sprintf("VolumeSnapshot %s ready: %s of %s (content %s)", v.Name, v.RestoreSize, v.Claim, v.Content)})
	}
	return list, nil
}

// snapshotState reads a VolumeSnapshot's status.
func snapshotState(u *unstructured.Unstructured) backup.SnapshotState {
	var st backup.SnapshotState
	st.Ready, _, _ = unstructured.NestedBool(u.Object, "status", "readyToUse")
	st.Error, _, _ = unstructured.NestedString(u.Object, "status", "error", "message")
	st.Content, _, _ = unstructured.NestedString(u.Object, "status", "boundVolumeSnapshotContentName")
	st.Deleting = u.GetDeletionTimestamp() != nil
	if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "restoreSize"); found && v != nil {
		st.RestoreSize = fmt.Sprint(v)
	}
	if t, _, _ := unstructured.NestedString(u.Object, "status", "creationTime"); t != "" {
		st.CreationTime, _ = time.Parse(time.RFC3339, t)
	}
	return st
}

// stopNode runs during (the snapshots) while the source node is stopped, as one
// step of the stepper that upgrade and replace-node run on: under the cluster's
// operation Lease, its preflight (the cluster healthy apart from the node, CanStop),
// then the act: the StatefulSet scaled to 0, the pod gone, during, the StatefulSet
// scaled back to 1; then the stepper's wait until the pod is Ready and the node and
// every node healthy. The node is brought back even when during fails (its error is
// returned once the node is back). wctx bounds during (the window); ctx the rest.
func (o *BackupOptions) stopNode(ctx, wctx context.Context, snap *snapshot.Snapshot, p *backupPlan, sink progress.Sink, during func(context.Context) error) error {
	kube := o.session.Kube
	holder := lock.Identity("backup --stop-node")
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	lk, err := lock.Acquire(ctx, kube, lock.Options{Namespace: snap.Namespace, Cluster: snap.Cluster, Holder: holder,
		OnLost: func(err error) {
			sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: "lost the operation Lease: " + err.Error()})
			stop()
		}})
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lk.Release(rctx); err != nil {
			sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: err.Error()})
		}
	}()
	rf := DefaultRollingFlags()
	ns, pod := snap.Namespace, stepper.PodName(p.source.StatefulSet)
	scale := func(ctx context.Context, sts string, n int) error {
		patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
		if _, err := kube.AppsV1().StatefulSets(ns).Patch(ctx, sts, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("scaling StatefulSet %s to %d: %w", sts, n, err)
		}
		sink.Emit(progress.Event{Kind: "scaled", Node: p.Source.Node, Message: fmt.Sprintf("StatefulSet %s scaled to %d", sts, n)})
		return nil
	}
	var duringErr error
	r := &stepper.Runner{Kube: kube, Namespace: ns, Observe: rf.observer(o.session), Last: snap,
		Recorder: newRecorder(o.session, ns, sink), Progress: sink,
		Op:            record.Op{Operation: "backup", Detail: "--stop-node", Holder: holder},
		SafetyTimeout: time.Minute, NodeTimeout: rf.NodeTimeout, Poll: rf.Poll,
		Act: func(actx context.Context, m discovery.Member) (bool, error) {
			if err := scale(actx, m.StatefulSet.Name, 0); err != nil {
				return false, err
			}
			// From here on the node comes back whatever happens, Ctrl-C included.
			defer func() {
				bctx, cancel := context.WithTimeout(context.WithoutCancel(actx), time.Minute)
				defer cancel()
				if err := scale(bctx, m.StatefulSet.Name, 1); err != nil {
					sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Node: m.NodeName,
						Message: fmt.Sprintf("%v: run kubectl scale statefulset %s --replicas=1 -n %s", err, m.StatefulSet.Name, ns)})
				}
			}()
			err := waitPod(actx, kube, ns, pod, rf.NodeTimeout, func(p *corev1.Pod) bool { return p == nil }, func(p *corev1.Pod) {
				if p != nil {
					sink.Emit(progress.Event{Kind: "waiting", Node: m.NodeName, Transient: true, Message: "waiting for pod " + pod + " to be gone: " + stepper.PodState(p)})
				}
			})
			if err != nil {
				duringErr = fmt.Errorf("waiting for pod %s of %s to be gone: %w", pod, m.NodeName, err)
				return true, nil
			}
			sink.Emit(progress.Event{Kind: "node-stopped", Node: m.NodeName, Message: fmt.Sprintf("node %s stopped: taking the snapshots", m.NodeName)})
			dctx, cancel := context.WithCancel(wctx)
			defer cancel()
			context.AfterFunc(actx, cancel)
			duringErr = during(dctx)
			return true, nil
		},
	}
	plan := stepper.NewPlan(stepper.Input{Cluster: snap.Quorum(), Targets: []string{p.Source.Node}})
	_, err = r.Run(ctx, plan)
	if duringErr != nil {
		if err != nil {
			return fmt.Errorf("%w (and the node did not come back: %v)", duringErr, err)
		}
		return duringErr
	}
	return err
}

// verifySnapshots asks the cluster about a volume-snapshot backup's snapshots.
func verifySnapshots(ctx context.Context, open connect.Opener, flags *connect.Flags, m *backup.Manifest) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	sess, err := open(flags)
	if err != nil {
		return []string{fmt.Sprintf("the VolumeSnapshots cannot be checked: %v", err)}
	}
	dyn, err := backupDynamic(sess)
	if err != nil {
		return []string{fmt.Sprintf("the VolumeSnapshots cannot be checked: %v", err)}
	}
	live := map[string]backup.SnapshotState{}
	list, err := dyn.Resource(volumeSnapshots).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: backup.LabelBackup + "=" + m.BackupID})
	if err != nil {
		return []string{fmt.Sprintf("the VolumeSnapshots of %s=%s in namespace %s cannot be listed: %v", backup.LabelBackup, m.BackupID, m.Namespace, err)}
	}
	for i := range list.Items {
		live[list.Items[i].GetName()] = snapshotState(&list.Items[i])
	}
	return backup.VerifySnapshots(m, live)
}
