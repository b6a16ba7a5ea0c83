package axonsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Role names as Axon Server EE spells them (io.axoniq.axonserver.grpc.cluster.Role).
const (
	RolePrimary       = "PRIMARY"
	RoleActiveBackup  = "ACTIVE_BACKUP"
	RolePassiveBackup = "PASSIVE_BACKUP"
	RoleMessagingOnly = "MESSAGING_ONLY"
	RoleSecondary     = "SECONDARY"
	RoleAnalytics     = "ANALYTICS" // 2025.2 on; does not vote
)

// AllRoles is the answer of GET /v1/replicationgroups/roles before 2025.2.
var AllRoles = []string{RolePrimary, RoleActiveBackup, RolePassiveBackup, RoleMessagingOnly, RoleSecondary}

// rolesFor lists the roles a version knows (ANALYTICS from 2025.2).
func rolesFor(version string) []string {
	if version == "" || versionAtLeast(version, 2025, 2) {
		return append(append([]string(nil), AllRoles...), RoleAnalytics)
	}
	return AllRoles
}

func validRole(r string) bool {
	for _, x := range rolesFor("") {
		if x == r {
			return true
		}
	}
	return false
}

// roleAccepted: the role is one the version knows, or (topology allowUnknownRoles) any
// upper-case role name the cluster was told to accept. Caller holds c.mu.
func (c *Cluster) roleAccepted(role, version string) bool {
	for _, x := range rolesFor(version) {
		if x == role {
			return true
		}
	}
	return c.topo.AllowUnknownRoles && roleNameRe.MatchString(role)
}

var roleNameRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// isVoter: only PRIMARY and ACTIVE_BACKUP count for the commit rule and for elections;
// every other role, known or not, is non-voting.
func isVoter(role string) bool { return role == RolePrimary || role == RoleActiveBackup }

// Topology is the simulator's (and the sandbox's) description of a cluster.
type Topology struct {
	Name              string      `yaml:"name"`
	Namespace         string      `yaml:"namespace"`
	Image             string      `yaml:"image"`
	MinActiveBackups  int         `yaml:"minActiveBackups"`
	Workers           []Worker    `yaml:"workers"`
	Nodes             []NodeSpec  `yaml:"nodes"`
	ReplicationGroups []GroupSpec `yaml:"replicationGroups"`
	Timing            Timing      `yaml:"timing"`
	AccessToken       string      `yaml:"accessToken"`
	// AllowUnknownRoles accepts role names no Axon Server version knows (upper case,
	// non-voting) in roles and in POST /v1/replicationgroups, for tests of unknown roles.
	AllowUnknownRoles bool `yaml:"allowUnknownRoles"`
	// ActuatorEnv is what GET /actuator/env does: "shown" (default: values, secrets masked,
	// as Spring Boot 2 and axonserver.yml exposing env), "masked" (every value "******", Spring
	// Boot 3's default show-values NEVER) or "absent" (404, the endpoint not exposed).
	ActuatorEnv     string       `yaml:"actuatorEnv"`
	TLS             bool         `yaml:"tls"`
	Autocluster     *Autocluster `yaml:"autocluster"`
	WritesPerSecond float64      `yaml:"writesPerSecond"`
	Faults          []Fault      `yaml:"faults"`
	// License is the cluster's license (expiry and grace period); nil: valid, never expires.
	License *License `yaml:"license"`
	// Storage shapes the nodes' files (segment size, how often they are written).
	Storage Storage `yaml:"storage"`
}

// Storage is how the nodes write their event store and replication-log files.
type Storage struct {
	// SegmentBytes: segments close at this size, unless Options.SegmentBytes says otherwise
	// (0: $AXONSIM_SEGMENT_BYTES, else DefaultSegmentBytes).
	SegmentBytes int `yaml:"segmentBytes"`
	// FlushSeconds: a running node writes its files up to its log indexes this often; 0 =
	// only on demand (a backup listing writes the files it lists, a clean stop writes all).
	// Default 1, and 0 for a topology of more than MaxFlushedContexts contexts, whose files
	// would cost a benchmark megabytes per second.
	FlushSeconds *float64 `yaml:"flushSeconds"`
}

