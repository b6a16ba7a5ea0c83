package snapshot

import (
	"net/http"
	"strings"
	"testing"

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
