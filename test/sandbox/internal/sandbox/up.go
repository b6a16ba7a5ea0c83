package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// UpOptions are the flags of `axon-sandbox up`.
type UpOptions struct {
	Topology string
	Dir      string
	BinDir   string        // etcd, kube-apiserver, ...; default: next to axon-sandbox
	RBAC     string        // docs/rbac.yaml of the repository; default: found from BinDir or cwd
	Timeout  time.Duration // for the whole of up
	Keep     bool          // leave a failed sandbox running for inspection
	Log      io.Writer
}

func (o *UpOptions) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "axon-sandbox: "+format+"\n", args...)
	}
}

// Up brings a sandbox up and returns once every Axon node is healthy.
func Up(ctx context.Context, o UpOptions) (err error) {
	start := time.Now()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if old, err := LoadState(dir); err == nil {
		for _, p := range old.Processes {
			if p.alive() {
				return fmt.Errorf("a sandbox is running in %s (%s pid %d): run `axon-sandbox down --dir %s` first", dir, p.Name, p.Pid, o.Dir)
			}
		}
		o.logf("cleaning up the remains of an earlier sandbox in %s", dir)
		_ = Down(old, o.Log)
	}
	topo, err := axonsim.LoadTopology(o.Topology)
	if err != nil {
		return err
	}
	if topo.Namespace == "" {
		topo.Namespace = "default"
	}
	if len(topo.Workers) == 0 {
		return fmt.Errorf("%s: the sandbox needs at least one worker", o.Topology)
	}
	if _, err := GenerateOptions(topo); err != nil {
		return fmt.Errorf("%s: %w", o.Topology, err)
	}
	topoPath, _ := filepath.Abs(o.Topology)
	if o.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.BinDir = filepath.Dir(exe)
	}
	binDir, _ := filepath.Abs(o.BinDir)
	bins := map[string]string{}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		p := filepath.Join(binDir, b)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s missing: run `make sandbox-bins` (or pass --bin)", p)
		}
		bins[b] = p
	}
	rbacPath, err := findRBAC(o.RBAC, binDir)
	if err != nil {
		return err
	}
	// A sandbox starts afresh: remove what an earlier one left in DIR (only
	// the sandbox's own entries; DIR may hold other things).
	for _, sub := range []string{"etcd", "volumes", "snapshots", "agent", "logs", "pki", "audit.jsonl",
		"kubeconfig", "kubeconfig-operator", stateFile} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	for _, sub := range []string{"", "logs", "pki", "etcd", "volumes"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}

	h := fnv.New32a()
	h.Write([]byte(dir))
	idx, err := claimNetNS(int(h.Sum32() % MaxIndex))
	if err != nil {
		return err
	}
	hostIP, nsIP, podCIDR, svcCIDR := addressing(idx)
	s := &State{
		Dir: dir, Index: idx, NetNS: fmt.Sprintf("axsb-%d", idx),
		HostVeth: fmt.Sprintf("axsb-h%d", idx), NSVeth: fmt.Sprintf("axsb-n%d", idx),
		HostIP: hostIP, NSIP: nsIP, PodCIDR: podCIDR, SvcCIDR: svcCIDR,
		Server: fmt.Sprintf("https://%s:6443", nsIP), Topology: topoPath,
		Namespace: topo.Namespace, Cluster: topo.Name, BinDir: binDir,
	}
	if err := s.save(); err != nil {
		return err
	}
	defer func() {
		if err != nil && !o.Keep {
			o.logf("up failed; tearing down (use --keep to leave it for inspection)")
			_ = Down(s, o.Log)
		}
	}()
	if err := setupNetwork(s); err != nil {
		return err
	}
	o.logf("network namespace %s, API server %s (host end %s), pods %s", s.NetNS, s.Server, hostIP, podCIDR)

	k, err := makePKI(s.Path("pki"), []net.IP{net.ParseIP(nsIP), firstIP(svcCIDR)})
	if err != nil {
		return err
	}
	writeKC := func(path, user string) error {
		return os.WriteFile(path, kubeconfig(s.Server, k.caPEM, user, k.tokens[user], topo.Namespace), 0o600)
	}
	for path, user := range map[string]string{
		s.Path("kubeconfig"):                                adminUser,
		s.Path("kubeconfig-operator"):                       operatorUser,
		s.Path("pki", "kube-controller-manager.kubeconfig"): "system:kube-controller-manager",
		s.Path("pki", "kube-scheduler.kubeconfig"):          "system:kube-scheduler",
		s.Path("pki", "agent.kubeconfig"):                   "axon-sandbox-agent",
	} {
		if err := writeKC(path, user); err != nil {
			return err
		}
	}

	o.logf("starting etcd and kube-apiserver")
	if _, err := s.startInNS("etcd", bins["etcd"],
		"--name=sandbox", "--data-dir="+s.Path("etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=sandbox=http://127.0.0.1:2380",
		"--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return err
	}
	pki := s.Path("pki")
	if _, err := s.startInNS("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--secure-port=6443", "--advertise-address="+nsIP,
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--authorization-mode=RBAC",
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--service-cluster-ip-range="+svcCIDR,
		"--cert-dir="+pki,
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1"); err != nil {
		return err
	}
	if err := waitReady(ctx, s, k.caPEM, k.tokens[adminUser]); err != nil {
		return err
	}
	o.logf("kube-apiserver ready after %s", time.Since(start).Round(100*time.Millisecond))
	if err := installSnapshotAPI(ctx, s.Path("kubeconfig")); err != nil {
		return err
	}

	if _, err := s.startInNS("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+s.Path("pki", "kube-controller-manager.kubeconfig"),
		"--controllers="+strings.Join(Controllers, ","),
		"--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--use-service-account-credentials=false",
		"--v=1"); err != nil {
		return err
	}
	if _, err := s.startInNS("kube-scheduler", bins["kube-scheduler"],
		"--kubeconfig="+s.Path("pki", "kube-scheduler.kubeconfig"),
		"--leader-elect=false", "--secure-port=0", "--v=1"); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if _, err := s.startInNS("agent", self, "agent", "--dir", dir); err != nil {
		return err
	}

	cs, dyn, mapper, err := clients(s.Path("kubeconfig"))
	if err != nil {
		return err
	}
	// The scheduler places each first pod where its topology worker prefers only if
	// that worker is registered and schedulable by then: wait for every worker.
	if err := waitWorkers(ctx, cs, topo, o.logf); err != nil {
		return err
	}
	o.logf("creating namespace %s, RBAC from %s, kubectl axon generate's manifests for %d nodes", topo.Namespace, rbacPath, len(Deployed(topo)))
	if err := createObjects(ctx, cs, dyn, mapper, topo, rbacPath); err != nil {
		return err
	}
	if err := WaitHealthy(ctx, s, cs, topo, o.logf); err != nil {
		return err
	}
	o.logf("sandbox up in %s: %d Axon nodes healthy", time.Since(start).Round(100*time.Millisecond), len(Deployed(topo)))
	o.logf("  export KUBECONFIG=%s   (operator: %s)", s.Path("kubeconfig"), s.Path("kubeconfig-operator"))
	o.logf("  audit log %s; stop with: axon-sandbox down --dir %s", s.Path("audit.jsonl"), o.Dir)
	return nil
}

