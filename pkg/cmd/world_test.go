package cmd

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// world is an in-process Axon Server cluster (axonsim, one listener per node on its
// own loopback address, port 8024) described to a fake Kubernetes clientset the way
// singleton StatefulSets describe it. It tests the wiring of discovery, transport,
// inspection and the report; the sandbox e2e tests the same against a real API server.
type world struct {
	sim  *axonsim.Cluster
	kube *fake.Clientset
	ips  map[string]string
}

var subnet atomic.Int32

// settle bounds every wait of these tests for the simulated cluster to reach a state.
// It is generous on purpose: the waits end as soon as their condition holds, and a
// test must not fail because the machine was busy.
const settle = 2 * time.Minute

const threeNodes = `
name: axonserver
namespace: axon
image: axoniq/axonserver:2024.1.0-nonroot
workers:
  - {name: worker-a, zone: zone-a}
  - {name: worker-b, zone: zone-b}
  - {name: worker-c, zone: zone-c}
nodes:
  - {name: axonserver-1, worker: worker-a}
  - {name: axonserver-2, worker: worker-b}
  - {name: axonserver-3, worker: worker-c}
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: payments
    contexts: [payments, refunds]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: ACTIVE_BACKUP}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpSeconds: 0.1, electionTimeoutMillis: 300}
`

func newWorld(t testing.TB, topology string) *world {
	t.Helper()
	topo, err := axonsim.ParseTopology([]byte(topology))
	if err != nil {
		t.Fatal(err)
	}
	return newWorldOf(t, topo)
}

func newWorldOf(t testing.TB, topo *axonsim.Topology) *world {
	t.Helper()
	return newWorldWith(t, topo, axonsim.Options{})
}

// newWorldWith is newWorldOf with the simulator's options o (Seed and
// TickInterval are the world's own).
// generatedStorage are the storage paths kubectl axon generate configures (every one
// on a volume of the node's), so the world's nodes report them in /actuator/env.
var generatedStorage = map[string]string{
	axonsim.PropEventStorage:    "/axonserver/events",
	axonsim.PropSnapshotStorage: "/axonserver/events",
	axonsim.PropLogStorage:      "/axonserver/log",
	axonsim.PropControlDBPath:   "/axonserver/data",
	axonsim.PropControlDBBackup: "/axonserver/data/backup",
}

func newWorldWith(t testing.TB, topo *axonsim.Topology, o axonsim.Options) *world {
	t.Helper()
	o.Seed, o.TickInterval = 1, 20*time.Millisecond
	sim, err := axonsim.NewCluster(topo, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	w := &world{sim: sim, ips: map[string]string{}}
	net := 100 + subnet.Add(1)
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: topo.Namespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
	}
	for _, wk := range topo.Workers {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: wk.Name, Labels: map[string]string{"topology.kubernetes.io/zone": wk.Zone}}})
	}
	for i, n := range topo.Nodes {
		ip := fmt.Sprintf("127.66.%d.%d", net, i+1)
		w.ips[n.Name] = ip
		if _, err := sim.StartNode(n.Name, axonsim.NodeConfig{Listen: ip + ":8024", PathRoot: "/axonserver", Properties: generatedStorage}); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, statefulSetAndPod(topo.Namespace, topo.Name, n.Name, topo.Image, n.Worker, ip)...)
	}
	w.kube = fake.NewClientset(objs...)
	w.waitHealthy(t)
	return w
}

// waitHealthy waits until every node reported ready and every group has a leader.
func (w *world) waitHealthy(t testing.TB) {
	t.Helper()
	names := w.sim.NodeNames()
	// Every node serves, and every group has elected its first leader: elections
	// are randomised (1.0 to 2.5 s by default), so formation ends after the nodes
	// are ready, and a test that starts earlier would see it happen.
	err := w.sim.WaitFor(settle, func(ev []axonsim.Event) bool {
		for _, n := range names {
			if axonsim.CountNode(ev, "node-ready", n) == 0 {
				return false
			}
		}
		for _, g := range w.sim.Topology().ReplicationGroups {
			if len(axonsim.Filter(ev, "leader-elected", g.Name, "")) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func statefulSetAndPod(ns, cluster, name, image, worker, ip string) []runtime.Object {
	labels := map[string]string{"app": name, "cluster": cluster}
	one := int32(1)
	uid := types.UID("uid-" + name)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, UID: uid},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &one, ServiceName: name,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "axonserver", Image: image,
				Env: []corev1.EnvVar{{Name: "AXONIQ_AXONSERVER_NAME", Value: name}},
			}}}},
		},
		Status: appsv1.StatefulSetStatus{UpdateRevision: name + "-rev1", CurrentRevision: name + "-rev1"},
	}
	podLabels := map[string]string{"app": name, "cluster": cluster, appsv1.StatefulSetRevisionLabel: name + "-rev1"}
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-0", Namespace: ns, Labels: podLabels, UID: types.UID("uid-" + name + "-0"),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: name, UID: uid, Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: worker, Containers: sts.Spec.Template.Spec.Containers},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	return []runtime.Object{sts, pod}
}

// run executes `kubectl axon SUB ARGS` in-process against the world, over the direct
// transport, and returns the exit code and the two streams.
func (w *world) run(t testing.TB, sub string, args ...string) (int, string, string) {
	t.Helper()
	open := func(f *connect.Flags) (*connect.Session, error) {
		ns := "axon"
		if f.Kube.Namespace != nil && *f.Kube.Namespace != "" {
			ns = *f.Kube.Namespace
		}
		return connect.OpenWith(f, w.kube, nil, ns)
	}
	return runWith(t, open, append([]string{sub, "--transport=direct"}, args...)...)
}

func (w *world) open(f *connect.Flags) (*connect.Session, error) {
	return connect.OpenWith(f, w.kube, nil, "axon")
}

func runWith(t testing.TB, open connect.Opener, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := ExecuteWith(streams, open, args)
	return code, out.String(), errOut.String()
}
