package sandbox

import (
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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

// statefulSet lays out one Axon Server node as AxonIQ's examples do
// (running-axon-server): a singleton StatefulSet named after the node, its own
// headless service, PVC templates data/events/log/plugins, probes on
// /actuator/info port 8024.
func statefulSet(t *axonsim.Topology, n axonsim.NodeSpec) *appsv1.StatefulSet {
	labels := map[string]string{"app": n.Name, "cluster": t.Name}
	scheme := corev1.URISchemeHTTP
	if t.TLS {
		scheme = corev1.URISchemeHTTPS
	}
	probe := func(initial, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/actuator/info", Port: intstr.FromInt32(8024), Scheme: scheme,
			}},
			InitialDelaySeconds: initial, PeriodSeconds: period, FailureThreshold: failures,
			TimeoutSeconds: 1, SuccessThreshold: 1,
		}
	}
	pvc := func(name, size string) corev1.PersistentVolumeClaim {
		return corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse(size),
				}},
			},
		}
	}
	var affinity *corev1.Affinity
	if n.Worker != "" {
		// The topology's worker is a preference, not a pin: after a cordon the
		// scheduler may place the pod elsewhere (within its volumes' zone).
		affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 100,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{n.Worker},
				}}},
			}},
		}}
	}
	env := []corev1.EnvVar{
		{Name: "AXONIQ_AXONSERVER_NAME", Value: n.Name},
		{Name: "AXONIQ_AXONSERVER_HOSTNAME", Value: n.Name},
		{Name: "AXONIQ_AXONSERVER_INTERNAL_DOMAIN", Value: t.Namespace + ".svc.cluster.local"},
		{Name: "AXONIQ_AXONSERVER_DOMAIN", Value: t.Namespace + ".svc.cluster.local"},
	}
	if t.Autocluster != nil {
		env = append(env, corev1.EnvVar{Name: "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST",
			Value: t.Autocluster.First + "." + t.Namespace + ".svc.cluster.local"})
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: t.Namespace, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr(int32(1)),
			ServiceName: n.Name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": n.Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(120)),
					SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr(int64(1001)), FSGroup: ptr(int64(1001))},
					Affinity:                      affinity,
					Containers: []corev1.Container{{
						Name:            "axonserver",
						Image:           t.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Env:             env,
						Ports: []corev1.ContainerPort{
							{Name: "gui", ContainerPort: 8024},
							{Name: "grpc", ContainerPort: 8124},
							{Name: "internal-grpc", ContainerPort: 8224},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "data", MountPath: "/axonserver/data"},
							{Name: "events", MountPath: "/axonserver/events"},
							{Name: "log", MountPath: "/axonserver/log"},
							{Name: "plugins", MountPath: "/axonserver/plugins"},
						},
						// As kubectl axon generate writes it: no initial delay (AxonIQ's
						// examples wait 30 s first), the same 10-minute budget.
						StartupProbe:   probe(0, 5, 120),
						ReadinessProbe: probe(5, 5, 30),
						LivenessProbe:  probe(5, 10, 3),
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{
				pvc("data", "1Gi"), pvc("events", "5Gi"), pvc("log", "1Gi"), pvc("plugins", "1Gi"),
			},
		},
	}
}

func headlessService(t *axonsim.Topology, n axonsim.NodeSpec) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: t.Namespace,
			Labels: map[string]string{"app": n.Name, "cluster": t.Name}},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 map[string]string{"app": n.Name},
			Ports: []corev1.ServicePort{
				{Name: "grpc", Port: 8124, TargetPort: intstr.FromInt32(8124)},
				{Name: "internal-grpc", Port: 8224, TargetPort: intstr.FromInt32(8224)},
			},
		},
	}
}

func guiService(t *axonsim.Topology) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name + "-gui", Namespace: t.Namespace,
			Labels: map[string]string{"cluster": t.Name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"cluster": t.Name},
			Ports:    []corev1.ServicePort{{Name: "gui", Port: 8024, TargetPort: intstr.FromInt32(8024)}},
		},
	}
}

func pdb(t *axonsim.Topology) *policyv1.PodDisruptionBudget {
	mu := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: t.Namespace, Labels: map[string]string{"cluster": t.Name}},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &mu,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"cluster": t.Name}},
		},
	}
}

func tokenSecret(t *axonsim.Topology) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name + "-token", Namespace: t.Namespace, Labels: map[string]string{"cluster": t.Name}},
		StringData: map[string]string{"token": t.AccessToken},
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
