package generate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func statefulSets(objs []runtime.Object) []*appsv1.StatefulSet {
	var out []*appsv1.StatefulSet
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok {
			out = append(out, s)
		}
	}
	return out
}

func kinds(objs []runtime.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, FileName(o))
	}
	return out
}

func TestManifestsLayout(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Nodes: 3, Name: "orders", StorageClass: "fast", EventsSize: "50Gi", Zones: []string{"z1", "z2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"role-kubectl-axon.yaml", "clusterrole-kubectl-axon.yaml", "role-kubectl-axon-backup.yaml", "role-kubectl-axon-restore.yaml",
		"configmap-orders-properties.yaml",
		"service-orders-http.yaml", "poddisruptionbudget-orders.yaml",
		"configmap-orders-1-autocluster.yaml", "service-orders-1.yaml", "statefulset-orders-1.yaml",
		"configmap-orders-2-autocluster.yaml", "service-orders-2.yaml", "statefulset-orders-2.yaml",
		"configmap-orders-3-autocluster.yaml", "service-orders-3.yaml", "statefulset-orders-3.yaml",
	}
	if got := kinds(objs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}
	for i, s := range statefulSets(objs) {
		name := []string{"orders-1", "orders-2", "orders-3"}[i]
		if s.Name != name || s.Spec.ServiceName != name || *s.Spec.Replicas != 1 || s.Namespace != "axon" {
			t.Errorf("%s: name/serviceName/replicas/namespace: %s %s %d %s", name, s.Name, s.Spec.ServiceName, *s.Spec.Replicas, s.Namespace)
		}
		for _, ls := range []map[string]string{s.Labels, s.Spec.Template.Labels, s.Spec.Selector.MatchLabels} {
			if ls["app"] != name || ls["cluster"] != "orders" {
				t.Errorf("%s: labels %v", name, ls)
			}
		}
		c := s.Spec.Template.Spec.Containers[0]
		if c.Env[0].Name != "AXONIQ_AXONSERVER_NAME" || c.Env[0].Value != name {
			t.Errorf("%s: env %v", name, c.Env[0])
		}
		for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p == nil || p.HTTPGet.Path != "/actuator/info" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
				t.Errorf("%s: probe %+v", name, p)
			}
		}
		if *s.Spec.Template.Spec.TerminationGracePeriodSeconds != 120 {
			t.Errorf("%s: grace", name)
		}
		if len(s.Spec.VolumeClaimTemplates) != 4 {
			t.Fatalf("%s: %d claim templates", name, len(s.Spec.VolumeClaimTemplates))
		}
		ev := s.Spec.VolumeClaimTemplates[0]
		if ev.Name != "events" || *ev.Spec.StorageClassName != "fast" || ev.Spec.Resources.Requests.Storage().String() != "50Gi" {
			t.Errorf("%s: events claim %+v", name, ev.Spec)
		}
		zone := s.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
		if want := []string{"z1", "z2", "z1"}[i]; zone != want {
			t.Errorf("%s: zone %s, want %s", name, zone, want)
		}
	}
	for _, o := range objs {
		switch v := o.(type) {
		case *policyv1.PodDisruptionBudget:
			if v.Spec.MaxUnavailable.IntValue() != 1 || v.Spec.Selector.MatchLabels["cluster"] != "orders" {
				t.Errorf("pdb: %+v", v.Spec)
			}
		case *corev1.ConfigMap:
			if v.Name != "orders-properties" {
				continue
			}
			p := v.Data[PropertiesKey]
			if strings.Contains(p, "autocluster.first=") {
				t.Errorf("autocluster.first in the shared properties: it must be per node:\n%s", p)
			}
			for _, want := range []string{
				"axoniq.axonserver.autocluster.contexts=_admin,default\n",
				"axoniq.axonserver.internal-domain=axon.svc.cluster.local\n",
				"axoniq.axonserver.accesscontrol.enabled=true\n",
			} {
				if !strings.Contains(p, want) {
					t.Errorf("properties lack %q:\n%s", want, p)
				}
			}
			if strings.Contains(p, "ssl") {
				t.Errorf("ssl properties without --tls")
			}
		case *rbacv1.Role:
			if v.Namespace != "axon" || (v.Name != "kubectl-axon" && v.Name != "kubectl-axon-backup" && v.Name != "kubectl-axon-restore") {
				t.Errorf("role %s/%s", v.Namespace, v.Name)
			}
		}
	}
}

