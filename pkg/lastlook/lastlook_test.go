package lastlook

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

func TestPath(t *testing.T) {
	for _, c := range []struct{ dir, host, ns, want string }{
		{"/c", "https://10.0.0.1:6443", "axon", "/c/kubectl-axon/https___10.0.0.1_6443/axon.json"},
		{"/c", "https://api.example.com/prefix", "prod", "/c/kubectl-axon/https___api.example.com_prefix/prod.json"},
		{"", "https://10.0.0.1:6443", "axon", ""},
		{"/c", "https://10.0.0.1:6443", "", ""},
	} {
		if got := Path(c.dir, c.host, c.ns); got != c.want {
			t.Errorf("Path(%q, %q, %q) = %q, want %q", c.dir, c.host, c.ns, got, c.want)
		}
	}
}

func TestLoadIgnoresWhatItCannotUse(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"missing": "",
		"corrupt": "{not json",
		"foreign": `{"format": 99, "clusters": {"axonserver": {"viewFrom": "axonserver-1"}}}`,
	} {
		p := filepath.Join(dir, name+".json")
		if content != "" {
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		f := Load(p)
		if len(f.Clusters) != 0 || f.Format != format {
			t.Errorf("%s: Load = %+v, want an empty file", name, f)
		}
	}
}

func envSetting(value string) *axonserver.Env {
	return &axonserver.Env{PropertySources: []axonserver.PropertySource{
		{Name: "systemEnvironment", Properties: map[string]axonserver.PropertyValue{"PATH": {Value: "/bin"}}},
		{Name: "axonserver.properties", Properties: map[string]axonserver.PropertyValue{
			inspect.MinActiveBackupsKey:             {Value: value},
			"axoniq.axonserver.accesscontrol.token": {Value: "s3cret"},
		}},
	}}
}

// TestLearnSaveSeed: what one look learned reaches the next run's cache, for the
// processes still running only, and of the configuration only min-active-backups;
// of the identity only what does not change while the process runs.
func TestLearnSaveSeed(t *testing.T) {
	info := &axonserver.Info{}
	info.App.Version = "2025.1.2"
	targets := []inspect.Target{
		{Node: "axonserver-1", Instance: "axonserver-1/uid-1/0"},
		{Node: "axonserver-2", Instance: "axonserver-2/uid-2/0"},
		{Node: "axonserver-3", Instance: "axonserver-3/uid-3/1"},
		{Node: "axonserver-4", Instance: ""}, // not cached: no instance
	}
	me := func(node string) *axonserver.NodeInfo {
		return &axonserver.NodeInfo{Name: node, HostName: node + ".axonserver", Clustered: true, AdminNode: true,
			ContextNames: []string{"_admin", "orders"}}
	}
	obs := &inspect.Observation{From: "axonserver-2", Nodes: map[string]*inspect.NodeView{
		"axonserver-1": {Node: "axonserver-1", Info: info, Me: me("axonserver-1"), Env: envSetting("2")},
		"axonserver-2": {Node: "axonserver-2", Info: info, Me: me("axonserver-2"), Env: &axonserver.Env{}}, // the default
		"axonserver-3": {Node: "axonserver-3", Info: info},                                                 // env not read
		"axonserver-4": {Node: "axonserver-4", Info: info, Env: envSetting("1")},
	}}
	path := filepath.Join(t.TempDir(), "cache", "axon.json")
	f := Load(path)
	f.Learn("axonserver", targets, obs, true)
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v; want mode 0600", st, err)
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range []string{"s3cret", "PATH", "orders"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the file holds %q:\n%s", secret, raw)
		}
	}

	next := Load(path)
	if got := next.Names(); len(got) != 1 || got[0] != "axonserver" {
		t.Fatalf("Names = %v", got)
	}
	if kc := next.Of("axonserver"); kc.ViewFrom != "axonserver-2" || !kc.License || len(kc.Processes) != 3 {
		t.Fatalf("Of = %+v", kc)
	}
	// The next run: axonserver-3 restarted (a new instance), axonserver-1 and -2 did not.
	now := []inspect.Target{targets[0], targets[1], {Node: "axonserver-3", Instance: "axonserver-3/uid-3/2"}}
	c := &inspect.Cache{}
	next.Seed("axonserver", now, c)
	api := &countingAPI{info: info, env: envSetting("3"),
		raft: []axonserver.RaftStatus{{ReplicationGroup: "orders"}}} // members of orders only: not admin nodes now
	for i := range now {
		now[i].API = api
	}
	seen := inspect.Observe(t.Context(), now, inspect.Options{Cache: c})
	if api.infoCalls.Load() != 1 || api.envCalls.Load() != 1 || api.meCalls.Load() != 1 {
		t.Errorf("asked info %d, env %d and me %d times, want once each (the restarted node)",
			api.infoCalls.Load(), api.envCalls.Load(), api.meCalls.Load())
	}
	for node, want := range map[string]string{"axonserver-1": "2", "axonserver-2": "", "axonserver-3": "3"} {
		v := seen.Nodes[node]
		got, _, ok := v.Env.Property(inspect.MinActiveBackupsKey)
		if v.Version() != "2025.1.2" || got != want || ok != (want != "") {
			t.Errorf("%s: version %q, min-active-backups %q (set %v), want %q", node, v.Version(), got, ok, want)
		}
	}
	for _, node := range []string{"axonserver-1", "axonserver-2"} {
		if v := seen.Nodes[node]; v.Me == nil || v.Me.Name != node || v.Me.AdminNode || !v.Reachable {
			t.Errorf("%s: identity %+v, reachable %v; want the kept one, not an admin node", node, v.Me, v.Reachable)
		}
	}
	next.Learn("axonserver", now, seen, false)
	if _, old := next.Of("axonserver").Processes["axonserver-3/uid-3/1"]; old {
		t.Error("the stopped process is still kept")
	}
}

