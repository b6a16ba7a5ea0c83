package snapshot

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

func TestFatalAxonErrorTellsWhoRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"Kubernetes RBAC on the pod proxy",
			&axonserver.Error{Node: "axonserver-1", Method: "GET", Path: "/v1/public/me", StatusCode: http.StatusForbidden,
				Message: `pods "axonserver-1-0" is forbidden: User "op" cannot get resource "pods/proxy" in API group "" in the namespace "axon"`},
			"Kubernetes, not Axon Server, refused"},
		{"Axon Server's invalid token",
			&axonserver.Error{Node: "axonserver-1", Method: "GET", Path: "/v1/public/me", StatusCode: http.StatusForbidden, Message: "Invalid token"},
			"refused the access token"},
		{"Axon Server's missing rights",
			&axonserver.Error{Node: "axonserver-1", Method: "GET", Path: "/v1/public/me", StatusCode: http.StatusForbidden, Message: "Access Denied"},
			"lacks rights"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &inspect.Observation{Nodes: map[string]*inspect.NodeView{"axonserver-1": {Node: "axonserver-1", Err: tc.err}}}
			err := FatalAxonError(obs)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
	// A node merely down is not fatal: status shows it.
	obs := &inspect.Observation{Nodes: map[string]*inspect.NodeView{"a": {Node: "a", Err: &axonserver.Error{Err: axonserver.ErrUnreachable}}}}
	if err := FatalAxonError(obs); err != nil {
		t.Errorf("unreachable node must not be fatal: %v", err)
	}
}

// TestExplainKubeKeepsTheError: the one line is for people; callers still ask
// apierrors about the error underneath.
func TestExplainKubeKeepsTheError(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		err  error
		is   func(error) bool
		want string
	}{
		{apierrors.NewForbidden(gr, "x", errors.New("no\nmore")), apierrors.IsForbidden, "docs/rbac.yaml"},
		{apierrors.NewUnauthorized("bad token"), apierrors.IsUnauthorized, "refused the credentials"},
		{apierrors.NewNotFound(gr, "x"), apierrors.IsNotFound, "not found"},
	} {
		got := ExplainKube(tc.err)
		if !tc.is(got) || !strings.Contains(got.Error(), tc.want) || strings.Contains(got.Error(), "\n") {
			t.Errorf("ExplainKube(%v) = %q: lost the error's type, or not one line with %q", tc.err, got, tc.want)
		}
	}
}
