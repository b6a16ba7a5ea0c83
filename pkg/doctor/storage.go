package doctor

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
)

// dataPath is one directory Axon Server keeps state in.
type dataPath struct {
	name   string   // events, data, log, plugins
	paths  []string // where images put it, newest first
	env    string   // environment variable that moves it
	sev    Severity // severity when it is not on a persistent volume
	why    string
	legacy bool // exists in the old /data, /eventdata images
}

var dataPaths = []dataPath{
	{name: "events", paths: []string{"/axonserver/events", "/eventdata"}, env: "AXONIQ_AXONSERVER_EVENT_STORAGE", sev: Error, legacy: true,
		why: "the event store is the system of record: a node that loses it must copy every event again from its group, and a group that loses a majority of them loses events"},
	{name: "data", paths: []string{"/axonserver/data", "/data"}, env: "AXONIQ_AXONSERVER_CONTROLDB_PATH", sev: Error, legacy: true,
		why: "the control DB holds the node's identity, contexts, replication groups and tokens: without it the node restarts as a stranger to its cluster"},
	{name: "log", paths: []string{"/axonserver/log"}, env: "AXONIQ_AXONSERVER_REPLICATION_LOG_STORAGE_FOLDER", sev: Error,
		why: "the replication log holds entries not yet applied: losing it loses the node's Raft state, and its groups must rebuild it"},
	{name: "plugins", paths: []string{"/axonserver/plugins"}, env: "AXONIQ_AXONSERVER_PLUGIN_PACKAGE_DIRECTORY", sev: Warning,
		why: "installed plugins and their configuration disappear with the pod"},
}

// volumeKind is what backs a mount.
type volumeKind int

const (
	volNone volumeKind = iota
	volClaimTemplate
	volClaim
	volEphemeral // emptyDir, generic ephemeral volume
	volHostPath
	volOther // configMap, secret, nfs, csi, ...
)

// mountFor returns the mount that holds dir in c (the deepest mount at or above it)
// and what backs it.
func mountFor(m discovery.Member, ct *corev1.Container, dir string) (*corev1.VolumeMount, volumeKind, string) {
	paths := make([]string, len(ct.VolumeMounts))
	for i, vm := range ct.VolumeMounts {
		paths[i] = vm.MountPath
	}
	i := nodeconfig.Holder(dir, paths)
	if i < 0 {
		return nil, volNone, ""
	}
	best := &ct.VolumeMounts[i]
	for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
		if t.Name == best.Name {
			return best, volClaimTemplate, ""
		}
	}
	for _, v := range m.StatefulSet.Spec.Template.Spec.Volumes {
		if v.Name != best.Name {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			return best, volClaim, v.PersistentVolumeClaim.ClaimName
		case v.EmptyDir != nil:
			return best, volEphemeral, "emptyDir"
		case v.Ephemeral != nil:
			return best, volEphemeral, "a generic ephemeral volume"
		case v.HostPath != nil:
			return best, volHostPath, v.HostPath.Path
		}
		return best, volOther, ""
	}
	return best, volNone, ""
}

// legacyLayout: the container mounts the old image's /data or /eventdata.
func legacyLayout(ct *corev1.Container) bool {
	for _, vm := range ct.VolumeMounts {
		if p := path.Clean(vm.MountPath); p == "/data" || p == "/eventdata" {
			return true
		}
	}
	return false
}

// dirOf is where the container keeps dp: the environment's override, else the first
// of the image's paths that is mounted, else the newest image's.
func dirOf(m discovery.Member, ct *corev1.Container, dp dataPath) string {
	for _, e := range ct.Env {
		if e.Name == dp.env && e.Value != "" && e.ValueFrom == nil && path.IsAbs(e.Value) {
			return path.Clean(e.Value)
		}
	}
	for _, p := range dp.paths {
		if vm, _, _ := mountFor(m, ct, p); vm != nil && vm.MountPath != "/" {
			return p
		}
	}
	if legacyLayout(ct) && len(dp.paths) > 1 {
		return dp.paths[len(dp.paths)-1]
	}
	return dp.paths[0]
}

