package stepper

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
)

// SlowShutdownFraction: a clean shutdown that used more than this fraction of the
// pod's terminationGracePeriodSeconds is warned about (a SIGKILL at the end of the
// grace period corrupts Axon Server's control DB and indices).
const SlowShutdownFraction = 0.8

// timings are the moments of one node's restart.
type timings struct {
	down    time.Time // the old pod's deletion was seen (or the act, without a restart)
	gone    time.Time // the old pod was gone
	ready   time.Time // the new pod was Ready on the update revision
	healthy time.Time // the node was healthy in Axon Server's terms
	grace   int64     // the old pod's grace period, seconds
}

func (t timings) shutdown() time.Duration {
	if t.down.IsZero() || t.gone.IsZero() {
		return 0
	}
	return t.gone.Sub(t.down)
}

// podWatch watches the node's pod (StatefulSet name + "-0"), started before the act
// so that no change is missed.
type podWatch struct {
	kube kubernetes.Interface
	ns   string
	name string
	uid  types.UID // the pod before the act, "" when there was none
	w    watch.Interface
}

// PodName is the pod of a singleton StatefulSet.
func PodName(sts *appsv1.StatefulSet) string { return sts.Name + "-0" }

// watchPodTimeout bounds how long watchPod retries while the API server does not
// answer (it may be restarting).
const watchPodTimeout = time.Minute

func (r *Runner) watchPod(ctx context.Context, m discovery.Member) (*podWatch, error) {
	pw := &podWatch{kube: r.Kube, ns: m.StatefulSet.Namespace, name: PodName(m.StatefulSet)}
	if pw.ns == "" {
		pw.ns = r.Namespace
	}
	// The pod as the look before the step saw it (the watch cache) is where the
	// watch starts; if that version is too old to watch from, the pod is read.
	if m.Pod != nil && m.Pod.Name == pw.name && m.Pod.ResourceVersion != "" && pw.start(ctx, m.Pod.ResourceVersion) == nil {
		pw.uid = m.Pod.UID
		return pw, nil
	}
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, watchPodTimeout, true, func(ctx context.Context) (bool, error) {
		pod, err := r.Kube.CoreV1().Pods(pw.ns).Get(ctx, pw.name, metav1.GetOptions{})
		rv := ""
		switch {
		case apierrors.IsNotFound(err):
			pw.uid = ""
		case err != nil:
			lastErr = fmt.Errorf("reading pod %s: %w", pw.name, err)
			return false, nil
		default:
			pw.uid, rv = pod.UID, pod.ResourceVersion
		}
		if lastErr = pw.start(ctx, rv); lastErr != nil {
			return false, nil
		}
		return true, nil
	})
	if err != nil && lastErr != nil {
		return nil, lastErr
	}
	return pw, err
}

func (pw *podWatch) start(ctx context.Context, rv string) error {
	w, err := pw.kube.CoreV1().Pods(pw.ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", pw.name).String(), ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watching pod %s: %w", pw.name, err)
	}
	pw.w = w
	return nil
}

func (pw *podWatch) stop() {
	if pw.w != nil {
		pw.w.Stop()
	}
}

