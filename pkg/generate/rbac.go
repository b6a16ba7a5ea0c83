package generate

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// rbacYAML is a copy of docs/rbac.yaml, the one description of the permissions
// kubectl axon needs; TestRBACMatchesDocs fails when the two differ.
//
//go:generate cp ../../docs/rbac.yaml rbac.yaml
//go:embed rbac.yaml
var rbacYAML []byte

// RBACYAML returns docs/rbac.yaml as embedded in the binary.
func RBACYAML() []byte { return bytes.Clone(rbacYAML) }

// RBAC returns kubectl axon's Roles (in namespace: kubectl-axon, and the optional
// kubectl-axon-backup and kubectl-axon-restore) and ClusterRole.
func RBAC(namespace string) ([]runtime.Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rbacYAML), 4096)
	var out []runtime.Object
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("rbac.yaml: %v", err)
		}
		if len(raw) == 0 {
			continue
		}
		b, err := yaml.Marshal(raw)
		if err != nil {
			return nil, err
		}
		switch raw["kind"] {
		case "Role":
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict(b, &r); err != nil {
				return nil, fmt.Errorf("rbac.yaml: Role: %v", err)
			}
			r.Namespace = namespace
			out = append(out, &r)
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(b, &r); err != nil {
				return nil, fmt.Errorf("rbac.yaml: ClusterRole: %v", err)
			}
			out = append(out, &r)
		default:
			return nil, fmt.Errorf("rbac.yaml: unexpected kind %v", raw["kind"])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("rbac.yaml: no Role or ClusterRole")
	}
	return out, nil
}
