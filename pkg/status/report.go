// Package status builds the report `kubectl axon status` shows: every node with its
// pod and Axon Server state and whether it is safe to stop now, every replication group
// with its leader, commit availability and fault tolerance, and warnings. The report's
// JSON is a documented, stable schema (docs/status-schema.md).
package status

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Kind and SchemaVersion identify the JSON document.
const (
	Kind          = "AxonClusterStatus"
	SchemaVersion = 1
)

// Report is the whole answer.
type Report struct {
	Kind          string        `json:"kind"`
	SchemaVersion int           `json:"schemaVersion"`
	Cluster       string        `json:"cluster"`
	Namespace     string        `json:"namespace"`
	ObservedAt    time.Time     `json:"observedAt"`
	Edition       string        `json:"edition"` // "EE", "SE", or "unknown" when no node answered
	Healthy       bool          `json:"healthy"`
	Nodes         []NodeStatus  `json:"nodes"`
	Groups        []GroupStatus `json:"groups"`
	Warnings      []string      `json:"warnings"`
	// License is the license as the nodes report it (Axon Server EE 4.5+); absent when
	// no node has a license health component.
	License *LicenseStatus `json:"license,omitempty"`
}

// NodeStatus is one Axon Server node.
type NodeStatus struct {
	Name            string   `json:"name"`
	StatefulSet     string   `json:"statefulSet,omitempty"`
	Replicas        int32    `json:"replicas,omitempty"`
	Pod             string   `json:"pod,omitempty"`
	Phase           string   `json:"phase,omitempty"`
	Ready           bool     `json:"ready"`
	CurrentRevision bool     `json:"currentRevision"`
	Restarts        int32    `json:"restarts"`
	Image           string   `json:"image,omitempty"`
	Version         string   `json:"version,omitempty"`
	Worker          string   `json:"worker,omitempty"`
	Zone            string   `json:"zone,omitempty"`
	Reachable       bool     `json:"reachable"`
	Error           string   `json:"error,omitempty"`
	Connected       bool     `json:"connected"`
	Admin           bool     `json:"admin"`
	Healthy         bool     `json:"healthy"`
	Problems        []string `json:"problems"`
	Groups          []string `json:"groups"`
	Leads           []string `json:"leads"`
	// SafeToStop is true only when the verdict is "yes": false for "no" and for
	// "unknown" alike, so that a script reading it alone never stops a node whose
	// state was not seen.
	SafeToStop bool `json:"safeToStop"`
	// SafeToStopVerdict is "yes", "no" or "unknown" (the groups or the node itself
	// could not be seen); SafeToStopEvidence says what it rests on.
	SafeToStopVerdict  quorum.Answer   `json:"safeToStopVerdict"`
	SafeToStopEvidence string          `json:"safeToStopEvidence"`
	BlockedBy          []quorum.Impact `json:"blockedBy"`

	// unknownWhy is the table's short reason for an unknown verdict.
	unknownWhy string
}

// GroupStatus is one replication group.
type GroupStatus struct {
	Name           string         `json:"name"`
	Leader         string         `json:"leader"`
	Members        []MemberStatus `json:"members"`
	CanCommit      bool           `json:"canCommit"`
	Reason         string         `json:"reason,omitempty"`
	FaultTolerance int            `json:"faultTolerance"`
	Behind         []string       `json:"behind"`
	Contexts       int            `json:"contexts"`
	ChangePending  bool           `json:"changePending"`
	Warnings       []string       `json:"warnings"`
}

// MemberStatus is one member of a group.
type MemberStatus struct {
	Node     string `json:"node"`
	Role     string `json:"role"`
	Up       bool   `json:"up"`
	CaughtUp bool   `json:"caughtUp"`
	Status   string `json:"status"`
	Behind   int64  `json:"behind"`
}

// Input is what Build needs.
type Input struct {
	Cluster   string
	Namespace string
	Members   []discovery.Member // nil in Axon-only mode (--axon-url)
	Obs       *inspect.Observation
	// Warnings from discovery.
	Warnings         []string
	MinActiveBackups int
	Now              time.Time
}

// Build assembles the report. It is pure: everything it needs is in in.
func Build(in Input) *Report { return BuildFrom(in, Model(in)) }

