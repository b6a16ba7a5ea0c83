package status

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// answer is one recorded HTTP answer of a simulated node.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// recorder is an http.RoundTripper that passes requests on and keeps every answer,
// in order, by URL, for replay.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string][]answer
}

// RoundTrip asks next and keeps a copy of the answer.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	u := req.URL.String()
	r.seen[u] = append(r.seen[u], answer{status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// replay is an http.RoundTripper that answers from what a recorder kept, without
// any network: the benchmark measures the plugin's CPU, not the simulator's. The
// n-th request for a URL gets the n-th answer recorded for it, cyclically, so that
// every look replays the recorded one (a Raft status read again included).
type replay struct {
	mu    sync.Mutex
	seen  map[string][]answer
	asked map[string]int
}

func newReplay(r *recorder) *replay {
	return &replay{seen: r.seen, asked: map[string]int{}}
}

// RoundTrip returns the next recorded answer of the URL, or a 404.
func (p *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	a := answer{status: http.StatusNotFound, header: http.Header{}, body: []byte(`{"status":404}`)}
	p.mu.Lock()
	if as := p.seen[u]; len(as) > 0 {
		a = as[p.asked[u]%len(as)]
		p.asked[u]++
	}
	p.mu.Unlock()
	return &http.Response{StatusCode: a.status, Header: a.header, Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: req}, nil
}

// pipelineFixture is a look at a simulated cluster recorded for replay: the
// targets (clients on a replay transport) and the Kubernetes side.
type pipelineFixture struct {
	targets []inspect.Target
	members []discovery.Member
	answers *replay
}

// recordPipeline starts the simulator on topology file path, waits until every
// node is ready and every group has a leader, looks at it once through a
// recorder and returns targets that replay those answers.
func recordPipeline(b *testing.B, path string) pipelineFixture {
	b.Helper()
	topo, err := axonsim.LoadTopology(path)
	if err != nil {
		b.Fatal(err)
	}
	topo.Timing = axonsim.Timing{StartupSeconds: 0.05, ShutdownSeconds: 0.05, CatchUpSeconds: 0.1, ElectionTimeoutMillis: 300}
	sim, err := axonsim.NewCluster(topo, axonsim.Options{Seed: 1, TickInterval: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	for _, n := range topo.Nodes {
		if _, err := sim.StartNode(n.Name, axonsim.NodeConfig{Listen: "127.0.0.1:0"}); err != nil {
			b.Fatal(err)
		}
	}
	err = sim.WaitFor(60*time.Second, func(ev []axonsim.Event) bool {
		for _, n := range topo.Nodes {
			if axonsim.CountNode(ev, "node-ready", n.Name) == 0 {
				return false
			}
		}
		for _, g := range topo.ReplicationGroups {
			if axonsim.Count(ev, "leader-elected", g.Name) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
	var f pipelineFixture
	for i, n := range topo.Nodes {
		f.members = append(f.members, pipelineMember(topo, n.Name, n.Worker, i))
	}
	// Record looks until one finds the cluster healthy (the followers have caught
	// up with the leaders the elections chose).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rec := &recorder{next: http.DefaultTransport, seen: map[string][]answer{}}
		inspect.Observe(context.Background(), pipelineTargets(b, sim, topo, rec), inspect.Options{})
		f.answers = newReplay(rec)
		f.targets = pipelineTargets(b, sim, topo, f.answers)
		obs := inspect.Observe(context.Background(), f.targets, inspect.Options{})
		r := Build(Input{Cluster: topo.Name, Namespace: topo.Namespace, Members: f.members, Obs: obs, Now: observedAt})
		if r.Healthy {
			return f
		}
		if time.Now().After(deadline) {
			b.Fatal(r.Summary())
		}
	}
}

// pipelineTargets are clients of every node of sim on the transport rt.
func pipelineTargets(b *testing.B, sim *axonsim.Cluster, topo *axonsim.Topology, rt http.RoundTripper) []inspect.Target {
	b.Helper()
	hc := &http.Client{Transport: rt}
	var out []inspect.Target
	for _, n := range topo.Nodes {
		c, err := axonserver.New(sim.Node(n.Name).URL(), hc, axonserver.WithNode(n.Name))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, inspect.Target{Node: n.Name, API: c})
	}
	return out
}

// pipelineMember is node's StatefulSet and its ready pod on worker.
func pipelineMember(topo *axonsim.Topology, node, worker string, i int) discovery.Member {
	one := int32(1)
	zone := ""
	for _, w := range topo.Workers {
		if w.Name == worker {
			zone = w.Zone
		}
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: topo.Namespace},
		Spec:   appsv1.StatefulSetSpec{Replicas: &one, ServiceName: node},
		Status: appsv1.StatefulSetStatus{UpdateRevision: node + "-rev1", CurrentRevision: node + "-rev1"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: node + "-0", Namespace: topo.Namespace,
			Labels: map[string]string{appsv1.StatefulSetRevisionLabel: node + "-rev1"}},
		Spec: corev1.PodSpec{NodeName: worker},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.0.%d", i+1),
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "axonserver", Ready: true}}},
	}
	return discovery.Member{Cluster: topo.Name, Namespace: topo.Namespace, StatefulSet: sts, Pod: pod,
		NodeName: node, Container: "axonserver", Image: topo.Image, Worker: worker, Zone: zone}
}

// BenchmarkStatusLarge is `kubectl axon status` in-process on the benchmark's
// largest cluster (27 nodes, 5,000 contexts in 251 replication groups): decoding
// every node's REST answers (replayed, no network), the model, the report and the
// table (or the JSON).
func BenchmarkStatusLarge(b *testing.B) {
	f := recordPipeline(b, "../../examples/topologies/bench-status-27-5000.yaml")
	for _, format := range []string{FormatTable, FormatJSON} {
		name := "table"
		if format == FormatJSON {
			name = "json"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obs := inspect.Observe(context.Background(), f.targets, inspect.Options{})
				r := Build(Input{Cluster: "axonserver", Namespace: "bench-27-5000", Members: f.members, Obs: obs, Now: observedAt})
				if len(r.Nodes) != 27 || len(r.Groups) != 251 || !r.Healthy {
					b.Fatalf("%d nodes, %d groups: %s", len(r.Nodes), len(r.Groups), r.Summary())
				}
				if err := Write(io.Discard, r, format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
