// Package generate lays out an Axon Server Enterprise cluster in Kubernetes the way
// kubectl axon's advice (and `kubectl axon doctor`) wants it: one singleton StatefulSet
// per node with a headless Service each, a shared HTTP Service, claims for every data
// path, probes on /actuator/info with a long startup budget, a 120 s grace period, a
// non-root security context, pods spread over workers and zones, a disruption budget,
// kubectl axon's RBAC, a ConfigMap with axonserver.properties, and per node a ConfigMap
// with its own autocluster.first (see Options.Formed and docs/generate.md: a node
// rebuilt on an empty volume must never be its own autocluster.first once the
// cluster exists).
//
// It is a library without CLI concerns: Manifests builds the objects, Render and
// WriteDir write them.
package generate

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Ports, paths and identities of the layout.
const (
	ContainerName = "axonserver"
	HTTPPort      = 8024
	GRPCPort      = 8124
	InternalPort  = 8224
	// UserID is the user (and group) of AxonIQ's -nonroot images.
	UserID = 1001
	// GraceSeconds is the pods' terminationGracePeriodSeconds (AxonIQ's examples).
	GraceSeconds = 120
	// Base is where the images keep everything.
	Base = "/axonserver"
	// ClusterLabel and AppLabel are AxonIQ's labels: cluster=<cluster name> on every
	// object, app=<node name> on a node's StatefulSet, pod and Service.
	ClusterLabel = "cluster"
	AppLabel     = "app"
	ZoneLabel    = "topology.kubernetes.io/zone"
	HostLabel    = "kubernetes.io/hostname"
	// PropertiesKey is the ConfigMap key mounted as Base/config/axonserver.properties.
	PropertiesKey = "axonserver.properties"
	// AutoclusterFirstEnv carries axoniq.axonserver.autocluster.first into the
	// container (Spring's relaxed binding; the environment overrides the properties
	// file). Its value comes from key AutoclusterFirstKey of the node's own ConfigMap
	// AutoclusterConfigMapName(node), read when the container starts: changing the
	// ConfigMap restarts nothing and takes effect at the node's next start.
	AutoclusterFirstEnv = "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST"
	AutoclusterFirstKey = "first"
	// InternalPortDefault is Axon Server's default internal gRPC port, the one
	// autocluster.first implies when it names no port.
	InternalPortDefault = InternalPort
)

// AutoclusterConfigMapName is the ConfigMap that holds node's autocluster.first.
func AutoclusterConfigMapName(node string) string { return node + "-autocluster" }

// Names of the shared objects and of the Secrets the user creates.
func (o Options) PropertiesName() string    { return o.Name + "-properties" }
func (o Options) HTTPServiceName() string   { return o.Name + "-http" }
func (o Options) TokenSecretName() string   { return o.Name + "-token" }
func (o Options) LicenseSecretName() string { return o.Name + "-license" }
func (o Options) CASecretName() string      { return o.Name + "-ca" }

// TLSSecretName is node's certificate Secret (with --tls).
func TLSSecretName(node string) string { return node + "-tls" }

// Keys of the Secrets the user creates.
const (
	TokenKey         = "token"          // <name>-token: the system token, an ADMIN token
	InternalTokenKey = "internal-token" // <name>-token: the nodes' shared secret
	LicenseKey       = "axoniq.license" // <name>-license
	CAKey            = "ca.crt"         // <name>-ca
	KeystorePassKey  = "keystore-password"
)

// Manifests returns the cluster's objects in a stable order: RBAC, the ConfigMap,
// the HTTP Service, the PodDisruptionBudget, then per node its autocluster
// ConfigMap, Service and StatefulSet. With Only set: just those nodes' objects.
func Manifests(opts Options) ([]runtime.Object, error) {
	o := opts.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var out []runtime.Object
	only := map[string]bool{}
	for _, n := range o.Only {
		only[n] = true
	}
	if len(only) == 0 {
		rbac, err := RBAC(o.objectNamespace())
		if err != nil {
			return nil, err
		}
		out = append(out, rbac...)
		out = append(out, o.configMap(), o.httpService(), o.pdb())
	}
	for i := 1; i <= o.Nodes; i++ {
		n := o.NodeName(i)
		if len(only) > 0 && !only[n] {
			continue
		}
		out = append(out, o.autoclusterConfigMap(i), o.headlessService(n), o.statefulSet(i))
	}
	return out, nil
}

func (o Options) meta(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: o.objectNamespace(), Labels: labels}
}

// objectNamespace is the namespace written into the objects ("" when omitted).
func (o Options) objectNamespace() string {
	if o.NamespaceOmitted {
		return ""
	}
	return o.Namespace
}