// BuildFrom is Build with the model of in already built (Model(in)).
func BuildFrom(in Input, model *inspect.Model) *Report {
	byNode := map[string]discovery.Member{}
	for _, m := range in.Members {
		byNode[m.NodeName] = m
	}
	r := &Report{
		Kind: Kind, SchemaVersion: SchemaVersion, Cluster: in.Cluster, Namespace: in.Namespace,
		ObservedAt: in.Now.UTC(), Edition: edition(in.Obs), Warnings: append([]string{}, in.Warnings...),
		Nodes: []NodeStatus{}, Groups: []GroupStatus{}, // [] not null in JSON (SE has no groups)
	}
	zoneOf := map[string]string{}
	for _, m := range in.Members {
		if m.Zone != "" {
			zoneOf[m.NodeName] = m.Zone
		}
	}
	for _, qn := range model.Cluster.Nodes {
		r.Nodes = append(r.Nodes, nodeStatus(qn, byNode, in.Obs, model))
	}
	for _, g := range model.Cluster.Groups {
		r.Groups = append(r.Groups, groupStatus(g, model, zoneOf))
	}
	r.Warnings = append(r.Warnings, model.Warnings...)
	if in.Obs.ClusterErr != nil {
		r.Warnings = append(r.Warnings, "cluster view unavailable: "+in.Obs.ClusterErr.Error())
	}
	if r.Edition == "SE" {
		r.Warnings = append(r.Warnings, "Axon Server SE (clustered: false): no replication groups; showing the node(s) only")
	}
	r.License = LicenseOf(in.Obs)
	r.Healthy = len(r.Nodes) > 0 && in.Obs.ClusterErr == nil && (r.License == nil || r.License.State != LicenseExpired)
	for _, n := range r.Nodes {
		r.Healthy = r.Healthy && n.Healthy
	}
	for _, g := range r.Groups {
		r.Healthy = r.Healthy && g.CanCommit
	}
	return r
}

// Model is the observation in the safety model's terms, with what it could not see
// (quorum.Sight): every command judges a node on this.
func Model(in Input) *inspect.Model {
	m := inspect.BuildModel(in.Obs, PodStates(in), in.MinActiveBackups)
	m.Cluster.Sight = Sight(in, m.Cluster)
	return m
}

// Sight is what the observation could not see. No cluster-wide view (no node gave
// the groups): blind. Else every node that did not answer its identity (unreachable,
// refused, no answer) is unseen, unless it is stopped on both sides: Kubernetes runs
// no serving Axon Server for it (no pod, a pod not Running, its container waiting or
// terminated, as in CrashLoopBackOff, or a pod whose readiness probe fails) and Axon
// Server reports it down. A Ready pod that does not answer stays unseen.
// Without Kubernetes (--axon-url) there is no pod to tell, so such a node is unseen.
func Sight(in Input, c quorum.Cluster) quorum.Sight {
	s := quorum.Sight{From: in.Obs.From}
	if in.Obs.From == "" {
		s.Blind = "no Axon Server node answered"
		if in.Obs.ClusterErr != nil {
			s.Blind = oneLine(in.Obs.ClusterErr.Error())
		}
		return s
	}
	byNode := map[string]discovery.Member{}
	for _, m := range in.Members {
		byNode[m.NodeName] = m
	}
	for _, n := range c.Nodes {
		v := in.Obs.Nodes[n.Name]
		if v != nil && v.Me != nil {
			continue // it answered
		}
		why := "no answer"
		if v != nil && v.Err != nil {
			why = oneLine(v.Err.Error())
		}
		if k := notRunning(in, byNode, n.Name); k != "" && c.IsDown(n.Name) {
			if s.Stopped == nil {
				s.Stopped = map[string]string{}
			}
			s.Stopped[n.Name] = k
			continue
		}
		if s.Unseen == nil {
			s.Unseen = map[string]string{}
		}
		s.Unseen[n.Name] = why
	}
	return s
}

// notRunning is Kubernetes' word for a node that runs no pod ("no pod", "pod
// Pending"), "" when its pod runs or, without Kubernetes, when nothing tells.
func notRunning(in Input, byNode map[string]discovery.Member, node string) string {
	if in.Members == nil {
		return ""
	}
	m, ok := byNode[node]
	switch {
	case !ok:
		return "no StatefulSet for it"
	case m.Pod == nil:
		return "no pod"
	case m.Pod.Status.Phase != corev1.PodRunning:
		return "pod " + string(m.Pod.Status.Phase)
	}
	for _, cs := range m.Pod.Status.ContainerStatuses {
		if cs.Name != m.Container && m.Container != "" {
			continue
		}
		switch {
		case cs.State.Waiting != nil:
			return "container " + cs.Name + " waiting (" + cs.State.Waiting.Reason + ")"
		case cs.State.Terminated != nil:
			return "container " + cs.Name + " terminated (" + cs.State.Terminated.Reason + ")"
		}
		break
	}
	if !discovery.PodReady(m.Pod) {
		// The kubelet's own probe of the process fails too: with Axon Server
		// reporting it down (the caller's condition), it serves nobody.
		return "pod Running but not Ready"
	}
	return ""
}

// PodStates is what Kubernetes says of each node's pod: Ready on the StatefulSet's
// current revision. In Axon-only mode (no Members) a node that answered counts as ready.
func PodStates(in Input) map[string]inspect.PodState {
	pods := map[string]inspect.PodState{}
	for _, m := range in.Members {
		pods[m.NodeName] = inspect.PodState{Ready: discovery.PodReady(m.Pod) && discovery.OnCurrentRevision(m.StatefulSet, m.Pod)}
	}
	if in.Members == nil {
		for n, v := range in.Obs.Nodes {
			pods[n] = inspect.PodState{Ready: v.Reachable}
		}
	}
	return pods
}

