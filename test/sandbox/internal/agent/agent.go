// Package agent plays the parts of a Kubernetes cluster that need a machine:
// one kubelet per worker of the topology (Node registration with its zone,
// heartbeats, running each bound pod with an IP of its own: an Axon Server pod as an
// axonsim node, any other pod as a plain container that runs nothing but serves exec;
// probes, restarts, graceful termination) and a volume provisioner (a local PV per
// PVC, in the zone of its first pod, whose directory holds the node's data).
//
// The Axon pods of the topology's namespace are the nodes of the topology's axonsim
// cluster; those of any other namespace are the nodes of a cluster of that namespace
// (the same topology), created with its first pod: a restore into a new namespace runs
// beside the original. Everything kept per Axon node is kept per (namespace, node).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

var nodeRe = regexp.MustCompile(`\bnode=(\S+)`)

// Agent is the node agent of one sandbox.
type Agent struct {
	ctx    context.Context // the agent's life: background API writes retry until it ends
	st     *sandbox.State
	topo   *axonsim.Topology
	cs     kubernetes.Interface
	sim    *axonsim.Cluster // the topology's cluster (its namespace)
	logger *log.Logger
	audit  io.Writer // the audit log every cluster writes to

	simMu sync.Mutex
	sims  map[string]*axonsim.Cluster // the clusters of other namespaces, by namespace

	// addAddr and delAddr put a pod's address on the namespace's lo and take it off
	// (nil: the real ones; tests replace them).
	addAddr func(ip string) error
	delAddr func(ip string)

	workers  map[string]axonsim.Worker // by name
	workerIP map[string]string

	pods corelisters.PodLister
	pvcs corelisters.PersistentVolumeClaimLister
	pvs  corelisters.PersistentVolumeLister

	mu       sync.Mutex
	podRuns  map[string]*podRun       // by pod UID
	axonLock map[string]chan struct{} // one running pod per Axon node, by NAMESPACE/NODE
	ips      *ipPool
	reports  map[string]sandbox.NodeReport // by reportKey
	podIPs   map[string]podAddr            // ns/pod -> address, while its container may run
	logs     podLogs
	stopping atomic.Bool       // shutting down: start no more containers
	kept     map[string]string // pod UID -> address it had before the agent (re)started
	snaps    *snapshots        // the snapshot controller (snapshot.go)
}

func (a *Agent) logf(format string, args ...any) { a.logger.Printf(format, args...) }