// checkDataPaths: every data path on a persistent volume claim.
func checkDataPaths(c *ctx) []Finding {
	var out []Finding
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		legacy := legacyLayout(ct)
		obj := stsObject(m)
		recreate := fmt.Sprintf("add a volumeClaimTemplate for it (volumeClaimTemplates cannot be changed in place: `%s`, then apply the fixed manifest, e.g. from `kubectl axon generate --only %s`)",
			c.kubectl("delete", "statefulset", m.StatefulSet.Name, "--cascade=orphan"), m.StatefulSet.Name)
		for _, dp := range dataPaths {
			if legacy && !dp.legacy {
				continue
			}
			dir := dirOf(m, ct, dp)
			vm, kind, what := mountFor(m, ct, dir)
			switch kind {
			case volNone:
				if vm == nil {
					out = append(out, finding(dp.sev, "storage/unmounted", obj, dp.why, recreate,
						"%s (%s) is on no volume: it lives in the container and is lost with the pod", dp.name, dir))
				} else {
					out = append(out, finding(dp.sev, "storage/unmounted", obj, dp.why, recreate,
						"%s (%s) is mounted from volume %s, which the pod template does not define", dp.name, dir, vm.Name))
				}
			case volEphemeral:
				out = append(out, finding(dp.sev, "storage/ephemeral", obj, dp.why, recreate,
					"%s (%s) is on %s (volume %s): it is lost with the pod", dp.name, dir, what, vm.Name))
			case volHostPath:
				out = append(out, finding(Warning, "storage/hostpath", obj,
					"a hostPath ties the node's data to one worker, outside Kubernetes' volume management: a rescheduled pod starts empty",
					recreate, "%s (%s) is on hostPath %s", dp.name, dir, what))
			}
		}
	}
	return out
}

// classOf is the StorageClass a claim gets: its own, else the default ("" if none).
func (c *ctx) classOf(spec corev1.PersistentVolumeClaimSpec) string {
	if spec.StorageClassName != nil {
		return *spec.StorageClassName
	}
	for _, sc := range c.StorageClasses {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return sc.Name
		}
	}
	return ""
}

// usedClasses maps the StorageClass names the cluster's claim templates use to the
// StatefulSets using them.
func (c *ctx) usedClasses() (map[string][]string, []string) {
	used := map[string][]string{}
	var noClass []string
	for _, m := range c.Members {
		for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
			cl := c.classOf(t.Spec)
			if cl == "" {
				noClass = append(noClass, m.StatefulSet.Name)
				continue
			}
			if n := used[cl]; len(n) == 0 || n[len(n)-1] != m.StatefulSet.Name {
				used[cl] = append(used[cl], m.StatefulSet.Name)
			}
		}
	}
	return used, noClass
}

// checkStorageClasses: the classes used allow expansion and bind when the pod is
// scheduled.
func checkStorageClasses(c *ctx) []Finding {
	if c.StorageClasses == nil {
		return nil
	}
	byName := map[string]*storagev1.StorageClass{}
	for i := range c.StorageClasses {
		byName[c.StorageClasses[i].Name] = &c.StorageClasses[i]
	}
	used, noClass := c.usedClasses()
	var out []Finding
	if len(noClass) > 0 {
		out = append(out, finding(Warning, "storage/no-class", "statefulset/"+noClass[0],
			"without a StorageClass the claims wait for a matching PersistentVolume to appear, and nothing says what reclaim policy or expansion they get",
			"name a StorageClass in the volumeClaimTemplates (`kubectl axon generate --storage-class`), or mark one as the default",
			"volume claims without a StorageClass and no default class (%s)", strings.Join(uniq(noClass), ", ")))
	}
	zones, known := c.zones()
	for _, name := range sortedKeys(used) {
		sc := byName[name]
		if sc == nil {
			out = append(out, finding(Warning, "storage/class-missing", "storageclass/"+name,
				"claims of a StorageClass that does not exist stay Pending, so a replaced node never starts",
				"create the StorageClass, or use an existing one in the volumeClaimTemplates",
				"StorageClass %s, used by %s, does not exist", name, strings.Join(used[name], ", ")))
			continue
		}
		if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
			out = append(out, finding(Warning, "storage/expansion", "storageclass/"+name,
				"the event store only grows: without expansion a full volume means moving the node to a new, larger one",
				"use a StorageClass with allowVolumeExpansion: true (if the provisioner supports it: "+c.kubectl("patch", "storageclass", name, "-p", `'{"allowVolumeExpansion":true}'`)+")",
				"StorageClass does not allow volume expansion"))
		}
		if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode == storagev1.VolumeBindingImmediate {
			sev := Warning
			if known && len(zones) == 1 {
				sev = Info
			}
			out = append(out, finding(sev, "storage/binding-mode", "storageclass/"+name,
				"with Immediate binding the volume's zone is chosen before the pod is scheduled, which pins the pod to that zone whatever its spread rules say",
				"use a StorageClass with volumeBindingMode: WaitForFirstConsumer (the field cannot be changed in place)",
				"StorageClass binds volumes immediately"))
		}
	}
	return out
}

