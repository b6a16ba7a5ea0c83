package axonsim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The control DB: Axon Server keeps it in an H2 database, axonserver-controldb.mv.db under
// controldb-path. The simulator writes a JSON document of what the node's control DB holds
// (the cluster's nodes, replication groups and their members; users and applications are
// not modelled and stay empty) in that file, and POST /v1/backup/createControlDbBackup
// zips it as H2's BACKUP TO does: one entry of that name. Restoring means unzipping it
// into controldb-path, as with the real database.

// ControlDBFile is the control DB's file name in controldb-path.
const ControlDBFile = "axonserver-controldb.mv.db"

// ControlDB is the simulated control DB's content.
type ControlDB struct {
	Cluster           string           `json:"cluster"`
	Nodes             []ControlDBNode  `json:"nodes"`
	ReplicationGroups []ControlDBGroup `json:"replicationGroups"`
	Users             []string         `json:"users"`
	Applications      []string         `json:"applications"`
}

// ControlDBNode is one node of the cluster as the control DB records it.
type ControlDBNode struct {
	Name             string `json:"name"`
	HostName         string `json:"hostName"`
	InternalHostName string `json:"internalHostName"`
	GrpcPort         int    `json:"grpcPort"`
	GrpcInternalPort int    `json:"grpcInternalPort"`
	HTTPPort         int    `json:"httpPort"`
}

// ControlDBGroup is one replication group with its contexts and members.
type ControlDBGroup struct {
	Name     string            `json:"name"`
	Contexts []string          `json:"contexts"`
	Members  map[string]string `json:"members"` // node -> role
}

// controlDBOf is node n's control DB: the registered nodes and the groups of the cluster
// it knows (or of its own cluster). Caller holds c.mu.
func (c *Cluster) controlDBOf(n *Node) ControlDB {
	db := ControlDB{Cluster: c.clusterOf(n.name), Nodes: []ControlDBNode{}, ReplicationGroups: []ControlDBGroup{},
		Users: []string{}, Applications: []string{}}
	nodeOf := func(o *Node) ControlDBNode {
		return ControlDBNode{Name: o.name, HostName: c.hostOf(o), InternalHostName: c.hostOf(o), GrpcPort: 8124, GrpcInternalPort: 8224, HTTPPort: 8024}
	}
	addGroup := func(g *group) {
		cg := ControlDBGroup{Name: g.name, Contexts: append([]string{}, g.contexts...), Members: map[string]string{}}
		for _, m := range g.members {
			cg.Members[m.node] = m.role
		}
		db.ReplicationGroups = append(db.ReplicationGroups, cg)
	}
	switch {
	case n.ownGroups != nil:
		db.Nodes = append(db.Nodes, nodeOf(n))
		for _, g := range n.ownGroups {
			addGroup(g)
		}
	case n.knowsCluster:
		for _, name := range c.names {
			if o := c.nodes[name]; o.registered {
				db.Nodes = append(db.Nodes, nodeOf(o))
			}
		}
		for _, gname := range c.gnames {
			addGroup(c.groups[gname])
		}
	}
	sort.Slice(db.ReplicationGroups, func(i, j int) bool { return db.ReplicationGroups[i].Name < db.ReplicationGroups[j].Name })
	return db
}

// writeControlDB writes node n's control DB file. Caller holds c.mu.
func (c *Cluster) writeControlDB(n *Node) error {
	dir := n.layout.host(n.layout.controlDB)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c.controlDBOf(n), "", "  ")
	return os.WriteFile(filepath.Join(dir, ControlDBFile), b, 0o644)
}

// readControlDB reads the control DB file in dir: nil if there is none (an empty file is
// none: a database never written).
func readControlDB(dir string) (*ControlDB, error) {
	b, err := os.ReadFile(filepath.Join(dir, ControlDBFile))
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(bytes.TrimSpace(b)) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var db ControlDB
	if err := json.Unmarshal(b, &db); err != nil {
		return nil, fmt.Errorf("%s: not a control DB: %w", ControlDBFile, err)
	}
	return &db, nil
}

// ReadControlDBBackup reads a controldb<millis>.zip written by createControlDbBackup.
func ReadControlDBBackup(path string) (*ControlDB, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != ControlDBFile {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var db ControlDB
		if err := json.NewDecoder(rc).Decode(&db); err != nil {
			return nil, fmt.Errorf("%s in %s: %w", ControlDBFile, path, err)
		}
		return &db, nil
	}
	return nil, fmt.Errorf("%s: no %s in the zip", path, ControlDBFile)
}

// createControlDBBackup writes controldb<millis>.zip in controldb-backup-location and
// returns its path as the node sees it. Caller holds c.mu.
func (c *Cluster) createControlDBBackup(n *Node, now time.Time) (string, error) {
	dir := n.layout.host(n.layout.backup)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("Failed to create directory: %s", n.layout.abs(n.layout.backup))
	}
	b, _ := json.MarshalIndent(c.controlDBOf(n), "", "  ")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: ControlDBFile, Method: zip.Deflate, Modified: now})
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("controldb%d.zip", now.UnixMilli()))
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return n.layout.view(p), nil
}