// Run runs the agent until ctx ends, then stops its Axon nodes.
func Run(ctx context.Context, dir string) error {
	st, err := sandbox.LoadState(dir)
	if err != nil {
		return err
	}
	topo, err := axonsim.LoadTopology(st.Topology)
	if err != nil {
		return err
	}
	if topo.Namespace == "" {
		topo.Namespace = "default"
	}
	a := &Agent{
		st: st, topo: topo, logger: log.New(os.Stderr, "agent: ", log.LstdFlags|log.Lmicroseconds),
		workers: map[string]axonsim.Worker{}, workerIP: map[string]string{},
		podRuns: map[string]*podRun{}, axonLock: map[string]chan struct{}{},
		reports: map[string]sandbox.NodeReport{}, podIPs: map[string]podAddr{},
	}
	a.ips, err = newIPPool(st.PodCIDR)
	if err != nil {
		return err
	}
	audit, err := os.OpenFile(st.Path("audit.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer audit.Close()
	a.audit = audit
	a.sim, err = a.newSim(topo.Namespace)
	if err != nil {
		return err
	}
	defer a.closeSims()
	if err := os.MkdirAll(st.Path("agent"), 0o755); err != nil {
		return err
	}
	if ca := a.sim.CACertPEM(); len(ca) > 0 {
		_ = os.WriteFile(st.Path("agent", "axon-ca.crt"), ca, 0o644)
	}
	if err := a.serveControl(ctx); err != nil {
		return err
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", st.Path("pki", "agent.kubeconfig"))
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	a.cs, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	for _, w := range topo.Workers {
		a.workers[w.Name] = w
		ip, err := a.ips.take()
		if err != nil {
			return err
		}
		if err := addAddr(ip); err != nil {
			return err
		}
		a.workerIP[w.Name] = ip
	}
	a.ctx = ctx
	if err := a.registerNodes(ctx); err != nil {
		return err
	}
	a.heartbeat(ctx)
	if err := a.serveKubelets(ctx); err != nil {
		return err
	}

	// Pods that already run here (the agent restarted) keep their addresses:
	// reserve them before any new pod takes one.
	a.kept = map[string]string{}
	if pods, err := a.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			if _, ours := a.workers[p.Spec.NodeName]; ours && p.Status.PodIP != "" && a.ips.reserve(p.Status.PodIP) {
				a.kept[string(p.UID)] = p.Status.PodIP
			}
		}
	}

	a.snaps = a.startSnapshots(ctx)
	a.watch(ctx)
	a.logf("running: %d workers, %d Axon nodes, pod addresses from %s", len(topo.Workers), len(topo.Nodes), st.PodCIDR)

	go a.writeReports(ctx)
	<-ctx.Done()
	a.logf("stopping: stopping Axon nodes cleanly")
	a.stopping.Store(true)
	a.stopAll()
	a.writeReportsOnce()
	return nil
}

// resync is how often every pod, claim and volume is handed to the handlers
// again although nothing changed (the kubelet's periodic sync): a write that
// failed for good is then redone from the current state.
const resync = 30 * time.Second

// watch starts the informers (pods bound to a node, claims, volumes) and their
// handlers, and waits for their caches. The informers list and watch again by
// themselves after an API server restart.
func (a *Agent) watch(ctx context.Context) {
	f := informers.NewSharedInformerFactoryWithOptions(a.cs, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			// only what a kubelet of some worker could be asked to run
			if o.FieldSelector == "" {
				o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
			}
		}))
	podInf := f.Core().V1().Pods().Informer()
	g := informers.NewSharedInformerFactory(a.cs, resync)
	pvcInf := g.Core().V1().PersistentVolumeClaims().Informer()
	pvInf := g.Core().V1().PersistentVolumes().Informer()
	a.pods = f.Core().V1().Pods().Lister()
	a.pvcs = g.Core().V1().PersistentVolumeClaims().Lister()
	a.pvs = g.Core().V1().PersistentVolumes().Lister()
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.podChanged(o, false) },
		UpdateFunc: func(_, o any) { a.podChanged(o, false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			a.podChanged(o, true)
		},
	})
	prov := &provisioner{a: a}
	_, _ = pvcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { prov.pvcChanged(ctx, o) },
		UpdateFunc: func(_, o any) { prov.pvcChanged(ctx, o) },
	})
	_, _ = pvInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { prov.pvChanged(ctx, o) },
		UpdateFunc: func(_, o any) { prov.pvChanged(ctx, o) },
	})
	f.Start(ctx.Done())
	g.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	g.WaitForCacheSync(ctx.Done())
}

// newSim makes the axonsim cluster of namespace ns: the topology's (its own namespace:
// events without a namespace, as always) or a cluster of the same topology for another
// namespace, whose audit events carry that namespace and whose nodes' certificates the
// topology cluster's CA signs. Its log lines go to the agent's log and, for a node, to
// the log of the pod running it in ns (kubectl logs).
func (a *Agent) newSim(ns string) (*axonsim.Cluster, error) {
	topo := *a.topo
	topo.Namespace = ns
	opts := axonsim.Options{
		Audit: a.audit,
		Logf: func(f string, args ...any) {
			msg := fmt.Sprintf(f, args...)
			if ns != a.topo.Namespace {
				msg = "[" + ns + "] " + msg
			}
			a.logger.Printf("axonsim: %s", msg)
			if m := nodeRe.FindStringSubmatch(msg); m != nil {
				a.mu.Lock()
				pod := a.reports[a.reportKey(ns, m[1])].Pod
				a.mu.Unlock()
				if pod != "" {
					a.logs.add(ns+"/"+pod, "[axonsim] "+msg)
				}
			}
		},
		Seed: time.Now().UnixNano(),
	}
	if ns != a.topo.Namespace {
		opts.Namespace, opts.CAOf = ns, a.sim
	}
	return axonsim.NewCluster(&topo, opts)
}

