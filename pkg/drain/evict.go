package drain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

// DefaultRetry is the wait between eviction attempts a PodDisruptionBudget
// refuses, kubectl drain's.
const DefaultRetry = 5 * time.Second

// Evictor evicts pods through the Eviction API, so that PodDisruptionBudgets
// are honoured: while a budget refuses (HTTP 429) it waits and retries, saying why.
type Evictor struct {
	Kube kubernetes.Interface
	// Retry is the wait between attempts a budget refuses, unless the API server
	// asks for longer (Retry-After); default DefaultRetry.
	Retry time.Duration
	// Timeout bounds the waiting (0: until the context ends).
	Timeout time.Duration
	// Blocked is told of each refusal, with the reason and the wait before the next
	// attempt.
	Blocked func(reason string, attempt int, wait time.Duration)
	// Ready, when set, is asked before each retry whether the pod may still be
	// stopped (the cluster may have changed while the budget refused); while it says
	// no, the eviction waits and reports why.
	Ready func(ctx context.Context) (bool, string)
	// Sleep waits; tests replace it (default: a timer that honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// BlockedError says the eviction was still refused when Timeout ran out.
type BlockedError struct {
	Pod      string
	Reason   string
	Attempts int
	Waited   time.Duration
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("evicting pod %s still refused after %d attempts over %s: %s", e.Pod, e.Attempts, e.Waited.Round(time.Second), e.Reason)
}

// Evict evicts pod (by name, with its UID as precondition). A pod that is gone, or
// already replaced by another with the same name, counts as evicted.
func (e *Evictor) Evict(ctx context.Context, pod *corev1.Pod) error {
	retry, sleep := e.Retry, e.Sleep
	if retry <= 0 {
		retry = DefaultRetry
	}
	if sleep == nil {
		sleep = stepper.Sleep
	}
	start := time.Now()
	uid := pod.UID
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	if uid == "" {
		ev.DeleteOptions = nil
	}
	reason := ""
	for attempt := 1; ; attempt++ {
		wait := retry
		ok, why := true, ""
		if attempt > 1 && e.Ready != nil {
			ok, why = e.Ready(ctx)
		}
		if ok {
			err := e.Kube.CoreV1().Pods(pod.Namespace).EvictV1(ctx, ev)
			switch {
			case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
				return nil
			case apierrors.IsTooManyRequests(err):
				why = BudgetReason(err)
				if s, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(s)*time.Second > wait {
					wait = time.Duration(s) * time.Second
				}
			case apierrors.IsForbidden(err):
				return fmt.Errorf("evicting pod %s: %w (kubectl axon needs create on pods/eviction: docs/rbac.yaml)", pod.Name, err)
			default:
				return fmt.Errorf("evicting pod %s: %w", pod.Name, err)
			}
		} else {
			why = "not safe to stop now: " + why
		}
		reason = why
		if e.Timeout > 0 && time.Since(start)+wait > e.Timeout {
			return &BlockedError{Pod: pod.Name, Reason: reason, Attempts: attempt, Waited: time.Since(start)}
		}
		if e.Blocked != nil {
			e.Blocked(why, attempt, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// BudgetReason words a 429 from the Eviction API: the budget's own message
// ("The disruption budget axon needs 2 healthy pods and has 2 currently") when the
// API server gives it, else the status message.
func BudgetReason(err error) string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err.Error()
	}
	s := st.Status()
	var causes []string
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			if c.Message != "" {
				causes = append(causes, strings.TrimSuffix(c.Message, "."))
			}
		}
	}
	msg := strings.TrimSuffix(s.Message, ".")
	if len(causes) > 0 {
		return "PodDisruptionBudget: " + strings.Join(causes, "; ")
	}
	if msg == "" {
		return "the API server asks to retry later (429)"
	}
	return msg
}
