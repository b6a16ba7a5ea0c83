package lock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
)

func TestAcquireRefuseStealRelease(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	a, err := Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c1", Holder: "alice@h pid 1 upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := kube.CoordinationV1().Leases("axon").Get(ctx, "kubectl-axon-c1", metav1.GetOptions{})
	if err != nil || Holder(lease) != "alice@h pid 1 upgrade" || *lease.Spec.LeaseDurationSeconds != 60 {
		t.Fatalf("lease: %+v %v", lease, err)
	}

	// A second run is refused with who holds it (exit 3).
	_, err = Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c1", Holder: "bob@h pid 2 upgrade"})
	var held *HeldError
	if !errors.As(err, &held) || cli.ExitCode(err) != cli.ExitRefused || held.Holder != "alice@h pid 1 upgrade" ||
		!strings.Contains(err.Error(), "--steal-lock") {
		t.Fatalf("second acquire: %v", err)
	}
	// Another cluster is independent.
	c2, err := Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c2", Holder: "bob@h pid 2 upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Release(ctx)

	// --steal-lock takes it over; the old holder's renewal then reports the loss
	// and its release leaves the new holder's Lease alone.
	b, err := Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c1", Holder: "bob@h pid 2 upgrade", Steal: true})
	if err != nil || b.Stolen != "alice@h pid 1 upgrade" {
		t.Fatalf("steal: %v %q", err, b.Stolen)
	}
	if err := a.Renew(ctx); !errors.As(err, &held) || held.Holder != "bob@h pid 2 upgrade" {
		t.Fatalf("renew after steal: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoordinationV1().Leases("axon").Get(ctx, "kubectl-axon-c1", metav1.GetOptions{}); err != nil {
		t.Fatalf("old holder's release deleted the new holder's lease: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoordinationV1().Leases("axon").Get(ctx, "kubectl-axon-c1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lease not released: %v", err)
	}
	if err := b.Release(ctx); err != nil { // twice is fine
		t.Fatal(err)
	}
}

func TestExpiredLeaseIsTaken(t *testing.T) {
	ctx := context.Background()
	old := metav1.NewMicroTime(time.Now().Add(-2 * time.Minute))
	secs := int32(60)
	holder := "crashed@h pid 9 upgrade"
	kube := fake.NewClientset(&coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kubectl-axon-c1", Namespace: "axon"},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &old, RenewTime: &old},
	})
	l, err := Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c1", Holder: "alice@h pid 1 upgrade"})
	if err != nil || l.Stolen != holder {
		t.Fatalf("expired lease: %v", err)
	}
	l.Release(ctx)
}

func TestRenewKeepsLeaseAlive(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	lost := make(chan error, 1)
	l, err := Acquire(ctx, kube, Options{Namespace: "axon", Cluster: "c1", Holder: "me", Duration: 300 * time.Millisecond,
		OnLost: func(err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	created, _ := kube.CoordinationV1().Leases("axon").Get(ctx, "kubectl-axon-c1", metav1.GetOptions{})
	first := created.Spec.RenewTime.Time
	time.Sleep(350 * time.Millisecond)
	cur, _ := kube.CoordinationV1().Leases("axon").Get(ctx, "kubectl-axon-c1", metav1.GetOptions{})
	if !cur.Spec.RenewTime.After(first) {
		t.Fatalf("not renewed: %v then %v", first, cur.Spec.RenewTime)
	}
	// Someone steals it: the renewer notices and calls OnLost.
	thief := "thief"
	cur.Spec.HolderIdentity = &thief
	kube.CoordinationV1().Leases("axon").Update(ctx, cur, metav1.UpdateOptions{})
	select {
	case err := <-lost:
		var held *HeldError
		if !errors.As(err, &held) || held.Holder != "thief" {
			t.Fatalf("OnLost: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("OnLost not called")
	}
	l.Release(ctx)
}

func TestIdentity(t *testing.T) {
	id := Identity("upgrade")
	if !strings.Contains(id, "@") || !strings.Contains(id, " pid ") || !strings.HasSuffix(id, " upgrade") {
		t.Fatalf("identity %q", id)
	}
}

// TestAcquireWaitsForTheAPIServer: while the API server refuses connections (it is
// restarting) Acquire tries again and takes the Lease once it answers; if it never
// does within Patience, exit 4 and no Lease; an answer that is no outage (forbidden)
// is returned at once.
func TestAcquireWaitsForTheAPIServer(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	down := func(kube *fake.Clientset, calls *int, times int, err error) {
		kube.PrependReactor("*", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
			*calls++
			if *calls <= times {
				return true, nil, err
			}
			return false, nil, nil
		})
	}
	ctx := context.Background()
	o := Options{Namespace: "axon", Cluster: "c1", Holder: "alice@h pid 1 upgrade", Patience: time.Minute}

	kube, calls := fake.NewClientset(), 0
	down(kube, &calls, 3, fmt.Errorf("Get \"https://api:6443/...\": %w", refused))
	l, err := Acquire(ctx, kube, o)
	if err != nil || calls != 5 { // three refused, then GET (not found) and CREATE
		t.Fatalf("after the restart: %v after %d calls", err, calls)
	}
	l.Release(ctx)

	kube, calls = fake.NewClientset(), 0
	down(kube, &calls, 1000, apierrors.NewServiceUnavailable("starting"))
	o.Patience = time.Second
	if _, err := Acquire(ctx, kube, o); cli.ExitCode(err) != cli.ExitTimeout || !strings.Contains(err.Error(), "did not answer") || calls < 2 {
		t.Fatalf("never back: %v (exit %d) after %d calls", err, cli.ExitCode(err), calls)
	}

	kube, calls = fake.NewClientset(), 0
	down(kube, &calls, 1000, apierrors.NewForbidden(coordv1.Resource("leases"), "kubectl-axon-c1", errors.New("RBAC")))
	if _, err := Acquire(ctx, kube, o); !apierrors.IsForbidden(err) || calls != 1 {
		t.Fatalf("forbidden: %v after %d calls", err, calls)
	}
}