// eventClaims returns the names of the event store claims of the cluster, by member.
func eventClaims(m discovery.Member) []string {
	ct, _ := container(m)
	if ct == nil {
		return nil
	}
	vm, kind, claim := mountFor(m, ct, dirOf(m, ct, dataPaths[0]))
	switch kind {
	case volClaim:
		return []string{claim}
	case volClaimTemplate:
		var out []string
		for i := int32(0); i < max(replicas(m.StatefulSet), 1); i++ {
			out = append(out, fmt.Sprintf("%s-%s-%d", vm.Name, m.StatefulSet.Name, i))
		}
		return out
	}
	return nil
}

// checkReclaim: the event store's volumes are retained when their claim goes.
func checkReclaim(c *ctx) []Finding {
	pvcs := map[string]*corev1.PersistentVolumeClaim{}
	for i := range c.PVCs {
		pvcs[c.PVCs[i].Name] = &c.PVCs[i]
	}
	pvByClaim := map[string]*corev1.PersistentVolume{}
	for i := range c.PVs {
		pv := &c.PVs[i]
		if r := pv.Spec.ClaimRef; r != nil && (c.ns == "" || r.Namespace == c.ns) {
			pvByClaim[r.Name] = pv
		}
	}
	scs := map[string]*storagev1.StorageClass{}
	for i := range c.StorageClasses {
		scs[c.StorageClasses[i].Name] = &c.StorageClasses[i]
	}
	why := "with reclaim policy Delete, deleting the claim (by mistake, or to replace a node) deletes the event store for good"
	var out []Finding
	classClaims := map[string][]string{}
	for _, m := range c.Members {
		for _, claim := range eventClaims(m) {
			if pv := pvByClaim[claim]; pv != nil {
				if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
					out = append(out, finding(Warning, "storage/reclaim-policy", "persistentvolume/"+pv.Name, why,
						"kubectl patch persistentvolume "+pv.Name+` -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'`,
						"event store volume of %s (claim %s) has reclaim policy %s", m.StatefulSet.Name, claim, orDelete(string(pv.Spec.PersistentVolumeReclaimPolicy))))
				}
				continue
			}
			// No PersistentVolume seen: judge by the StorageClass new volumes get.
			cl := ""
			if p := pvcs[claim]; p != nil {
				cl = c.classOf(p.Spec)
			} else {
				for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
					if strings.HasPrefix(claim, t.Name+"-") {
						cl = c.classOf(t.Spec)
					}
				}
			}
			if sc := scs[cl]; sc != nil && (sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain) {
				classClaims[cl] = append(classClaims[cl], claim)
			}
		}
	}
	for _, cl := range sortedKeys(classClaims) {
		out = append(out, finding(Warning, "storage/reclaim-policy", "storageclass/"+cl, why,
			"use a StorageClass with reclaimPolicy: Retain for the events claims, or patch each new volume: kubectl patch persistentvolume PV -p '{\"spec\":{\"persistentVolumeReclaimPolicy\":\"Retain\"}}'",
			"event store claims %s get volumes with reclaim policy %s", strings.Join(classClaims[cl], ", "), orDelete(policyOf(scs[cl]))))
	}
	return out
}

func policyOf(sc *storagev1.StorageClass) string {
	if sc.ReclaimPolicy == nil {
		return ""
	}
	return string(*sc.ReclaimPolicy)
}

func orDelete(p string) string {
	if p == "" {
		return string(corev1.PersistentVolumeReclaimDelete)
	}
	return p
}

// checkAccessModes: ReadWriteOnce limits how backups can be made. One finding per
// cluster.
func checkAccessModes(c *ctx) []Finding {
	var rwo []string
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		vm, kind, _ := mountFor(m, ct, dirOf(m, ct, dataPaths[0]))
		if kind != volClaimTemplate {
			continue
		}
		for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
			if t.Name != vm.Name {
				continue
			}
			only := true
			for _, am := range t.Spec.AccessModes {
				if am == corev1.ReadWriteMany || am == corev1.ReadOnlyMany {
					only = false
				}
			}
			if only {
				rwo = append(rwo, m.StatefulSet.Name)
			}
		}
	}
	if len(rwo) == 0 {
		return nil
	}
	return []Finding{finding(Info, "storage/access-mode", "cluster/"+c.Cluster,
		"no second pod can mount a ReadWriteOnce volume to copy closed segments, so backups need volume snapshots or a backup node",
		"back up with your provider's volume snapshots, or add a PASSIVE_BACKUP node in another region",
		"event store volumes are ReadWriteOnce (%s)", strings.Join(rwo, ", "))}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
