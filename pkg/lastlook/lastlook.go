// Package lastlook keeps on disk, between runs of `kubectl axon status`, what a look at
// a namespace's Axon Server clusters learned that the next run can start from, as
// kubectl keeps its discovery cache (~/.kube/cache):
//
//   - the clusters' names, so that a cluster's token Secret is read while the
//     StatefulSets and pods are still being listed;
//   - the admin node that gave the cluster-wide views, asked for them (and for the
//     license) alongside the round of questions to every node instead of after it;
//   - the zones of the workers the cluster's pods run on, taken again while the
//     same pods run on them;
//   - each running Axon Server process's build (/actuator/info), its identity
//     (/v1/public/me less what changes at run time, inspect.Identity) and its
//     min-active-backups setting (from /actuator/env): none changes while the
//     process runs, so they are keyed by the process (pod UID and restarts) and not
//     asked again;
//   - the replication groups' view, less its leaders, with the process that gave it
//     and its _admin index: the next run takes it instead of asking while that
//     index has not moved (inspect.KnownGroups).
//
// Nothing secret is kept: no token, and of the configuration only min-active-backups.
// A file that cannot be read or written only costs the questions it would have saved.
package lastlook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

// format is the file's version; a file of another version is ignored.
const format = 1

// File is what the last looks at one namespace's clusters learned.
type File struct {
	Format   int                 `json:"format"`
	Clusters map[string]*Cluster `json:"clusters,omitempty"`
	// Zones are the workers' zones (label topology.kubernetes.io/zone) by worker.
	Zones map[string]Zone `json:"zones,omitempty"`
}

// Zone is a worker's zone and the pods (UIDs) that ran on it when it was read: the
// zone is taken again only for a worker that still runs one of them.
type Zone struct {
	Zone string      `json:"zone"`
	Pods []types.UID `json:"pods"`
}

// Cluster is what the last look at one cluster learned.
type Cluster struct {
	// ViewFrom is the node that gave the cluster-wide views.
	ViewFrom string `json:"viewFrom,omitempty"`
	// License is true when the nodes' health reported a license (Axon Server 4.5+),
	// so GET /v1/public/license answers.
	License bool `json:"license,omitempty"`
	// Processes are the running processes' answers, by inspect.Target.Instance.
	Processes map[string]Process `json:"processes,omitempty"`
	// Groups is the replication groups' view that can be taken again; nil: none.
	Groups *Groups `json:"groups,omitempty"`
}

// Groups is an inspect.KnownGroups as the file keeps it: each context by its name
// (the view's inner contexts carry nothing else status reads).
type Groups struct {
	Node       string  `json:"node"`
	Instance   string  `json:"instance"`
	AdminIndex int64   `json:"adminIndex"`
	Groups     []Group `json:"groups"`
}

// Group is one replication group of a kept view.
type Group struct {
	Name          string                `json:"name"`
	Roles         []axonserver.NodeRole `json:"roles"`
	ChangePending bool                  `json:"changePending,omitempty"`
	PendingSince  int64                 `json:"pendingSince,omitempty"`
	Contexts      []string              `json:"contexts"`
}

func groupsOf(k *inspect.KnownGroups) *Groups {
	if k == nil {
		return nil
	}
	out := &Groups{Node: k.Node, Instance: k.Instance, AdminIndex: k.AdminIndex, Groups: make([]Group, len(k.Groups))}
	for i, g := range k.Groups {
		ctxs := make([]string, len(g.Contexts))
		for j, c := range g.Contexts {
			ctxs[j] = c.Context
		}
		out.Groups[i] = Group{Name: g.Name, Roles: g.Roles, ChangePending: g.ChangePending, PendingSince: g.PendingSince, Contexts: ctxs}
	}
	return out
}

func (g *Groups) known() *inspect.KnownGroups {
	if g == nil {
		return nil
	}
	out := &inspect.KnownGroups{Node: g.Node, Instance: g.Instance, AdminIndex: g.AdminIndex,
		Groups: make([]axonserver.ReplicationGroup, len(g.Groups))}
	for i, kg := range g.Groups {
		ctxs := make([]axonserver.Context, len(kg.Contexts))
		for j, c := range kg.Contexts {
			ctxs[j] = axonserver.Context{Context: c, ReplicationGroup: kg.Name}
		}
		out.Groups[i] = axonserver.ReplicationGroup{Name: kg.Name, Roles: kg.Roles, ChangePending: kg.ChangePending,
			PendingSince: kg.PendingSince, Contexts: ctxs}
	}
	return out
}

// Process is what one Axon Server process answered that does not change while it runs.
type Process struct {
	Info *axonserver.Info `json:"info,omitempty"`
	// Me is the process's identity (inspect.Identity); nil: not read.
	Me *axonserver.NodeInfo `json:"me,omitempty"`
	// MinActiveBackups is the process's own min-active-backups setting and its
	// source, from its /actuator/env; nil: the env was not read.
	MinActiveBackups *Setting `json:"minActiveBackups,omitempty"`
}

