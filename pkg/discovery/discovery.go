// Package discovery finds an Axon Server cluster's singleton StatefulSets in Kubernetes
// and maps each to its pod, its Axon Server node name and the worker it runs on.
//
// It makes a constant number of list calls whatever the cluster's size: StatefulSets,
// pods and Nodes, each listed once.
package discovery

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

const (
	// ClusterLabel is the label AxonIQ's examples (and `kubectl axon generate`) put on every
	// StatefulSet and pod of one Axon Server cluster; its value is the cluster's name.
	ClusterLabel = "cluster"
	// NodeNameEnv is the environment variable that names the Axon Server node.
	NodeNameEnv = "AXONIQ_AXONSERVER_NAME"
	// ZoneLabel is the well-known label of a worker's zone.
	ZoneLabel = "topology.kubernetes.io/zone"
	// ContainerName is the container kubectl axon looks for first; otherwise the first one.
	ContainerName = "axonserver"
	// HTTPPort is Axon Server's default HTTP port.
	HTTPPort = 8024
)

// Query says where to look.
type Query struct {
	Namespace     string // "" with AllNamespaces
	AllNamespaces bool
	Selector      string // label selector; "" means DefaultSelector(Cluster)
	Cluster       string // cluster name; narrows the default selector
	// Cache keeps what does not change between the looks of one command (the
	// namespace exists, the zone of each worker); nil asks every time.
	Cache *Cache
	// Watch reads the StatefulSets and pods from watches the Cache keeps (started
	// at the first look, in one namespace) instead of listing them at every look:
	// for commands that look many times (rolling operations). Needs a Cache and a
	// namespace.
	Watch bool
	// Clusters, when set, is told each cluster (namespace and name) as soon as the
	// StatefulSets are read, before the pods and workers are: to start what the
	// caller needs next (the cluster's token) alongside.
	Clusters func(ns, cluster string)
}

// Cache is what one command learns once and reuses across its looks at the
// cluster: that the namespace exists, and each worker's zone (a node's zone label is
// set when it registers). Safe for concurrent use.
type Cache struct {
	mu        sync.Mutex
	namespace map[string]bool
	zones     map[string]string
	// zoneOfPod are zones learned earlier (SetZoneOfPod), by worker, then pod UID.
	zoneOfPod map[string]map[types.UID]string
	watches   map[string]*watched
	stops     []func()
}

func (c *Cache) namespaceSeen(ns string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.namespace[ns]
}

func (c *Cache) sawNamespace(ns string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.namespace == nil {
		c.namespace = map[string]bool{}
	}
	c.namespace[ns] = true
}

// SetZoneOfPod says that worker was in zone while the pod of UID uid ran on it (what an
// earlier run read: lastlook). A look that finds that pod on that worker still takes the
// zone without a GET of the worker: a pod stays bound to one Node object for its life,
// so the worker is the one that was read.
func (c *Cache) SetZoneOfPod(worker string, uid types.UID, zone string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.zoneOfPod == nil {
		c.zoneOfPod = map[string]map[types.UID]string{}
	}
	if c.zoneOfPod[worker] == nil {
		c.zoneOfPod[worker] = map[types.UID]string{}
	}
	c.zoneOfPod[worker][uid] = zone
}

// zoneOfPods takes into the zones the ones SetZoneOfPod gave for pods still running on
// the same worker.
func (c *Cache) zoneOfPods(pods map[string]*corev1.Pod) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pods {
		if z, ok := c.zoneOfPod[p.Spec.NodeName][p.UID]; ok && p.UID != "" {
			if c.zones == nil {
				c.zones = map[string]string{}
			}
			c.zones[p.Spec.NodeName] = z
		}
	}
}

func (c *Cache) zone(worker string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	z, ok := c.zones[worker]
	return z, ok
}

func (c *Cache) setZone(worker, zone string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.zones == nil {
		c.zones = map[string]string{}
	}
	c.zones[worker] = zone
}

// DefaultSelector is the selector used when -l is not given.
func DefaultSelector(cluster string) string {
	if cluster != "" {
		return ClusterLabel + "=" + cluster
	}
	return ClusterLabel
}

// Member is one Axon Server node as Kubernetes sees it.
type Member struct {
	Cluster     string // value of the cluster label ("" when absent)
	Namespace   string
	StatefulSet *appsv1.StatefulSet
	Pod         *corev1.Pod // nil when the StatefulSet has no pod now
	NodeName    string      // the Axon Server node name
	Container   string      // the Axon Server container's name
	Image       string      // the image in the StatefulSet's template
	Worker      string      // Kubernetes node the pod runs on
	Zone        string      // that worker's zone, "" when unknown
}

