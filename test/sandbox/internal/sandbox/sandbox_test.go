package sandbox

import (
	"net"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
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

func TestStatefulSetLayout(t *testing.T) {
	topo := &axonsim.Topology{Name: "axonserver", Namespace: "axon", Image: "axoniq/axonserver:2024.1.0-nonroot"}
	sts := statefulSet(topo, axonsim.NodeSpec{Name: "axonserver-2", Worker: "w1"})
	if sts.Spec.ServiceName != "axonserver-2" || *sts.Spec.Replicas != 1 {
		t.Errorf("serviceName %q replicas %d", sts.Spec.ServiceName, *sts.Spec.Replicas)
	}
	l := sts.Spec.Template.Labels
	if l["app"] != "axonserver-2" || l["cluster"] != "axonserver" {
		t.Errorf("labels %v", l)
	}
	pod := sts.Spec.Template.Spec
	if *pod.TerminationGracePeriodSeconds != 120 || *pod.SecurityContext.RunAsUser != 1001 {
		t.Errorf("grace %d runAsUser %d", *pod.TerminationGracePeriodSeconds, *pod.SecurityContext.RunAsUser)
	}
	c := pod.Containers[0]
	if c.Env[0].Name != "AXONIQ_AXONSERVER_NAME" || c.Env[0].Value != "axonserver-2" {
		t.Errorf("env %v", c.Env)
	}
	check := func(name string, initial, period, failures int32, got int32, gotP int32, gotF int32, path string, port int) {
		if got != initial || gotP != period || gotF != failures || path != "/actuator/info" || port != 8024 {
			t.Errorf("%s probe: %d/%d/%d %s:%d", name, got, gotP, gotF, path, port)
		}
	}
	sp, rp, lp := c.StartupProbe, c.ReadinessProbe, c.LivenessProbe
	check("startup", 0, 5, 120, sp.InitialDelaySeconds, sp.PeriodSeconds, sp.FailureThreshold, sp.HTTPGet.Path, sp.HTTPGet.Port.IntValue())
	check("readiness", 5, 5, 30, rp.InitialDelaySeconds, rp.PeriodSeconds, rp.FailureThreshold, rp.HTTPGet.Path, rp.HTTPGet.Port.IntValue())
	check("liveness", 5, 10, 3, lp.InitialDelaySeconds, lp.PeriodSeconds, lp.FailureThreshold, lp.HTTPGet.Path, lp.HTTPGet.Port.IntValue())
	var claims []string
	for _, v := range sts.Spec.VolumeClaimTemplates {
		claims = append(claims, v.Name)
	}
	if len(claims) != 4 || claims[0] != "data" || claims[1] != "events" || claims[2] != "log" || claims[3] != "plugins" {
		t.Errorf("claims %v", claims)
	}
	if pdb(topo).Spec.MaxUnavailable.IntValue() != 1 || pdb(topo).Spec.Selector.MatchLabels["cluster"] != "axonserver" {
		t.Errorf("pdb %+v", pdb(topo).Spec)
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
