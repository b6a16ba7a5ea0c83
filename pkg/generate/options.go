package generate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults.
const (
	DefaultName          = "axonserver"
	DefaultImage         = "axoniq/axonserver:2024.1.0-nonroot"
	DefaultEventsSize    = "10Gi"
	DefaultSmallSize     = "1Gi"
	DefaultClusterDomain = "cluster.local"
)

// DefaultContexts are the contexts the first node creates on a clean start.
var DefaultContexts = []string{"_admin", "default"}

// Options say what to lay out. The zero value of every field but Namespace has a
// default (see WithDefaults).
type Options struct {
	// Name is the cluster's name: the value of the "cluster" label, and the stem of
	// every shared object's name.
	Name string
	// NodePrefix is the stem of the node names, NodePrefix-1 ... NodePrefix-N
	// (default: Name).
	NodePrefix string
	// Namespace is the cluster's namespace: the DNS names (host names, autocluster)
	// are in it, and so are the objects unless NamespaceOmitted.
	Namespace string
	// NamespaceOmitted leaves metadata.namespace out of every object, as kubectl does
	// when no namespace was asked for: kubectl apply then puts them in its own. The
	// DNS names still assume Namespace (the kubeconfig's), so apply them there.
	NamespaceOmitted bool
	// Nodes is how many Axon Server nodes the cluster has.
	Nodes int
	// Image is the Axon Server image, with a tag that is not "latest".
	Image string
	// StorageClass of every claim; "" uses the cluster's default class.
	StorageClass string
	// Sizes of the claims.
	EventsSize, DataSize, LogSize, PluginsSize string
	// Zones, when given, pins node i to Zones[(i-1) % len(Zones)]; otherwise the
	// scheduler spreads the pods over whatever zones there are.
	Zones []string
	// TLS serves HTTPS on 8024 and TLS on gRPC, with a certificate per node.
	TLS bool
	// Only restricts the output to these nodes' StatefulSets and Services (to add a
	// node to an existing cluster); empty means everything.
	Only []string
	// ClusterDomain is the Kubernetes cluster's DNS domain.
	ClusterDomain string
	// Contexts the first node creates (autocluster).
	Contexts []string
	// Formed says the cluster exists: no node names itself as autocluster.first
	// (node 1 names node 2). Without it node 1 names itself, which a new cluster
	// needs once, to form (see FirstOf).
	Formed bool
	// Stopped lays every StatefulSet out at replicas 0: the objects of a cluster to
	// restore a backup into (kubectl axon restore starts it).
	Stopped bool
}

// WithDefaults returns o with its empty fields set.
func (o Options) WithDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Name, DefaultName)
	def(&o.NodePrefix, o.Name)
	def(&o.Image, DefaultImage)
	def(&o.EventsSize, DefaultEventsSize)
	def(&o.DataSize, DefaultSmallSize)
	def(&o.LogSize, DefaultSmallSize)
	def(&o.PluginsSize, DefaultSmallSize)
	def(&o.ClusterDomain, DefaultClusterDomain)
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if len(o.Contexts) == 0 {
		o.Contexts = DefaultContexts
	}
	return o
}

// NodeName is the name of node i (1-based): the StatefulSet, its Service and the Axon
// Server node all carry it.
func (o Options) NodeName(i int) string { return fmt.Sprintf("%s-%d", o.NodePrefix, i) }

// NodeNames are every node's name.
func (o Options) NodeNames() []string {
	out := make([]string, o.Nodes)
	for i := range out {
		out[i] = o.NodeName(i + 1)
	}
	return out
}

// maxNameLength: a StatefulSet's pods carry the label controller-revision-hash
// "NAME-<10 characters>", and label values are at most 63 characters.
const maxNameLength = 52

// OptionError is a bad option: Field is its name as the command line spells it
// ("events-size"), Msg one line.
type OptionError struct {
	Field string
	Msg   string
}

func (e *OptionError) Error() string { return e.Field + ": " + e.Msg }

func bad(field, format string, args ...any) error {
	return &OptionError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the options (after WithDefaults); errors are *OptionError.
func (o Options) Validate() error {
	if o.Nodes < 1 {
		return bad("nodes", "must be at least 1, not %d", o.Nodes)
	}
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		return bad("name", "%q: %s", o.Name, errs[0])
	}
	if errs := validation.IsDNS1123Label(o.NodePrefix); len(errs) > 0 {
		return bad("node-prefix", "%q: %s", o.NodePrefix, errs[0])
	}
	field := "name"
	if o.NodePrefix != o.Name {
		field = "node-prefix"
	}
	if len(o.NodeName(o.Nodes)) > maxNameLength {
		return bad(field, "%q: node names like %s are %d characters; StatefulSet names may have at most %d", o.NodePrefix, o.NodeName(o.Nodes), len(o.NodeName(o.Nodes)), maxNameLength)
	}
	if o.Namespace == "" {
		return bad("namespace", "must be given")
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return bad("namespace", "%q: %s", o.Namespace, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(errs) > 0 {
		return bad("cluster-domain", "%q: %s", o.ClusterDomain, errs[0])
	}
	if err := ValidateImage(o.Image); err != nil {
		return bad("image", "%v", err)
	}
	if o.StorageClass != "" {
		if errs := validation.IsDNS1123Subdomain(o.StorageClass); len(errs) > 0 {
			return bad("storage-class", "%q: %s", o.StorageClass, errs[0])
		}
	}
	for _, s := range []struct{ what, v string }{{"events-size", o.EventsSize}, {"data-size", o.DataSize}, {"log-size", o.LogSize}, {"plugins-size", o.PluginsSize}} {
		q, err := resource.ParseQuantity(s.v)
		if err != nil {
			return bad(s.what, "%q is not a quantity like 10Gi or 500Mi", s.v)
		}
		if q.Sign() <= 0 {
			return bad(s.what, "%q must be positive", s.v)
		}
	}
	for _, z := range o.Zones {
		if z == "" {
			return bad("zones", "empty zone name")
		}
		if errs := validation.IsValidLabelValue(z); len(errs) > 0 {
			return bad("zones", "%q: %s", z, errs[0])
		}
	}
	for _, c := range o.Contexts {
		if c == "" || strings.ContainsAny(c, ", \t") {
			return bad("contexts", "%q: must be a name without commas or spaces", c)
		}
	}
	names := map[string]bool{}
	for _, n := range o.NodeNames() {
		names[n] = true
	}
	for _, n := range o.Only {
		if !names[n] {
			return bad("only", "%q is not one of the %d nodes (%s ... %s)", n, o.Nodes, o.NodeName(1), o.NodeName(o.Nodes))
		}
	}
	return nil
}

// ValidateImage accepts an image reference with a tag other than "latest" (and an
// optional digest), or with a digest alone.
func ValidateImage(image string) error {
	if image == "" || strings.ContainsAny(image, " \t\n") {
		return fmt.Errorf("%q is not an image reference", image)
	}
	ref, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest && !strings.Contains(digest, ":") {
		return fmt.Errorf("%q: the digest must look like sha256:...", image)
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	name, tag, hasTag := strings.Cut(last, ":")
	switch {
	case name == "":
		return fmt.Errorf("%q is not an image reference", image)
	case hasTag && tag == "latest":
		return fmt.Errorf("%q: pin a version; :latest changes under a restarted node", image)
	case hasTag && tag == "":
		return fmt.Errorf("%q: empty tag", image)
	case !hasTag && !hasDigest:
		return fmt.Errorf("%q has no tag: pin a version, e.g. %s:2024.1.0-nonroot", image, ref)
	}
	return nil
}
