// Package restore is the pure part of `kubectl axon restore`: the chain of backups a
// restore reads (an incremental backup and the ones it continues), which of their
// files each node of the restored cluster gets and where on its volumes they land,
// and the recovery file when the nodes' host names change. It knows nothing of
// Kubernetes or HTTP; it reads only the backup directories.
package restore

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Link is one backup of a chain.
type Link struct {
	Dir string
	M   *backup.Manifest
}

// Chain is a backup and every backup it continues (--since), newest first.
type Chain []Link

// MaxChain bounds a chain (a loop of --since references would never end).
const MaxChain = 1000

// ReadChain reads the backup in dir and follows its --since references. Every
// backup must verify (sizes, checksums, segment continuity, the Control DB zip),
// be complete, be of the same cluster, and continue the one before it.
func ReadChain(dir string) (Chain, error) {
	var c Chain
	seen := map[string]bool{}
	for dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		if seen[abs] || len(c) >= MaxChain {
			return nil, fmt.Errorf("%s: the --since references of the backups form a loop", dir)
		}
		seen[abs] = true
		m, problems, err := backup.Verify(abs)
		if err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("%s does not verify: %s (kubectl axon backup verify %s)", abs, problems[0], abs)
		}
		if !m.Complete {
			return nil, fmt.Errorf("%s is an incomplete backup (%s): restore only from a complete one", abs, m.Incomplete)
		}
		if m.Method != "" && m.Method != "files" {
			return nil, fmt.Errorf("%s is a %s backup: restore reads backups of method files", abs, m.Method)
		}
		if len(c) > 0 {
			newer := c[len(c)-1].M
			if m.Cluster != newer.Cluster || m.Namespace != newer.Namespace {
				return nil, fmt.Errorf("%s is a backup of cluster %s in %s, not of %s in %s as the backup that continues it", abs, m.Cluster, m.Namespace, newer.Cluster, newer.Namespace)
			}
			if gaps := backup.Continues(m, newer); len(gaps) > 0 {
				return nil, fmt.Errorf("%s does not continue %s: %s", c[len(c)-1].Dir, abs, gaps[0])
			}
		}
		c = append(c, Link{Dir: abs, M: m})
		dir = ""
		if m.Since != nil {
			dir = m.Since.Dir
		}
	}
	return c, nil
}

// Newest is the backup the restore is named after.
func (c Chain) Newest() *backup.Manifest { return c[0].M }

// Storage is where a node of the restored cluster keeps its files, absolute paths
// as its container sees them.
type Storage struct {
	Events, Snapshots, Log, ControlDB, RecoveryFile string
}

// StorageProperties are the properties that set Storage, and StorageDefaults
// Axon Server's values when nothing sets them (relative to the working directory).
var (
	StorageProperties = Storage{Events: nodeconfig.EventStorage, Snapshots: nodeconfig.SnapshotStorage, Log: nodeconfig.LogStorage,
		ControlDB: "axoniq.axonserver.controldb-path", RecoveryFile: "axoniq.axonserver.recoveryfile"}
	StorageDefaults = Storage{Events: "./data", Snapshots: "./data", Log: "./log", ControlDB: "./data", RecoveryFile: "./recovery.json"}
)

// Target is one node of the cluster restored into, as its StatefulSet lays it out.
type Target struct {
	Node    string
	WorkDir string
	// Mounts are the Axon Server container's volume mounts (no subPath).
	Mounts []backup.Mount
	// Paths are the storage paths as configured (relative ones against WorkDir).
	Paths Storage
	// Host and InternalHost are the names clients and the other nodes will reach it
	// by (recovery.json's hostName and internalHostName).
	Host, InternalHost string
}

// File is one file laid into a node: Src a path relative to its backup directory
// Dir, Dst the absolute path in the node's container.
type File struct {
	Dir  string `json:"-"`
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Size int64  `json:"size"`
}

