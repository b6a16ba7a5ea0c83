package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// provisioner is an external provisioner for the sandbox's StorageClass
// (WaitForFirstConsumer): when the scheduler has picked a node for a PVC's
// first pod (annotation volume.kubernetes.io/selected-node) it creates a local
// PV in that node's zone, pre-bound to the claim; the PV controller binds
// them. A Released PV is deleted together with its directory.
type provisioner struct {
	a    *Agent
	mu   sync.Mutex
	busy map[string]bool
}

const (
	annSelectedNode  = "volume.kubernetes.io/selected-node"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	zoneLabel        = "topology.kubernetes.io/zone"
)

func (p *provisioner) claim(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy == nil {
		p.busy = map[string]bool{}
	}
	if p.busy[key] {
		return false
	}
	p.busy[key] = true
	return true
}

func (p *provisioner) done(key string) {
	p.mu.Lock()
	delete(p.busy, key)
	p.mu.Unlock()
}

func (p *provisioner) pvcChanged(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != sandbox.StorageClassName {
		return
	}
	nodeName := pvc.Annotations[annSelectedNode]
	w, ours := p.a.workers[nodeName]
	if !ours {
		return
	}
	pvName := "pvc-" + string(pvc.UID)
	if !p.claim(pvName) {
		return
	}
	go func() {
		defer p.done(pvName)
		if _, err := p.a.pvs.Get(pvName); err == nil {
			return
		}
		dir := p.a.st.Path("volumes", pvName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
			return
		}
		_ = os.WriteFile(filepath.Join(dir, ".claim"), []byte(pvc.Namespace+"/"+pvc.Name+"\n"), 0o644)
		// A claim restored from a VolumeSnapshot gets the snapshot's copy first.
		if from, err := p.a.snaps.fill(ctx, pvc, dir); err != nil {
			p.a.logf("provision %s/%s: %v (retried at the next sync)", pvc.Namespace, pvc.Name, err)
			return
		} else if from != "" {
			p.a.logf("filled %s for %s/%s from its data source, VolumeSnapshot %s", pvName, pvc.Namespace, pvc.Name, from)
		}
		// The volume lives in the zone (all workers of a zone reach it), or on
		// the worker itself when the topology has no zones.
		key, val := zoneLabel, w.Zone
		if val == "" {
			key, val = "kubernetes.io/hostname", w.Name
		}
		mode := corev1.PersistentVolumeFilesystem
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{
				Name:        pvName,
				Labels:      map[string]string{},
				Annotations: map[string]string{annProvisionedBy: sandbox.Provisioner},
			},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   pvc.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				StorageClassName:              sandbox.StorageClassName,
				VolumeMode:                    &mode,
				ClaimRef: &corev1.ObjectReference{
					Kind: "PersistentVolumeClaim", APIVersion: "v1",
					Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
				},
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
						Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{val},
					}}}},
				}},
			},
		}
		if w.Zone != "" {
			pv.Labels[zoneLabel] = w.Zone
		}
		err := p.a.persist(ctx, fmt.Sprintf("provision %s/%s", pvc.Namespace, pvc.Name), func(ctx context.Context) error {
			_, err := p.a.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return // the agent is stopping
		}
		p.a.logf("provisioned %s for %s/%s in %s=%s", pvName, pvc.Namespace, pvc.Name, key, val)
	}()
}

func (p *provisioner) pvChanged(ctx context.Context, o any) {
	pv, ok := o.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[annProvisionedBy] != sandbox.Provisioner || pv.DeletionTimestamp != nil {
		return
	}
	if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return
	}
	if !p.claim("delete/" + pv.Name) {
		return
	}
	go func() {
		defer p.done("delete/" + pv.Name)
		if pv.Spec.Local != nil && filepath.Dir(pv.Spec.Local.Path) == p.a.st.Path("volumes") {
			if err := os.RemoveAll(pv.Spec.Local.Path); err != nil {
				p.a.logf("delete %s: %v", pv.Name, err)
				return
			}
		}
		err := p.a.persist(ctx, "delete "+pv.Name, func(ctx context.Context) error {
			err := p.a.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return
		}
		p.a.logf("deleted %s (claim %s/%s released) and its data", pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
	}()
}
