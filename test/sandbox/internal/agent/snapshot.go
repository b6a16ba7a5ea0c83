package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

// snapshots is the sandbox's snapshot controller, the part of a CSI driver and of
// the external-snapshotter that a local volume needs: a VolumeSnapshot of a Bound
// claim on one of the provisioner's PVs gets a VolumeSnapshotContent and a copy of
// the PV's directory at that moment (root/snapshots/<content>/), and is then
// readyToUse; a content whose snapshot is gone is deleted with its copy when its
// deletionPolicy says Delete. The provisioner fills a claim whose dataSource is a
// VolumeSnapshot from that copy (fill). Informers drive it: every change of a
// snapshot or a content, and their resync, queues it for sync.
type snapshots struct {
	dyn   dynamic.Interface
	cs    kubernetes.Interface
	root  string // the sandbox's DIR
	logf  func(string, ...any)
	now   func() time.Time
	queue workqueue.TypedRateLimitingInterface[string]
}

const (
	snapshotKind    = "VolumeSnapshot"
	contentPrefix   = "snapcontent-"
	snapshotAPI     = sandbox.SnapshotGroup + "/" + sandbox.SnapshotVersion
	snapshotsSubdir = "snapshots"
)

// startSnapshots starts the snapshot controller; it runs until ctx ends.
func (a *Agent) startSnapshots(ctx context.Context) *snapshots {
	cfg, err := clientcmd.BuildConfigFromFlags("", a.st.Path("pki", "agent.kubeconfig"))
	if err != nil {
		a.logf("snapshot controller: %v", err)
		return nil
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		a.logf("snapshot controller: %v", err)
		return nil
	}
	s := newSnapshots(dyn, a.cs, a.st.Dir, a.logf)
	s.run(ctx)
	return s
}

func newSnapshots(dyn dynamic.Interface, cs kubernetes.Interface, root string, logf func(string, ...any)) *snapshots {
	return &snapshots{dyn: dyn, cs: cs, root: root, logf: logf, now: time.Now,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
}

// run starts the informers and one worker.
func (s *snapshots) run(ctx context.Context) {
	f := dynamicinformer.NewDynamicSharedInformerFactory(s.dyn, resync)
	enqueue := func(prefix string) cache.ResourceEventHandlerFuncs {
		add := func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if u, ok := o.(*unstructured.Unstructured); ok {
				key := u.GetName()
				if u.GetNamespace() != "" {
					key = u.GetNamespace() + "/" + key
				}
				s.queue.Add(prefix + key)
				if prefix == "s:" {
					// the content of a deleted snapshot may have to go
					s.queue.Add("c:" + contentPrefix + string(u.GetUID()))
				}
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }, DeleteFunc: add}
	}
	_, _ = f.ForResource(sandbox.VolumeSnapshots).Informer().AddEventHandler(enqueue("s:"))
	_, _ = f.ForResource(sandbox.VolumeSnapshotContents).Informer().AddEventHandler(enqueue("c:"))
	f.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	go func() {
		for {
			key, quit := s.queue.Get()
			if quit {
				return
			}
			var err error
			if name, ok := strings.CutPrefix(key, "s:"); ok {
				ns, n, _ := strings.Cut(name, "/")
				err = s.syncSnapshot(ctx, ns, n)
			} else if name, ok := strings.CutPrefix(key, "c:"); ok {
				err = s.syncContent(ctx, name)
			}
			if err != nil && ctx.Err() == nil {
				if n := s.queue.NumRequeues(key); n == 0 || n%10 == 0 {
					s.logf("snapshot controller: %s: %v (attempt %d; retrying with backoff)", key, err, n+1)
				}
				s.queue.AddRateLimited(key)
			} else {
				s.queue.Forget(key)
			}
			s.queue.Done(key)
		}
	}()
}

// errSnapshot is a failure the snapshot's status.error reports (and that is retried).
type errSnapshot struct{ msg string }

func (e *errSnapshot) Error() string { return e.msg }

// syncSnapshot takes a snapshot that is not ready yet.
func (s *snapshots) syncSnapshot(ctx context.Context, ns, name string) error {
	vs, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if vs.GetDeletionTimestamp() != nil {
		return nil
	}
	if ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); ready {
		return nil
	}
	err = s.take(ctx, vs)
	var es *errSnapshot
	if errors.As(err, &es) {
		if uerr := s.setError(ctx, vs, es.msg); uerr != nil {
			return uerr
		}
	}
	return err
}