// MaxFlushedContexts is the largest topology (contexts in all) whose nodes write their files
// every second by default.
const MaxFlushedContexts = 100

// Worker is a Kubernetes worker node (used by the sandbox only).
type Worker struct {
	Name string `yaml:"name"`
	Zone string `yaml:"zone"`
}

// NodeSpec is one Axon Server node.
type NodeSpec struct {
	Name   string            `yaml:"name"`
	Worker string            `yaml:"worker"`
	Tags   map[string]string `yaml:"tags"`
	// MinActiveBackups overrides the cluster's min-active-backups in this node's own
	// configuration (nodes may disagree; the leader's value decides its group's commits).
	MinActiveBackups *int `yaml:"minActiveBackups"`
	// Spare: a node the cluster does not know yet, as a node added to a running
	// cluster: not registered, an empty control DB, in no group. When it starts it
	// registers like any node that knows no cluster (autocluster to first, with the
	// autocluster contexts; or POST /v1/cluster). The sandbox deploys no StatefulSet
	// for it (add-node creates one); spare nodes come after the others.
	Spare bool `yaml:"spare"`
}

// GroupSpec is one replication group with its contexts and members.
type GroupSpec struct {
	Name         string            `yaml:"name"`
	Contexts     []string          `yaml:"contexts"`
	ContextCount int               `yaml:"contextCount"`
	Roles        map[string]string `yaml:"roles"`
}

// Timing holds the simulated durations. Fractions of seconds are allowed.
type Timing struct {
	StartupSeconds        float64 `yaml:"startupSeconds"`
	UncleanStartupSeconds float64 `yaml:"uncleanStartupSeconds"`
	ShutdownSeconds       float64 `yaml:"shutdownSeconds"`
	CatchUpSeconds        float64 `yaml:"catchUpSeconds"`
	ElectionTimeoutMillis int     `yaml:"electionTimeoutMillis"`
	// Raft timing (RaftProperties): election timeouts are drawn from [min, max]; defaults
	// 1000-2500 ms, or max = electionTimeoutMillis and min = 40 % of it when only that is set.
	MinElectionTimeoutMillis int `yaml:"minElectionTimeoutMillis"`
	MaxElectionTimeoutMillis int `yaml:"maxElectionTimeoutMillis"`
	HeartbeatMillis          int `yaml:"heartbeatMillis"` // default 300, at most min/3
	// Catch-up: log entries copied per second in batches of 1000 (default 20000); a follower
	// whose missing entries were compacted away (or a new member: forceSnapshotOnJoin) first
	// receives a snapshot of the whole log at snapshotEntriesPerSecond (default 10000).
	// catchUpSeconds is the floor of any catch-up.
	CatchUpEntriesPerSecond  float64 `yaml:"catchUpEntriesPerSecond"`
	SnapshotEntriesPerSecond float64 `yaml:"snapshotEntriesPerSecond"`
	// LogRetentionSeconds: log compaction keeps entries written in this window (default 3600,
	// log-retention-hours 1); firstLogIndex moves accordingly.
	LogRetentionSeconds float64 `yaml:"logRetentionSeconds"`
	// StoreInitSeconds: from 4.5.3 the HTTP port answers while the event stores are still
	// initialised; for this long after node-ready the node takes no part in Raft. Before
	// 4.5.3 the listener binds only after it (default 0).
	StoreInitSeconds float64 `yaml:"storeInitSeconds"`
}

// raftTiming is Timing with defaults applied, as durations.
type raftTiming struct {
	minElection, maxElection, heartbeat time.Duration
	catchUpFloor                        time.Duration
	catchUpRate, snapshotRate           float64
	retention                           time.Duration
	storeInit                           time.Duration
}