// simFor is the cluster the Axon pods of namespace ns run in, made with the first of them.
func (a *Agent) simFor(ns string) (*axonsim.Cluster, error) {
	if ns == a.topo.Namespace {
		return a.sim, nil
	}
	a.simMu.Lock()
	defer a.simMu.Unlock()
	if c := a.sims[ns]; c != nil {
		return c, nil
	}
	c, err := a.newSim(ns)
	if err != nil {
		return nil, err
	}
	if a.sims == nil {
		a.sims = map[string]*axonsim.Cluster{}
	}
	a.sims[ns] = c
	a.logf("namespace %s: its Axon pods are the nodes of a cluster of their own (the topology's, namespace %s)", ns, ns)
	return c, nil
}

// simIn is the cluster of namespace ns ("": the topology's) if one runs there.
func (a *Agent) simIn(ns string) (*axonsim.Cluster, error) {
	if ns == "" || ns == a.topo.Namespace {
		return a.sim, nil
	}
	a.simMu.Lock()
	defer a.simMu.Unlock()
	if c := a.sims[ns]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no Axon cluster runs in namespace %s", ns)
}

// allSims are the topology's cluster and then the others', by namespace.
func (a *Agent) allSims() (nss []string, sims []*axonsim.Cluster) {
	if a.sim != nil {
		nss, sims = append(nss, a.topo.Namespace), append(sims, a.sim)
	}
	a.simMu.Lock()
	defer a.simMu.Unlock()
	for _, ns := range sortedNames(a.sims) {
		nss, sims = append(nss, ns), append(sims, a.sims[ns])
	}
	return nss, sims
}

func (a *Agent) closeSims() {
	_, sims := a.allSims()
	for _, c := range sims {
		_ = c.Close()
	}
}

// reportKey is an Axon node's key in the reports (DIR/agent/nodes.json): its name for the
// topology's namespace (what every reader of the file expects), NAMESPACE/NAME otherwise.
func (a *Agent) reportKey(ns, node string) string {
	if ns == a.topo.Namespace {
		return node
	}
	return ns + "/" + node
}

// stopAll stops every running Axon node of every cluster cleanly (in parallel, bounded).
func (a *Agent) stopAll() {
	var wg sync.WaitGroup
	_, sims := a.allSims()
	for _, c := range sims {
		for _, name := range c.NodeNames() {
			if nd := c.Node(name); nd != nil && nd.State() != axonsim.Stopped {
				wg.Add(1)
				go func(c *axonsim.Cluster, name string) {
					defer wg.Done()
					_ = c.StopNode(name, 20*time.Second)
				}(c, name)
			}
		}
	}
	wg.Wait()
}