func edition(obs *inspect.Observation) string {
	if obs.From == "" {
		return "unknown"
	}
	if obs.Clustered {
		return "EE"
	}
	return "SE"
}

func nodeStatus(qn quorum.Node, byNode map[string]discovery.Member, obs *inspect.Observation, model *inspect.Model) NodeStatus {
	ns := NodeStatus{Name: qn.Name, Connected: qn.Connected, Problems: []string{}, BlockedBy: []quorum.Impact{}}
	if m, ok := byNode[qn.Name]; ok {
		ns.StatefulSet, ns.Image, ns.Worker, ns.Zone = m.StatefulSet.Name, m.Image, m.Worker, m.Zone
		ns.Replicas = 1
		if m.StatefulSet.Spec.Replicas != nil {
			ns.Replicas = *m.StatefulSet.Spec.Replicas
		}
		if m.Pod != nil {
			ns.Pod, ns.Phase = m.Pod.Name, string(m.Pod.Status.Phase)
			ns.Ready = discovery.PodReady(m.Pod)
			ns.CurrentRevision = discovery.OnCurrentRevision(m.StatefulSet, m.Pod)
			ns.Restarts = discovery.Restarts(m.Pod)
			if m.Pod.DeletionTimestamp != nil {
				ns.Phase = "Terminating"
			}
			if why := waitingReason(m.Pod); why != "" {
				ns.Phase += " (" + why + ")"
			}
		}
	}
	if v := obs.Nodes[qn.Name]; v != nil {
		ns.Reachable, ns.Version = v.Reachable, v.Version()
		if v.Err != nil {
			ns.Error = oneLine(v.Err.Error())
		}
		if v.Me != nil {
			ns.Admin = v.Me.AdminNode
		}
	}
	h := model.Cluster.NodeHealth(qn.Name)
	ns.Healthy = h.Healthy
	ns.Problems = append(ns.Problems, h.Problems...)
	ns.Groups = nonNil(model.Cluster.GroupsOf(qn.Name))
	ns.Leads = nonNil(model.Cluster.Leads(qn.Name))
	v := model.Cluster.CanStop(qn.Name)
	ns.SafeToStop = v.Safe
	ns.SafeToStopVerdict, ns.SafeToStopEvidence = v.Answer, v.Evidence
	switch {
	case v.Answer != quorum.Unknown:
	case model.Cluster.Sight.Blind != "":
		ns.unknownWhy = "groups not read"
	default:
		ns.unknownWhy = "did not answer"
	}
	ns.BlockedBy = append(ns.BlockedBy, v.Blocked...)
	return ns
}

func groupStatus(g quorum.Group, model *inspect.Model, zoneOf map[string]string) GroupStatus {
	ok, reason := g.CanCommit()
	gs := GroupStatus{
		Name: g.Name, Leader: g.Leader, CanCommit: ok, FaultTolerance: g.FaultTolerance(),
		Contexts: model.Contexts[g.Name], ChangePending: model.ChangePending[g.Name],
		Behind: []string{}, Warnings: nonNil(g.Warnings(zoneOf)),
	}
	if !ok {
		gs.Reason = reason
	}
	for _, m := range g.Members {
		lag := model.Lags[g.Name][m.Node]
		gs.Members = append(gs.Members, MemberStatus{Node: m.Node, Role: string(m.Role), Up: m.Up, CaughtUp: m.CaughtUp, Status: lag.Status, Behind: lag.Behind})
		if m.Up && !m.CaughtUp {
			gs.Behind = append(gs.Behind, m.Node)
		}
	}
	sort.Strings(gs.Behind)
	return gs
}

// waitingReason is the first container's waiting or terminated reason (CrashLoopBackOff,
// ImagePullBackOff, ...), which says more than the phase.
func waitingReason(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
			return s.State.Waiting.Reason
		}
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// Summary is the one-line verdict.
func (r *Report) Summary() string {
	if r.Healthy {
		return fmt.Sprintf("cluster %s is healthy: %d nodes, %d replication groups", r.Cluster, len(r.Nodes), len(r.Groups))
	}
	var bad []string
	for _, n := range r.Nodes {
		if !n.Healthy {
			bad = append(bad, n.Name)
		}
	}
	var noCommit []string
	for _, g := range r.Groups {
		if !g.CanCommit {
			noCommit = append(noCommit, g.Name)
		}
	}
	msg := fmt.Sprintf("cluster %s is NOT healthy", r.Cluster)
	if len(bad) > 0 {
		msg += "; unhealthy nodes: " + strings.Join(bad, ", ")
	}
	if len(noCommit) > 0 {
		msg += "; groups that cannot commit: " + strings.Join(noCommit, ", ")
	}
	if r.License != nil && r.License.State == LicenseExpired {
		msg += "; license expired" + onDate(r.License.ExpiryDate)
	}
	return msg
}
