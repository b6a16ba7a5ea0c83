package doctor_test

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

func ptr[T any](v T) *T { return &v }

// FromObjects turns generated manifests into what a gatherer would find once they
// run: each StatefulSet with a pod on worker w<i> in zones[i-1 % len], bound claims
// on volumes of the given StorageClass, and Axon Server answering with access
// control on and one _admin group of every node as PRIMARY.
func fromObjects(t testing.TB, objs []any, sc *storagev1.StorageClass, zones []string) doctor.Input {
	t.Helper()
	in := doctor.Input{Namespace: "axon", Cluster: "axonserver", PVCs: []corev1.PersistentVolumeClaim{}, PVs: []corev1.PersistentVolume{},
		StorageClasses: []storagev1.StorageClass{*sc}, PDBs: []policyv1.PodDisruptionBudget{}, Services: []corev1.Service{},
		ConfigMaps: []corev1.ConfigMap{},
		Token:      doctor.Token{Source: doctor.TokenSecret, SecretName: "axonserver-token", SecretKey: "token", SecretFound: true, KeyFound: true}}
	admin := quorum.Group{Name: "_admin"}
	i := 0
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.StatefulSet:
			i++
			sts := v.DeepCopy()
			sts.UID = types.UID("uid-" + sts.Name)
			in.Cluster = sts.Labels["cluster"]
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sts.Name + "-0", Namespace: sts.Namespace, Labels: sts.Spec.Template.Labels},
				Spec: sts.Spec.Template.Spec}
			pod.Spec.NodeName = fmt.Sprintf("w%d", i)
			zone := zones[(i-1)%len(zones)]
			in.Members = append(in.Members, discovery.Member{Cluster: in.Cluster, Namespace: sts.Namespace, StatefulSet: sts, Pod: pod,
				NodeName: sts.Name, Container: "axonserver", Image: sts.Spec.Template.Spec.Containers[0].Image, Worker: pod.Spec.NodeName, Zone: zone})
			for _, tpl := range sts.Spec.VolumeClaimTemplates {
				claim := tpl.Name + "-" + pod.Name
				pvc := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: sts.Namespace}, Spec: tpl.Spec}
				pvc.Spec.VolumeName = "pv-" + claim
				in.PVCs = append(in.PVCs, pvc)
				in.PVs = append(in.PVs, corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim},
					Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: sts.Namespace, Name: claim},
						PersistentVolumeReclaimPolicy: *sc.ReclaimPolicy, StorageClassName: sc.Name}})
			}
			admin.Members = append(admin.Members, quorum.Member{Node: sts.Name, Role: quorum.Primary, Up: true, CaughtUp: true})
		case *corev1.Service:
			in.Services = append(in.Services, *v)
		case *policyv1.PodDisruptionBudget:
			in.PDBs = append(in.PDBs, *v)
		case *corev1.ConfigMap:
			in.ConfigMaps = append(in.ConfigMaps, *v)
		}
	}
	in.Axon = &doctor.AxonFacts{Authentication: ptr(true), Groups: []quorum.Group{admin}}
	return in
}

func goodClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "example.com/disk",
		ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimRetain), AllowVolumeExpansion: ptr(true),
		VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer)}
}

// generated is a 3-node cluster from `kubectl axon generate`, running in three zones.
func generated(t testing.TB, o generate.Options) doctor.Input {
	t.Helper()
	if o.Namespace == "" {
		o.Namespace = "axon"
	}
	if o.StorageClass == "" {
		o.StorageClass = "fast"
	}
	objs, err := generate.Manifests(o)
	if err != nil {
		t.Fatal(err)
	}
	var anys []any
	for _, x := range objs {
		anys = append(anys, x)
	}
	return fromObjects(t, anys, goodClass(), []string{"zone-a", "zone-b", "zone-c"})
}

func find(fs []doctor.Finding, check string) []doctor.Finding {
	var out []doctor.Finding
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func dump(fs []doctor.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", f.Severity, f.Check, f.Object, f.Problem)
	}
	return b.String()
}

