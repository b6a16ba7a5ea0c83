// Package lock makes kubectl axon's operations one at a time per cluster: a
// coordination.k8s.io/v1 Lease named kubectl-axon-<cluster> in the cluster's
// namespace, taken at the start, renewed in the background, released at the end.
//
// A run that crashed leaves its Lease behind until it expires (LeaseDuration after its
// last renewal); --steal-lock takes it over before that.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/apiretry"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
)

// Defaults for Options.
const (
	DefaultDuration = 60 * time.Second
	// Label marks the Leases kubectl axon owns.
	Label = "app.kubernetes.io/managed-by"
)

// Name is the Lease's name for a cluster.
func Name(cluster string) string { return "kubectl-axon-" + cluster }

// Identity is "<user>@<host> pid <pid> <operation>".
func Identity(operation string) string {
	u := "unknown"
	if cu, err := user.Current(); err == nil && cu.Username != "" {
		u = cu.Username
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d %s", u, h, os.Getpid(), operation)
}

// Options say which Lease and who takes it.
type Options struct {
	Namespace string
	Cluster   string
	Holder    string // Identity(operation)
	// Duration is how long the Lease is valid after each renewal (default 60 s); it
	// is renewed every third of it.
	Duration time.Duration
	// Steal takes the Lease even when another holder's is still valid.
	Steal bool
	// OnLost is called (once) when a renewal finds the Lease taken by someone else or
	// fails for longer than Duration; the caller should stop.
	OnLost func(error)
	// Patience is how long Acquire goes on trying while the API server does not answer
	// (restarting, overloaded); default apiretry.DefaultPatience.
	Patience time.Duration
}

// HeldError says who holds the Lease.
type HeldError struct {
	Lease   string
	Holder  string
	Since   time.Time
	Renewed time.Time
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another kubectl axon operation holds Lease %s: %s, since %s (renewed %s ago, expires in %s); wait for it, or if that run crashed, rerun with --steal-lock",
		e.Lease, e.Holder, e.Since.Format(time.RFC3339), time.Since(e.Renewed).Round(time.Second), time.Until(e.Expires).Round(time.Second))
}

// Lock is a held Lease.
type Lock struct {
	kube   kubernetes.Interface
	o      Options
	mu     sync.Mutex
	lease  *coordv1.Lease
	stop   chan struct{}
	done   chan struct{}
	Stolen string // the holder whose Lease was taken over, "" if none
}

// Acquire takes the Lease or returns a *HeldError wrapped as a refusal (exit 3). While
// the API server does not answer it tries again (apiretry) for Options.Patience; then
// it gives up with exit 4, having changed nothing.
func Acquire(ctx context.Context, kube kubernetes.Interface, o Options) (*Lock, error) {
	var l *Lock
	err := apiretry.Do(ctx, o.Patience, "taking Lease "+Name(o.Cluster), func(ctx context.Context) (err error) {
		l, err = acquire(ctx, kube, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func acquire(ctx context.Context, kube kubernetes.Interface, o Options) (*Lock, error) {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	leases := kube.CoordinationV1().Leases(o.Namespace)
	name := Name(o.Cluster)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(o.Duration / time.Second)
	l := &Lock{kube: kube, o: o, stop: make(chan struct{}), done: make(chan struct{})}
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			lease := &coordv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: map[string]string{Label: "kubectl-axon"}},
				Spec: coordv1.LeaseSpec{HolderIdentity: &o.Holder, LeaseDurationSeconds: &secs,
					AcquireTime: &now, RenewTime: &now},
			}
			created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("taking Lease %s: %w", name, err)
			}
			l.lease = created
			go l.renew()
			return l, nil
		case err != nil:
			return nil, fmt.Errorf("reading Lease %s: %w", name, err)
		}
		if h := Holder(cur); h != "" && h != o.Holder && valid(cur, time.Now()) && !o.Steal {
			return nil, cli.WithCode(cli.ExitRefused, heldError(cur))
		} else if h != "" && h != o.Holder {
			l.Stolen = h
		}
		cur.Spec.HolderIdentity = &o.Holder
		cur.Spec.LeaseDurationSeconds = &secs
		cur.Spec.AcquireTime, cur.Spec.RenewTime = &now, &now
		updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("taking Lease %s: %w", name, err)
		}
		l.lease = updated
		go l.renew()
		return l, nil
	}
	return nil, fmt.Errorf("taking Lease %s: it kept changing under us", name)
}

// Holder is the Lease's holder identity, "" when none.
func Holder(l *coordv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func valid(l *coordv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true // no way to tell: treat as held
	}
	return now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

func heldError(l *coordv1.Lease) *HeldError {
	e := &HeldError{Lease: l.Name, Holder: Holder(l)}
	if l.Spec.AcquireTime != nil {
		e.Since = l.Spec.AcquireTime.Time
	}
	if l.Spec.RenewTime != nil {
		e.Renewed = l.Spec.RenewTime.Time
		if l.Spec.LeaseDurationSeconds != nil {
			e.Expires = e.Renewed.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		}
	}
	return e
}

// Name is the Lease's name.
func (l *Lock) Name() string { return l.lease.Name }

func (l *Lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.o.Duration / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		// Each renewal has a deadline: a request that hangs (an API server going
		// away) must neither outlive the Lease nor hold up Release.
		ctx, cancel := context.WithTimeout(context.Background(), l.o.Duration/3)
		err := l.Renew(ctx)
		cancel()
		if err == nil {
			lastOK = time.Now()
			continue
		}
		var held *HeldError
		if errors.As(err, &held) || time.Since(lastOK) > l.o.Duration {
			if l.o.OnLost != nil {
				l.o.OnLost(err)
			}
			return
		}
	}
}

// Renew extends the Lease now. It fails with a *HeldError when someone took it over.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.kube.CoordinationV1().Leases(l.o.Namespace)
	cur, err := leases.Get(ctx, l.lease.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if Holder(cur) != l.o.Holder {
		return heldError(cur)
	}
	now := metav1.NewMicroTime(time.Now())
	cur.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	l.lease = updated
	return nil
}

// Release stops renewing and deletes the Lease if we still hold it.
func (l *Lock) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.kube.CoordinationV1().Leases(l.o.Namespace)
	cur, err := leases.Get(ctx, l.lease.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing Lease %s: %w", l.lease.Name, err)
	}
	if Holder(cur) != l.o.Holder {
		return nil // taken over: not ours to delete
	}
	rv := cur.ResourceVersion
	err = leases.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing Lease %s: %w", l.lease.Name, err)
	}
	return nil
}