// waitWorkers waits until every worker of the topology is a Node that is Ready and
// carries no not-ready taint.
func waitWorkers(ctx context.Context, cs kubernetes.Interface, t *axonsim.Topology, logf func(string, ...any)) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := map[string]bool{}
			for _, n := range nodes.Items {
				ok := false
				for _, c := range n.Status.Conditions {
					ok = ok || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
				}
				for _, taint := range n.Spec.Taints {
					ok = ok && taint.Key != corev1.TaintNodeNotReady
				}
				ready[n.Name] = ok
			}
			var missing []string
			for _, w := range t.Workers {
				if !ready[w.Name] {
					missing = append(missing, w.Name)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("workers not ready in time: %s", strings.Join(missing, ", "))
			}
		} else if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Controllers run by kube-controller-manager.
var Controllers = []string{
	"statefulset-controller", "disruption-controller", "garbage-collector-controller",
	"serviceaccount-controller", "serviceaccount-token-controller",
	"persistentvolume-binder-controller", "persistentvolume-protection-controller",
	"persistentvolumeclaim-protection-controller", "namespace-controller",
	"endpointslice-controller", "root-ca-certificate-publisher-controller",
	"node-lifecycle-controller", "pod-garbage-collector-controller",
}

func firstIP(cidr string) net.IP {
	ip, _, _ := net.ParseCIDR(cidr)
	ip = ip.To4()
	out := append(net.IP(nil), ip...)
	out[3]++
	return out
}