// take copies the claim's volume and records the content; a failure the
// snapshot's status must show is an *errSnapshot, worded as the external-snapshotter's
// common controller words it.
func (s *snapshots) take(ctx context.Context, vs *unstructured.Unstructured) error {
	ns, name := vs.GetNamespace(), vs.GetName()
	fail := func(format string, args ...any) error {
		return &errSnapshot{fmt.Sprintf("Failed to create snapshot content with error failed to get input parameters to create snapshot %s: %q", name, fmt.Sprintf(format, args...))}
	}
	claimName, _, _ := unstructured.NestedString(vs.Object, "spec", "source", "persistentVolumeClaimName")
	if claimName == "" {
		return &errSnapshot{"the sandbox's snapshot controller takes snapshots of claims only (spec.source.persistentVolumeClaimName); pre-provisioned contents are not supported"}
	}
	pvc, err := s.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		return fail("failed to retrieve PVC %s from the lister: %q", claimName, err.Error())
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return fail("the PVC %s is not yet bound to a PV, will not attempt to take a snapshot", pvc.Name)
	}
	pv, err := s.cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return fail("failed to retrieve PV %s from the API server: %q", pvc.Spec.VolumeName, err.Error())
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
		return fail("claim in dataSource not bound or invalid")
	}
	if pv.Annotations[annProvisionedBy] != sandbox.Provisioner || pv.Spec.Local == nil {
		return fail("volume %s is not created by the sandbox's provisioner %s", pv.Name, sandbox.Provisioner)
	}
	class, err := s.class(ctx, vs)
	if err != nil {
		return &errSnapshot{err.Error()}
	}
	policy, _, _ := unstructured.NestedString(class.Object, "deletionPolicy")

	content := contentPrefix + string(vs.GetUID())
	dir := filepath.Join(s.root, snapshotsSubdir, content)
	size := pv.Spec.Capacity.Storage().Value()
	created := s.now()
	existing, err := s.dyn.Resource(sandbox.VolumeSnapshotContents).Get(ctx, content, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if err := copySnapshot(pv.Spec.Local.Path, dir); err != nil {
			return fmt.Errorf("copying %s: %w", pv.Spec.Local.Path, err)
		}
		c := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": snapshotAPI, "kind": "VolumeSnapshotContent",
			"metadata": map[string]any{"name": content},
			"spec": map[string]any{
				"deletionPolicy":          policy,
				"driver":                  sandbox.Provisioner,
				"source":                  map[string]any{"volumeHandle": pv.Name},
				"sourceVolumeMode":        "Filesystem",
				"volumeSnapshotClassName": class.GetName(),
				"volumeSnapshotRef": map[string]any{
					"apiVersion": snapshotAPI, "kind": snapshotKind,
					"namespace": ns, "name": name, "uid": string(vs.GetUID()),
				},
			},
		}}
		if existing, err = s.dyn.Resource(sandbox.VolumeSnapshotContents).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			return err
		}
		existing.Object["status"] = map[string]any{
			"readyToUse": true, "restoreSize": size, "snapshotHandle": content, "creationTime": created.UnixNano(),
		}
		if existing, err = s.dyn.Resource(sandbox.VolumeSnapshotContents).UpdateStatus(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return err
		}
		s.logf("snapshot %s/%s of %s (%s): copied into %s", ns, name, claimName, pv.Name, dir)
	case err != nil:
		return err
	default:
		// taken before (the status update of the snapshot failed): report it
		if ns, ok, _ := unstructured.NestedInt64(existing.Object, "status", "creationTime"); ok {
			created = time.Unix(0, ns)
		}
	}
	vs.Object["status"] = map[string]any{
		"boundVolumeSnapshotContentName": content,
		"creationTime":                   created.UTC().Format(time.RFC3339),
		"readyToUse":                     true,
		"restoreSize":                    resource.NewQuantity(size, resource.BinarySI).String(),
	}
	_, err = s.dyn.Resource(sandbox.VolumeSnapshots).Namespace(ns).UpdateStatus(ctx, vs, metav1.UpdateOptions{})
	return err
}