func TestManifestsNoZonesSpreads(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon"})
	if err != nil {
		t.Fatal(err)
	}
	ss := statefulSets(objs)
	if len(ss) != 3 {
		t.Fatalf("default nodes: %d", len(ss))
	}
	spec := ss[0].Spec.Template.Spec
	if spec.Affinity.NodeAffinity != nil || len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].TopologyKey != ZoneLabel {
		t.Errorf("without zones: node affinity %v, spread %v", spec.Affinity.NodeAffinity, spec.TopologySpreadConstraints)
	}
	if c := spec.Containers[0]; c.Image != DefaultImage || ss[0].Spec.VolumeClaimTemplates[0].Spec.StorageClassName != nil {
		t.Errorf("defaults: image %s, class %v", c.Image, ss[0].Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
	}
}

func TestManifestsOnly(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Nodes: 4, Only: []string{"axonserver-4"}, Zones: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kinds(objs), " "); got != "configmap-axonserver-4-autocluster.yaml service-axonserver-4.yaml statefulset-axonserver-4.yaml" {
		t.Fatalf("--only axonserver-4: %s", got)
	}
	// Node 4 lands in the zone the full layout gives it.
	zone := statefulSets(objs)[0].Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
	if zone != "a" {
		t.Errorf("zone %s", zone)
	}
	// The same node is byte for byte what the full layout holds.
	all, _ := Manifests(Options{Namespace: "axon", Nodes: 4, Zones: []string{"a", "b", "c"}})
	a, _ := Marshal(all[len(all)-1])
	b, _ := Marshal(objs[2])
	if !bytes.Equal(a, b) {
		t.Errorf("--only differs from the full layout")
	}
	if _, err := Manifests(Options{Namespace: "axon", Nodes: 3, Only: []string{"axonserver-4"}}); err == nil {
		t.Errorf("--only beyond --nodes accepted")
	}
}

func TestManifestsTLS(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Nodes: 1, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	s := statefulSets(objs)[0]
	if p := s.Spec.Template.Spec.Containers[0].StartupProbe; p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("TLS probe scheme %s", p.HTTPGet.Scheme)
	}
	var tls bool
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Projected != nil && v.Projected.Sources[0].Secret.Name == "axonserver-1-tls" {
			tls = true
		}
	}
	if !tls {
		t.Errorf("no per-node TLS secret volume")
	}
	if sec := Secrets(Options{Namespace: "axon", Nodes: 1, TLS: true}); len(sec) != 4 || !strings.Contains(sec[3], "axonserver-1-tls") {
		t.Errorf("secrets: %v", sec)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want string // "" means valid
	}{
		{"defaults", Options{Namespace: "axon"}, ""},
		{"digest", Options{Namespace: "axon", Image: "reg.example.com:5000/axoniq/axonserver@sha256:abc"}, ""},
		{"tag and digest", Options{Namespace: "axon", Image: "axoniq/axonserver:2024.1.0@sha256:abc"}, ""},
		{"nodes", Options{Namespace: "axon", Nodes: -1}, "nodes: must be at least 1"},
		{"name", Options{Namespace: "axon", Name: "Axon_Server"}, `name: "Axon_Server"`},
		{"long name", Options{Namespace: "axon", Name: strings.Repeat("a", 51)}, "at most 52"},
		{"namespace", Options{}, "namespace: must be given"},
		{"latest", Options{Namespace: "axon", Image: "axoniq/axonserver:latest"}, "pin a version"},
		{"no tag", Options{Namespace: "axon", Image: "reg.example.com:5000/axoniq/axonserver"}, "has no tag"},
		{"size", Options{Namespace: "axon", EventsSize: "lots"}, `events-size: "lots"`},
		{"negative size", Options{Namespace: "axon", DataSize: "-1Gi"}, "must be positive"},
		{"class", Options{Namespace: "axon", StorageClass: "Fast SSD"}, "storage-class"},
		{"zone", Options{Namespace: "axon", Zones: []string{""}}, "empty zone"},
		{"only", Options{Namespace: "axon", Only: []string{"other-1"}}, "not one of the 3 nodes"},
		{"node prefix", Options{Namespace: "axon", NodePrefix: "Node"}, `node-prefix: "Node"`},
		{"long node prefix", Options{Namespace: "axon", NodePrefix: strings.Repeat("a", 51)}, "node-prefix"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Manifests(c.o)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one containing %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestRenderClean(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := Render(&a, objs); err != nil {
		t.Fatal(err)
	}
	objs2, _ := Manifests(Options{Namespace: "axon", Nodes: 2})
	_ = Render(&b, objs2)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("output is not stable")
	}
	out := a.String()
	for _, noise := range []string{"creationTimestamp", "status:", "resources: {}", "updateStrategy: {}"} {
		if strings.Contains(out, noise) {
			t.Errorf("output holds %q", noise)
		}
	}
	if n := strings.Count(out, "---\n"); n != len(objs) {
		t.Errorf("%d documents for %d objects", n, len(objs))
	}
}

func TestWriteDir(t *testing.T) {
	objs, _ := Manifests(Options{Namespace: "axon", Nodes: 1})
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := WriteDir(dir, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(objs) {
		t.Fatalf("%d files for %d objects", len(paths), len(objs))
	}
	b, err := os.ReadFile(filepath.Join(dir, "statefulset-axonserver-1.yaml"))
	if err != nil || !strings.HasPrefix(string(b), "apiVersion: apps/v1\nkind: StatefulSet\n") {
		t.Errorf("statefulset file: %v %q", err, b[:min(len(b), 60)])
	}
}

// TestRBACMatchesDocs: the embedded copy is docs/rbac.yaml (run `go generate
// ./pkg/generate` after changing it).
func TestRBACMatchesDocs(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "rbac.yaml"))
	if err != nil {
		t.Skipf("docs/rbac.yaml: %v", err)
	}
	if !bytes.Equal(docs, RBACYAML()) {
		t.Fatal("pkg/generate/rbac.yaml differs from docs/rbac.yaml: run `go generate ./pkg/generate`")
	}
	objs, err := RBAC("ns")
	if err != nil || len(objs) != 4 { // kubectl-axon's Role and ClusterRole, and the optional kubectl-axon-backup and kubectl-axon-restore Roles
		t.Fatalf("RBAC: %v, %d objects", err, len(objs))
	}
}

