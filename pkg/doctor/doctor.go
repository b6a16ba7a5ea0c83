// Package doctor checks an Axon Server cluster's Kubernetes objects, and what its nodes
// say of themselves, against the deployment advice kubectl axon is built on: singleton
// StatefulSets, probes on /actuator/info with a generous startup budget, a long grace
// period, every data path on a persistent volume, non-root pinned images, a disruption
// budget and spread voters, access control on.
//
// It is pure: Run takes what a gatherer listed (see Input) and returns findings. No
// Kubernetes or HTTP calls, no Secret data.
package doctor

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// Severity of a finding.
type Severity string

const (
	// Error: the layout contradicts the advice in a way that loses data or availability.
	Error Severity = "error"
	// Warning: advice not followed; it matters in some failure or operation.
	Warning Severity = "warning"
	// Info: worth knowing; nothing to fix necessarily.
	Info Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Annotations kubectl axon writes on a StatefulSet.
const (
	// ShutdownSecondsAnnotation is the longest clean shutdown kubectl axon has seen
	// for the node, in seconds (written by rolling operations).
	ShutdownSecondsAnnotation = "kubectl-axon.io/shutdown-seconds"
	// OperationAnnotation is present while a kubectl axon operation (an upgrade) runs.
	OperationAnnotation = "kubectl-axon.io/operation"
)

// Finding is one departure from the advice.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check is a stable id, e.g. "probes/liveness-on-health".
	Check string `json:"check"`
	// Object is kind/name, e.g. "statefulset/axonserver-1".
	Object  string `json:"object"`
	Problem string `json:"problem"`
	// Why it matters, in one sentence.
	Why string `json:"why"`
	// Fix is a patch or a command where one exists, else what to do.
	Fix string `json:"fix,omitempty"`
}

// Input is what a gatherer found. Zero values mean "not known": a nil PVs, for
// example, skips the checks that need PersistentVolumes (list the kinds that could
// not be read in Unavailable, so the checks can say so).
type Input struct {
	Namespace string
	Cluster   string
	// Members are the cluster's StatefulSets, each with its pod, node name and worker
	// zone (as pkg/discovery finds them).
	Members        []discovery.Member
	PVCs           []corev1.PersistentVolumeClaim
	PVs            []corev1.PersistentVolume
	StorageClasses []storagev1.StorageClass
	PDBs           []policyv1.PodDisruptionBudget
	Services       []corev1.Service
	ConfigMaps     []corev1.ConfigMap
	// Unavailable names kinds that could not be listed ("persistentvolumes"), with why.
	Unavailable map[string]string
	// Token is where the plugin's Axon Server access token comes from.
	Token Token
	// Axon is what the nodes said; nil when no node could be asked.
	Axon *AxonFacts
	// AxonError says why Axon is nil, or what part of it is missing.
	AxonError string
	// WarnDays: a license that expires within this many days is a warning (0: 30).
	WarnDays int
}

// Token sources.
const (
	TokenNone   = "none"
	TokenSecret = "secret"
	TokenFile   = "file"
	TokenEnv    = "env"
)

// Token describes the access token kubectl axon uses, never its value.
type Token struct {
	Source string // TokenNone, TokenSecret, TokenFile or TokenEnv
	// For TokenSecret: the Secret's name and key, whether it exists and has the key
	// (from its metadata and key names only).
	SecretName, SecretKey string
	SecretFound, KeyFound bool
}

// AxonFacts are what Axon Server said.
type AxonFacts struct {
	// Authentication is /v1/public/me's "authentication" (access control enabled);
	// nil when no node answered.
	Authentication *bool
	// Groups are the replication groups with their members' roles.
	Groups []quorum.Group
	// MinActiveBackups is each node's
	// axoniq.axonserver.replication.min-active-backups, for the nodes whose
	// /actuator/env answered.
	MinActiveBackups map[string]int
	// Config is each node's configuration of the properties that matter
	// (/actuator/env); nodes not read are in Config.Unread.
	Config *nodeconfig.Table
	// License is the license as the nodes report it; nil when none has a license
	// health component (before 4.5, SE).
	License *License
}