func (o Options) clusterLabels() map[string]string { return map[string]string{ClusterLabel: o.Name} }

func (o Options) nodeLabels(node string) map[string]string {
	return map[string]string{AppLabel: node, ClusterLabel: o.Name}
}

// Domain is the DNS domain of the namespace's Services.
func (o Options) Domain() string { return o.Namespace + ".svc." + o.ClusterDomain }

// Host is node's internal host name as Axon Server forms it: its hostname (the
// node name) dot its internal domain. autocluster.first is compared with it.
func (o Options) Host(node string) string { return node + "." + o.Domain() }

// FirstOf is the node that node i (1-based) names as autocluster.first. Node 1 is
// the founder: it names itself, so that it creates the cluster on its clean first
// start; every other node names node 1 and registers with it. With Formed the
// cluster exists and nobody names itself: node 1 names node 2, so that node 1
// rebuilt on an empty volume registers with node 2 instead of creating a second
// cluster. A one-node cluster has nobody else to name.
func (o Options) FirstOf(i int) string {
	if i == 1 && o.Formed && o.Nodes > 1 {
		return o.NodeName(2)
	}
	return o.NodeName(1)
}

// AfterFormation is the command that, once the cluster has formed, points the
// founder's autocluster.first at node 2 (nothing restarts); "" when there is
// nothing to do (Formed, one node, or node 1 not in the output).
func AfterFormation(opts Options) string {
	o := opts.WithDefaults()
	if o.Formed || o.Nodes < 2 {
		return ""
	}
	founder := o.NodeName(1)
	if len(o.Only) > 0 && !slices.Contains(o.Only, founder) {
		return ""
	}
	f := o
	f.Formed = true
	return fmt.Sprintf(`kubectl -n %s patch configmap %s --type=merge -p '{"data":{%q:%q}}'`,
		o.Namespace, AutoclusterConfigMapName(founder), AutoclusterFirstKey, o.Host(f.FirstOf(1)))
}

func (o Options) autoclusterConfigMap(i int) *corev1.ConfigMap {
	node := o.NodeName(i)
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: o.meta(AutoclusterConfigMapName(node), o.nodeLabels(node)),
		Data:       map[string]string{AutoclusterFirstKey: o.Host(o.FirstOf(i))},
	}
}

// Properties is the text of axonserver.properties, the same for every node.
func (o Options) Properties() string {
	var b strings.Builder
	p := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	fmt.Fprintf(&b, "# Axon Server cluster %s: shared by every node (written by kubectl axon generate).\n", o.Name)
	fmt.Fprintf(&b, "# Node names come from AXONIQ_AXONSERVER_NAME/HOSTNAME in each StatefulSet.\n")
	p("axoniq.axonserver.domain", o.Domain())
	p("axoniq.axonserver.internal-domain", o.Domain())
	b.WriteString("# autocluster: on a clean start (an empty data volume) the node named by\n" +
		"# autocluster.first creates a new cluster with these contexts; any other node\n" +
		"# registers with it. autocluster.first is per node, not here: ConfigMap\n" +
		"# <node>-autocluster, key " + AutoclusterFirstKey + ", environment " + AutoclusterFirstEnv + ".\n")
	p("axoniq.axonserver.autocluster.contexts", strings.Join(o.Contexts, ","))
	b.WriteString("# Every data path is on a volume claim of the node's own.\n")
	p("axoniq.axonserver.event.storage", Base+"/events")
	p("axoniq.axonserver.snapshot.storage", Base+"/events")
	p("axoniq.axonserver.controldb-path", Base+"/data")
	p("axoniq.axonserver.replication.log-storage-folder", Base+"/log")
	b.WriteString("# The control DB backup (POST /v1/backup/createControlDbBackup) on the data volume:\n" +
		"# Axon Server's default \".\" is the container's own filesystem, lost on restart and out\n" +
		"# of reach of a backup that copies the volumes.\n")
	p("axoniq.axonserver.controldb-backup-location", Base+"/data/backup")
	b.WriteString("# recovery.json (new host names for a restored cluster: kubectl axon restore) on the\n" +
		"# data volume; Axon Server's default ./recovery.json is the container's own filesystem.\n")
	p("axoniq.axonserver.recoveryfile", Base+"/data/recovery.json")
	p("axoniq.axonserver.enterprise.licenseDirectory", Base+"/license")
	b.WriteString("# Access control: the system token is Secret " + o.TokenSecretName() + ", key " + TokenKey + ";\n# the internal token comes from the same Secret through the environment.\n")
	p("axoniq.axonserver.accesscontrol.enabled", "true")
	p("axoniq.axonserver.accesscontrol.systemtokenfile", Base+"/security/"+TokenKey)
	if o.TLS {
		b.WriteString("# TLS: each node's certificate is Secret <node>-tls; the CA is Secret " + o.CASecretName() + ".\n")
		p("server.ssl.enabled", "true")
		p("server.ssl.key-store-type", "PKCS12")
		p("server.ssl.key-store", Base+"/ssl/tls.p12")
		p("server.ssl.key-alias", "axonserver")
		p("security.require-ssl", "true")
		p("axoniq.axonserver.ssl.enabled", "true")
		p("axoniq.axonserver.ssl.cert-chain-file", Base+"/ssl/tls.crt")
		p("axoniq.axonserver.ssl.private-key-file", Base+"/ssl/tls.key")
		p("axoniq.axonserver.ssl.internal-trust-manager-file", Base+"/ssl/"+CAKey)
	}
	return b.String()
}