// autoclusterOf returns, per StatefulSet, the ConfigMap and key its
// AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST comes from, and the ConfigMaps' data.
func autoclusterOf(t *testing.T, objs []runtime.Object) (map[string]string, map[string]map[string]string) {
	t.Helper()
	first := map[string]string{}
	cms := map[string]map[string]string{}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.ConfigMap:
			cms[v.Name] = v.Data
		case *appsv1.StatefulSet:
			for _, e := range v.Spec.Template.Spec.Containers[0].Env {
				if e.Name == AutoclusterFirstEnv {
					if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Optional != nil {
						t.Fatalf("%s: %s is not a required ConfigMap key: %+v", v.Name, e.Name, e)
					}
					first[v.Name] = e.ValueFrom.ConfigMapKeyRef.Name + "/" + e.ValueFrom.ConfigMapKeyRef.Key
				}
			}
		}
	}
	out := map[string]string{}
	for sts, ref := range first {
		cm, key, _ := strings.Cut(ref, "/")
		v, ok := cms[cm][key]
		if !ok {
			t.Fatalf("%s: %s names ConfigMap %s key %s, which the manifests do not hold", sts, AutoclusterFirstEnv, cm, key)
		}
		out[sts] = v
	}
	return out, cms
}

// TestAutoclusterPerNode: autocluster.first is each node's own setting. On a new
// cluster node 1 founds it (names itself) and the others register with node 1;
// --formed leaves nobody naming itself, so that no rebuild on an empty volume can
// create a second cluster; a one-node cluster has nobody else to name.
func TestAutoclusterPerNode(t *testing.T) {
	host := func(n string) string { return n + ".axon.svc.cluster.local" }
	for _, c := range []struct {
		name string
		o    Options
		want map[string]string
	}{
		{"forming", Options{Namespace: "axon", Nodes: 3},
			map[string]string{"axonserver-1": host("axonserver-1"), "axonserver-2": host("axonserver-1"), "axonserver-3": host("axonserver-1")}},
		{"formed", Options{Namespace: "axon", Nodes: 3, Formed: true},
			map[string]string{"axonserver-1": host("axonserver-2"), "axonserver-2": host("axonserver-1"), "axonserver-3": host("axonserver-1")}},
		{"single", Options{Namespace: "axon", Nodes: 1, Formed: true}, map[string]string{"axonserver-1": host("axonserver-1")}},
		{"added node", Options{Namespace: "axon", Nodes: 4, Only: []string{"axonserver-4"}}, map[string]string{"axonserver-4": host("axonserver-1")}},
		{"prefix", Options{Namespace: "axon", Name: "orders", NodePrefix: "as", Nodes: 2, ClusterDomain: "k8s.example"},
			map[string]string{"as-1": "as-1.axon.svc.k8s.example", "as-2": "as-1.axon.svc.k8s.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Manifests(c.o)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := autoclusterOf(t, objs)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("autocluster.first per node:\n got %v\nwant %v", got, c.want)
			}
			self := 0
			for n, f := range got {
				if f == n+"."+c.o.WithDefaults().Domain() {
					self++
				}
			}
			if wantSelf := map[bool]int{true: 0, false: 1}[c.o.Formed && c.o.Nodes > 1]; len(c.o.Only) == 0 && self != wantSelf {
				t.Errorf("%d nodes name themselves, want %d", self, wantSelf)
			}
		})
	}
}