func (t Timing) normalized() raftTiming {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	maxE, minE := t.MaxElectionTimeoutMillis, t.MinElectionTimeoutMillis
	if maxE == 0 {
		maxE = t.ElectionTimeoutMillis
	}
	if maxE == 0 {
		maxE = 2500
		if minE == 0 {
			minE = 1000
		}
	}
	if minE == 0 || minE > maxE {
		minE = maxE * 2 / 5
	}
	hb := t.HeartbeatMillis
	if hb == 0 {
		hb = min(300, max(1, minE/3))
	}
	rt := raftTiming{minElection: ms(minE), maxElection: ms(maxE), heartbeat: ms(hb),
		catchUpFloor: seconds(t.CatchUpSeconds), catchUpRate: t.CatchUpEntriesPerSecond,
		snapshotRate: t.SnapshotEntriesPerSecond, retention: seconds(t.LogRetentionSeconds), storeInit: seconds(t.StoreInitSeconds)}
	if rt.catchUpRate == 0 {
		rt.catchUpRate = 20000
	}
	if rt.snapshotRate == 0 {
		rt.snapshotRate = 10000
	}
	if rt.retention == 0 {
		rt.retention = time.Hour
	}
	return rt
}

// Autocluster mirrors axoniq.axonserver.autocluster.first / .contexts.
type Autocluster struct {
	First    string   `yaml:"first"`
	Contexts []string `yaml:"contexts"`
}

// Fault is an injected misbehaviour. Node "" means every node; Image "" means every image.
type Fault struct {
	Node              string   `yaml:"node"`
	Image             string   `yaml:"image"`
	NeverReady        bool     `yaml:"neverReady"`
	StartupSeconds    *float64 `yaml:"startupSeconds"`
	ShutdownSeconds   *float64 `yaml:"shutdownSeconds"`
	RestErrorRate     float64  `yaml:"restErrorRate"`
	CrashAfterSeconds *float64 `yaml:"crashAfterSeconds"`
	// CrashCount limits crashAfterSeconds to the node's first CrashCount crashes on an image
	// (counted afresh when it starts on another image); later starts run normally. 0: every
	// start crashes (an image that never works).
	CrashCount int `yaml:"crashCount"`
}

// ContextNames returns the group's contexts, generating <group>-<i> names for contextCount.
func (g GroupSpec) ContextNames() []string {
	out := append([]string(nil), g.Contexts...)
	for i := 1; i <= g.ContextCount; i++ {
		out = append(out, fmt.Sprintf("%s-%d", g.Name, i))
	}
	return out
}

// NodeNames returns the nodes' names in file order.
func (t *Topology) NodeNames() []string {
	out := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		out[i] = n.Name
	}
	return out
}

// LoadTopology reads and validates a topology file.
func LoadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTopology(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTopology decodes strictly (unknown keys are errors) and validates the topology.
// Errors name the line of the offending entry.
func ParseTopology(data []byte) (*Topology, error) {
	var t Topology
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty topology")
		}
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	v := validator{root: &root}
	v.validate(&t)
	if len(v.errs) > 0 {
		return nil, errors.New(strings.Join(v.errs, "; "))
	}
	// Defaults for keys that are absent (0 is a meaningful value for these two).
	if !v.has("minActiveBackups") {
		t.MinActiveBackups = 1
	}
	if !v.has("writesPerSecond") {
		t.WritesPerSecond = 20
	}
	if t.Timing.UncleanStartupSeconds == 0 {
		t.Timing.UncleanStartupSeconds = 3 * t.Timing.StartupSeconds
	}
	if t.Storage.FlushSeconds == nil {
		f := 1.0
		contexts := 0
		for _, g := range t.ReplicationGroups {
			contexts += len(g.ContextNames())
		}
		if contexts > MaxFlushedContexts {
			f = 0
		}
		t.Storage.FlushSeconds = &f
	}
	return &t, nil
}

type validator struct {
	root *yaml.Node
	errs []string
}