func (o Options) configMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: o.meta(o.PropertiesName(), o.clusterLabels()),
		Data:       map[string]string{PropertiesKey: o.Properties()},
	}
}

func (o Options) httpService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: o.meta(o.HTTPServiceName(), o.clusterLabels()),
		Spec: corev1.ServiceSpec{
			Selector:        o.clusterLabels(),
			SessionAffinity: corev1.ServiceAffinityClientIP,
			Ports:           []corev1.ServicePort{{Name: "http", Port: HTTPPort, TargetPort: intstr.FromInt32(HTTPPort)}},
		},
	}
}

func (o Options) pdb() *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: o.meta(o.Name, o.clusterLabels()),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: o.clusterLabels()},
		},
	}
}

func (o Options) headlessService(node string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: o.meta(node, o.nodeLabels(node)),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			// Keep the pod's DNS name while it is not Ready: Axon Server, not
			// Kubernetes, decides whether its peers may talk to it.
			PublishNotReadyAddresses: true,
			Selector:                 o.nodeLabels(node),
			Ports: []corev1.ServicePort{
				{Name: "grpc", Port: GRPCPort, TargetPort: intstr.FromInt32(GRPCPort)},
				{Name: "internal-grpc", Port: InternalPort, TargetPort: intstr.FromInt32(InternalPort)},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// replicas is 1, the singleton, or 0 for a stopped cluster.
func (o Options) replicas() int32 {
	if o.Stopped {
		return 0
	}
	return 1
}

func (o Options) probe(initial, period, failures int32) *corev1.Probe {
	scheme := corev1.URISchemeHTTP
	if o.TLS {
		scheme = corev1.URISchemeHTTPS
	}
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/actuator/info", Port: intstr.FromInt32(HTTPPort), Scheme: scheme,
		}},
		InitialDelaySeconds: initial, PeriodSeconds: period, FailureThreshold: failures,
		TimeoutSeconds: 1, SuccessThreshold: 1,
	}
}

func (o Options) claim(name, size string) corev1.PersistentVolumeClaim {
	c := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: o.clusterLabels()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size),
			}},
		},
	}
	if o.StorageClass != "" {
		c.Spec.StorageClassName = ptr(o.StorageClass)
	}
	return c
}

// Zone is the zone node i (1-based) is pinned to, "" without Zones.
func (o Options) Zone(i int) string {
	if len(o.Zones) == 0 {
		return ""
	}
	return o.Zones[(i-1)%len(o.Zones)]
}

func (o Options) affinity(i int) (*corev1.Affinity, []corev1.TopologySpreadConstraint) {
	sel := &metav1.LabelSelector{MatchLabels: o.clusterLabels()}
	a := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		// Preferred, not required: a small cluster with fewer workers than nodes
		// still schedules; doctor reports nodes that share a worker.
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight:          100,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: HostLabel, LabelSelector: sel},
		}},
	}}
	if z := o.Zone(i); z != "" {
		a.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{z},
			}}}},
		}}
		return a, nil
	}
	return a, []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: ZoneLabel, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel,
	}}
}