// TestNodePrefix: nodes named apart from the cluster; the shared objects keep
// the cluster's name.
func TestNodePrefix(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Name: "axon3", NodePrefix: "axonserver", Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(kinds(objs), " ")
	for _, want := range []string{"configmap-axon3-properties.yaml", "service-axon3-http.yaml", "poddisruptionbudget-axon3.yaml",
		"statefulset-axonserver-1.yaml", "service-axonserver-2.yaml", "configmap-axonserver-2-autocluster.yaml"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in %s", want, got)
		}
	}
	s := statefulSets(objs)[1]
	if s.Labels["cluster"] != "axon3" || s.Labels["app"] != "axonserver-2" || s.Spec.Template.Spec.Containers[0].Env[0].Value != "axonserver-2" {
		t.Errorf("labels %v env %v", s.Labels, s.Spec.Template.Spec.Containers[0].Env[0])
	}
}

func TestAfterFormation(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Namespace: "axon"}, `kubectl -n axon patch configmap axonserver-1-autocluster --type=merge -p '{"data":{"first":"axonserver-2.axon.svc.cluster.local"}}'`},
		{Options{Namespace: "axon", Formed: true}, ""},
		{Options{Namespace: "axon", Nodes: 1}, ""},
		{Options{Namespace: "axon", Nodes: 4, Only: []string{"axonserver-4"}}, ""},
	} {
		if got := AfterFormation(c.o); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

// TestDataPathsOnVolumes: every path where Axon Server keeps data (the event and snapshot
// stores, the replication log, the control DB and its backups) is on one of the node's
// volume claims, so it survives a restart and a backup that copies the volumes finds it.
// Axon Server's defaults (./data, ./log, ".") would be the container's own filesystem.
func TestDataPathsOnVolumes(t *testing.T) {
	objs, err := Manifests(Options{Namespace: "axon", Nodes: 3, Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	var props string
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok && cm.Name == "orders-properties" {
			props = cm.Data[PropertiesKey]
		}
	}
	sts := statefulSets(objs)[0]
	claims := map[string]bool{}
	for _, c := range sts.Spec.VolumeClaimTemplates {
		claims[c.Name] = true
	}
	onClaim := func(p string) bool {
		for _, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
			if claims[m.Name] && !m.ReadOnly && m.SubPath == "" && (p == m.MountPath || strings.HasPrefix(p, m.MountPath+"/")) {
				return true
			}
		}
		return false
	}
	for _, key := range []string{
		"axoniq.axonserver.event.storage", "axoniq.axonserver.snapshot.storage",
		"axoniq.axonserver.replication.log-storage-folder", "axoniq.axonserver.controldb-path",
		"axoniq.axonserver.controldb-backup-location",
	} {
		v := ""
		for _, l := range strings.Split(props, "\n") {
			if k, val, ok := strings.Cut(l, "="); ok && k == key {
				v = val
			}
		}
		switch {
		case v == "":
			t.Errorf("%s not set: Axon Server's default is not on a volume", key)
		case !onClaim(v):
			t.Errorf("%s=%s is not on a volume claim of the node", key, v)
		}
	}
	if !strings.Contains(props, "axoniq.axonserver.controldb-backup-location=/axonserver/data/backup\n") {
		t.Errorf("controldb-backup-location: want the data volume's backup directory:\n%s", props)
	}
}

// TestStopped: --stopped lays every StatefulSet out at replicas 0 (a cluster to
// restore into), and every layout puts recovery.json on the data volume.
func TestStopped(t *testing.T) {
	for _, stopped := range []bool{false, true} {
		objs, err := Manifests(Options{Namespace: "axon", Nodes: 3, Formed: true, Stopped: stopped})
		if err != nil {
			t.Fatal(err)
		}
		want := int32(1)
		if stopped {
			want = 0
		}
		n := 0
		for _, o := range objs {
			switch v := o.(type) {
			case *appsv1.StatefulSet:
				n++
				if *v.Spec.Replicas != want {
					t.Errorf("stopped %v: %s has replicas %d", stopped, v.Name, *v.Spec.Replicas)
				}
			case *corev1.ConfigMap:
				if p, ok := v.Data[PropertiesKey]; ok && !strings.Contains(p, "axoniq.axonserver.recoveryfile=/axonserver/data/recovery.json\n") {
					t.Errorf("no recovery file on the data volume:\n%s", p)
				}
			}
		}
		if n != 3 {
			t.Errorf("%d StatefulSets", n)
		}
	}
}
