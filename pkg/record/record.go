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
	"sync"
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

// Recorder writes annotations and Events in one namespace. The annotations of one
// StatefulSet are written one patch at a time, in the order they were asked:
// Annotate and Begin wait for theirs (and so for every earlier one on that
// StatefulSet); End and Event are written in the background, so that a step does not
// wait for its bookkeeping. Flush waits for them all. The zero value with Kube and
// Namespace set is ready to use.
type Recorder struct {
	Kube      kubernetes.Interface
	Namespace string
	// Instance is the reportingInstance of Events (default: the host name).
	Instance string
	// Warn receives the error of a write made in the background (nil: dropped).
	Warn func(error)

	mu      sync.Mutex
	last    map[string]chan struct{} // by StatefulSet: closed when its last write asked is done
	pending sync.WaitGroup
}

// writeTimeout bounds each write, whatever the context of the one who asked for it:
// an interrupted run still records where it stopped.
const writeTimeout = 10 * time.Second

// write is one queued write.
type write struct {
	done chan struct{}
	err  error
}

// queue runs f after every write asked before it on the StatefulSet named sts ("":
// unordered), within writeTimeout; report sends its error to Warn.
func (r *Recorder) queue(sts string, f func(ctx context.Context) error, report bool) *write {
	w := &write{done: make(chan struct{})}
	var prev chan struct{}
	r.mu.Lock()
	if sts != "" {
		if r.last == nil {
			r.last = map[string]chan struct{}{}
		}
		prev, r.last[sts] = r.last[sts], w.done
	}
	r.pending.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.pending.Done()
		defer close(w.done)
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		w.err = f(ctx)
		if w.err != nil && report && r.Warn != nil {
			r.Warn(w.err)
		}
	}()
	return w
}

// wait waits for w, or for ctx to end.
func (w *write) wait(ctx context.Context) error {
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every write asked so far is done (or ctx ends).
func (r *Recorder) Flush(ctx context.Context) error {
	all := make(chan struct{})
	go func() {
		r.pending.Wait()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Annotate sets the given annotations on the StatefulSet; an empty value removes the
// key. It returns when the patch is made.
func (r *Recorder) Annotate(ctx context.Context, sts string, set map[string]string) error {
	return r.queue(sts, func(ctx context.Context) error { return r.annotate(ctx, sts, set) }, false).wait(ctx)
}

func (r *Recorder) annotate(ctx context.Context, sts string, set map[string]string) error {
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
// annotations are set in the same patch. The patch is made in the background.
func (r *Recorder) End(sts string, op Op, result string, extra map[string]string) {
	op.Finished, op.Result = time.Now().UTC(), result
	set := map[string]string{Operation: "", LastOperation: op.String()}
	for k, v := range extra {
		set[k] = v
	}
	r.queue(sts, func(ctx context.Context) error { return r.annotate(ctx, sts, set) }, true)
}

// Shutdown returns the annotations recording a measured shutdown.
func Shutdown(d time.Duration, grace int64) map[string]string {
	return map[string]string{
		ShutdownSeconds:    strconv.FormatFloat(d.Seconds(), 'f', 1, 64),
		GracePeriodSeconds: strconv.FormatInt(grace, 10),
	}
}

// Event posts a core/v1 Event about the StatefulSet (type Warning when warning), in
// the background; it bears the time it was asked for.
func (r *Recorder) Event(sts *appsv1.StatefulSet, warning bool, reason, message string) {
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
	name := sts.Name
	r.queue("", func(ctx context.Context) error {
		if _, err := r.Kube.CoreV1().Events(r.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("posting Event %s on StatefulSet %s: %w", reason, name, err)
		}
		return nil
	}, true)
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
