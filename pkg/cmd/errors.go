package cmd

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// explainKube turns an error from the Kubernetes API into one actionable line.
func explainKube(err error) error {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%v (kubectl axon needs the Role and ClusterRole in docs/rbac.yaml)", firstLine(err.Error()))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the Kubernetes API server refused the credentials (check --kubeconfig / --context / --token): %v", firstLine(err.Error()))
	case errors.As(err, &status):
		return fmt.Errorf("%s", firstLine(err.Error()))
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return fmt.Errorf("cannot reach the Kubernetes API server: %v", firstLine(err.Error()))
	}
	return err
}