// countingAPI answers every question and counts the per-process ones.
type countingAPI struct {
	info                         *axonserver.Info
	env                          *axonserver.Env
	raft                         []axonserver.RaftStatus
	infoCalls, envCalls, meCalls atomic.Int32
}

func (a *countingAPI) Info(context.Context) (*axonserver.Info, error) {
	a.infoCalls.Add(1)
	return a.info, nil
}

func (a *countingAPI) Env(context.Context) (*axonserver.Env, error) {
	a.envCalls.Add(1)
	return a.env, nil
}

func (a *countingAPI) Me(context.Context) (*axonserver.NodeInfo, error) {
	a.meCalls.Add(1)
	return &axonserver.NodeInfo{Clustered: true, AdminNode: true}, nil
}

func (a *countingAPI) Public(context.Context) ([]axonserver.Node, error) { return nil, nil }

func (a *countingAPI) ReplicationGroups(context.Context) ([]axonserver.ReplicationGroup, error) {
	return nil, nil
}

func (a *countingAPI) Contexts(context.Context) ([]axonserver.Context, error) { return nil, nil }

func (a *countingAPI) RaftStatus(context.Context) ([]axonserver.RaftStatus, error) {
	return a.raft, nil
}

func (a *countingAPI) Health(context.Context) (*axonserver.Health, error) {
	return &axonserver.Health{Status: "UP"}, nil
}