// TestGeneratedIsClean is the round trip: generate, then doctor, finds no error and
// no warning, for every shape of generate's options, once the cluster has formed
// (Formed); before that, the founder's autocluster/self-first is the one warning.
func TestGeneratedIsClean(t *testing.T) {
	for _, o := range []generate.Options{
		{Nodes: 3},
		{Nodes: 3, Zones: []string{"zone-a", "zone-b", "zone-c"}},
		{Nodes: 5, TLS: true, Name: "orders"},
		{Nodes: 1},
	} {
		t.Run(fmt.Sprintf("%d nodes tls=%v zones=%v", o.Nodes, o.TLS, o.Zones), func(t *testing.T) {
			for _, formed := range []bool{true, false} {
				o.Formed = formed
				fs := doctor.Run(generated(t, o))
				for _, f := range fs {
					founder := !formed && f.Check == "autocluster/self-first" && f.Object == "statefulset/"+o.WithDefaults().NodeName(1)
					// One node is in one zone with no backup node: a warning, not an error.
					if f.Severity == doctor.Error || (f.Severity == doctor.Warning && o.Nodes > 1 && !founder) {
						t.Errorf("generated layout (formed=%v): %s %s %s: %s", formed, f.Severity, f.Check, f.Object, f.Problem)
					}
				}
				if n := len(find(fs, "autocluster/self-first")); !formed && o.Nodes > 1 && n != 1 {
					t.Errorf("founder layout: %d autocluster/self-first findings, want 1:\n%s", n, dump(fs))
				}
			}
		})
	}
}

// TestAutocluster: a node of a multi-node cluster that names itself as
// autocluster.first, wherever the setting comes from, is a warning (an error when
// its control DB is not on a claim), with a fix that names another member where the
// setting lives.
func TestAutocluster(t *testing.T) {
	const s1 = "statefulset/axonserver-1"
	setEnv := func(in *doctor.Input, sts string, env ...corev1.EnvVar) {
		c := ctr(in, sts)
		var kept []corev1.EnvVar
		for _, e := range c.Env {
			if e.Name != "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST" {
				kept = append(kept, e)
			}
		}
		c.Env = append(kept, env...)
	}
	// sharedFirst: autocluster.first in the properties every node mounts, none in the env.
	sharedFirst := func(in *doctor.Input, first string) {
		for _, m := range in.Members {
			setEnv(in, m.StatefulSet.Name)
		}
		for i := range in.ConfigMaps {
			if in.ConfigMaps[i].Name == "axonserver-properties" {
				in.ConfigMaps[i].Data["axonserver.properties"] += "axoniq.axonserver.autocluster.first=" + first + "\n"
			}
		}
	}
	for _, c := range []struct {
		name   string
		formed bool
		nodes  int
		change func(in *doctor.Input)
		check  string // "" means no autocluster finding at all
		sev    doctor.Severity
		object string
		fix    []string
	}{
		{"founder in its ConfigMap", false, 3, nil, "autocluster/self-first", doctor.Warning, s1,
			[]string{`kubectl -n axon patch configmap axonserver-1-autocluster --type=merge -p '{"data":{"first":"axonserver-2.axon.svc.cluster.local"}}'`, "nothing restarts"}},
		{"formed", true, 3, nil, "", "", "", nil},
		{"one node names itself", true, 1, nil, "", "", "", nil},
		{"founder with its control DB on an emptyDir", false, 3, func(in *doctor.Input) { emptyDirFor(in, "axonserver-1", "/axonserver/data") },
			"autocluster/self-first-ephemeral", doctor.Error, s1, []string{"patch configmap axonserver-1-autocluster"}},
		{"literal env with the default port", true, 3, func(in *doctor.Input) {
			setEnv(in, "axonserver-2", corev1.EnvVar{Name: "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST", Value: "axonserver-2.axon.svc.cluster.local:8224"})
		}, "autocluster/self-first", doctor.Warning, "statefulset/axonserver-2",
			[]string{`kubectl -n axon patch statefulset axonserver-2 --type=strategic`, `{"name":"AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST","value":"axonserver-1.axon.svc.cluster.local"}`, "restarts the pod"}},
		{"another port is another node", true, 3, func(in *doctor.Input) {
			setEnv(in, "axonserver-2", corev1.EnvVar{Name: "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST", Value: "axonserver-2.axon.svc.cluster.local:8225"})
		}, "", "", "", nil},
		{"shared properties (AxonIQ's examples)", true, 3, func(in *doctor.Input) {
			sharedFirst(in, "axonserver-3.axon.svc.cluster.local")
		}, "autocluster/self-first", doctor.Warning, "statefulset/axonserver-3",
			[]string{"give this node its own autocluster.first", `"value":"axonserver-1.axon.svc.cluster.local"`}},
		{"hostname and domain from the environment", true, 3, func(in *doctor.Input) {
			setEnv(in, "axonserver-3", corev1.EnvVar{Name: "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST", Value: "as3.example.com"})
			c := ctr(in, "axonserver-3")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNAL_HOSTNAME", Value: "as3"}, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNALDOMAIN", Value: "example.com"})
		}, "autocluster/self-first", doctor.Warning, "statefulset/axonserver-3", nil},
		{"setting unreadable", false, 3, func(in *doctor.Input) { in.ConfigMaps = nil }, "", "", "", nil},
		{"its internal host name unreadable", false, 3, func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNALHOSTNAME", ValueFrom: secretRef("hosts", "axonserver-1")})
		}, "", "", "", nil},
		{"the fix names a node whose address doctor reads", false, 3, func(in *doctor.Input) {
			c := ctr(in, "axonserver-2")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNAL_DOMAIN", ValueFrom: secretRef("hosts", "domain")})
		}, "autocluster/self-first", doctor.Warning, s1, []string{`{"data":{"first":"axonserver-3.axon.svc.cluster.local"}}`}},
		{"shared properties not mounted in the container", true, 3, func(in *doctor.Input) {
			sharedFirst(in, "axonserver-3.axon.svc.cluster.local")
			c := ctr(in, "axonserver-3")
			var kept []corev1.VolumeMount
			for _, vm := range c.VolumeMounts {
				if vm.Name != "config" {
					kept = append(kept, vm)
				}
			}
			c.VolumeMounts = kept
		}, "", "", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := generated(t, generate.Options{Nodes: c.nodes, Formed: c.formed})
			if c.change != nil {
				c.change(&in)
			}
			fs := doctor.Run(in)
			var got []doctor.Finding
			for _, f := range fs {
				if strings.HasPrefix(f.Check, "autocluster/") {
					got = append(got, f)
				}
			}
			if c.check == "" {
				if len(got) > 0 {
					t.Fatalf("unexpected:\n%s", dump(got))
				}
				return
			}
			if len(got) != 1 || got[0].Check != c.check || got[0].Severity != c.sev || got[0].Object != c.object {
				t.Fatalf("want one %s %s on %s, got:\n%s", c.sev, c.check, c.object, dump(got))
			}
			for _, want := range c.fix {
				if !strings.Contains(got[0].Fix, want) {
					t.Errorf("fix %q lacks %q", got[0].Fix, want)
				}
			}
			if w := got[0].Why; w == "" || strings.Contains(w, "\n") || strings.Count(strings.TrimSuffix(w, "."), ". ") > 0 {
				t.Errorf("why is not one sentence: %q", w)
			}
		})
	}
}