// Found is the result of Discover.
type Found struct {
	Members []Member
	// Warnings are things an operator should know: StatefulSets that are not singletons,
	// workers whose zones could not be read.
	Warnings []string
}

// Clusters returns the distinct (namespace, cluster) pairs found, sorted.
func (f *Found) Clusters() [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, m := range f.Members {
		k := [2]string{m.Namespace, m.Cluster}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

// Only returns the members of one cluster.
func (f *Found) Only(namespace, cluster string) []Member {
	var out []Member
	for _, m := range f.Members {
		if m.Namespace == namespace && m.Cluster == cluster {
			out = append(out, m)
		}
	}
	return out
}

// Find returns the member whose Axon node name or StatefulSet name is name.
func Find(members []Member, name string) (Member, bool) {
	for _, m := range members {
		if m.NodeName == name || m.StatefulSet.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// NotFoundError says no Axon Server StatefulSets matched.
type NotFoundError struct {
	Namespace string
	Selector  string
}

func (e *NotFoundError) Error() string {
	where := "namespace " + e.Namespace
	if e.Namespace == "" {
		where = "any namespace"
	}
	return fmt.Sprintf("no Axon Server StatefulSets with labels %q in %s (use -n, --axon-cluster or -l to point at them)", e.Selector, where)
}

// NamespaceNotFoundError says the namespace looked in does not exist.
type NamespaceNotFoundError struct{ Namespace string }

func (e *NamespaceNotFoundError) Error() string {
	return fmt.Sprintf("namespace %q not found", e.Namespace)
}

// Discover lists the StatefulSets, their pods and the workers they run on.
func Discover(ctx context.Context, cs kubernetes.Interface, q Query) (*Found, error) {
	sel := q.Selector
	if sel == "" {
		sel = DefaultSelector(q.Cluster)
	}
	if _, err := labels.Parse(sel); err != nil {
		return nil, fmt.Errorf("bad label selector %q: %v", sel, err)
	}
	ns := q.Namespace
	// The two lists are made at once. Whether the namespace exists is asked only when
	// they find nothing, to tell a missing namespace from an empty one.
	var (
		wg             sync.WaitGroup
		stsItems       []appsv1.StatefulSet
		podItems       []corev1.Pod
		stsErr, podErr error
		podSel         string
		src            objects = listed{cs}
	)
	if q.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	// Pods carry the template's labels, which the default selector matches; a custom
	// selector may name StatefulSet labels only, so then list every pod of the namespace.
	if q.Selector == "" {
		podSel = sel
	}
	if q.Watch && q.Cache != nil && ns != "" {
		w, err := q.Cache.watch(ctx, cs, ns, sel, podSel)
		if err != nil {
			if nsErr := namespaceMissing(ctx, cs, ns, q.Cache); nsErr != nil {
				return nil, nsErr
			}
			return nil, err
		}
		src = w
	}
	wg.Go(func() {
		stsItems, stsErr = src.statefulSets(ctx, ns, sel)
		if stsErr == nil && q.Clusters != nil {
			seen := map[[2]string]bool{}
			for _, s := range stsItems {
				k := [2]string{s.Namespace, s.Labels[ClusterLabel]}
				if !seen[k] {
					seen[k] = true
					q.Clusters(k[0], k[1])
				}
			}
		}
	})
	wg.Go(func() { podItems, podErr = src.pods(ctx, ns, podSel) })
	wg.Wait()
	if stsErr == nil && len(stsItems) == 0 && !q.AllNamespaces {
		if nsErr := namespaceMissing(ctx, cs, ns, q.Cache); nsErr != nil {
			return nil, nsErr
		}
	}
	switch {
	case stsErr != nil:
		return nil, fmt.Errorf("listing StatefulSets: %w", stsErr)
	case len(stsItems) == 0:
		return nil, &NotFoundError{Namespace: ns, Selector: sel}
	case podErr != nil:
		return nil, fmt.Errorf("listing pods: %w", podErr)
	}
	found := &Found{}
	podsByOwner := map[string]*corev1.Pod{}
	for i := range podItems {
		p := &podItems[i]
		if owner := metav1.GetControllerOf(p); owner != nil && owner.Kind == "StatefulSet" {
			podsByOwner[string(owner.UID)] = p
		}
	}
	q.Cache.zoneOfPods(podsByOwner)
	var workers []string
	for _, p := range podsByOwner {
		if p.Spec.NodeName != "" {
			workers = append(workers, p.Spec.NodeName)
		}
	}
	zones, zoneErr := workerZones(ctx, cs, workers, q.Cache)
	if zoneErr != nil {
		found.Warnings = append(found.Warnings, "zones unknown: "+zoneErr.Error())
	}
	for i := range stsItems {
		sts := &stsItems[i]
		switch r := replicas(sts); {
		case r == 0:
			found.Warnings = append(found.Warnings, fmt.Sprintf(
				"StatefulSet %s/%s is scaled to 0: its Axon Server node is stopped", sts.Namespace, sts.Name))
		case r > 1:
			found.Warnings = append(found.Warnings, fmt.Sprintf(
				"StatefulSet %s/%s has replicas=%d: kubectl axon expects singleton StatefulSets (one per Axon Server node, replicas 1)",
				sts.Namespace, sts.Name, r))
		}
		c := axonContainer(sts.Spec.Template.Spec.Containers)
		m := Member{
			Cluster:     sts.Labels[ClusterLabel],
			Namespace:   sts.Namespace,
			StatefulSet: sts,
			Pod:         podsByOwner[string(sts.UID)],
			NodeName:    nodeName(sts, c),
		}
		if c != nil {
			m.Container, m.Image = c.Name, c.Image
		}
		if m.Pod != nil {
			m.Worker = m.Pod.Spec.NodeName
			m.Zone = zones[m.Worker]
		}
		found.Members = append(found.Members, m)
	}
	sort.Slice(found.Members, func(i, j int) bool {
		a, b := found.Members[i], found.Members[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.NodeName < b.NodeName
	})
	return found, nil
}

// namespaceMissing is a NamespaceNotFoundError when ns does not exist. Other errors
// (Forbidden for a namespaced Role) are nil: the lists tell.
func namespaceMissing(ctx context.Context, cs kubernetes.Interface, ns string, cache *Cache) error {
	if ns == "" || cache.namespaceSeen(ns) {
		return nil
	}
	_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &NamespaceNotFoundError{Namespace: ns}
	}
	if err == nil {
		cache.sawNamespace(ns)
	}
	return nil
}

func replicas(sts *appsv1.StatefulSet) int32 {
	if sts.Spec.Replicas == nil {
		return 1
	}
	return *sts.Spec.Replicas
}

func axonContainer(cs []corev1.Container) *corev1.Container {
	for i := range cs {
		if cs[i].Name == ContainerName {
			return &cs[i]
		}
	}
	for i := range cs {
		if strings.Contains(cs[i].Image, "axonserver") {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

// nodeName is the Axon Server node name: env AXONIQ_AXONSERVER_NAME when set to a
// literal value, else the StatefulSet's name (AxonIQ's examples set one to the other).
func nodeName(sts *appsv1.StatefulSet, c *corev1.Container) string {
	if c != nil {
		for _, e := range c.Env {
			if e.Name == NodeNameEnv && e.Value != "" && e.ValueFrom == nil {
				return e.Value
			}
		}
	}
	return sts.Name
}

// workerZones reads the zone of each worker named (a GET per worker not in the
// cache, at most 8 at a time), not a list of every node of the Kubernetes cluster:
// a look at an Axon Server cluster costs the same whatever else the Kubernetes
// cluster runs.
func workerZones(ctx context.Context, cs kubernetes.Interface, workers []string, cache *Cache) (map[string]string, error) {
	out := make(map[string]string, len(workers))
	var todo []string
	for _, w := range workers {
		if _, done := out[w]; done {
			continue
		}
		if z, ok := cache.zone(w); ok {
			out[w] = z
			continue
		}
		out[w] = ""
		todo = append(todo, w)
	}
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		firstErr  error
		forbidden bool
		slots     = make(chan struct{}, 8)
	)
	for _, w := range todo {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			n, err := cs.CoreV1().Nodes().Get(ctx, w, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsForbidden(err):
				forbidden = true
			case apierrors.IsNotFound(err):
				// gone: no zone, and nothing to remember
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			default:
				out[w] = n.Labels[ZoneLabel]
				cache.setZone(w, out[w])
			}
		}()
	}
	wg.Wait()
	if forbidden {
		return out, fmt.Errorf("not allowed to get nodes (bind the kubectl-axon ClusterRole, docs/rbac.yaml)")
	}
	return out, firstErr
}

// PodReady says whether the pod is Ready.
func PodReady(p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// OnCurrentRevision says whether the pod runs the StatefulSet's update revision.
func OnCurrentRevision(sts *appsv1.StatefulSet, p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	if sts.Status.UpdateRevision == "" {
		return true
	}
	return p.Labels[appsv1.StatefulSetRevisionLabel] == sts.Status.UpdateRevision
}

// Restarts is the sum of the pod's container restarts.
func Restarts(p *corev1.Pod) int32 {
	if p == nil {
		return 0
	}
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}