// class is the snapshot's VolumeSnapshotClass: the one it names, else the
// default class of the provisioner's driver.
func (s *snapshots) class(ctx context.Context, vs *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	name, _, _ := unstructured.NestedString(vs.Object, "spec", "volumeSnapshotClassName")
	if name != "" {
		c, err := s.dyn.Resource(sandbox.VolumeSnapshotClasses).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("failed to get snapshot class with error %v", err)
		}
		if d, _, _ := unstructured.NestedString(c.Object, "driver"); d != sandbox.Provisioner {
			return nil, fmt.Errorf("VolumeSnapshotClass %s is of driver %q, not the sandbox's %s", name, d, sandbox.Provisioner)
		}
		return c, nil
	}
	list, err := s.dyn.Resource(sandbox.VolumeSnapshotClasses).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var found []*unstructured.Unstructured
	for i := range list.Items {
		c := &list.Items[i]
		if d, _, _ := unstructured.NestedString(c.Object, "driver"); d == sandbox.Provisioner && c.GetAnnotations()[sandbox.AnnDefaultSnapshotClass] == "true" {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("cannot find default snapshot class")
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d default snapshot classes exist for the storage class", len(found))
}

// setError records a failure in the snapshot's status (readyToUse false).
func (s *snapshots) setError(ctx context.Context, vs *unstructured.Unstructured, msg string) error {
	if old, _, _ := unstructured.NestedString(vs.Object, "status", "error", "message"); old == msg {
		return nil
	}
	st, _, _ := unstructured.NestedMap(vs.Object, "status")
	if st == nil {
		st = map[string]any{}
	}
	st["readyToUse"] = false
	st["error"] = map[string]any{"message": msg, "time": s.now().UTC().Format(time.RFC3339)}
	vs.Object["status"] = st
	_, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace(vs.GetNamespace()).UpdateStatus(ctx, vs, metav1.UpdateOptions{})
	return err
}

// syncContent deletes a content whose snapshot is gone, with its copy, when its
// deletionPolicy is Delete (Retain keeps both).
func (s *snapshots) syncContent(ctx context.Context, name string) error {
	c, err := s.dyn.Resource(sandbox.VolumeSnapshotContents).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if policy, _, _ := unstructured.NestedString(c.Object, "spec", "deletionPolicy"); policy != "Delete" {
		return nil
	}
	ref, _, _ := unstructured.NestedStringMap(c.Object, "spec", "volumeSnapshotRef")
	vs, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace(ref["namespace"]).Get(ctx, ref["name"], metav1.GetOptions{})
	switch {
	case err == nil && string(vs.GetUID()) == ref["uid"] && vs.GetDeletionTimestamp() == nil:
		return nil // still in use
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.root, snapshotsSubdir, name)); err != nil {
		return err
	}
	err = s.dyn.Resource(sandbox.VolumeSnapshotContents).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	s.logf("snapshot %s/%s deleted: content %s and its copy removed", ref["namespace"], ref["name"], name)
	return nil
}

// fill copies the data of the VolumeSnapshot a claim names as its dataSource
// into dir and returns the snapshot's name; "" when the claim has no such data source. An error leaves the
// claim unprovisioned: the provisioner tries again at its next sync.
func (s *snapshots) fill(ctx context.Context, pvc *corev1.PersistentVolumeClaim, dir string) (string, error) {
	ref := pvc.Spec.DataSourceRef
	if ref == nil && pvc.Spec.DataSource != nil {
		ref = &corev1.TypedObjectReference{APIGroup: pvc.Spec.DataSource.APIGroup, Kind: pvc.Spec.DataSource.Kind, Name: pvc.Spec.DataSource.Name}
	}
	if ref == nil || ref.Kind != snapshotKind || ref.APIGroup == nil || *ref.APIGroup != sandbox.SnapshotGroup {
		return "", nil
	}
	if s == nil {
		return ref.Name, errors.New("the snapshot controller is not running")
	}
	ns := pvc.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = *ref.Namespace
	}
	vs, err := s.dyn.Resource(sandbox.VolumeSnapshots).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return ref.Name, fmt.Errorf("data source VolumeSnapshot %s/%s: %w", ns, ref.Name, err)
	}
	ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse")
	content, _, _ := unstructured.NestedString(vs.Object, "status", "boundVolumeSnapshotContentName")
	if !ready || content == "" {
		return ref.Name, fmt.Errorf("data source VolumeSnapshot %s/%s is not ready to use", ns, ref.Name)
	}
	if sizeStr, _, _ := unstructured.NestedString(vs.Object, "status", "restoreSize"); sizeStr != "" {
		want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if q, err := resource.ParseQuantity(sizeStr); err == nil && want.Cmp(q) < 0 {
			return ref.Name, fmt.Errorf("requested volume size %s is less than the size %s for the source snapshot %s", want.String(), q.String(), ref.Name)
		}
	}
	return ref.Name, copySnapshot(filepath.Join(s.root, snapshotsSubdir, content), dir)
}

// copySnapshot copies the tree src into dst (created; files it has are replaced),
// leaving out the provisioner's .claim file. The copy goes into dst.tmp first and
// is renamed, so a dst that exists is whole.
func copySnapshot(src, dst string) error {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != src {
				return nil // a file removed while the tree was read (a segment closed and compacted)
			}
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == ".claim" {
			return nil
		}
		to := filepath.Join(tmp, rel)
		info, err := d.Info()
		if err != nil {
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			return copyFile(p, to, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		// a volume being filled: merge the copy into it
		if err := mergeInto(tmp, dst); err != nil {
			return err
		}
		return os.RemoveAll(tmp)
	}
	return os.Rename(tmp, dst)
}

func mergeInto(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		return os.Rename(p, to)
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