// waitPod waits for the old pod to go (when restart) and the new one to be Ready on
// the StatefulSet's update revision, driven by the pod watch; a one-second tick
// re-reads the pod and StatefulSet in case an event was missed or the controller
// has not yet published the update revision. A pod Kubernetes cannot make progress
// with (crash loop, image pull error) fails at once with a NodeError; an
// unschedulable pod only once it stayed so for UnschedulableGrace, since the
// scheduler retries by itself (a claim the StatefulSet controller is recreating,
// a node that is being added).
func (r *Runner) waitPod(ctx context.Context, pw *podWatch, m discovery.Member, restart bool, ev func(kind, msg string, data any) progress.Event) (timings, error) {
	var t timings
	expectNew := restart && pw.uid != ""
	if !restart || pw.uid == "" {
		t.down = time.Now()
		if restart {
			t.gone = t.down
		}
	}
	transient := func(msg string) {
		e := ev("waiting", msg, nil)
		e.Transient = true
		r.emit(e)
	}
	oldGone := !expectNew
	var unschedUID types.UID // the new pod found unschedulable, and since when
	var unschedSince time.Time
	get := func() (*corev1.Pod, bool, error) {
		p, err := r.Kube.CoreV1().Pods(pw.ns).Get(ctx, pw.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, true, nil
		}
		return p, false, err
	}
	// check judges the pod p (nil or deleted: gone); fresh says p was just read,
	// not taken from a watch event, which may be late.
	check := func(p *corev1.Pod, deleted, fresh bool) (bool, error) {
		now := time.Now()
		if !oldGone {
			if p != nil && p.UID == pw.uid && !deleted {
				if p.DeletionTimestamp != nil && t.down.IsZero() {
					t.down, t.grace = now, gracePeriod(p)
					r.emit(ev("pod-terminating", fmt.Sprintf("pod %s shutting down (grace period %ds)", p.Name, t.grace), nil))
				}
				transient("waiting for the old pod to shut down")
				return false, nil
			}
			oldGone, t.gone = true, now
			if t.down.IsZero() {
				t.down = now
			}
			if t.grace == 0 && m.Pod != nil {
				t.grace = gracePeriod(m.Pod)
			}
			sd := t.shutdown()
			r.emit(ev("pod-gone", fmt.Sprintf("old pod gone after a %.1fs shutdown", secs(sd)), map[string]any{"shutdownSeconds": secs(sd), "gracePeriodSeconds": t.grace}))
			if t.grace > 0 && sd.Seconds() > SlowShutdownFraction*float64(t.grace) {
				msg := fmt.Sprintf("the clean shutdown took %.1fs, more than %.0f%% of terminationGracePeriodSeconds (%ds): a SIGKILL at the end of the grace period corrupts Axon Server's control DB and indices; raise terminationGracePeriodSeconds",
					sd.Seconds(), SlowShutdownFraction*100, t.grace)
				e := ev("warning", msg, nil)
				e.Level = progress.Warn
				r.emit(e)
				r.event(m.StatefulSet, true, "AxonSlowShutdown", m.NodeName+": "+msg)
			}
			if p == nil || deleted {
				transient("waiting for the new pod")
				return false, nil
			}
		}
		// A late event of the old pod (queued before it went) is never its successor.
		if p == nil || deleted || p.DeletionTimestamp != nil || (expectNew && p.UID == pw.uid) {
			transient("waiting for the new pod")
			return false, nil
		}
		if why, stuck := containerStuck(p); stuck {
			return false, &NodeError{Node: m.NodeName, Stuck: true, Why: why}
		}
		if why, un := unschedulable(p); un {
			if unschedUID != p.UID {
				unschedUID, unschedSince = p.UID, now
			}
			if d := now.Sub(unschedSince); d >= r.UnschedulableGrace {
				return false, &NodeError{Node: m.NodeName, Stuck: true, Why: fmt.Sprintf("%s (for %.0fs)", why, d.Seconds())}
			}
			transient("new pod " + why + "; the scheduler retries")
			return false, nil
		}
		unschedUID = ""
		if !discovery.PodReady(p) {
			transient("new pod " + PodState(p))
			return false, nil
		}
		// Events can be late: the pod that looked Ready may have been deleted since
		// (the act deletes a pod someone else had already replaced). Judge the pod as
		// it is now.
		if !fresh {
			live, gone, err := get()
			if err != nil || gone || live.UID != p.UID || live.DeletionTimestamp != nil || !discovery.PodReady(live) {
				transient("waiting for the new pod")
				return false, nil
			}
		}
		sts, err := r.Kube.AppsV1().StatefulSets(pw.ns).Get(ctx, m.StatefulSet.Name, metav1.GetOptions{})
		if err != nil {
			transient("reading StatefulSet: " + err.Error())
			return false, nil
		}
		if sts.Status.ObservedGeneration < sts.Generation || !discovery.OnCurrentRevision(sts, p) {
			transient("new pod Ready, waiting for it to be on the update revision " + sts.Status.UpdateRevision)
			return false, nil
		}
		t.ready = now
		r.emit(ev("pod-ready", fmt.Sprintf("pod %s Ready on revision %s", p.Name, sts.Status.UpdateRevision), nil))
		return true, nil
	}
	// The state before the first event.
	if p, del, err := get(); err == nil {
		if done, err := check(p, del, true); done || err != nil {
			return t, err
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	events := pw.w.ResultChan()
	for {
		var p *corev1.Pod
		var deleted, fresh bool
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case e, ok := <-events:
			if !ok {
				// The API server ends watches now and then, and all of them when it
				// restarts: go on with the one-second re-reads, and watch again from
				// the pod's state at the next tick that can (a nil channel blocks).
				events = nil
				continue
			}
			pod, isPod := e.Object.(*corev1.Pod)
			if !isPod || pod.Name != pw.name {
				continue
			}
			p, deleted, fresh = pod, e.Type == watch.Deleted, false
		case <-tick.C:
			cur, del, err := get()
			if err != nil {
				continue // the API server may be restarting: the next tick reads again
			}
			p, deleted, fresh = cur, del, true
			if events == nil {
				rv := ""
				if cur != nil {
					rv = cur.ResourceVersion
				}
				pw.stop()
				if err := pw.start(ctx, rv); err == nil {
					events = pw.w.ResultChan()
				}
			}
		}
		if done, err := check(p, deleted, fresh); done || err != nil {
			return t, err
		}
	}
}

func gracePeriod(p *corev1.Pod) int64 {
	switch {
	case p.DeletionGracePeriodSeconds != nil:
		return *p.DeletionGracePeriodSeconds
	case p.Spec.TerminationGracePeriodSeconds != nil:
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// stuckWaiting are the container waiting reasons with which Kubernetes makes no
// progress by itself.
var stuckWaiting = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// StuckReason says whether Kubernetes reports that the pod cannot make progress
// (unschedulable, an image it cannot pull, a crash loop) rather than still starting
// (Axon Server's consistency checks can take long; such a pod is waited for).
func StuckReason(p *corev1.Pod) (string, bool) {
	if why, un := unschedulable(p); un {
		return why, true
	}
	return containerStuck(p)
}

// unschedulable says whether the scheduler found no place for the pod.
func unschedulable(p *corev1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return "unschedulable: " + c.Message, true
		}
	}
	return "", false
}

// containerStuck says whether a container is in a state Kubernetes does not leave
// by itself (image pull error, crash loop).
func containerStuck(p *corev1.Pod) (string, bool) {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && stuckWaiting[w.Reason] {
			return strings.TrimSuffix(fmt.Sprintf("container %s: %s: %s", cs.Name, w.Reason, w.Message), ": "), true
		}
		if cs.RestartCount >= 3 {
			return fmt.Sprintf("container %s restarted %d times%s", cs.Name, cs.RestartCount, lastTermination(cs)), true
		}
	}
	return "", false
}