func findRBAC(given, binDir string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	cwd, _ := os.Getwd()
	for _, start := range []string{binDir, cwd} {
		for d := start; ; d = filepath.Dir(d) {
			p := filepath.Join(d, "docs", "rbac.yaml")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("docs/rbac.yaml not found above the binary or the working directory: pass --rbac")
}

func waitReady(ctx context.Context, s *State, caPEM []byte, token string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var last string
	for {
		for _, p := range s.Processes {
			if !p.alive() {
				return fmt.Errorf("%s exited:\n%s", p.Name, tail(p.Log, 20))
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", s.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %s\n%s", last, tail(s.Path("logs", "kube-apiserver.log"), 20))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

func clients(kubeconfigPath string) (kubernetes.Interface, dynamic.Interface, meta.RESTMapper, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	groups, err := restmapper.GetAPIGroupResources(cs.Discovery())
	if err != nil {
		return nil, nil, nil, err
	}
	return cs, dyn, restmapper.NewDiscoveryRESTMapper(groups), nil
}

func createObjects(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, mapper meta.RESTMapper, t *axonsim.Topology, rbacPath string) error {
	ns := t.Namespace
	ignoreExists := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	c := metav1.CreateOptions{}
	if err := ignoreExists(func() error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, c)
		return err
	}()); err != nil {
		return err
	}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, storageClass(), c); err != nil {
		return err
	}
	if err := applyFile(ctx, dyn, mapper, rbacPath, ns); err != nil {
		return fmt.Errorf("%s: %w", rbacPath, err)
	}
	rb, crb := operatorBindings(ns)
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, c); err != nil {
		return err
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, c); err != nil {
		return err
	}
	o, err := GenerateOptions(t)
	if err != nil {
		return err
	}
	for _, sec := range secrets(t, o) {
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, sec, c); err != nil {
			return err
		}
	}
	objs, err := Manifests(t)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := createObject(ctx, dyn, mapper, obj); err != nil {
			return err
		}
	}
	return nil
}

// createObject creates one typed object (with its TypeMeta set, as generate's are).
func createObject(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj runtime.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: m}
	gvk := u.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
	}
	if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
	}
	return nil
}

// applyFile creates every object of a multi-document YAML file, namespaced
// ones in ns (as `kubectl -n NS apply -f FILE` would).
func applyFile(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, path, ns string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			u.SetNamespace(ns)
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
		}
	}
}

// proxiedHealth returns the status of GET /actuator/health on pod:8024
// through the pod proxy, or what went wrong.
func proxiedHealth(ctx context.Context, cs kubernetes.Interface, t *axonsim.Topology, pod string) string {
	name := pod + ":8024"
	if t.TLS {
		name = "https:" + name
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := cs.CoreV1().RESTClient().Get().Namespace(t.Namespace).Resource("pods").Name(name).
		SubResource("proxy").Suffix("actuator", "health")
	if t.AccessToken != "" {
		req = req.SetHeader("AxonIQ-Access-Token", t.AccessToken)
	}
	body, err := req.DoRaw(ctx)
	var h struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &h) == nil && h.Status != "" {
		return h.Status
	}
	if err != nil {
		return "unknown: " + err.Error()
	}
	return "unknown"
}

