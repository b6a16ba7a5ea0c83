package restore

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
)

// mounts are kubectl axon generate's volumes.
var mounts = []backup.Mount{
	{Volume: "events", Path: "/axonserver/events", Persistent: true},
	{Volume: "data", Path: "/axonserver/data", Persistent: true},
	{Volume: "log", Path: "/axonserver/log", Persistent: true},
	{Volume: "config", Path: "/axonserver/config"},
}

func target(node string, edit func(*Target)) Target {
	t := Target{Node: node, WorkDir: "/axonserver", Mounts: mounts,
		Paths: Storage{Events: "/axonserver/events", Snapshots: "/axonserver/events", Log: "/axonserver/log",
			ControlDB: "/axonserver/data", RecoveryFile: "/axonserver/data/recovery.json"},
		Host: node + ".new.svc.cluster.local", InternalHost: node + ".new.svc.cluster.local"}
	if edit != nil {
		edit(&t)
	}
	return t
}

func files(paths ...string) []backup.File {
	var out []backup.File
	for _, p := range paths {
		out = append(out, backup.File{Path: p, Size: int64(len(p))})
	}
	return out
}

// chain: a full backup and an incremental one on top of it. orders' members:
// axonserver-1 and -2 PRIMARY, axonserver-3 MESSAGING_ONLY (no event store);
// _admin: all three; billing (no context backed up): axonserver-1.
func chain() Chain {
	members := map[string]map[string]string{
		"_admin":  {"axonserver-1": "PRIMARY", "axonserver-2": "PRIMARY", "axonserver-3": "PRIMARY"},
		"orders":  {"axonserver-1": "PRIMARY", "axonserver-2": "PRIMARY", "axonserver-3": "MESSAGING_ONLY"},
		"billing": {"axonserver-1": "PRIMARY"},
	}
	base := &backup.Manifest{Cluster: "axon", Namespace: "old", ControlDB: "controldb/controldb1.zip", Complete: true,
		Members: members, ContextGroups: map[string]string{"orders": "orders"},
		Files: files("controldb/controldb1.zip", "log/orders/00000000000000000001.log",
			"events/orders/00000000000000000000.events", "events/orders/00000000000000000000.index",
			"events/orders/00000000000000000063.events", "events/orders/00000000000000000000.snapshots")}
	next := &backup.Manifest{Cluster: "axon", Namespace: "old", ControlDB: "controldb/controldb2.zip", Complete: true,
		Members: members, ContextGroups: map[string]string{"orders": "orders"},
		Files: files("controldb/controldb2.zip", "log/orders/00000000000000000064.log",
			"events/orders/00000000000000000063.events", "events/orders/00000000000000000063.index",
			"events/orders/00000000000000000126.events")}
	return Chain{{Dir: "/b/2", M: next}, {Dir: "/b/1", M: base}}
}

func targets(edit map[string]func(*Target)) map[string]Target {
	out := map[string]Target{}
	for _, n := range []string{"axonserver-1", "axonserver-2", "axonserver-3"} {
		out[n] = target(n, edit[n])
	}
	return out
}

func TestNewPlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chain     func() Chain
		targets   map[string]Target
		namespace string
		err       string
		check     func(t *testing.T, p Plan)
	}{
		{
			name: "files by membership and role, the newest copy of each", chain: chain, targets: targets(nil), namespace: "old",
			check: func(t *testing.T, p Plan) {
				if p.Recovery != nil {
					t.Errorf("same namespace: recovery %v", p.Recovery)
				}
				if p.ControlDB != "/b/2/controldb/controldb2.zip" {
					t.Errorf("control DB %s", p.ControlDB)
				}
				got := map[string][]string{}
				for _, n := range p.Nodes {
					for _, f := range n.Files {
						got[n.Node] = append(got[n.Node], f.Dir+":"+f.Dst)
					}
				}
				want1 := []string{
					"/b/1:/axonserver/events/orders/00000000000000000000.events",
					"/b/1:/axonserver/events/orders/00000000000000000000.index",
					"/b/1:/axonserver/events/orders/00000000000000000000.snapshots",
					"/b/2:/axonserver/events/orders/00000000000000000063.events",
					"/b/2:/axonserver/events/orders/00000000000000000063.index",
					"/b/2:/axonserver/events/orders/00000000000000000126.events",
					"/b/2:/axonserver/log/orders/00000000000000000064.log",
				}
				if !slices.Equal(got["axonserver-1"], want1) || !slices.Equal(got["axonserver-2"], want1) {
					t.Errorf("axonserver-1:\n%s\naxonserver-2:\n%s", strings.Join(got["axonserver-1"], "\n"), strings.Join(got["axonserver-2"], "\n"))
				}
				if want3 := []string{"/b/2:/axonserver/log/orders/00000000000000000064.log"}; !slices.Equal(got["axonserver-3"], want3) {
					t.Errorf("messaging-only axonserver-3 gets %v; want the log only", got["axonserver-3"])
				}
				if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "group billing") {
					t.Errorf("warnings %v", p.Warnings)
				}
			},
		},
		{
			name: "another namespace: a recovery file with the new host names", chain: chain, targets: targets(nil), namespace: "new",
			check: func(t *testing.T, p Plan) {
				if len(p.Recovery) != 3 || p.Recovery[1] != (RecoveryNode{"axonserver-2", "axonserver-2.new.svc.cluster.local", "axonserver-2.new.svc.cluster.local"}) {
					t.Errorf("recovery %+v", p.Recovery)
				}
				if !strings.Contains(string(p.RecoveryJSON()), `"internalHostName": "axonserver-3.new.svc.cluster.local"`) {
					t.Errorf("recovery.json %s", p.RecoveryJSON())
				}
			},
		},
		{
			name: "a snapshot store of its own", chain: chain, namespace: "old",
			targets: targets(map[string]func(*Target){"axonserver-2": func(t *Target) {
				t.Mounts = append(slices.Clone(mounts), backup.Mount{Volume: "snaps", Path: "/snaps", Persistent: true})
				t.Paths.Snapshots = "/snaps"
			}}),
			check: func(t *testing.T, p Plan) {
				var dsts []string
				for _, f := range p.Nodes[1].Files {
					dsts = append(dsts, f.Dst)
				}
				if !slices.Contains(dsts, "/snaps/orders/00000000000000000000.snapshots") || !slices.Contains(p.Nodes[1].Volumes, "snaps") {
					t.Errorf("axonserver-2: %v on %v", dsts, p.Nodes[1].Volumes)
				}
			},
		},
		{
			name: "relative paths resolve against the working directory", chain: chain, namespace: "old",
			targets: targets(map[string]func(*Target){"axonserver-1": func(t *Target) { t.Paths.Log = "./log" }}),
			check: func(t *testing.T, p Plan) {
				if p.Nodes[0].Storage.Log != "/axonserver/log" {
					t.Errorf("log %s", p.Nodes[0].Storage.Log)
				}
			},
		},
		{
			name: "a node without a StatefulSet", chain: chain, namespace: "old",
			targets: func() map[string]Target { m := targets(nil); delete(m, "axonserver-3"); return m }(),
			err:     "no StatefulSet in namespace old for node axonserver-3",
		},
		{
			name: "the Control DB path on the container's own filesystem", chain: chain, namespace: "old",
			targets: targets(map[string]func(*Target){"axonserver-2": func(t *Target) { t.Paths.ControlDB = "./controldb" }}),
			err:     "node axonserver-2: axoniq.axonserver.controldb-path=/axonserver/controldb is on the container's own filesystem",
		},
		{
			name: "Axon Server's default recovery file, in another namespace", chain: chain, namespace: "new",
			targets: targets(map[string]func(*Target){"axonserver-1": func(t *Target) { t.Paths.RecoveryFile = StorageDefaults.RecoveryFile }}),
			err:     "axoniq.axonserver.recoveryfile=/axonserver/recovery.json is on the container's own filesystem",
		},
		{
			name: "the default recovery file does not matter in the same namespace", chain: chain, namespace: "old",
			targets: targets(map[string]func(*Target){"axonserver-1": func(t *Target) { t.Paths.RecoveryFile = StorageDefaults.RecoveryFile }}),
		},
		{
			name: "events on a volume that is not a claim", chain: chain, namespace: "old",
			targets: targets(map[string]func(*Target){"axonserver-1": func(t *Target) {
				t.Mounts = append(slices.Clone(mounts), backup.Mount{Volume: "scratch", Path: "/scratch"})
				t.Paths.Events = "/scratch/events"
			}}),
			err: "axoniq.axonserver.event.storage=/scratch/events is on volume scratch, which is not a PersistentVolumeClaim",
		},
		{
			name: "a backup without the groups' members", namespace: "old", targets: targets(nil),
			chain: func() Chain { c := chain(); c[0].M.Members = nil; return c },
			err:   "does not record the cluster's replication groups",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.chain(), tc.targets, tc.namespace)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}
