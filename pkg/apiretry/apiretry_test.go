package apiretry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
)

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	gr := schema.GroupResource{Resource: "pods"}
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"connection refused, wrapped": {fmt.Errorf("patching: %w", refused), true},
		"503":                         {apierrors.NewServiceUnavailable("starting"), true},
		"429":                         {apierrors.NewTooManyRequests("slow down", 1), true},
		"500":                         {apierrors.NewInternalError(errors.New("etcd")), true},
		"server timeout":              {apierrors.NewServerTimeout(gr, "get", 1), true},
		"forbidden":                   {apierrors.NewForbidden(gr, "p", errors.New("RBAC")), false},
		"not found":                   {apierrors.NewNotFound(gr, "p"), false},
		"conflict":                    {apierrors.NewConflict(gr, "p", errors.New("changed")), false},
		"other":                       {errors.New("bad patch"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("%s: Transient = %v", name, got)
		}
	}
}

func TestDo(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := Do(ctx, time.Minute, "x", func(context.Context) error {
		if calls++; calls < 3 {
			return apierrors.NewServiceUnavailable("starting")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("back after two refusals: %v, %d calls", err, calls)
	}
	err = Do(ctx, 500*time.Millisecond, "patching StatefulSet a", func(context.Context) error { return apierrors.NewServiceUnavailable("starting") })
	if cli.ExitCode(err) != cli.ExitTimeout {
		t.Errorf("never back: %v", err)
	}
	calls = 0
	err = Do(ctx, time.Minute, "x", func(context.Context) error { calls++; return errors.New("bad patch") })
	if err == nil || calls != 1 {
		t.Errorf("not transient: %v after %d calls", err, calls)
	}
}