func (o Options) statefulSet(i int) *appsv1.StatefulSet {
	node := o.NodeName(i)
	labels := o.nodeLabels(node)
	env := []corev1.EnvVar{
		{Name: "AXONIQ_AXONSERVER_NAME", Value: node},
		{Name: "AXONIQ_AXONSERVER_HOSTNAME", Value: node},
		{Name: AutoclusterFirstEnv, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: AutoclusterConfigMapName(node)}, Key: AutoclusterFirstKey,
		}}},
		{Name: "AXONIQ_LICENSE", Value: Base + "/license/" + LicenseKey},
		{Name: "AXONIQ_AXONSERVER_ACCESSCONTROL_INTERNAL_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: o.TokenSecretName()}, Key: InternalTokenKey,
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "events", MountPath: Base + "/events"},
		{Name: "data", MountPath: Base + "/data"},
		{Name: "log", MountPath: Base + "/log"},
		{Name: "plugins", MountPath: Base + "/plugins"},
		{Name: "config", MountPath: Base + "/config", ReadOnly: true},
		{Name: "system-token", MountPath: Base + "/security", ReadOnly: true},
		{Name: "license", MountPath: Base + "/license", ReadOnly: true},
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: o.PropertiesName()},
		}}},
		{Name: "system-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: o.TokenSecretName(), Items: []corev1.KeyToPath{{Key: TokenKey, Path: TokenKey}},
		}}},
		{Name: "license", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: o.LicenseSecretName(), Items: []corev1.KeyToPath{{Key: LicenseKey, Path: LicenseKey}},
		}}},
	}
	if o.TLS {
		env = append(env, corev1.EnvVar{Name: "SERVER_SSL_KEY_STORE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: TLSSecretName(node)}, Key: KeystorePassKey,
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: Base + "/ssl", ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: TLSSecretName(node)},
					Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}, {Key: "tls.p12", Path: "tls.p12"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: o.CASecretName()},
					Items: []corev1.KeyToPath{{Key: CAKey, Path: CAKey}}}},
			},
		}}})
	}
	affinity, spread := o.affinity(i)
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: o.meta(node, labels),
		Spec: appsv1.StatefulSetSpec{
			// A singleton: never scale it; add a node with `kubectl axon generate --only`.
			Replicas:    ptr(o.replicas()),
			ServiceName: node,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(GraceSeconds)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(UserID)), RunAsGroup: ptr(int64(UserID)),
						FSGroup: ptr(int64(UserID)), FSGroupChangePolicy: ptr(corev1.FSGroupChangeOnRootMismatch),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Affinity:                  affinity,
					TopologySpreadConstraints: spread,
					Containers: []corev1.Container{{
						Name:            ContainerName,
						Image:           o.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Env:             env,
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
							{Name: "grpc", ContainerPort: GRPCPort, Protocol: corev1.ProtocolTCP},
							{Name: "internal-grpc", ContainerPort: InternalPort, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts: mounts,
						// /actuator/info answers once the node serves requests; the
						// startup probe allows 30 + 5 x 110 s for consistency checks,
						// index rebuilds and many contexts. Never /actuator/health: it
						// is cluster-wide.
						// No initial delay: the startup probe is the budget (5 s x 120 =
						// 10 min), and a delay only makes every restart slower.
						StartupProbe:   o.probe(0, 5, 120),
						ReadinessProbe: o.probe(5, 5, 30),
						LivenessProbe:  o.probe(5, 10, 3),
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: volumes,
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{
				o.claim("events", o.EventsSize), o.claim("data", o.DataSize),
				o.claim("log", o.LogSize), o.claim("plugins", o.PluginsSize),
			},
		},
	}
}

// Secrets describes the Secrets the manifests use and the user creates (their data
// never goes into the manifests), as kubectl commands.
func Secrets(opts Options) []string {
	o := opts.WithDefaults()
	ns := "-n " + o.Namespace + " "
	only := map[string]bool{}
	for _, n := range o.Only {
		only[n] = true
	}
	var out []string
	if len(only) == 0 {
		out = append(out,
			// Labelled with the cluster, so that kubectl axon finds the token by itself.
			fmt.Sprintf("kubectl %screate secret generic %s --from-literal=%s=$(uuidgen) --from-literal=%s=$(uuidgen) && kubectl %slabel secret %s %s=%s",
				ns, o.TokenSecretName(), TokenKey, InternalTokenKey, ns, o.TokenSecretName(), ClusterLabel, o.Name),
			fmt.Sprintf("kubectl %screate secret generic %s --from-file=%s=PATH/TO/axoniq.license", ns, o.LicenseSecretName(), LicenseKey))
		if o.TLS {
			out = append(out, fmt.Sprintf("kubectl %screate secret generic %s --from-file=%s=PATH/TO/ca.crt", ns, o.CASecretName(), CAKey))
		}
	}
	if o.TLS {
		for i := 1; i <= o.Nodes; i++ {
			n := o.NodeName(i)
			if len(only) > 0 && !only[n] {
				continue
			}
			out = append(out, fmt.Sprintf("kubectl %screate secret generic %s --from-file=tls.crt --from-file=tls.key --from-file=tls.p12 --from-literal=%s=PASSWORD   # certificate for %s.%s",
				ns, TLSSecretName(n), KeystorePassKey, n, o.Domain()))
		}
	}
	return out
}