// TestZones: a worker's zone is taken from the file only for a worker that still runs
// a pod it ran when the zone was read; otherwise discovery reads the worker again.
func TestZones(t *testing.T) {
	member := func(node, worker, zone string, uid types.UID) discovery.Member {
		return discovery.Member{NodeName: node, Worker: worker, Zone: zone,
			Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: node + "-0", UID: uid}, Spec: corev1.PodSpec{NodeName: worker}}}
	}
	f := Load("")
	f.LearnZones([]discovery.Member{
		member("axonserver-1", "w1", "z1", "p1"),
		member("axonserver-2", "w1", "z1", "p2"),
		member("axonserver-3", "w2", "", "p3"), // no zone: asked again
		member("axonserver-4", "", "", "p4"),   // not scheduled
	})
	if len(f.Zones) != 1 || f.Zones["w1"].Zone != "z1" || len(f.Zones["w1"].Pods) != 2 {
		t.Fatalf("learned %+v, want w1 (z1) with its 2 pods only", f.Zones)
	}
	for _, c := range []struct {
		name   string
		worker string
		uid    types.UID
		read   bool // discovery reads the worker
	}{
		{"the same pod on the same worker", "w1", "p2", false},
		{"a new pod on the worker (it may be a new Node of the same name)", "w1", "p9", true},
		{"a known pod on another worker", "w3", "p1", true},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-0", Namespace: "axon", UID: c.uid,
			Labels:          map[string]string{"cluster": "axonserver"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "axonserver-1", UID: "sts-1", Controller: ptr(true)}}},
			Spec: corev1.PodSpec{NodeName: c.worker}}
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1", Namespace: "axon", UID: "sts-1",
			Labels: map[string]string{"cluster": "axonserver"}}}
		kube := fake.NewClientset(sts, pod,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: c.worker, Labels: map[string]string{discovery.ZoneLabel: "read"}}})
		cache := &discovery.Cache{}
		f.SeedZones(cache)
		found, err := discovery.Discover(t.Context(), kube, discovery.Query{Namespace: "axon", Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		gets := 0
		for _, a := range kube.Actions() {
			if a.GetVerb() == "get" && a.GetResource().Resource == "nodes" {
				gets++
			}
		}
		want := "z1"
		if c.read {
			want = "read"
		}
		if z := found.Members[0].Zone; z != want || (gets == 1) != c.read {
			t.Errorf("%s: zone %q after %d GETs of the worker, want %q (read: %v)", c.name, z, gets, want, c.read)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestGroupsKept: a groups' view that can be taken again (Observation.GroupsIndex) is
// kept with its node, process and _admin index, each context by name and without its
// leaders; it comes back as it was, less the contexts' metadata. A view not asked in
// that order is kept at index 0; one whose _admin group has events is not kept.
func TestGroupsKept(t *testing.T) {
	targets := []inspect.Target{{Node: "axonserver-1", Instance: "axonserver-1/uid-1/0"}, {Node: "axonserver-2", Instance: "axonserver-2/uid-2/0"}}
	roles := []axonserver.NodeRole{{Node: "axonserver-1", Role: "PRIMARY"}, {Node: "axonserver-2", Role: "PRIMARY"}}
	groups := []axonserver.ReplicationGroup{
		{Name: "_admin", Leader: "axonserver-1", Roles: roles, Contexts: []axonserver.Context{{Context: "_admin", ReplicationGroup: "_admin", MetaData: map[string]string{}}}},
		{Name: "g1", Leader: "axonserver-2", Roles: roles, ChangePending: true, PendingSince: 1700000000000,
			Contexts: []axonserver.Context{{Context: "c1", ReplicationGroup: "g1", MetaData: map[string]string{"k": "v"}}, {Context: "c2", ReplicationGroup: "g1"}}},
	}
	obs := &inspect.Observation{From: "axonserver-1", Groups: groups, GroupsIndex: 42, Nodes: map[string]*inspect.NodeView{}}
	path := filepath.Join(t.TempDir(), "ns.json")
	f := Load(path)
	f.Learn("axonserver", targets, obs, false)
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), `"leader"`) || strings.Contains(string(b), `"k"`) {
		t.Errorf("the file keeps leaders or metadata: %s", b)
	}
	got := Load(path).Of("axonserver").Groups.known()
	if got == nil || got.Node != "axonserver-1" || got.Instance != "axonserver-1/uid-1/0" || got.AdminIndex != 42 {
		t.Fatalf("kept %+v", got)
	}
	want := []axonserver.ReplicationGroup{
		{Name: "_admin", Roles: roles, Contexts: []axonserver.Context{{Context: "_admin", ReplicationGroup: "_admin"}}},
		{Name: "g1", Roles: roles, ChangePending: true, PendingSince: 1700000000000,
			Contexts: []axonserver.Context{{Context: "c1", ReplicationGroup: "g1"}, {Context: "c2", ReplicationGroup: "g1"}}},
	}
	if !reflect.DeepEqual(got.Groups, want) {
		t.Errorf("groups came back as\n%+v\nwant\n%+v", got.Groups, want)
	}
	if groups[1].Leader != "axonserver-2" {
		t.Errorf("Learn changed the look's groups")
	}
	obs.GroupsIndex = 0
	f.Learn("axonserver", targets, obs, false)
	if g := f.Of("axonserver").Groups; g == nil || g.AdminIndex != 0 {
		t.Errorf("a view not asked after the Raft status: kept %+v, want it at index 0 (never taken, worth keeping)", g)
	}
	obs.Groups = append([]axonserver.ReplicationGroup{{Name: "_admin", Roles: roles, Contexts: []axonserver.Context{
		{Context: "_admin", ReplicationGroup: "_admin"}, {Context: "default", ReplicationGroup: "_admin"}}}}, groups[1:]...)
	obs.GroupsIndex = 42
	f.Learn("axonserver", targets, obs, false)
	if f.Of("axonserver").Groups != nil {
		t.Errorf("a view whose _admin group holds a context with events was kept")
	}
}