// line finds the line of the YAML node at path (mapping keys as strings, sequence indexes as ints).
// It returns the deepest line found.
func (v *validator) line(path ...any) int {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// has reports whether the top-level mapping has key.
func (v *validator) has(key string) bool {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (v *validator) errf(path []any, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("line %d: %s", v.line(path...), fmt.Sprintf(format, args...)))
}

func (v *validator) validate(t *Topology) {
	if t.Name == "" {
		v.errf(nil, "name is required")
	}
	if t.Image == "" {
		v.errf(nil, "image is required")
	}
	if t.MinActiveBackups < 0 {
		v.errf([]any{"minActiveBackups"}, "minActiveBackups must not be negative")
	}
	switch t.ActuatorEnv {
	case "", "shown", "masked", "absent":
	default:
		v.errf([]any{"actuatorEnv"}, "actuatorEnv must be shown, masked or absent")
	}
	workers := map[string]bool{}
	for i, w := range t.Workers {
		if w.Name == "" {
			v.errf([]any{"workers", i}, "worker without a name")
		}
		if workers[w.Name] {
			v.errf([]any{"workers", i}, "duplicate worker %q", w.Name)
		}
		workers[w.Name] = true
	}
	nodes := map[string]bool{}
	if len(t.Nodes) == 0 {
		v.errf(nil, "no nodes")
	}
	for i, n := range t.Nodes {
		p := []any{"nodes", i}
		if n.Name == "" {
			v.errf(p, "node without a name")
		}
		if nodes[n.Name] {
			v.errf(p, "duplicate node %q", n.Name)
		}
		nodes[n.Name] = true
		if n.MinActiveBackups != nil && *n.MinActiveBackups < 0 {
			v.errf(append(p, "minActiveBackups"), "node %q: minActiveBackups must not be negative", n.Name)
		}
		if n.Worker != "" && !workers[n.Worker] {
			v.errf(append(p, "worker"), "node %q: unknown worker %q", n.Name, n.Worker)
		}
	}
	spare := map[string]bool{}
	for i, n := range t.Nodes {
		switch {
		case n.Spare:
			spare[n.Name] = true
		case i > 0 && t.Nodes[i-1].Spare:
			v.errf([]any{"nodes", i}, "node %q: spare nodes come after the others", n.Name)
		}
	}
	if len(spare) == len(t.Nodes) && len(t.Nodes) > 0 {
		v.errf(nil, "every node is spare: a cluster needs nodes it knows")
	}
	groups := map[string]bool{}
	contexts := map[string]string{}
	for i, g := range t.ReplicationGroups {
		p := []any{"replicationGroups", i}
		if g.Name == "" {
			v.errf(p, "replication group without a name")
		}
		if groups[g.Name] {
			v.errf(p, "duplicate replication group %q", g.Name)
		}
		groups[g.Name] = true
		if g.ContextCount < 0 {
			v.errf(append(p, "contextCount"), "contextCount must not be negative")
		}
		for _, c := range g.ContextNames() {
			if other, dup := contexts[c]; dup {
				v.errf(p, "context %q is in groups %q and %q", c, other, g.Name)
			}
			contexts[c] = g.Name
		}
		primaries := 0
		for _, node := range sortedKeys(g.Roles) {
			role := g.Roles[node]
			rp := append(append([]any{}, p...), "roles", node)
			if !nodes[node] {
				v.errf(rp, "group %q: role for unknown node %q", g.Name, node)
			}
			if spare[node] {
				v.errf(rp, "group %q: role for spare node %q (the cluster does not know it yet)", g.Name, node)
			}
			if !validRole(role) && !(t.AllowUnknownRoles && roleNameRe.MatchString(role)) {
				v.errf(rp, "group %q: bad role %q for %s (want one of %s, or set allowUnknownRoles)", g.Name, role, node, strings.Join(rolesFor(""), ", "))
			}
			if role == RolePrimary {
				primaries++
			}
		}
		if primaries == 0 {
			v.errf(p, "group %q has no PRIMARY member", g.Name)
		}
	}
	if tm := t.Timing; tm.StartupSeconds < 0 || tm.ShutdownSeconds < 0 || tm.CatchUpSeconds < 0 ||
		tm.ElectionTimeoutMillis < 0 || tm.UncleanStartupSeconds < 0 || tm.MinElectionTimeoutMillis < 0 ||
		tm.MaxElectionTimeoutMillis < 0 || tm.HeartbeatMillis < 0 || tm.CatchUpEntriesPerSecond < 0 ||
		tm.SnapshotEntriesPerSecond < 0 || tm.LogRetentionSeconds < 0 || tm.StoreInitSeconds < 0 {
		v.errf([]any{"timing"}, "timings must not be negative")
	}
	t.License.validate(v)
	if t.WritesPerSecond < 0 {
		v.errf([]any{"writesPerSecond"}, "writesPerSecond must not be negative")
	}
	if t.Storage.SegmentBytes < 0 || (t.Storage.SegmentBytes > 0 && t.Storage.SegmentBytes < 5+RecordBytes) {
		v.errf([]any{"storage", "segmentBytes"}, "storage.segmentBytes must hold a header and a record (at least %d)", 5+RecordBytes)
	}
	if f := t.Storage.FlushSeconds; f != nil && *f < 0 {
		v.errf([]any{"storage", "flushSeconds"}, "storage.flushSeconds must not be negative")
	}
	if a := t.Autocluster; a != nil {
		if !nodes[a.First] {
			v.errf([]any{"autocluster", "first"}, "autocluster.first: unknown node %q", a.First)
		}
		if spare[a.First] {
			v.errf([]any{"autocluster", "first"}, "autocluster.first: %q is a spare node", a.First)
		}
		for _, c := range a.Contexts {
			if _, ok := contexts[c]; !ok {
				v.errf([]any{"autocluster", "contexts"}, "autocluster.contexts: unknown context %q", c)
			}
		}
	}
	for i, f := range t.Faults {
		p := []any{"faults", i}
		if f.Node != "" && !nodes[f.Node] {
			v.errf(p, "fault for unknown node %q", f.Node)
		}
		if f.RestErrorRate < 0 || f.RestErrorRate > 1 {
			v.errf(append(p, "restErrorRate"), "restErrorRate must be within 0..1")
		}
		if f.CrashCount < 0 {
			v.errf(append(p, "crashCount"), "crashCount must not be negative")
		}
		if f.CrashCount > 0 && f.CrashAfterSeconds == nil {
			v.errf(append(p, "crashCount"), "crashCount needs crashAfterSeconds")
		}
		if f.Image != "" {
			if _, err := globRegexp(f.Image); err != nil {
				v.errf(append(p, "image"), "bad image glob %q: %v", f.Image, err)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// globRegexp turns an image glob (* any run of characters, ? one character) into a regexp.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// faultsFor merges the faults that apply to node started with image.
func (t *Topology) faultsFor(node, image string) Fault {
	var out Fault
	for _, f := range t.Faults {
		if f.Node != "" && f.Node != node {
			continue
		}
		if f.Image != "" {
			re, err := globRegexp(f.Image)
			if err != nil || !re.MatchString(image) {
				continue
			}
		}
		out.NeverReady = out.NeverReady || f.NeverReady
		if f.StartupSeconds != nil {
			out.StartupSeconds = f.StartupSeconds
		}
		if f.ShutdownSeconds != nil {
			out.ShutdownSeconds = f.ShutdownSeconds
		}
		if f.RestErrorRate > out.RestErrorRate {
			out.RestErrorRate = f.RestErrorRate
		}
		if f.CrashAfterSeconds != nil {
			out.CrashAfterSeconds, out.CrashCount = f.CrashAfterSeconds, f.CrashCount
		}
	}
	return out
}

// VersionFromImage returns the Axon Server version an image tag stands for:
// axoniq/axonserver:2024.1.0-nonroot -> 2024.1.0, axoniq/axonserver-enterprise:4.4.2-dev-nonroot -> 4.4.2.
func VersionFromImage(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < 0 || colon < slash {
		return "latest"
	}
	tag := image[colon+1:]
	if m := versionRe.FindString(tag); m != "" {
		return m
	}
	return tag
}

// versionAtLeast3 compares major.minor.patch; non-numeric versions count as newest.
func versionAtLeast3(v string, major, minor, patch int) bool {
	var a, b, p int
	n, _ := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &p)
	if n == 0 {
		return true
	}
	if a != major {
		return a > major
	}
	if b != minor {
		return b > minor
	}
	return p >= patch
}

var versionRe = regexp.MustCompile(`^\d+(\.\d+)*`)

// versionAtLeast compares dotted numeric versions; non-numeric versions ("latest") count as newest.
func versionAtLeast(v string, major, minor int) bool {
	var a, b int
	if n, _ := fmt.Sscanf(v, "%d.%d", &a, &b); n == 0 {
		return true
	}
	return a > major || (a == major && b >= minor)
}