func secretRef(name, key string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}
}

func member(in *doctor.Input, name string) *discovery.Member {
	for i := range in.Members {
		if in.Members[i].StatefulSet.Name == name {
			return &in.Members[i]
		}
	}
	panic(name)
}

func ctr(in *doctor.Input, name string) *corev1.Container {
	return &member(in, name).StatefulSet.Spec.Template.Spec.Containers[0]
}

func podSpec(in *doctor.Input, name string) *corev1.PodSpec {
	return &member(in, name).StatefulSet.Spec.Template.Spec
}

func healthProbe(p *corev1.Probe) *corev1.Probe {
	q := p.DeepCopy()
	q.HTTPGet.Path = "/actuator/health"
	return q
}

func emptyDirFor(in *doctor.Input, sts, mount string) {
	ps := podSpec(in, sts)
	ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	c := ctr(in, sts)
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == mount {
			c.VolumeMounts[i].Name = "scratch"
		}
	}
}

// TestChecks: each bad layout yields its finding, with the severity and object
// documented in docs/doctor.md.
func TestChecks(t *testing.T) {
	const s1 = "statefulset/axonserver-1"
	for _, c := range []struct {
		name     string
		mutate   func(in *doctor.Input)
		check    string
		severity doctor.Severity
		object   string
		problem  string // a part of the problem, when it matters
		fix      string // a part of the fix
	}{
		{"3 replicas", func(in *doctor.Input) { member(in, "axonserver-1").StatefulSet.Spec.Replicas = ptr(int32(3)) },
			"statefulset/replicas", doctor.Error, s1, "3 replicas", "singleton"},
		{"stopped", func(in *doctor.Input) { member(in, "axonserver-1").StatefulSet.Spec.Replicas = ptr(int32(0)) },
			"statefulset/stopped", doctor.Info, s1, "", "--replicas=1"},
		{"no governing service", func(in *doctor.Input) { member(in, "axonserver-1").StatefulSet.Spec.ServiceName = "gone" },
			"service/governing", doctor.Error, s1, "gone does not exist", ""},
		{"governing service not headless", func(in *doctor.Input) {
			for i := range in.Services {
				if in.Services[i].Name == "axonserver-2" {
					in.Services[i].Spec.ClusterIP = "10.0.0.1"
				}
			}
		}, "service/governing", doctor.Error, "service/axonserver-2", "not headless", ""},
		{"not-ready addresses", func(in *doctor.Input) {
			for i := range in.Services {
				in.Services[i].Spec.PublishNotReadyAddresses = false
			}
		}, "service/not-ready-dns", doctor.Info, "service/axonserver-1", "", "publishNotReadyAddresses"},
		{"liveness on health", func(in *doctor.Input) { c := ctr(in, "axonserver-1"); c.LivenessProbe = healthProbe(c.LivenessProbe) },
			"probes/liveness-on-health", doctor.Error, s1, "/actuator/health", `containers/0/livenessProbe/httpGet/path","value":"/actuator/info"`},
		{"readiness on health", func(in *doctor.Input) { c := ctr(in, "axonserver-2"); c.ReadinessProbe = healthProbe(c.ReadinessProbe) },
			"probes/readiness-on-health", doctor.Error, "statefulset/axonserver-2", "", "readinessProbe"},
		{"startup on health", func(in *doctor.Input) { c := ctr(in, "axonserver-1"); c.StartupProbe = healthProbe(c.StartupProbe) },
			"probes/startup-on-health", doctor.Error, s1, "", ""},
		{"liveness on a health group", func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.LivenessProbe = healthProbe(c.LivenessProbe)
			c.LivenessProbe.HTTPGet.Path = "/actuator/health/liveness"
		}, "probes/liveness-on-health", doctor.Warning, s1, "/actuator/health/liveness", ""},
		{"liveness over TCP", func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.LivenessProbe.HTTPGet = nil
			c.LivenessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(8024)}
		}, "probes/liveness-path", doctor.Info, s1, "TCP", ""},
		{"no startup probe, short liveness", func(in *doctor.Input) { ctr(in, "axonserver-1").StartupProbe = nil },
			"probes/startup-missing", doctor.Error, s1, "only 35 s", "startupProbe"},
		{"no startup probe, long liveness", func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.StartupProbe = nil
			c.LivenessProbe.InitialDelaySeconds = 600
		}, "probes/startup-missing", doctor.Warning, s1, "", ""},
		{"no probes at all", func(in *doctor.Input) { c := ctr(in, "axonserver-1"); c.StartupProbe, c.LivenessProbe = nil, nil },
			"probes/liveness-missing", doctor.Warning, s1, "", ""},
		{"no readiness", func(in *doctor.Input) { ctr(in, "axonserver-1").ReadinessProbe = nil },
			"probes/readiness-missing", doctor.Info, s1, "", ""},
		{"startup budget", func(in *doctor.Input) { ctr(in, "axonserver-1").StartupProbe.FailureThreshold = 10 },
			"probes/startup-budget", doctor.Warning, s1, "allows 50 s", `"value":120`},
		{"grace 30", func(in *doctor.Input) { podSpec(in, "axonserver-1").TerminationGracePeriodSeconds = ptr(int64(30)) },
			"shutdown/grace-period", doctor.Error, s1, "is 30", `"terminationGracePeriodSeconds":120`},
		{"grace default", func(in *doctor.Input) { podSpec(in, "axonserver-1").TerminationGracePeriodSeconds = nil },
			"shutdown/grace-period", doctor.Error, s1, "30 (the default)", ""},
		{"grace 90", func(in *doctor.Input) { podSpec(in, "axonserver-1").TerminationGracePeriodSeconds = ptr(int64(90)) },
			"shutdown/grace-period", doctor.Info, s1, "", ""},
		{"observed shutdown beyond grace", func(in *doctor.Input) {
			member(in, "axonserver-1").StatefulSet.Annotations = map[string]string{doctor.ShutdownSecondsAnnotation: "130"}
		}, "shutdown/observed", doctor.Error, s1, "took 130 s", `"terminationGracePeriodSeconds":270`},
		{"observed shutdown over half the grace", func(in *doctor.Input) {
			member(in, "axonserver-1").StatefulSet.Annotations = map[string]string{doctor.ShutdownSecondsAnnotation: "75.5"}
		}, "shutdown/observed", doctor.Warning, s1, "took 76 s", `"terminationGracePeriodSeconds":180`},
		{"emptyDir events", func(in *doctor.Input) { emptyDirFor(in, "axonserver-1", "/axonserver/events") },
			"storage/ephemeral", doctor.Error, s1, "events (/axonserver/events) is on emptyDir", "--cascade=orphan"},
		{"emptyDir plugins", func(in *doctor.Input) { emptyDirFor(in, "axonserver-1", "/axonserver/plugins") },
			"storage/ephemeral", doctor.Warning, s1, "plugins", ""},
		{"data not mounted", func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.VolumeMounts = c.VolumeMounts[:1]
		}, "storage/unmounted", doctor.Error, s1, "data (/axonserver/data) is on no volume", ""},
		{"events moved by env onto emptyDir", func(in *doctor.Input) {
			c := ctr(in, "axonserver-1")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_EVENT_STORAGE", Value: "/tmp/events"})
			ps := podSpec(in, "axonserver-1")
			ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		}, "storage/ephemeral", doctor.Error, s1, "/tmp/events", ""},
		{"hostPath data", func(in *doctor.Input) {
			ps := podSpec(in, "axonserver-1")
			ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/axon"}}})
			ctr(in, "axonserver-1").VolumeMounts[1].Name = "host"
		}, "storage/hostpath", doctor.Warning, s1, "/srv/axon", ""},
		{"reclaim Delete on a volume", func(in *doctor.Input) {
			for i := range in.PVs {
				in.PVs[i].Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
			}
		}, "storage/reclaim-policy", doctor.Warning, "persistentvolume/pv-events-axonserver-1-0", "", `"persistentVolumeReclaimPolicy":"Retain"`},
		{"reclaim Delete by class, volumes unknown", func(in *doctor.Input) {
			in.PVs = nil
			in.Unavailable = map[string]string{"persistentvolumes": "forbidden"}
			in.StorageClasses[0].ReclaimPolicy = ptr(corev1.PersistentVolumeReclaimDelete)
		}, "storage/reclaim-policy", doctor.Warning, "storageclass/fast", "events-axonserver-1-0, events-axonserver-2-0", ""},
		{"no expansion", func(in *doctor.Input) { in.StorageClasses[0].AllowVolumeExpansion = nil },
			"storage/expansion", doctor.Warning, "storageclass/fast", "", ""},
		{"immediate binding", func(in *doctor.Input) { in.StorageClasses[0].VolumeBindingMode = nil },
			"storage/binding-mode", doctor.Warning, "storageclass/fast", "", "WaitForFirstConsumer"},
		{"class missing", func(in *doctor.Input) { in.StorageClasses[0].Name = "slow" },
			"storage/class-missing", doctor.Warning, "storageclass/fast", "", ""},
		{"no class and no default", func(in *doctor.Input) {
			for _, m := range in.Members {
				for i := range m.StatefulSet.Spec.VolumeClaimTemplates {
					m.StatefulSet.Spec.VolumeClaimTemplates[i].Spec.StorageClassName = nil
				}
			}
		}, "storage/no-class", doctor.Warning, s1, "", ""},
		{"read-write-once", func(in *doctor.Input) {}, "storage/access-mode", doctor.Info, "cluster/axonserver", "ReadWriteOnce", ""},
		{"root", func(in *doctor.Input) { podSpec(in, "axonserver-1").SecurityContext.RunAsUser = ptr(int64(0)) },
			"security/root", doctor.Error, s1, "runAsUser: 0", "runAsNonRoot"},
		{"root image without security context", func(in *doctor.Input) {
			podSpec(in, "axonserver-1").SecurityContext = nil
			c := ctr(in, "axonserver-1")
			c.Image = "axoniq/axonserver:2024.1.0"
		}, "security/root", doctor.Warning, s1, "", ""},
		{"nonroot image only", func(in *doctor.Input) { podSpec(in, "axonserver-1").SecurityContext = nil },
			"security/run-as-non-root", doctor.Info, s1, "", ""},
		{":latest", func(in *doctor.Input) { ctr(in, "axonserver-1").Image = "axoniq/axonserver:latest" },
			"image/latest", doctor.Error, s1, "is :latest", ""},
		{"no tag", func(in *doctor.Input) { ctr(in, "axonserver-1").Image = "registry:5000/axoniq/axonserver" },
			"image/latest", doctor.Error, s1, "no tag", ""},
		{"mixed images", func(in *doctor.Input) { ctr(in, "axonserver-1").Image = "axoniq/axonserver:2024.2.0-nonroot" },
			"image/mixed", doctor.Warning, "cluster/axonserver", "axoniq/axonserver:2024.2.0-nonroot on axonserver-1", "upgrade"},
		{"mixed images while upgrading", func(in *doctor.Input) {
			ctr(in, "axonserver-1").Image = "axoniq/axonserver:2024.2.0-nonroot"
			member(in, "axonserver-1").StatefulSet.Annotations = map[string]string{doctor.OperationAnnotation: "upgrade"}
		}, "image/mixed", doctor.Info, "cluster/axonserver", "", ""},
		{"no PDB", func(in *doctor.Input) { in.PDBs = []policyv1.PodDisruptionBudget{} },
			"availability/pdb-missing", doctor.Warning, "cluster/axonserver", "", "--max-unavailable=1"},
		{"PDB too loose", func(in *doctor.Input) { in.PDBs[0].Spec.MaxUnavailable = ptr(intstr.FromString("70%")) },
			"availability/pdb-loose", doctor.Warning, "poddisruptionbudget/axonserver", "allows 3 of 3", ""},
		{"PDB blocks", func(in *doctor.Input) {
			in.PDBs[0].Spec.MaxUnavailable = nil
			in.PDBs[0].Spec.MinAvailable = ptr(intstr.FromInt32(3))
		}, "availability/pdb-blocks", doctor.Warning, "poddisruptionbudget/axonserver", "", ""},
		{"PDB partial", func(in *doctor.Input) {
			in.PDBs[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "axonserver-1"}}
		}, "availability/pdb-partial", doctor.Warning, "cluster/axonserver", "axonserver-2, axonserver-3", ""},
		{"PDBs overlap", func(in *doctor.Input) { in.PDBs = append(in.PDBs, *in.PDBs[0].DeepCopy()); in.PDBs[1].Name = "other" },
			"availability/pdb-overlap", doctor.Warning, s1, "axonserver, other", ""},
		{"no spread", func(in *doctor.Input) {
			for _, m := range in.Members {
				m.StatefulSet.Spec.Template.Spec.Affinity = nil
				m.StatefulSet.Spec.Template.Spec.TopologySpreadConstraints = nil
			}
		}, "availability/spread", doctor.Warning, "cluster/axonserver", "axonserver-1, axonserver-2, axonserver-3", ""},
		{"a worker holds a majority", func(in *doctor.Input) {
			member(in, "axonserver-2").Worker = "w1"
			member(in, "axonserver-2").Zone = "zone-a"
		}, "availability/worker-quorum", doctor.Error, "group/_admin", "worker w1 (axonserver-1, axonserver-2)", ""},
		{"a zone holds a majority", func(in *doctor.Input) { member(in, "axonserver-2").Zone = "zone-a" },
			"availability/zone-quorum", doctor.Warning, "group/_admin", "zone zone-a", ""},
		{"shared worker, groups unknown", func(in *doctor.Input) { in.Axon = nil; member(in, "axonserver-2").Worker = "w1" },
			"availability/same-worker", doctor.Warning, "node/w1", "axonserver-1, axonserver-2", ""},
		{"even voters", func(in *doctor.Input) {
			g := &in.Axon.Groups[0]
			g.Members = append(g.Members, quorum.Member{Node: "axonserver-4", Role: quorum.Primary, Up: true, CaughtUp: true})
		}, "availability/even-voters", doctor.Warning, "group/_admin", "4 PRIMARY", ""},
		{"single primary", func(in *doctor.Input) { in.Axon.Groups[0].Members = in.Axon.Groups[0].Members[:1] },
			"availability/single-primary", doctor.Warning, "group/_admin", "", ""},
		{"one active backup", func(in *doctor.Input) { in.Axon.Groups[0].Members[2].Role = quorum.ActiveBackup },
			"availability/active-backups", doctor.Warning, "group/_admin", "", ""},
		{"one zone, no backup node", func(in *doctor.Input) {
			for i := range in.Members {
				in.Members[i].Zone = "zone-a"
			}
		}, "availability/no-backup", doctor.Warning, "group/_admin", "one zone (zone-a)", "PASSIVE_BACKUP"},
		{"access control off", func(in *doctor.Input) { in.Axon.Authentication = ptr(false) },
			"access/disabled", doctor.Warning, "cluster/axonserver", "", ""},
		{"access control unknown", func(in *doctor.Input) { in.Axon = nil; in.ConfigMaps = nil; in.AxonError = "no node answered" },
			"access/unknown", doctor.Info, "cluster/axonserver", "", ""},
		{"access control from a Secret", func(in *doctor.Input) {
			in.Axon = nil
			c := ctr(in, "axonserver-1")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_ACCESSCONTROL_ENABLED", ValueFrom: secretRef("flags", "access")})
		}, "access/unknown", doctor.Info, "cluster/axonserver", "", ""},
		{"access control off by a ConfigMap key", func(in *doctor.Input) {
			in.Axon = nil
			in.ConfigMaps = append(in.ConfigMaps, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "flags", Namespace: "axon"}, Data: map[string]string{"access": "false"}})
			c := ctr(in, "axonserver-1")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_ACCESSCONTROL_ENABLED", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "flags"}, Key: "access"}}})
		}, "access/disabled", doctor.Warning, "cluster/axonserver", "", ""},
		{"token from a file", func(in *doctor.Input) { in.Token = doctor.Token{Source: doctor.TokenFile} },
			"access/token-not-secret", doctor.Warning, "cluster/axonserver", "file", "--token-secret"},
		{"token secret missing", func(in *doctor.Input) { in.Token.SecretFound, in.Token.KeyFound = false, false },
			"access/token-secret", doctor.Error, "secret/axonserver-token", "does not exist", ""},
		{"token secret without the key", func(in *doctor.Input) { in.Token.KeyFound = false },
			"access/token-secret", doctor.Error, "secret/axonserver-token", "no key token", ""},
		{"forbidden kind", func(in *doctor.Input) { in.Unavailable = map[string]string{"storageclasses": "forbidden"} },
			"doctor/skipped", doctor.Info, "storageclasses", "", "docs/rbac.yaml"},
		{"Axon Server unreachable", func(in *doctor.Input) { in.Axon = nil; in.AxonError = "refused" },
			"doctor/axon-unreachable", doctor.Info, "cluster/axonserver", "refused", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := generated(t, generate.Options{})
			c.mutate(&in)
			fs := doctor.Run(in)
			var hit *doctor.Finding
			for _, f := range find(fs, c.check) {
				if f.Object == c.object {
					hit = &f
					break
				}
			}
			if hit == nil {
				t.Fatalf("no %s finding on %s; findings:\n%s", c.check, c.object, dump(fs))
			}
			if hit.Severity != c.severity {
				t.Errorf("severity %s, want %s", hit.Severity, c.severity)
			}
			if !strings.Contains(hit.Problem, c.problem) {
				t.Errorf("problem %q lacks %q", hit.Problem, c.problem)
			}
			if !strings.Contains(hit.Fix, c.fix) {
				t.Errorf("fix %q lacks %q", hit.Fix, c.fix)
			}
			if hit.Why == "" || strings.Contains(hit.Why, "\n") || strings.Count(strings.TrimSuffix(hit.Why, "."), ". ") > 0 {
				t.Errorf("why is not one sentence: %q", hit.Why)
			}
		})
	}
}