// Setting is one property as /actuator/env showed it; Set false: no source sets it.
type Setting struct {
	Set    bool   `json:"set"`
	Value  string `json:"value,omitempty"`
	Source string `json:"source,omitempty"`
}

// Path is the file for namespace on the API server at host, under cacheDir (kubectl's
// --cache-dir, default ~/.kube/cache); "" when cacheDir is "".
func Path(cacheDir, host, namespace string) string {
	if cacheDir == "" || namespace == "" {
		return ""
	}
	return filepath.Join(cacheDir, "kubectl-axon", unsafeChars.ReplaceAllString(host, "_"), namespace+".json")
}

// unsafeChars are replaced in a server's address to make it one directory name, as
// kubectl does for its discovery cache.
var unsafeChars = regexp.MustCompile(`[^(\w/.)]|/`)

// Load reads the file at path; a missing, unreadable or foreign file is an empty one.
func Load(path string) *File {
	f := &File{Format: format}
	if path == "" {
		return f
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return f
	}
	var read File
	if json.Unmarshal(b, &read) != nil || read.Format != format {
		return f
	}
	return &read
}

// Save writes the file at path (readable by its owner only), through a temporary
// file renamed into place so that concurrent runs never read half a file.
func (f *File) Save(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lastlook-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Names are the clusters the file knows, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Clusters))
	for n := range f.Clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Of is what the file knows of cluster (nil: nothing).
func (f *File) Of(cluster string) *Cluster { return f.Clusters[cluster] }

// SeedZones gives c the zones of the workers, for the pods that ran on them.
func (f *File) SeedZones(c *discovery.Cache) {
	for w, z := range f.Zones {
		for _, uid := range z.Pods {
			c.SetZoneOfPod(w, uid, z.Zone)
		}
	}
}

// LearnZones keeps the zones of members' workers, with the pods on them. Workers no
// member runs on, and workers without a zone (none, or it could not be read) are not
// kept: they are asked again.
func (f *File) LearnZones(members []discovery.Member) {
	zones := map[string]Zone{}
	for _, m := range members {
		if m.Worker == "" || m.Zone == "" || m.Pod == nil || m.Pod.UID == "" {
			continue
		}
		z := zones[m.Worker]
		z.Zone, z.Pods = m.Zone, append(z.Pods, m.Pod.UID)
		zones[m.Worker] = z
	}
	f.Zones = zones
}

// Seed gives c what the file knows of cluster's running processes, for targets, the
// node to ask for the cluster-wide views and the groups' view it gave. A process's
// env becomes one that sets min-active-backups only: seed only the cache of a look
// that reads nothing else from /actuator/env (status).
func (f *File) Seed(cluster string, targets []inspect.Target, c *inspect.Cache) {
	kc := f.Clusters[cluster]
	if kc == nil || c == nil {
		return
	}
	for _, t := range targets {
		p, ok := kc.Processes[t.Instance]
		if !ok || t.Instance == "" {
			continue
		}
		c.Keep(t.Instance, inspect.Answers{Info: p.Info, Me: p.Me, Env: p.MinActiveBackups.env()})
	}
	c.KeepViewFrom(kc.ViewFrom)
	c.KeepGroups(kc.Groups.known())
}

func (s *Setting) env() *axonserver.Env {
	if s == nil {
		return nil
	}
	e := &axonserver.Env{PropertySources: []axonserver.PropertySource{}}
	if s.Set {
		e.PropertySources = append(e.PropertySources, axonserver.PropertySource{Name: s.Source,
			Properties: map[string]axonserver.PropertyValue{inspect.MinActiveBackupsKey: {Value: s.Value}}})
	}
	return e
}

// Learn replaces what the file knows of cluster with what obs saw of targets:
// processes no longer running are forgotten. license says whether the nodes reported
// a license.
func (f *File) Learn(cluster string, targets []inspect.Target, obs *inspect.Observation, license bool) {
	if obs == nil {
		return
	}
	kc := &Cluster{ViewFrom: obs.From, License: license, Processes: map[string]Process{},
		Groups: groupsOf(inspect.KnownGroupsOf(obs, targets))}
	for _, t := range targets {
		v := obs.Nodes[t.Node]
		if t.Instance == "" || v == nil || v.Info == nil {
			continue
		}
		p := Process{Info: v.Info, Me: inspect.Identity(v.Me)}
		if v.Env != nil {
			val, src, ok := v.Env.Property(inspect.MinActiveBackupsKey)
			p.MinActiveBackups = &Setting{Set: ok, Value: val, Source: src}
		}
		kc.Processes[t.Instance] = p
	}
	if f.Clusters == nil {
		f.Clusters = map[string]*Cluster{}
	}
	f.Clusters[cluster] = kc
}