// podChanged hands a pod event to the pod's runner, starting one for a pod
// new here; gone: the pod was deleted (its runner, if any, kills the container).
func (a *Agent) podChanged(o any, gone bool) {
	pod, ok := o.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if _, ours := a.workers[pod.Spec.NodeName]; !ours {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.podRuns[string(pod.UID)]
	if r == nil && gone {
		return
	}
	if r == nil {
		if pod.DeletionTimestamp != nil && pod.Status.PodIP == "" {
			// never started here: nothing to stop, just finish the deletion
			go a.forceDelete(pod)
			return
		}
		r = newPodRun(a, pod)
		a.podRuns[string(pod.UID)] = r
		go r.run()
		return
	}
	r.notify()
}

// keptAddress hands a pod the address it had before the agent restarted.
func (a *Agent) keptAddress(uid string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.kept[uid]
	delete(a.kept, uid)
	return ip, ok
}

func (a *Agent) forget(uid string) {
	a.mu.Lock()
	delete(a.podRuns, uid)
	a.mu.Unlock()
}

// lockAxon waits until no other pod runs the Axon node name (NAMESPACE/NODE: a
// StatefulSet pod recreated after a force delete must not run beside its predecessor).
func (a *Agent) lockAxon(ctx context.Context, name string) bool {
	for {
		a.mu.Lock()
		ch, held := a.axonLock[name]
		if !held {
			a.axonLock[name] = make(chan struct{})
			a.mu.Unlock()
			return true
		}
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (a *Agent) unlockAxon(name string) {
	a.mu.Lock()
	if ch, ok := a.axonLock[name]; ok {
		close(ch)
		delete(a.axonLock, name)
	}
	a.mu.Unlock()
}

// setReport records the pod running Axon node (ns, name).
func (a *Agent) setReport(ns, name string, r sandbox.NodeReport) {
	if ns != a.topo.Namespace {
		r.Namespace = ns
	}
	a.mu.Lock()
	a.reports[a.reportKey(ns, name)] = r
	a.mu.Unlock()
}

func (a *Agent) writeReports(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		a.writeReportsOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) writeReportsOnce() {
	out := map[string]sandbox.NodeReport{}
	a.mu.Lock()
	for k, v := range a.reports {
		out[k] = v
	}
	a.mu.Unlock()
	nss, sims := a.allSims()
	for i, c := range sims {
		for _, name := range c.NodeNames() {
			key := a.reportKey(nss[i], name)
			r, ok := out[key]
			if !ok && nss[i] != a.topo.Namespace {
				r.Namespace = nss[i]
			}
			st := axonsim.Stopped
			if nd := c.Node(name); nd != nil {
				st = nd.State()
			}
			r.State = st.String()
			r.Healthy = st == axonsim.Running
			out[key] = r
		}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	tmp := a.st.Path("agent", "nodes.json.tmp")
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, a.st.Path("agent", "nodes.json"))
	}
}

// ipPool hands out addresses of the sandbox's pod range.
type ipPool struct {
	mu   sync.Mutex
	base net.IP
	size int
	used map[int]bool
	next int
}

func newIPPool(cidr string) (*ipPool, error) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ones, bits := n.Mask.Size()
	return &ipPool{base: ip.To4(), size: 1 << (bits - ones), used: map[int]bool{}, next: 1}, nil
}

// take returns a free address, preferring ones not used lately (as a CNI does).
func (p *ipPool) take() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := 0; k < p.size; k++ {
		i := p.next
		p.next++
		if p.next >= p.size-1 {
			p.next = 1
		}
		if i <= 0 || i >= p.size-1 || p.used[i] {
			continue
		}
		p.used[i] = true
		ip := append(net.IP(nil), p.base...)
		ip[3] += byte(i)
		return ip.String(), nil
	}
	return "", fmt.Errorf("pod address range exhausted")
}

// reserve takes a given address of the range if it is free (a pod keeps its
// address across a restart of the agent, as across a kubelet restart).
func (p *ipPool) reserve(ip string) bool {
	x := net.ParseIP(ip).To4()
	if x == nil || !bytesEqual(x[:3], p.base[:3]) {
		return false
	}
	i := int(x[3]) - int(p.base[3])
	p.mu.Lock()
	defer p.mu.Unlock()
	if i <= 0 || i >= p.size-1 || p.used[i] {
		return false
	}
	p.used[i] = true
	return true
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func (p *ipPool) release(ip string) {
	x := net.ParseIP(ip).To4()
	if x == nil {
		return
	}
	p.mu.Lock()
	delete(p.used, int(x[3])-int(p.base[3]))
	p.mu.Unlock()
}

// assignAddr puts a pod's address on the namespace's lo; releaseAddr takes it off.
func (a *Agent) assignAddr(ip string) error {
	if a.addAddr != nil {
		return a.addAddr(ip)
	}
	return addAddr(ip)
}

func (a *Agent) releaseAddr(ip string) {
	if a.delAddr != nil {
		a.delAddr(ip)
		return
	}
	delAddr(ip)
}

// addAddr puts ip on the namespace's lo (the agent runs inside the namespace).
func addAddr(ip string) error {
	out, err := exec.Command("ip", "addr", "replace", ip+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip addr add %s: %v: %s", ip, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func delAddr(ip string) {
	_ = exec.Command("ip", "addr", "del", ip+"/32", "dev", "lo").Run()
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ = filepath.Join
