// Package nodeconfig reads the Axon Server properties that matter for operations from
// each node's GET /actuator/env (Spring Boot's effective configuration, with the
// source that set each value) and lays them side by side, marking the ones where the
// nodes disagree. It is pure: the envs come in, a table goes out.
package nodeconfig

import (
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// Property keys kubectl axon reads (Axon Server's reference: system properties).
const (
	Name               = "axoniq.axonserver.name"
	Hostname           = "axoniq.axonserver.hostname"
	InternalHostname   = "axoniq.axonserver.internal-hostname"
	MinActiveBackups   = "axoniq.axonserver.replication.min-active-backups"
	AccessControl      = "axoniq.axonserver.accesscontrol.enabled"
	AutoclusterFirst   = "axoniq.axonserver.autocluster.first"
	AutoclusterCtx     = "axoniq.axonserver.autocluster.contexts"
	EventStorage       = "axoniq.axonserver.event.storage"
	SnapshotStorage    = "axoniq.axonserver.snapshot.storage"
	LogStorage         = "axoniq.axonserver.replication.log-storage-folder"
	ControlDBPath      = "axoniq.axonserver.controldb-path"
	ControlDBBackup    = "axoniq.axonserver.controldb-backup-location"
	SSLEnabled         = "axoniq.axonserver.ssl.enabled"
	DevMode            = "axoniq.axonserver.devmode.enabled"
	MinElectionTimeout = "axoniq.axonserver.replication.min-election-timeout"
	MaxElectionTimeout = "axoniq.axonserver.replication.max-election-timeout"
)

// Property is one property that matters.
type Property struct {
	Key string
	// Default is Axon Server's value when nothing sets it ("" when kubectl axon does not
	// rely on one).
	Default string
	// PerNode: each node has its own value by design (its name); never "disagreeing".
	PerNode bool
}

// Properties are the ones shown, in this order.
var Properties = []Property{
	{Key: Name, PerNode: true},
	{Key: Hostname, PerNode: true},
	{Key: InternalHostname, PerNode: true},
	{Key: MinActiveBackups, Default: "1"},
	{Key: AccessControl, Default: "false"},
	{Key: SSLEnabled, Default: "false"},
	{Key: DevMode, Default: "false"},
	{Key: AutoclusterFirst},
	{Key: AutoclusterCtx},
	{Key: EventStorage},
	{Key: SnapshotStorage},
	{Key: LogStorage},
	{Key: ControlDBPath},
	{Key: ControlDBBackup},
	{Key: MinElectionTimeout},
	{Key: MaxElectionTimeout},
}

// Masked is how Spring Boot shows a value it sanitizes.
const Masked = "******"

// Value is one node's value of a property.
type Value struct {
	Node string `json:"node"`
	// Value is the effective value; the default when nothing sets it (Default true).
	Value string `json:"value"`
	// Source is the property source that set it (e.g. "systemEnvironment", "Config
	// resource 'file [/axonserver/config/axonserver.properties]' ..."), "" when unset.
	Source  string `json:"source,omitempty"`
	Set     bool   `json:"set"`
	Default bool   `json:"default,omitempty"`
	Masked  bool   `json:"masked,omitempty"`
}

// Row is one property across the nodes.
type Row struct {
	Property string  `json:"property"`
	PerNode  bool    `json:"perNode,omitempty"`
	Values   []Value `json:"values"`
	// Disagree: nodes whose configuration was read hold different values (masked
	// values not compared).
	Disagree bool `json:"disagree"`
}

// Table is the properties of every node asked.
type Table struct {
	Nodes []string `json:"nodes"`
	Rows  []Row    `json:"properties"`
	// Unread are the nodes whose configuration could not be read, with why.
	Unread map[string]string `json:"unread,omitempty"`
}

// Build lays out the nodes' envs (nil for a node not read: unread gives why).
func Build(nodes []string, envs map[string]*axonserver.Env, unread map[string]string) Table {
	t := Table{Nodes: append([]string{}, nodes...), Rows: []Row{}}
	sort.Strings(t.Nodes)
	for _, n := range t.Nodes {
		if envs[n] == nil {
			if t.Unread == nil {
				t.Unread = map[string]string{}
			}
			why := unread[n]
			if why == "" {
				why = "no answer"
			}
			t.Unread[n] = why
		}
	}
	for _, p := range Properties {
		r := Row{Property: p.Key, PerNode: p.PerNode, Values: []Value{}}
		seen := map[string]bool{}
		for _, n := range t.Nodes {
			e := envs[n]
			if e == nil {
				continue
			}
			v := Value{Node: n}
			if val, src, ok := e.Property(p.Key); ok {
				v.Value, v.Source, v.Set = val, src, true
				v.Masked = val == Masked
			} else if p.Default != "" {
				v.Value, v.Default = p.Default, true
			}
			r.Values = append(r.Values, v)
			if !v.Masked {
				seen[v.Value] = true
			}
		}
		r.Disagree = !p.PerNode && len(seen) > 1
		t.Rows = append(t.Rows, r)
	}
	return t
}

// Get is node's value of key in the table ("" and false when not read or not set).
func (t Table) Get(node, key string) (string, bool) {
	for _, r := range t.Rows {
		if r.Property != key {
			continue
		}
		for _, v := range r.Values {
			if v.Node == node && (v.Set || v.Default) && !v.Masked {
				return v.Value, true
			}
		}
	}
	return "", false
}

// Disagreements are the rows where the nodes disagree.
func (t Table) Disagreements() []Row {
	var out []Row
	for _, r := range t.Rows {
		if r.Disagree {
			out = append(out, r)
		}
	}
	return out
}

// Describe is a disagreement in one line: "1 on axonserver-1, axonserver-2; 2 on axonserver-3".
func (r Row) Describe() string {
	by := map[string][]string{}
	var vals []string
	for _, v := range r.Values {
		x := v.Value
		if x == "" {
			x = "(not set)"
		}
		if _, ok := by[x]; !ok {
			vals = append(vals, x)
		}
		by[x] = append(by[x], v.Node)
	}
	sort.Strings(vals)
	parts := make([]string, 0, len(vals))
	for _, x := range vals {
		parts = append(parts, x+" on "+strings.Join(by[x], ", "))
	}
	return strings.Join(parts, "; ")
}