// TestAxonIQExampleLayout: a cluster laid out as AxonIQ's running-axon-server
// examples (singleton StatefulSets, container named after the node, runAsUser 1001,
// probes on /actuator/info, grace 120, claims of the default class, no PDB, no
// anti-affinity, access control in axonserver.properties) has no errors, and the
// warnings name what the examples leave out.
func TestAxonIQExampleLayout(t *testing.T) {
	def := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "example.com/disk", ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer), AllowVolumeExpansion: ptr(true)}
	probe := func(initial, period, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/actuator/info", Port: intstr.FromInt32(8024)}},
			InitialDelaySeconds: initial, PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 1}
	}
	claim := func(name, size string) corev1.PersistentVolumeClaim {
		return corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
	}
	var objs []any
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("axonserver-%d", i)
		labels := map[string]string{"app": name, "cluster": "axonserver"}
		objs = append(objs, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "axon", Labels: labels},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(1)), ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr(int64(1001)), FSGroup: ptr(int64(1001))},
					TerminationGracePeriodSeconds: ptr(int64(120)),
					Containers: []corev1.Container{{Name: name, Image: "axoniq/axonserver-enterprise:4.5.5-dev-nonroot",
						Env: []corev1.EnvVar{{Name: "AXONIQ_AXONSERVER_NAME", Value: name}, {Name: "AXONIQ_AXONSERVER_HOSTNAME", Value: name}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/axonserver/data"}, {Name: "events", MountPath: "/axonserver/events"},
							{Name: "log", MountPath: "/axonserver/log"}, {Name: "plugins", MountPath: "/axonserver/plugins"},
							{Name: "config", MountPath: "/axonserver/config"}, {Name: "system-token", MountPath: "/axonserver/security"}},
						StartupProbe: probe(30, 5, 110), ReadinessProbe: probe(5, 5, 30), LivenessProbe: probe(5, 10, 3)}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "axonserver-properties"}}}},
						{Name: "system-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "axonserver-token"}}}},
				}},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim("events", "5Gi"), claim("log", "1Gi"), claim("data", "1Gi"), claim("plugins", "1Gi")}}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "axon", Labels: labels},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels}})
	}
	objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-properties", Namespace: "axon"},
		Data: map[string]string{"axonserver.properties": "axoniq.axonserver.autocluster.first=axonserver-1.axon.svc.cluster.local\naxoniq.axonserver.accesscontrol.enabled=true\n"}})
	in := fromObjects(t, objs, def, []string{"zone-a", "zone-b", "zone-c"})
	for i := range in.Members {
		in.Members[i].Container = in.Members[i].StatefulSet.Name
	}
	fs := doctor.Run(in)
	if doctor.HasErrors(fs) {
		t.Errorf("AxonIQ's example layout has errors:\n%s", dump(fs))
	}
	for _, want := range []string{"availability/pdb-missing", "availability/spread", "storage/reclaim-policy", "service/not-ready-dns"} {
		if len(find(fs, want)) == 0 {
			t.Errorf("no %s finding:\n%s", want, dump(fs))
		}
	}
	// Without Axon Server's answers, access control is read from axonserver.properties.
	in.Axon = nil
	if fs := doctor.Run(in); len(find(fs, "access/unknown"))+len(find(fs, "access/disabled")) > 0 {
		t.Errorf("access control from the properties not recognised:\n%s", dump(fs))
	}
}