// NodeReport is what the agent writes to DIR/agent/nodes.json, per Axon node: keyed by
// the node's name for the topology's namespace, by NAMESPACE/NAME for the cluster of
// another namespace (whose reports name their Namespace).
type NodeReport struct {
	Pod       string `json:"pod"`
	PodIP     string `json:"podIP"`
	Worker    string `json:"worker"`
	State     string `json:"state"`
	Healthy   bool   `json:"healthy"`
	Namespace string `json:"namespace,omitempty"` // "" for the topology's namespace
}

// ReadNodeReports reads the agent's view of the simulated Axon nodes: the topology's by
// name, those of other namespaces by NAMESPACE/NAME (ReadNamespaceReports).
func ReadNodeReports(s *State) (map[string]NodeReport, error) {
	b, err := os.ReadFile(s.Path("agent", "nodes.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]NodeReport{}
	return out, json.Unmarshal(b, &out)
}

// ReadNamespaceReports reads the agent's view of the Axon nodes of namespace ns (the
// topology's or another), by node name.
func ReadNamespaceReports(s *State, ns string) (map[string]NodeReport, error) {
	all, err := ReadNodeReports(s)
	if err != nil {
		return nil, err
	}
	out := map[string]NodeReport{}
	for k, r := range all {
		if ns == s.Namespace && r.Namespace == "" {
			out[k] = r
		} else if node, ok := strings.CutPrefix(k, ns+"/"); ok && r.Namespace == ns {
			out[node] = r
		}
	}
	return out, nil
}

// WaitHealthy waits until every StatefulSet of the topology has its pod Ready
// and the agent reports every Axon node healthy.
func WaitHealthy(ctx context.Context, s *State, cs kubernetes.Interface, t *axonsim.Topology, logf func(string, ...any)) error {
	lastMsg := ""
	lastLog := time.Time{}
	for {
		var waiting []string
		sts, err := cs.AppsV1().StatefulSets(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "cluster=" + t.Name})
		if err == nil {
			ready := map[string]bool{}
			for _, x := range sts.Items {
				ready[x.Name] = x.Status.ReadyReplicas >= 1 && x.Status.ObservedGeneration >= x.Generation
			}
			reports, _ := ReadNodeReports(s)
			for _, n := range Deployed(t) {
				r := reports[n.Name]
				switch {
				case !ready[n.Name]:
					st := r.State
					if st == "" {
						st = "no pod running"
					}
					waiting = append(waiting, fmt.Sprintf("%s (pod not ready; %s)", n.Name, st))
				case !r.Healthy:
					waiting = append(waiting, fmt.Sprintf("%s (%s)", n.Name, r.State))
				}
			}
		} else {
			waiting = append(waiting, err.Error())
		}
		if len(waiting) == 0 {
			// Every pod Ready, every node Running: ask each node, through the
			// API server's pod proxy (the path kubectl axon takes), whether
			// it is healthy: UP once the cluster has formed and every
			// replication group has its leader.
			for _, n := range Deployed(t) {
				if h := proxiedHealth(ctx, cs, t, n.Name+"-0"); h != "UP" {
					waiting = append(waiting, fmt.Sprintf("%s (health %s)", n.Name, h))
				}
			}
			if len(waiting) == 0 {
				return nil
			}
		}
		sort.Strings(waiting)
		msg := strings.Join(waiting, ", ")
		if logf != nil && (msg != lastMsg && time.Since(lastLog) > 5*time.Second || time.Since(lastLog) > 20*time.Second) {
			logf("waiting for %s", msg)
			lastMsg, lastLog = msg, time.Now()
		}
		for _, p := range s.Processes {
			if !p.alive() {
				return fmt.Errorf("%s exited:\n%s", p.Name, tail(p.Log, 20))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy in time: waiting for %s\nagent log (tail):\n%s", msg, tail(s.Path("logs", "agent.log"), 15))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
