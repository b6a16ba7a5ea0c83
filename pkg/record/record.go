// Package record leaves a trace of kubectl axon's operations where Kubernetes users
// look: annotations on the StatefulSet of the node concerned (what is under way, the
// last measured clean shutdown, the image before an upgrade) and Kubernetes Events on
// that StatefulSet (kubectl describe, kubectl get events).
package record

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Annotation keys, all under kubectl-axon.io/.
const (
	Prefix = "kubectl-axon.io/"
	// Operation is present while an operation is under way on the node: JSON of Operation.
	Operation = Prefix + "operation"
	// LastOperation is the Operation that last finished on the node, with Finished set.
	LastOperation = Prefix + "last-operation"
	// ShutdownSeconds is the last measured clean shutdown of the node's pod, in seconds
	// ("12.3"): from the pod's deletion to its disappearance. `kubectl axon doctor` reads it.
	ShutdownSeconds = Prefix + "shutdown-seconds"
	// GracePeriodSeconds is the terminationGracePeriodSeconds that shutdown was measured against.
	GracePeriodSeconds = Prefix + "grace-period-seconds"
	// PreviousImage is the Axon Server container's image before the last upgrade: the
	// way back (`kubectl axon upgrade --image OLD NODE`).
	PreviousImage = Prefix + "previous-image"
)

// Event reasons.
const (
	ReasonStarted      = "AxonUpgradeStarted"
	ReasonFinished     = "AxonUpgradeFinished"
	ReasonFailed       = "AxonUpgradeFailed"
	ReasonForced       = "AxonUpgradeForced"
	ReasonSlowShutdown = "AxonSlowShutdown"
)

// Component is the source of the Events.
const Component = "kubectl-axon"

// Op describes an operation on one node, as stored in the Operation annotations.
type Op struct {
	Operation string    `json:"operation"` // "upgrade", "replace-node", "drain-node"
	Detail    string    `json:"detail,omitempty"`
	Holder    string    `json:"holder,omitempty"` // who runs it (the lock's holder identity)
	Step      int       `json:"step,omitempty"`
	Steps     int       `json:"steps,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Result    string    `json:"result,omitempty"` // "done", "failed: ...", "interrupted"
}

// String is the annotation value.
func (o Op) String() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// ParseOp reads an Operation annotation value.
func ParseOp(s string) (Op, error) {
	var o Op
	err := json.Unmarshal([]byte(s), &o)
	return o, err
}

// Recorder writes annotations and Events in one namespace.
type Recorder struct {
	Kube      kubernetes.Interface
	Namespace string
	// Instance is the reportingInstance of Events (default: the host name).
	Instance string
}

// Annotate sets the given annotations on the StatefulSet; an empty value removes the key.
func (r *Recorder) Annotate(ctx context.Context, sts string, set map[string]string) error {
	ann := map[string]any{}
	for k, v := range set {
		if v == "" {
			ann[k] = nil
		} else {
			ann[k] = v
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	_, err := r.Kube.AppsV1().StatefulSets(r.Namespace).Patch(ctx, sts, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Component})
	if err != nil {
		return fmt.Errorf("annotating StatefulSet %s: %w", sts, err)
	}
	return nil
}

// Begin marks op as under way on the StatefulSet.
func (r *Recorder) Begin(ctx context.Context, sts string, op Op) error {
	return r.Annotate(ctx, sts, map[string]string{Operation: op.String()})
}

// End moves op to LastOperation with its result and removes Operation; extra
// annotations are set in the same patch.
func (r *Recorder) End(ctx context.Context, sts string, op Op, result string, extra map[string]string) error {
	op.Finished, op.Result = time.Now().UTC(), result
	set := map[string]string{Operation: "", LastOperation: op.String()}
	for k, v := range extra {
		set[k] = v
	}
	return r.Annotate(ctx, sts, set)
}

// Shutdown returns the annotations recording a measured shutdown.
func Shutdown(d time.Duration, grace int64) map[string]string {
	return map[string]string{
		ShutdownSeconds:    strconv.FormatFloat(d.Seconds(), 'f', 1, 64),
		GracePeriodSeconds: strconv.FormatInt(grace, 10),
	}
}

// Event posts a core/v1 Event about the StatefulSet (type Warning when warning).
func (r *Recorder) Event(ctx context.Context, sts *appsv1.StatefulSet, warning bool, reason, message string) error {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	inst := r.Instance
	if inst == "" {
		inst, _ = os.Hostname()
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", sts.Name, time.Now().UnixNano()),
			Namespace: r.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "StatefulSet", APIVersion: "apps/v1", Namespace: r.Namespace,
			Name: sts.Name, UID: sts.UID, ResourceVersion: sts.ResourceVersion,
		},
		Reason: reason, Message: message, Type: typ,
		Source:         corev1.EventSource{Component: Component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: Component, ReportingInstance: inst,
	}
	if _, err := r.Kube.CoreV1().Events(r.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("posting Event %s on StatefulSet %s: %w", reason, sts.Name, err)
	}
	return nil
}

// Reason builds an Event reason from an operation name and a stage:
// Reason("upgrade", "Started") is AxonUpgradeStarted, Reason("replace-node",
// "Forced") AxonReplaceNodeForced.
func Reason(operation, stage string) string {
	var b []byte
	b = append(b, "Axon"...)
	up := true
	for i := 0; i < len(operation); i++ {
		c := operation[i]
		switch {
		case c == '-' || c == '_' || c == ' ':
			up = true
		case up && c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
			up = false
		default:
			b = append(b, c)
			up = false
		}
	}
	return string(b) + stage
}