// RecoveryEntry is one node of recovery.json (AxonIQ's "Recovery" page: a JSON array of the
// cluster's nodes with their new host names and ports; unchanged fields may be omitted,
// oldName renames a node).
type RecoveryEntry struct {
	Name             string `json:"name"`
	OldName          string `json:"oldName,omitempty"`
	HostName         string `json:"hostName,omitempty"`
	InternalHostName string `json:"internalHostName,omitempty"`
	GrpcPort         int    `json:"grpcPort,omitempty"`
	GrpcInternalPort int    `json:"grpcInternalPort,omitempty"`
	HTTPPort         int    `json:"httpPort,omitempty"`
}

// readRecovery reads the node's recovery file: nil when there is none; an error when it is
// not a JSON array of nodes with names (Axon Server does not start on a malformed file).
func readRecovery(path string) ([]RecoveryEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []RecoveryEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("recovery file %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("recovery file %s: trailing data", path)
	}
	for i, e := range out {
		if e.Name == "" {
			return nil, fmt.Errorf("recovery file %s: entry %d has no name", path, i+1)
		}
	}
	return out, nil
}

// applyRecovery updates a restored control DB with recovery.json's entries and returns a
// description of what changed. Renames (oldName) are applied to the control DB; the
// simulator's node names themselves come from the topology.
func applyRecovery(db *ControlDB, entries []RecoveryEntry) string {
	var changed []string
	for _, e := range entries {
		old := e.Name
		if e.OldName != "" {
			old = e.OldName
		}
		for i := range db.Nodes {
			nd := &db.Nodes[i]
			if nd.Name != old {
				continue
			}
			if e.OldName != "" && e.OldName != e.Name {
				for gi := range db.ReplicationGroups {
					if r, ok := db.ReplicationGroups[gi].Members[old]; ok {
						delete(db.ReplicationGroups[gi].Members, old)
						db.ReplicationGroups[gi].Members[e.Name] = r
					}
				}
				nd.Name = e.Name
			}
			if e.HostName != "" {
				nd.HostName = e.HostName
			}
			if e.InternalHostName != "" {
				nd.InternalHostName = e.InternalHostName
			}
			if e.GrpcPort != 0 {
				nd.GrpcPort = e.GrpcPort
			}
			if e.GrpcInternalPort != 0 {
				nd.GrpcInternalPort = e.GrpcInternalPort
			}
			if e.HTTPPort != 0 {
				nd.HTTPPort = e.HTTPPort
			}
			changed = append(changed, fmt.Sprintf("%s at %s", nd.Name, nd.InternalHostName))
		}
	}
	sort.Strings(changed)
	return strings.Join(changed, ", ")
}

// loadRestored starts node n on restored files (no simulator state, a control DB unzipped
// into controldb-path): its log index per group is what its replication log and event
// store hold, each store is read and checked record for record, and the node reports per
// context what it loaded (audit event store-loaded: the count of events, the last token and
// a checksum over them). A gap or a changed record fails the start (Axon Server validates
// its segments at startup); a partial record at the very end (a copy taken while the
// segment was written) is dropped, as Axon Server drops a torn last transaction. Caller
// holds c.mu.
func (c *Cluster) loadRestored(n *Node, db *ControlDB) error {
	known := false
	for _, nd := range db.Nodes {
		if nd.Name == n.name {
			known = true
			if nd.InternalHostName != c.hostOf(n) {
				c.nodeLog(n, "WARN", "i.a.a.cluster.ClusterController", fmt.Sprintf(
					"Control DB names this node's internal host %s, it runs as %s: start in recovery mode (recovery.json) after a host change", nd.InternalHostName, c.hostOf(n)))
			}
		}
	}
	if !known {
		return fmt.Errorf("the control DB (cluster %q) does not know node %s", db.Cluster, n.name)
	}
	n.knowsCluster = true
	for _, gname := range c.gnames {
		g := c.groups[gname]
		m := g.member(n.name)
		if m == nil {
			continue
		}
		ls := c.logStream(n.layout, g.name)
		logged, _, err := ls.verify()
		if err != nil && !errors.Is(err, errTornTail) {
			return fmt.Errorf("replication log of %s: %w", g.name, err)
		}
		if err := ls.truncate(ls.base + logged); err != nil {
			return err
		}
		index := logged // entries 1..logged
		if ctxs := eventContexts(g); m.role != RoleMessagingOnly {
			for k, ctx := range ctxs {
				es := c.eventStream(n.layout, ctx)
				count, sum, err := es.verify()
				if err != nil && !errors.Is(err, errTornTail) {
					return fmt.Errorf("event store of %s: %w", ctx, err)
				}
				if err := es.truncate(count); err != nil {
					return err
				}
				ss := c.snapshotStream(n.layout, ctx)
				snaps, _, err := ss.verify()
				if err != nil && !errors.Is(err, errTornTail) {
					return fmt.Errorf("snapshot store of %s: %w", ctx, err)
				}
				if err := ss.truncate(snaps); err != nil {
					return err
				}
				if count > 0 { // the group index that event count implies
					index = max(index, (count-1)*int64(len(ctxs))+int64(k)+1)
				}
				c.emit(Event{Event: EvStoreLoaded, Group: g.name, Node: n.name, Context: ctx, Index: count - 1,
					Events: count, Checksum: sum, Reason: fmt.Sprintf("%d events, %d snapshots", count, snaps)})
			}
		}
		m.logIndex, m.caughtUp, m.catchingUp = index, false, false
	}
	return nil
}