// NodePlan is what one node gets.
type NodePlan struct {
	Node     string   `json:"node"`
	Groups   []string `json:"groups"`
	Contexts []string `json:"contexts"`
	// Storage is where its files land (absolute).
	Storage Storage `json:"storage"`
	Files   []File  `json:"files"`
	Bytes   int64   `json:"bytes"`
	// Volumes are the volumes (of Mounts) the files land on.
	Volumes []string `json:"volumes"`
}

// RecoveryNode is one element of recovery.json (AxonIQ's "Recovery" page).
type RecoveryNode struct {
	Name             string `json:"name"`
	HostName         string `json:"hostName"`
	InternalHostName string `json:"internalHostName"`
}

// Plan is a restore.
type Plan struct {
	Cluster       string `json:"cluster"`
	FromNamespace string `json:"fromNamespace"`
	Namespace     string `json:"namespace"`
	// Backups are the directories read, newest first.
	Backups []string `json:"backups"`
	// ControlDB is the Control DB zip (absolute), unzipped into every node's ControlDB.
	ControlDB string     `json:"controlDb"`
	Nodes     []NodePlan `json:"nodes"`
	// Recovery is recovery.json's content, written into every node's RecoveryFile,
	// when the host names change (another namespace); nil otherwise.
	Recovery []RecoveryNode `json:"recovery,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// RecoveryJSON is the recovery file's bytes.
func (p Plan) RecoveryJSON() []byte {
	b, _ := json.MarshalIndent(p.Recovery, "", "  ")
	return append(b, '\n')
}

// snapshotExts are the files of a snapshot store (Axon Server keeps them beside the
// events unless snapshot.storage says otherwise).
var snapshotExts = []string{".snapshots", ".sindex", ".sbloom"}

// NewPlan lays the chain's files out over targets (node name -> target) in
// namespace. Every node of the backup's cluster needs a target; every storage path
// a node's files land on must lie on one of its persistent volumes.
func NewPlan(c Chain, targets map[string]Target, namespace string) (Plan, error) {
	m := c.Newest()
	if len(m.Members) == 0 {
		return Plan{}, fmt.Errorf("%s does not record the cluster's replication groups (a backup by an older kubectl axon): take a new backup to restore from", c[0].Dir)
	}
	p := Plan{Cluster: m.Cluster, FromNamespace: m.Namespace, Namespace: namespace, ControlDB: filepath.Join(c[0].Dir, filepath.FromSlash(m.ControlDB))}
	for _, l := range c {
		p.Backups = append(p.Backups, l.Dir)
	}
	if m.ControlDB == "" {
		return Plan{}, fmt.Errorf("%s holds no Control DB backup", c[0].Dir)
	}
	// every file of the chain, the newest copy of each; the replication log and the
	// Control DB from the newest backup only (each backup copies the whole log)
	newest := map[string]File{}
	for i := len(c) - 1; i >= 0; i-- {
		for _, f := range c[i].M.Files {
			if strings.HasPrefix(f.Path, backup.DirLog+"/") && i != 0 {
				continue
			}
			newest[f.Path] = File{Dir: c[i].Dir, Src: f.Path, Size: f.Size}
		}
	}
	nodes := map[string]bool{}
	for _, ms := range m.Members {
		for n := range ms {
			nodes[n] = true
		}
	}
	var missing []string
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		if _, ok := targets[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return Plan{}, fmt.Errorf("no StatefulSet in namespace %s for node %s of the backup's cluster (create the cluster's StatefulSets with replicas 0 first, with the backup's node names)", namespace, strings.Join(missing, ", "))
	}
	if namespace != m.Namespace {
		for _, n := range slices.Sorted(maps.Keys(nodes)) {
			t := targets[n]
			p.Recovery = append(p.Recovery, RecoveryNode{Name: n, HostName: t.Host, InternalHostName: t.InternalHost})
		}
	}
	var skipped []string
	for g := range m.Members {
		if !slices.Contains(slices.Collect(maps.Values(m.ContextGroups)), g) && g != backup.AdminGroup {
			skipped = append(skipped, g)
		}
	}
	if len(skipped) > 0 {
		sort.Strings(skipped)
		p.Warnings = append(p.Warnings, fmt.Sprintf("the backup holds no context of group %s: its members start it with an empty event store", strings.Join(skipped, ", ")))
	}
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		np, err := nodePlan(n, targets[n], m, newest, p.Recovery != nil)
		if err != nil {
			return Plan{}, err
		}
		p.Nodes = append(p.Nodes, np)
	}
	return p, nil
}

func nodePlan(n string, t Target, m *backup.Manifest, files map[string]File, recovery bool) (NodePlan, error) {
	np := NodePlan{Node: n}
	stores := map[string]bool{} // contexts whose events this node keeps
	for g, ms := range m.Members {
		role, ok := ms[n]
		if !ok {
			continue
		}
		np.Groups = append(np.Groups, g)
		for c, cg := range m.ContextGroups {
			if cg == g && backup.StoresEvents(quorum.Role(role)) {
				stores[c] = true
			}
		}
	}
	sort.Strings(np.Groups)
	np.Contexts = slices.Sorted(maps.Keys(stores))

	// where its files land, each on a persistent volume
	resolve := func(prop, val string, need bool) (string, error) {
		loc, ok := backup.Locate(val, t.WorkDir, t.Mounts)
		if !need {
			return loc.Path, nil
		}
		switch {
		case !ok:
			return "", fmt.Errorf("node %s: %s=%s is on the container's own filesystem, where a restore cannot put files: set it to a directory on the node's volumes", n, prop, loc.Path)
		case !loc.Mount.Persistent:
			return "", fmt.Errorf("node %s: %s=%s is on volume %s, which is not a PersistentVolumeClaim", n, prop, loc.Path, loc.Mount.Volume)
		}
		if !slices.Contains(np.Volumes, loc.Mount.Volume) {
			np.Volumes = append(np.Volumes, loc.Mount.Volume)
		}
		return loc.Path, nil
	}
	k, v := StorageProperties, t.Paths
	var err error
	for _, x := range []struct {
		prop, val string
		dst       *string
		need      bool
	}{
		{k.Events, v.Events, &np.Storage.Events, len(stores) > 0},
		{k.Snapshots, v.Snapshots, &np.Storage.Snapshots, len(stores) > 0},
		{k.Log, v.Log, &np.Storage.Log, len(np.Groups) > 0},
		{k.ControlDB, v.ControlDB, &np.Storage.ControlDB, true},
		{k.RecoveryFile, v.RecoveryFile, &np.Storage.RecoveryFile, recovery},
	} {
		if *x.dst, err = resolve(x.prop, x.val, x.need); err != nil {
			return NodePlan{}, err
		}
	}
	sort.Strings(np.Volumes)

	for _, rel := range slices.Sorted(maps.Keys(files)) {
		f := files[rel]
		parts := strings.Split(rel, "/")
		if len(parts) != 3 {
			continue // the Control DB zip: unzipped, not copied
		}
		dir, owner, name := parts[0], parts[1], parts[2]
		switch {
		case dir == backup.DirLog && slices.Contains(np.Groups, owner):
			f.Dst = path.Join(np.Storage.Log, owner, name)
		case (dir == backup.DirEvents || dir == backup.DirSnapshots) && stores[owner]:
			base := np.Storage.Events
			if dir == backup.DirSnapshots || slices.Contains(snapshotExts, path.Ext(name)) {
				base = np.Storage.Snapshots
			}
			f.Dst = path.Join(base, owner, name)
		default:
			continue
		}
		np.Files = append(np.Files, f)
		np.Bytes += f.Size
	}
	return np, nil
}
