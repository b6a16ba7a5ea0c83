package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
)

func TestAxonServerImage(t *testing.T) {
	for image, want := range map[string]bool{
		"axoniq/axonserver:2024.1.0-nonroot":                  true,
		"axoniq/axonserver:2024.8.0-crashy":                   true,
		"docker.io/axoniq/axonserver@sha256:abc":              true,
		"reg.example.com:5000/axoniq/axonserver:2023.2.1-dev": true,
		"axoniq/axonserver-enterprise:4.6.11":                 true,
		"busybox:1.37":                                        false,
		"gcr.io/distroless/static:nonroot":                    false,
		"reg.example.com:5000/busybox":                        false,
		"alpine":                                              false,
	} {
		if got := axonServerImage(image); got != want {
			t.Errorf("axonServerImage(%q) = %v, want %v", image, got, want)
		}
	}
}

// worldAgent is an agent on a fake API server whose pod addresses are loopback ones
// (127.0.100.0/25: bindable without touching the machine's interfaces), for the
// topology of one Axon node in namespace axon.
func worldAgent(t *testing.T, objs ...runtime.Object) (*Agent, *fake.Clientset, context.Context) {
	t.Helper()
	a, cs, ctx := testAgent(t, objs...)
	topo, err := axonsim.ParseTopology([]byte(`name: axonserver
namespace: axon
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}]
replicationGroups:
  - {name: _admin, contexts: [_admin, default], roles: {axonserver-1: PRIMARY}}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpSeconds: 0.2, electionTimeoutMillis: 150}
`))
	if err != nil {
		t.Fatal(err)
	}
	a.topo = topo
	a.st.Namespace = "axon"
	if a.ips, err = newIPPool("127.0.100.0/25"); err != nil {
		t.Fatal(err)
	}
	a.addAddr = func(string) error { return nil }
	a.delAddr = func(string) {}
	if err := os.MkdirAll(a.st.Path("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	audit, err := os.Create(a.st.Path("audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	a.audit = audit
	if a.sim, err = a.newSim("axon"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stopping.Store(true)
		a.stopAll()
		a.closeSims()
	})
	return a, cs, ctx
}

// waitPod polls the pod until cond holds for it.
func waitPod(t *testing.T, ctx context.Context, cs *fake.Clientset, ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		p, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: not %s: status %+v", ns, name, what, p.Status)
	}
	return p
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestPlainPod: a pod of a non-Axon image starts no Axon node. It waits for its claim to
// be bound, gets an address, runs (its probes, which nothing could answer, count as
// successes) and is Ready; exec in it sees its volume read-write; deleted with a long
// grace period it stops at once and its deletion is finished.
func TestPlainPod(t *testing.T) {
	sc := sandbox.StorageClassName
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "axon-restored", Name: "data-axonserver-1-0", UID: "c-1"},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: &sc},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "axon-restored", Name: "loader-axonserver-1", UID: "0123abcd-loader-1"},
		Spec: corev1.PodSpec{NodeName: "w1", TerminationGracePeriodSeconds: ptr(int64(120)),
			Containers: []corev1.Container{{Name: "loader", Image: "busybox:1.37", Command: []string{"sleep", "infinity"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/axonserver/data"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}}}},
	}
	a, cs, ctx := worldAgent(t, pvc, pod)
	a.watch(ctx)

	// The claim is not bound: the container waits.
	waitPod(t, ctx, cs, pod.Namespace, pod.Name, "waiting for its claim", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, "not bound")
	})
	// Bound (what the provisioner does once the scheduler picked the worker): it runs.
	dir := filepath.Join(a.st.Dir, "volumes", "pvc-c-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-c-1"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}}}}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName, pvc.Status.Phase = pv.Name, corev1.ClaimBound
	if _, err := cs.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, ctx, cs, pod.Namespace, pod.Name, "Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && ready(p)
	})
	if st := p.Status.ContainerStatuses[0]; st.State.Running == nil || st.RestartCount != 0 {
		t.Errorf("container status %+v", st)
	}
	if _, sims := a.allSims(); len(sims) != 1 {
		t.Errorf("a plain pod made an Axon cluster: %d clusters", len(sims))
	}
	if n := a.sim.Node("axonserver-1"); n.State() != axonsim.Stopped {
		t.Errorf("a plain pod started an Axon node: %s", n.State())
	}

	// Exec: the volume at its mount path, read-write (needs root: mount namespaces).
	if os.Geteuid() == 0 {
		var out, errOut strings.Builder
		err := executor{a}.ExecInContainer(ctx, "axon-restored/"+pod.Name, string(pod.UID), "loader",
			[]string{"sh", "-c", "echo restored > /axonserver/data/f && cat /axonserver/data/f"}, nil, nopCloser{&out}, nopCloser{&errOut}, false, nil, 0)
		if err != nil || out.String() != "restored\n" {
			t.Errorf("exec: %v %q %q", err, out.String(), errOut.String())
		}
		if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "restored\n" {
			t.Errorf("the file exec wrote is not on the volume: %q %v", b, err)
		}
	}

	// Deleted with a grace period of 120 s: stopped at once, the deletion finished.
	start := time.Now()
	now := metav1.Now()
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, ptr(int64(120))
	if _, err := cs.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("deletion: %v after %s", err, time.Since(start))
	}
	t.Logf("deleted %s after the request", time.Since(start).Round(time.Millisecond))
}

