package sandbox

import (
	"fmt"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// StorageClassName and Provisioner are the sandbox's volume provisioner.
const (
	StorageClassName = "axon-sandbox-local"
	Provisioner      = "sandbox.kubectl-axon.io/local"
)

func storageClass() *storagev1.StorageClass {
	bind := storagev1.VolumeBindingWaitForFirstConsumer
	reclaim := corev1.PersistentVolumeReclaimDelete
	expand := true
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:          Provisioner,
		VolumeBindingMode:    &bind,
		ReclaimPolicy:        &reclaim,
		AllowVolumeExpansion: &expand,
	}
}

func ptr[T any](v T) *T { return &v }

// The sandbox deploys what users deploy: the manifests `kubectl axon generate`
// (pkg/generate) writes for the topology, so that every e2e run also proves them.
// Its adjustments, and only these, are:
//
//   - names: the cluster's name and the nodes' stem come from the topology, whose
//     nodes must be PREFIX-1 ... PREFIX-N in that order, with autocluster.first
//     (when the topology has one) the first of them, as generate lays them out;
//   - storage: every claim of the sandbox's StorageClass (a local provisioner);
//   - placement: a node with a worker in the topology prefers that worker (weight
//     100, not a pin: drain and cordon still move it) in place of generate's pod
//     anti-affinity and zone spread, which the topology has already decided;
//   - RBAC: docs/rbac.yaml itself (generate embeds a copy a test keeps equal);
//   - Secrets: the token Secret (keys token, internal-token) from the topology's
//     accessToken, and a placeholder license; no certificate Secrets (the simulated
//     kubelet mounts nothing; axonsim serves its own certificates).
//
// Probes, grace period, security context, volumes, Services, the PDB, the
// properties and the per-node autocluster ConfigMaps are generate's, unchanged.

// Deployed are the topology's nodes the sandbox deploys: every one but the spare
// nodes (nodes the cluster does not know yet, for add-node to add).
func Deployed(t *axonsim.Topology) []axonsim.NodeSpec {
	var out []axonsim.NodeSpec
	for _, n := range t.Nodes {
		if !n.Spare {
			out = append(out, n)
		}
	}
	return out
}

// GenerateOptions are the options of `kubectl axon generate` for the topology.
func GenerateOptions(t *axonsim.Topology) (generate.Options, error) {
	nodes := Deployed(t)
	if len(nodes) == 0 {
		return generate.Options{}, fmt.Errorf("the topology has no nodes")
	}
	prefix, ok := strings.CutSuffix(nodes[0].Name, "-1")
	if !ok {
		return generate.Options{}, fmt.Errorf("node %q: the sandbox deploys kubectl axon generate's layout, whose nodes are PREFIX-1 ... PREFIX-N", nodes[0].Name)
	}
	for i, n := range nodes {
		if want := fmt.Sprintf("%s-%d", prefix, i+1); n.Name != want {
			return generate.Options{}, fmt.Errorf("node %q: the sandbox deploys kubectl axon generate's layout: node %d must be %s", n.Name, i+1, want)
		}
	}
	o := generate.Options{Name: t.Name, NodePrefix: prefix, Namespace: t.Namespace, Nodes: len(nodes),
		Image: t.Image, StorageClass: StorageClassName, TLS: t.TLS}
	if a := t.Autocluster; a != nil {
		if a.First != nodes[0].Name {
			return generate.Options{}, fmt.Errorf("autocluster.first %q: in kubectl axon generate's layout the first node, %s, founds the cluster", a.First, nodes[0].Name)
		}
		o.Contexts = a.Contexts
	}
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return generate.Options{}, err
	}
	return o, nil
}

// Manifests are generate's objects for the topology with the sandbox's
// adjustments (above), in generate's order, without its RBAC.
func Manifests(t *axonsim.Topology) ([]runtime.Object, error) {
	o, err := GenerateOptions(t)
	if err != nil {
		return nil, err
	}
	objs, err := generate.Manifests(o)
	if err != nil {
		return nil, err
	}
	workers := map[string]string{}
	for _, n := range t.Nodes {
		workers[n.Name] = n.Worker
	}
	var out []runtime.Object
	for _, obj := range objs {
		switch v := obj.(type) {
		case *rbacv1.Role, *rbacv1.ClusterRole:
			continue
		case *appsv1.StatefulSet:
			if w := workers[v.Name]; w != "" {
				preferWorker(&v.Spec.Template.Spec, w)
			}
		}
		out = append(out, obj)
	}
	return out, nil
}

// preferWorker replaces the pod's spread rules with a preference for worker.
func preferWorker(spec *corev1.PodSpec, worker string) {
	spec.TopologySpreadConstraints = nil
	spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 100,
			Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: generate.HostLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{worker},
			}}},
		}},
	}}
}

// NoAccessToken is the token Secret's token when the topology runs without
// access control (the manifests still mount the Secret).
const NoAccessToken = "access-control-off"

// secrets are the Secrets generate's manifests use that the sandbox creates (a
// user creates them with the commands generate prints).
func secrets(t *axonsim.Topology, o generate.Options) []*corev1.Secret {
	token := t.AccessToken
	if token == "" {
		token = NoAccessToken
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: t.Namespace, Labels: map[string]string{generate.ClusterLabel: t.Name}}
	}
	return []*corev1.Secret{
		{ObjectMeta: meta(o.TokenSecretName()),
			StringData: map[string]string{generate.TokenKey: token, generate.InternalTokenKey: "sandbox-internal-" + t.Name}},
		{ObjectMeta: meta(o.LicenseSecretName()),
			StringData: map[string]string{generate.LicenseKey: "placeholder: axonsim needs no license\n"}},
	}
}

// operatorBindings bind the operator user to kubectl axon's documented Role
// (in the cluster's namespace) and ClusterRole, and to nothing else.
func operatorBindings(ns string) (*rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding) {
	subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}}
	return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "kubectl-axon-operator", Namespace: ns},
			Subjects:   subj,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "kubectl-axon"},
		}, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "kubectl-axon-operator"},
			Subjects:   subj,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubectl-axon"},
		}
}