func lastTermination(cs corev1.ContainerStatus) string {
	if lt := cs.LastTerminationState.Terminated; lt != nil {
		return fmt.Sprintf(" (last: %s, exit code %d)", lt.Reason, lt.ExitCode)
	}
	return ""
}

// PodState describes a pod in a few words: "Running, not Ready (container
// axonserver running, 0 restarts)".
func PodState(p *corev1.Pod) string {
	ready := "not Ready"
	if discovery.PodReady(p) {
		ready = "Ready"
	}
	var cs []string
	for _, c := range p.Status.ContainerStatuses {
		state := "starting"
		switch {
		case c.State.Waiting != nil:
			state = "waiting: " + c.State.Waiting.Reason
		case c.State.Running != nil && c.Started != nil && !*c.Started:
			state = "running, startup probe not yet passed"
		case c.State.Running != nil:
			state = "running"
		case c.State.Terminated != nil:
			state = fmt.Sprintf("terminated: %s, exit code %d", c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		}
		cs = append(cs, fmt.Sprintf("container %s %s, %d restarts%s", c.Name, state, c.RestartCount, lastTermination(c)))
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	if len(cs) == 0 {
		return phase + ", " + ready
	}
	return phase + ", " + ready + " (" + strings.Join(cs, "; ") + ")"
}

// Diagnose says what is wrong with a node that did not come back: its pod (phase,
// scheduling, containers), the pod's recent warning Events (probe failures), and
// Axon Server's view of the node.
func Diagnose(ctx context.Context, kube kubernetes.Interface, m discovery.Member, observe Observer) []string {
	var out []string
	ns, name := m.StatefulSet.Namespace, PodName(m.StatefulSet)
	p, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		out = append(out, fmt.Sprintf("pod %s does not exist", name))
	case err != nil:
		out = append(out, fmt.Sprintf("pod %s: %v", name, err))
	default:
		out = append(out, fmt.Sprintf("pod %s: %s", name, PodState(p)))
		if why, stuck := StuckReason(p); stuck {
			out = append(out, "Kubernetes cannot make progress: "+why)
		} else {
			out = append(out, "Kubernetes reports it still starting (Axon Server's consistency checks can take long)")
		}
	}
	if evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()}); err == nil {
		var warn []corev1.Event
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.InvolvedObject.Name == name {
				warn = append(warn, e)
			}
		}
		sort.Slice(warn, func(i, j int) bool { return warn[i].LastTimestamp.Before(&warn[j].LastTimestamp) })
		if len(warn) > 5 {
			warn = warn[len(warn)-5:]
		}
		for _, e := range warn {
			out = append(out, fmt.Sprintf("event %s: %s (x%d)", e.Reason, strings.TrimSpace(e.Message), max(e.Count, 1)))
		}
	}
	if observe != nil {
		snap, err := observe(ctx)
		switch {
		case err != nil:
			out = append(out, "Axon Server: "+err.Error())
		default:
			h := snap.Quorum().NodeHealth(m.NodeName)
			if h.Healthy {
				out = append(out, "Axon Server: the node is healthy now")
			} else {
				out = append(out, "Axon Server: "+strings.Join(h.Problems, ", "))
			}
			if v := snap.Obs.Nodes[m.NodeName]; v != nil && v.Err != nil {
				out = append(out, "Axon Server REST API: "+v.Err.Error())
			}
		}
	}
	return out
}