// TestAxonPodsPerNamespace: Axon pods of the same node name in the topology's namespace
// and another run at once, as nodes of two clusters; the reports, the audit log (the
// other cluster's events carry its namespace) and the control requests keep them apart.
func TestAxonPodsPerNamespace(t *testing.T) {
	axonPod := func(ns string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "axonserver-1-0", UID: ktypes.UID("0123abcd-" + ns)},
			Spec: corev1.PodSpec{NodeName: "w1", Containers: []corev1.Container{{Name: "axonserver", Image: "axoniq/axonserver:2024.1.0-nonroot",
				Env: []corev1.EnvVar{{Name: "AXONIQ_AXONSERVER_NAME", Value: "axonserver-1"}}}}},
		}
	}
	a, cs, ctx := worldAgent(t, axonPod("axon"), axonPod("axon-restored"))
	a.watch(ctx)
	for _, ns := range []string{"axon", "axon-restored"} {
		waitPod(t, ctx, cs, ns, "axonserver-1-0", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && ready(p) })
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		a.writeReportsOnce()
		mine, err1 := sandbox.ReadNamespaceReports(a.st, "axon")
		theirs, err2 := sandbox.ReadNamespaceReports(a.st, "axon-restored")
		return err1 == nil && err2 == nil && mine["axonserver-1"].Healthy && theirs["axonserver-1"].Healthy &&
			mine["axonserver-1"].PodIP != theirs["axonserver-1"].PodIP, nil
	})
	if err != nil {
		b, _ := os.ReadFile(a.st.Path("agent", "nodes.json"))
		t.Fatalf("both nodes healthy, at their own addresses: %s", b)
	}
	all, _ := sandbox.ReadNodeReports(a.st)
	if r := all["axon-restored/axonserver-1"]; len(all) != 2 || r.Namespace != "axon-restored" || all["axonserver-1"].Namespace != "" {
		t.Errorf("nodes.json: %+v", all)
	}
	// The audit log: each cluster elected its leader; the other's events say where.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		f, err := os.Open(a.st.Path("audit.jsonl"))
		if err != nil {
			return false, err
		}
		defer f.Close()
		ev, err := axonsim.ReadAudit(f)
		return err == nil && axonsim.Count(axonsim.InNamespace(ev, ""), axonsim.EvLeaderElected, "_admin") == 1 &&
			axonsim.Count(axonsim.InNamespace(ev, "axon-restored"), axonsim.EvLeaderElected, "_admin") == 1, nil
	})
	if err != nil {
		b, _ := os.ReadFile(a.st.Path("audit.jsonl"))
		t.Fatalf("one election per cluster, told apart by namespace:\n%s", b)
	}
	// axonsim's lines go to the log of the pod running the node, in its namespace.
	mine := strings.Join(a.logs.get("axon/axonserver-1-0"), "\n")
	theirs := strings.Join(a.logs.get("axon-restored/axonserver-1-0"), "\n")
	if !strings.Contains(mine, "Started AxonServer") || strings.Contains(mine, "[axon-restored]") {
		t.Errorf("log of axon/axonserver-1-0:\n%s", mine)
	}
	if !strings.Contains(theirs, "[axon-restored]") || !strings.Contains(theirs, "Started AxonServer") {
		t.Errorf("log of axon-restored/axonserver-1-0:\n%s", theirs)
	}
	// Control requests name the namespace; the topology's is the default.
	dir, err := os.MkdirTemp("", "axsb-ctl-") // a unix socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctlState := &sandbox.State{Dir: dir}
	a.st = ctlState
	if err := a.serveControl(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.PartitionIn(ctx, ctlState, "axon-restored", "axonserver-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	other, _ := a.simIn("axon-restored")
	if !other.Partitioned("axonserver-1") || a.sim.Partitioned("axonserver-1") {
		t.Error("the partition did not reach (only) the cluster of axon-restored")
	}
	if err := sandbox.HealIn(ctx, ctlState, "axon-restored", "axonserver-1"); err != nil || other.Partitioned("axonserver-1") {
		t.Errorf("heal: %v", err)
	}
	if err := sandbox.PartitionIn(ctx, ctlState, "elsewhere", "axonserver-1", time.Minute); err == nil || !strings.Contains(err.Error(), "no Axon cluster runs in namespace elsewhere") {
		t.Errorf("a namespace without a cluster: %v", err)
	}
}
