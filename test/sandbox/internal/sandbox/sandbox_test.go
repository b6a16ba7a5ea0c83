package sandbox

import (
	"net"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
)

func TestAddressingUniqueAndReserved(t *testing.T) {
	_, bench, _ := net.ParseCIDR("198.18.0.0/15")
	seen := map[string]int{}
	for i := 0; i < MaxIndex; i++ {
		h, n, pods, svcs := addressing(i)
		for _, a := range []string{h, n} {
			if !bench.Contains(net.ParseIP(a)) {
				t.Fatalf("index %d: %s outside 198.18.0.0/15", i, a)
			}
			if j, dup := seen[a]; dup {
				t.Fatalf("index %d and %d share %s", i, j, a)
			}
			seen[a] = i
		}
		for _, c := range []string{pods, svcs} {
			ip, _, err := net.ParseCIDR(c)
			if err != nil || !bench.Contains(ip) {
				t.Fatalf("index %d: bad range %s", i, c)
			}
		}
		// host and namespace ends share their /30 and nobody else's
		_, p30, _ := net.ParseCIDR(n + "/30")
		if !p30.Contains(net.ParseIP(h)) {
			t.Fatalf("index %d: %s and %s not in one /30", i, h, n)
		}
	}
}

// TestManifestsAreGenerates: the sandbox deploys kubectl axon generate's objects
// for the topology, changed only where manifests.go says.
func TestManifestsAreGenerates(t *testing.T) {
	topo := &axonsim.Topology{Name: "axon3", Namespace: "axon", Image: "axoniq/axonserver:2024.1.0-nonroot",
		Nodes:       []axonsim.NodeSpec{{Name: "axonserver-1", Worker: "w1"}, {Name: "axonserver-2", Worker: "w2"}, {Name: "axonserver-3"}},
		Autocluster: &axonsim.Autocluster{First: "axonserver-1", Contexts: []string{"_admin", "default"}}}
	objs, err := Manifests(topo)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := GenerateOptions(topo)
	want, err := generate.Manifests(o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, obj := range objs {
		names = append(names, generate.FileName(obj))
	}
	if got := strings.Join(names, " "); got != "configmap-axon3-properties.yaml service-axon3-http.yaml poddisruptionbudget-axon3.yaml "+
		"configmap-axonserver-1-autocluster.yaml service-axonserver-1.yaml statefulset-axonserver-1.yaml "+
		"configmap-axonserver-2-autocluster.yaml service-axonserver-2.yaml statefulset-axonserver-2.yaml "+
		"configmap-axonserver-3-autocluster.yaml service-axonserver-3.yaml statefulset-axonserver-3.yaml" {
		t.Fatalf("objects: %s", got)
	}
	byName := map[string]runtime.Object{}
	for _, obj := range want {
		byName[generate.FileName(obj)] = obj
	}
	for _, obj := range objs {
		g := byName[generate.FileName(obj)].DeepCopyObject()
		sts, ok := obj.(*appsv1.StatefulSet)
		if !ok {
			if !equality.Semantic.DeepEqual(obj, g) {
				t.Errorf("%s differs from generate's", generate.FileName(obj))
			}
			continue
		}
		// Only the placement differs: the topology's worker preferred.
		gs := g.(*appsv1.StatefulSet)
		got, wantSpec := &sts.Spec.Template.Spec, gs.Spec.Template.Spec
		worker := map[string]string{"axonserver-1": "w1", "axonserver-2": "w2"}[sts.Name]
		if worker != "" {
			pref := got.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
			if len(pref) != 1 || pref[0].Preference.MatchExpressions[0].Values[0] != worker || got.Affinity.PodAntiAffinity != nil || got.TopologySpreadConstraints != nil {
				t.Errorf("%s: placement %+v, spread %v", sts.Name, got.Affinity, got.TopologySpreadConstraints)
			}
			got.Affinity, got.TopologySpreadConstraints = wantSpec.Affinity, wantSpec.TopologySpreadConstraints
		}
		if !equality.Semantic.DeepEqual(sts, gs) {
			t.Errorf("%s differs from generate's beyond placement", sts.Name)
		}
		if c := got.Containers[0]; *got.TerminationGracePeriodSeconds != 120 || c.StartupProbe.HTTPGet.Path != "/actuator/info" ||
			*sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != StorageClassName {
			t.Errorf("%s: not generate's layout", sts.Name)
		}
	}
	sec := secrets(topo, o)
	if sec[0].Name != "axon3-token" || sec[0].StringData["token"] != NoAccessToken || sec[0].StringData["internal-token"] == "" || sec[1].Name != "axon3-license" {
		t.Errorf("secrets: %+v", sec)
	}
}

func TestManifestsRefuseOtherLayouts(t *testing.T) {
	for _, c := range []struct {
		name string
		topo axonsim.Topology
		want string
	}{
		{"names", axonsim.Topology{Name: "a", Namespace: "n", Image: "x:1", Nodes: []axonsim.NodeSpec{{Name: "alpha"}}}, "PREFIX-1"},
		{"order", axonsim.Topology{Name: "a", Namespace: "n", Image: "x:1", Nodes: []axonsim.NodeSpec{{Name: "as-1"}, {Name: "as-3"}}}, "node 2 must be as-2"},
		{"first", axonsim.Topology{Name: "a", Namespace: "n", Image: "x:1", Nodes: []axonsim.NodeSpec{{Name: "as-1"}, {Name: "as-2"}},
			Autocluster: &axonsim.Autocluster{First: "as-2"}}, "founds the cluster"},
		{"image", axonsim.Topology{Name: "a", Namespace: "n", Image: "x:latest", Nodes: []axonsim.NodeSpec{{Name: "as-1"}}}, "pin a version"},
	} {
		if _, err := Manifests(&c.topo); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestKubeconfigParses(t *testing.T) {
	b := kubeconfig("https://198.18.0.2:6443", []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), "axon-operator", "tok", "axon")
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || ctx.Namespace != "axon" || cfg.AuthInfos[ctx.AuthInfo].Token != "tok" || cfg.Clusters[ctx.Cluster].Server != "https://198.18.0.2:6443" {
		t.Errorf("kubeconfig: %+v", cfg)
	}
}