// License is what the nodes say of the license: the state from their license health
// (valid, grace, expired), the expiry date and days left from /v1/public/license.
type License struct {
	State      string            // "valid", "grace", "expired", "unknown"
	ExpiryDate string            // YYYY-MM-DD, "" when not known
	DaysLeft   *int              // days it is still valid (0 on the expiry date)
	Nodes      map[string]string // each node's state
}

// check is one rule.
type check func(c *ctx) []Finding

// checks run in this order; findings are sorted afterwards.
var checks = []check{
	checkReplicas,
	checkGoverningService,
	checkProbes,
	checkShutdown,
	checkDataPaths,
	checkAutocluster,
	checkStorageClasses,
	checkReclaim,
	checkAccessModes,
	checkSecurity,
	checkImages,
	checkPDB,
	checkSpread,
	checkPlacement,
	checkGroups,
	checkAccess,
	checkConfig,
	checkConfigPaths,
	checkConfigDiffers,
	checkLicense,
	checkUnavailable,
}

// Run applies every check and returns the findings, errors first, then by check id
// and object.
func Run(in Input) []Finding {
	c := newCtx(&in)
	var out []Finding
	for _, ch := range checks {
		out = append(out, ch(c)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() < b.Severity.rank()
		}
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		return a.Object < b.Object
	})
	if out == nil {
		out = []Finding{}
	}
	return out
}

// Count returns how many findings have each severity.
func Count(fs []Finding) map[Severity]int {
	n := map[Severity]int{Error: 0, Warning: 0, Info: 0}
	for _, f := range fs {
		n[f.Severity]++
	}
	return n
}

// HasErrors says whether any finding is an error.
func HasErrors(fs []Finding) bool { return Count(fs)[Error] > 0 }

// ctx holds the input with what several checks derive from it.
type ctx struct {
	*Input
	ns string
}

func newCtx(in *Input) *ctx {
	ns := in.Namespace
	if ns == "" && len(in.Members) > 0 {
		ns = in.Members[0].Namespace
	}
	return &ctx{Input: in, ns: ns}
}

// container is the Axon Server container of m's pod template.
func container(m discovery.Member) (*corev1.Container, int) {
	cs := m.StatefulSet.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == m.Container {
			return &cs[i], i
		}
	}
	if len(cs) > 0 {
		return &cs[0], 0
	}
	return nil, -1
}

func stsObject(m discovery.Member) string { return "statefulset/" + m.StatefulSet.Name }

// kubectl starts a kubectl command line in the cluster's namespace.
func (c *ctx) kubectl(args ...string) string {
	ns := ""
	if c.ns != "" {
		ns = "-n " + c.ns + " "
	}
	return "kubectl " + ns + strings.Join(args, " ")
}

// patchSTS is a kubectl patch of a StatefulSet.
func (c *ctx) patchSTS(name, typ, patch string) string {
	return c.kubectl("patch", "statefulset", name, "--type="+typ, "-p", "'"+patch+"'")
}

func finding(sev Severity, check, object, why, fix, format string, args ...any) Finding {
	return Finding{Severity: sev, Check: check, Object: object, Problem: fmt.Sprintf(format, args...), Why: why, Fix: fix}
}

func replicas(sts *appsv1.StatefulSet) int32 {
	if sts.Spec.Replicas == nil {
		return 1
	}
	return *sts.Spec.Replicas
}

// zones returns the distinct known zones of the members' workers and whether every
// member with a pod has a known zone.
func (c *ctx) zones() (map[string]bool, bool) {
	z := map[string]bool{}
	all := true
	for _, m := range c.Members {
		if m.Pod == nil {
			continue
		}
		if m.Zone == "" {
			all = false
			continue
		}
		z[m.Zone] = true
	}
	return z, all && len(z) > 0
}
