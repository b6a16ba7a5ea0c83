//go:build e2e

package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// TestStatus walks one five-node sandbox through healthy, one node stopped,
// a replication group without quorum, and back, checking `kubectl axon
// status -o json` against the simulator's audit log at each step. The
// subtests run in order and share the sandbox.
func TestStatus(t *testing.T) {
	t.Parallel() // each test group has a sandbox of its own; they coexist
	s := StartSandbox(t, "testdata/five.yaml")
	ns := s.Namespace

	t.Run("Healthy", func(t *testing.T) {
		s.t = t
		st := s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		if st.Cluster != "axonserver" || st.Namespace != ns {
			t.Errorf("cluster/namespace = %q/%q, want axonserver/%s", st.Cluster, st.Namespace, ns)
		}
		if len(st.Nodes) != 5 || len(st.Groups) != 3 {
			t.Fatalf("%d nodes, %d groups; want 5 and 3", len(st.Nodes), len(st.Groups))
		}
		for _, n := range st.Nodes {
			if n.StatefulSet != n.Name || n.Pod != n.Name+"-0" {
				t.Errorf("node %s: statefulSet %q pod %q", n.Name, n.StatefulSet, n.Pod)
			}
		}
		for _, g := range st.Groups {
			if g.FaultTolerance != 1 {
				t.Errorf("group %s: faultTolerance %d, want 1 (3 primaries)", g.Name, g.FaultTolerance)
			}
			for _, m := range g.Members {
				if !m.Up || !m.CaughtUp {
					t.Errorf("group %s member %s: up=%v caughtUp=%v", g.Name, m.Node, m.Up, m.CaughtUp)
				}
			}
		}
		ev := s.Audit()
		for _, n := range s.Topology.Nodes {
			if len(FindEvents(ev, "node-ready", "", n.Name)) == 0 {
				t.Errorf("audit: no node-ready for %s", n.Name)
			}
		}
		if k := FindEvents(ev, "node-killed", "", ""); len(k) > 0 {
			t.Errorf("audit: nodes killed while coming up:\n%s", fmtEvents(k))
		}
		if q := FindEvents(ev, "quorum-lost", "", ""); len(q) > 0 {
			t.Errorf("audit: quorum lost while coming up:\n%s", fmtEvents(q))
		}
		// The leader status reports is the last one the audit log elected.
		for _, g := range st.Groups {
			el := FindEvents(ev, "leader-elected", g.Name, "")
			if len(el) == 0 {
				t.Errorf("audit: no leader elected for %s", g.Name)
				continue
			}
			if last := el[len(el)-1].Node; last != g.Leader {
				t.Errorf("group %s: status says leader %q, audit log's last election %q", g.Name, g.Leader, last)
			}
		}
	})

	t.Run("PodProxy", func(t *testing.T) {
		s.t = t
		for _, op := range []bool{false, true} {
			r := s.Run(s.Kubeconfig(op), "kubectl", "get", "--raw",
				"/api/v1/namespaces/"+ns+"/pods/axonserver-1-0:8024/proxy/actuator/info")
			if r.Code != 0 {
				t.Fatalf("operator=%v: %s", op, r)
			}
			var info struct {
				App struct{ Name, Version string }
			}
			if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil || info.App.Version != "2024.1.0" {
				t.Errorf("operator=%v: /actuator/info through the pod proxy: %v %q", op, err, r.Stdout)
			}
		}
	})

	t.Run("Transports", func(t *testing.T) {
		s.t = t
		// proxy is the default; port-forward goes through the simulated
		// kubelet's streaming endpoint; direct dials pod IPs, which the host
		// reaches through its route into the sandbox's namespace.
		for _, tr := range []string{"proxy", "port-forward", "direct"} {
			st, r := s.Status(false, "--transport", tr)
			if !allHealthy(st) {
				t.Errorf("--transport %s: not healthy:\n%s", tr, r)
			}
		}
		if out := s.Kubectl("-n", ns, "logs", "axonserver-1-0"); !strings.Contains(out, "started container") {
			t.Errorf("kubectl logs: %q", out)
		}
	})

	t.Run("Operator", func(t *testing.T) {
		s.t = t
		st, r := s.Status(true)
		if !allHealthy(st) {
			t.Errorf("status as the operator (documented Role and ClusterRole only) is not healthy:\n%s", r)
		}
		// The operator has what the Role grants and nothing else.
		for _, c := range []struct {
			verb, res, ns, want string
		}{
			{"get", "pods/proxy", ns, "yes"},
			{"create", "pods/proxy", ns, "yes"},
			{"patch", "statefulsets", ns, "yes"},
			{"create", "pods/eviction", ns, "yes"},
			{"create", "pods/portforward", ns, "yes"},
			{"patch", "pods", ns, "no"},
			{"update", "pods/status", ns, "no"},
			{"list", "nodes", "", "yes"},
			{"create", "statefulsets", ns, "yes"}, // add-node
			{"delete", "statefulsets", ns, "yes"}, // remove-node
			{"create", "deployments", ns, "no"},
			{"delete", "deployments", ns, "no"},
			{"create", "pods/exec", ns, "no"}, // backup's own Role only
			{"list", "pods", "kube-system", "no"},
			{"get", "secrets", "kube-system", "no"},
			{"delete", "nodes", "", "no"},
		} {
			res, sub, _ := strings.Cut(c.res, "/")
			args := []string{"kubectl", "auth", "can-i", c.verb, res}
			if sub != "" {
				args = append(args, "--subresource="+sub)
			}
			if c.ns != "" {
				args = append(args, "-n", c.ns)
			}
			got := strings.TrimSpace(s.Run(s.Kubeconfig(true), args...).Stdout)
			if got != c.want {
				t.Errorf("operator can-i %s %s -n %q: %q, want %q", c.verb, c.res, c.ns, got, c.want)
			}
		}
	})

	t.Run("OperatorWithoutPodProxy", func(t *testing.T) {
		s.t = t
		// Less than the documented Role does not work: a user bound to the
		// Role minus pods/proxy cannot reach any node with the default transport.
		kc := limitedUser(t, s, "pods/proxy")
		r := s.Run(kc, "kubectl", "axon", "status", "-n", ns, "-o", "json")
		if r.Code != 0 && r.Code != 3 {
			// refused outright: the error must name what is missing
			if !strings.Contains(r.Stderr, "pods/proxy") {
				t.Errorf("status without pods/proxy failed without naming it:\n%s", r)
			}
			return
		}
		var st Status
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		if st.Healthy {
			t.Errorf("status without pods/proxy says healthy:\n%s", r)
		}
		for _, n := range st.Nodes {
			if n.Reachable {
				t.Errorf("node %s reachable without pods/proxy", n.Name)
			}
		}
	})

	var dataPV string
	t.Run("StoppedNode", func(t *testing.T) {
		s.t = t
		dataPV = strings.TrimSpace(s.Kubectl("-n", ns, "get", "pvc", "data-axonserver-5-0", "-o", "jsonpath={.spec.volumeName}"))
		mark := s.AuditMark()
		s.Scale("axonserver-5", 0)
		s.WaitAudit(mark, 60*time.Second, "node-stopped", "", "axonserver-5")
		st := s.WaitStatus(60*time.Second, "axonserver-5 down in orders", func(st Status) bool {
			g := st.Group("orders")
			return g != nil && g.Member("axonserver-5") != nil && !g.Member("axonserver-5").Up && g.Leader != ""
		})
		if st.Healthy {
			t.Error("cluster healthy with a node stopped")
		}
		n5 := st.Node("axonserver-5")
		if n5 == nil || n5.Ready || n5.Reachable || n5.Healthy {
			t.Errorf("axonserver-5: %+v", n5)
		}
		orders := st.Group("orders")
		if !orders.CanCommit || orders.FaultTolerance != 0 {
			t.Errorf("orders: canCommit %v faultTolerance %d, want true 0", orders.CanCommit, orders.FaultTolerance)
		}
		for _, name := range []string{"axonserver-3", "axonserver-4"} {
			if n := st.Node(name); n == nil || n.SafeToStop {
				t.Errorf("%s safe to stop while orders tolerates no failure: %+v", name, n)
			}
		}
		if g := st.Group("_admin"); !g.CanCommit || g.FaultTolerance != 1 {
			t.Errorf("_admin: %+v", g)
		}
		ev := s.AuditSince(mark)
		if k := FindEvents(ev, "node-killed", "", ""); len(k) > 0 {
			t.Errorf("scale to 0 killed nodes (grace period 120s, shutdown 1s):\n%s", fmtEvents(k))
		}
		if q := FindEvents(ev, "quorum-lost", "", ""); len(q) > 0 {
			t.Errorf("quorum lost with one node stopped:\n%s", fmtEvents(q))
		}
	})

	t.Run("QuorumLost", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		s.Scale("axonserver-4", 0)
		s.WaitAudit(mark, 60*time.Second, "quorum-lost", "orders", "")
		st := s.WaitStatus(60*time.Second, "orders unable to commit", func(st Status) bool {
			g := st.Group("orders")
			return g != nil && !g.CanCommit
		})
		if st.Healthy {
			t.Error("cluster healthy while orders has no quorum")
		}
		orders := st.Group("orders")
		for _, name := range []string{"axonserver-4", "axonserver-5"} {
			if m := orders.Member(name); m == nil || m.Up {
				t.Errorf("orders member %s: %+v", name, m)
			}
		}
		for _, name := range []string{"_admin", "default"} {
			if g := st.Group(name); g == nil || !g.CanCommit || g.Leader == "" {
				t.Errorf("group %s lost quorum too: %+v", name, g)
			}
		}
		ev := s.AuditSince(mark)
		for _, g := range []string{"_admin", "default"} {
			if q := FindEvents(ev, "quorum-lost", g, ""); len(q) > 0 {
				t.Errorf("audit: %s lost quorum:\n%s", g, fmtEvents(q))
			}
		}
	})

	t.Run("Recovered", func(t *testing.T) {
		s.t = t
		mark := s.AuditMark()
		s.ScaleAll(1, "axonserver-4", "axonserver-5")
		s.WaitAudit(mark, 60*time.Second, "quorum-restored", "orders", "")
		s.WaitStatus(90*time.Second, "a healthy cluster again", allHealthy)
		// The StatefulSet controller recreated the pod with the same claim:
		// the node's data lives on the same volume.
		pv := strings.TrimSpace(s.Kubectl("-n", ns, "get", "pvc", "data-axonserver-5-0", "-o", "jsonpath={.spec.volumeName}"))
		if pv == "" || pv != dataPV {
			t.Errorf("data-axonserver-5-0 bound to %q after the restart, was %q", pv, dataPV)
		}
		for _, e := range FindEvents(s.AuditSince(mark), "node-started", "", "") {
			if e.Reason != "" {
				t.Errorf("%s restarted with %q after a clean stop", e.Node, e.Reason)
			}
		}
	})
	t.Run("RemembersTheLastLook", func(t *testing.T) {
		s.t = t
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		hs := &harness.Sandbox{Dir: s.Dir, Namespace: ns}
		p, err := hs.StartCountingProxy()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		cache := t.TempDir()
		// look runs status through the counting proxy with the test's cache directory
		// and returns what it showed of each node and what it asked.
		look := func(what string) (map[string]remembered, map[string]int) {
			t.Helper()
			p.Reset()
			r := s.Run(p.Kubeconfig, "kubectl", "axon", "status", "-n", ns, "-o", "json", "--cache-dir", cache)
			if r.Code != 0 {
				t.Fatalf("%s: %s", what, r)
			}
			counts, trace := p.ResetTrace()
			asked := map[string]int{"GET nodes": counts["GET nodes"], "GET namespaces": counts["GET namespaces"]}
			for _, tr := range trace {
				for _, path := range []string{"/actuator/info", "/actuator/env", "/v1/public/me", "/v1/public/replicationgroups"} {
					if strings.HasSuffix(tr.URL, ":8024/proxy"+path) {
						asked[path]++
					}
				}
			}
			var st struct {
				Nodes []remembered `json:"nodes"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
				t.Fatalf("%s: %v\n%s", what, err, r.Stdout)
			}
			shown := map[string]remembered{}
			for _, n := range st.Nodes {
				shown[n.Name] = n
			}
			return shown, asked
		}
		cold, asked := look("a first run")
		if asked["/actuator/info"] != 5 || asked["/actuator/env"] != 5 || asked["/v1/public/me"] != 5 || asked["GET nodes"] != 3 ||
			asked["/v1/public/replicationgroups"] != 1 {
			t.Errorf("a first run asked %v; want info, env and me of the 5 nodes, the 3 workers and the groups' view once", asked)
		}
		warm, asked := look("a second run")
		for k, n := range asked {
			if n != 0 {
				t.Errorf("a second run made %d requests %s; want none (remembered)", n, k)
			}
		}
		if !maps.Equal(cold, warm) {
			t.Errorf("the second run shows\n%v\nthe first\n%v", warm, cold)
		}
		// A new pod is a new process: its build, configuration and identity are asked again, and
		// its worker's zone unless a pod read with it still runs there.
		old := strings.TrimSpace(s.Kubectl("-n", ns, "get", "pod", "axonserver-2-0", "-o", "jsonpath={.metadata.uid}"))
		s.Kubectl("-n", ns, "delete", "pod", "axonserver-2-0")
		s.WaitStatus(90*time.Second, "healthy with a new axonserver-2-0", func(st Status) bool {
			uid := strings.TrimSpace(s.Kubectl("-n", ns, "get", "pod", "axonserver-2-0", "-o", "jsonpath={.metadata.uid}", "--ignore-not-found"))
			return uid != "" && uid != old && allHealthy(st)
		})
		after, asked := look("a run after the pod was replaced")
		if asked["/actuator/info"] != 1 || asked["/actuator/env"] != 1 || asked["/v1/public/me"] != 1 || asked["GET nodes"] > 1 || asked["GET namespaces"] != 0 {
			t.Errorf("after axonserver-2-0 was replaced, status asked %v; want info, env and me of that node only, at most its worker", asked)
		}
		worker := strings.TrimSpace(s.Kubectl("-n", ns, "get", "pod", "axonserver-2-0", "-o", "jsonpath={.spec.nodeName}"))
		zone := strings.TrimSpace(s.Kubectl("get", "node", worker, "-o", `jsonpath={.metadata.labels.topology\.kubernetes\.io/zone}`))
		if n := after["axonserver-2"]; n.Worker != worker || n.Zone != zone || n.Version != cold["axonserver-2"].Version {
			t.Errorf("axonserver-2 after its pod was replaced: %+v; want worker %s, zone %s, version %s", n, worker, zone, cold["axonserver-2"].Version)
		}
	})
}

// remembered is what status shows of a node that a run may take from the last one.
type remembered struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Worker  string `json:"worker"`
	Zone    string `json:"zone"`
	Admin   bool   `json:"admin"`
}

// limitedUser creates a ServiceAccount bound to kubectl axon's documented
// ClusterRole and to its Role minus the rules naming the given resource, and
// returns a kubeconfig for it.
func limitedUser(t *testing.T, s *Sandbox, without string) string {
	t.Helper()
	ns := s.Namespace
	var role map[string]any
	if err := json.Unmarshal([]byte(s.Kubectl("-n", ns, "get", "role", "kubectl-axon", "-o", "json")), &role); err != nil {
		t.Fatal(err)
	}
	var rules []any
	for _, r := range role["rules"].([]any) {
		keep := true
		for _, res := range r.(map[string]any)["resources"].([]any) {
			if res == without {
				keep = false
			}
		}
		if keep {
			rules = append(rules, r)
		}
	}
	name := "kubectl-axon-without-" + strings.ReplaceAll(without, "/", "-")
	reduced := map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": name, "namespace": ns}, "rules": rules}
	b, _ := json.Marshal(reduced)
	f := filepath.Join(s.Dir, name+".json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Kubectl("create", "-f", f)
	s.Kubectl("-n", ns, "create", "serviceaccount", name)
	s.Kubectl("-n", ns, "create", "rolebinding", name, "--role="+name, "--serviceaccount="+ns+":"+name)
	s.Kubectl("create", "clusterrolebinding", name, "--clusterrole=kubectl-axon", "--serviceaccount="+ns+":"+name)
	token := strings.TrimSpace(s.Kubectl("-n", ns, "create", "token", name))
	kc, err := os.ReadFile(s.Kubeconfig(true))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(kc), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "token:") {
			line = line[:strings.Index(line, "token:")] + "token: " + token
		}
		out = append(out, line)
	}
	path := filepath.Join(s.Dir, "kubeconfig-"+name)
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