func TestLegacyImageLayout(t *testing.T) {
	in := generated(t, generate.Options{})
	c := ctr(&in, "axonserver-1")
	c.VolumeMounts = []corev1.VolumeMount{{Name: "events", MountPath: "/eventdata"}, {Name: "data", MountPath: "/data"}}
	fs := doctor.Run(in)
	for _, id := range []string{"storage/unmounted", "storage/ephemeral"} {
		if got := find(fs, id); len(got) > 0 {
			t.Errorf("the old /data, /eventdata layout is fine:\n%s", dump(got))
		}
	}
	emptyDirFor(&in, "axonserver-1", "/eventdata")
	if got := find(doctor.Run(in), "storage/ephemeral"); len(got) != 1 || !strings.Contains(got[0].Problem, "/eventdata") {
		t.Errorf("emptyDir /eventdata: %s", dump(got))
	}
}

func TestOrderAndCount(t *testing.T) {
	in := generated(t, generate.Options{})
	ctr(&in, "axonserver-1").Image = "axoniq/axonserver:latest"
	in.PDBs = []policyv1.PodDisruptionBudget{}
	fs := doctor.Run(in)
	if fs[0].Severity != doctor.Error {
		t.Errorf("errors first:\n%s", dump(fs))
	}
	n := doctor.Count(fs)
	if n[doctor.Error] != 1 || n[doctor.Warning] < 2 || !doctor.HasErrors(fs) {
		t.Errorf("counts %v:\n%s", n, dump(fs))
	}
	if fs := doctor.Run(doctor.Input{}); fs == nil || len(fs) != 0 {
		t.Errorf("empty input: %v", fs)
	}
}

func TestImageTag(t *testing.T) {
	for _, c := range []struct{ in, tag, digest string }{
		{"axoniq/axonserver:2024.1.0-nonroot", "2024.1.0-nonroot", ""},
		{"registry:5000/axoniq/axonserver", "", ""},
		{"registry:5000/axonserver:1@sha256:ab", "1", "sha256:ab"},
		{"axonserver@sha256:ab", "", "sha256:ab"},
	} {
		if tag, d := doctor.ImageTag(c.in); tag != c.tag || d != c.digest {
			t.Errorf("%s: %q %q", c.in, tag, d)
		}
	}
}
