package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
)

const generateExample = `  # A three-node cluster in namespace axon, to review and apply
  kubectl axon generate -n axon --nodes 3 --storage-class fast-ssd --events-size 100Gi > axon.yaml

  # One file per object, nodes pinned round-robin to three zones, HTTPS and TLS
  kubectl axon generate -n axon --nodes 5 --zones eu-west-1a,eu-west-1b,eu-west-1c --tls --output-dir manifests/

  # Add a fourth node to a cluster generated with --nodes 3
  kubectl axon generate -n axon --nodes 4 --only axonserver-4 | kubectl apply -f -

  # Once the cluster has formed: no node is its own autocluster.first any more
  kubectl axon generate -n axon --nodes 3 --formed | kubectl apply -f -`

// GenerateOptions writes a cluster's manifests.
type GenerateOptions struct {
	genericiooptions.IOStreams
	generate.Options
	OutputDir string

	kubeconfig string
}

// NewCmdGenerate returns `kubectl axon generate`.
func NewCmdGenerate(streams genericiooptions.IOStreams) *cobra.Command {
	o := &GenerateOptions{IOStreams: streams, Options: generate.Options{Nodes: 3}.WithDefaults()}
	c := &cobra.Command{
		Use:   "generate",
		Short: "Write the manifests of an Axon Server cluster laid out as kubectl axon advises",
		Long: `generate writes, to stdout or a directory, the manifests of an N-node Axon Server
cluster: one singleton StatefulSet per node (NAME-1 ... NAME-N) with a headless Service
each, the shared HTTP Service, volume claims for events, data, log and plugins, startup,
readiness and liveness probes on /actuator/info, a 120 s grace period, a non-root
security context, pods spread over workers and zones, a PodDisruptionBudget, kubectl
axon's Role and ClusterRole, and a ConfigMap with axonserver.properties (node names,
internal domain, autocluster, access control).

It contacts no cluster. The Secrets (access token, license, certificates) are not in the
output; the commands that create them are printed as comments (or, with --output-dir, on
stderr). ` + "`kubectl axon doctor`" + ` on a cluster made from them reports no error.`,
		Example: generateExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(c); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the cluster (default: the kubeconfig's current namespace)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig to read the default namespace from (nothing is contacted)")
	f.IntVar(&o.Nodes, "nodes", o.Nodes, "number of Axon Server nodes")
	f.StringVar(&o.Name, "name", o.Name, "cluster name: the \"cluster\" label and the stem of the node names (NAME-1 ... NAME-N)")
	f.StringVar(&o.Image, "image", o.Image, "Axon Server image, with a pinned tag (a -nonroot one)")
	f.StringVar(&o.StorageClass, "storage-class", o.StorageClass, "StorageClass of the volume claims (default: the cluster's default class)")
	f.StringVar(&o.EventsSize, "events-size", o.EventsSize, "size of each node's event store volume")
	f.StringVar(&o.DataSize, "data-size", o.DataSize, "size of each node's control DB volume")
	f.StringVar(&o.LogSize, "log-size", o.LogSize, "size of each node's replication log volume")
	f.StringVar(&o.PluginsSize, "plugins-size", o.PluginsSize, "size of each node's plugins volume")
	f.StringSliceVar(&o.Zones, "zones", o.Zones, "zones to pin the nodes to, round-robin (default: spread over whatever zones there are)")
	f.BoolVar(&o.TLS, "tls", o.TLS, "HTTPS on 8024 and TLS on gRPC, with a certificate Secret per node")
	f.StringSliceVar(&o.Only, "only", o.Only, "write only these nodes' objects: autocluster ConfigMap, Service, StatefulSet (to add nodes to a cluster)")
	f.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the Kubernetes cluster's DNS domain")
	f.StringSliceVar(&o.Contexts, "contexts", o.Contexts, "contexts the first node creates on a clean start")
	f.StringVar(&o.NodePrefix, "node-prefix", "", "stem of the node names, PREFIX-1 ... PREFIX-N (default: --name)")
	f.BoolVar(&o.Formed, "formed", o.Formed, "the cluster exists: node 1 names node 2 as autocluster.first instead of itself, so no rebuild on an empty volume can start a second cluster")
	f.BoolVar(&o.Stopped, "stopped", o.Stopped, "every StatefulSet at replicas 0: the cluster to restore a backup into (kubectl axon restore starts it)")
	f.StringVar(&o.OutputDir, "output-dir", o.OutputDir, "write one file per object (kind-name.yaml) to this directory instead of stdout")
	return c
}

// Complete fills in the namespace from the kubeconfig when -n is not given.
func (o *GenerateOptions) Complete(c *cobra.Command) error {
	if o.Namespace != "" {
		return nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	// kubectl's convention: no namespace in the objects unless one was asked for.
	// The DNS names need one all the same: the namespace kubectl apply uses by default.
	o.Namespace, o.NamespaceOmitted = ns, true
	return nil
}

// Validate checks the flags: every error is a one-line usage error (exit 2).
func (o *GenerateOptions) Validate() error {
	v := o.Options
	if v.NodePrefix == "" {
		v.NodePrefix = v.Name
	}
	err := v.Validate()
	var oe *generate.OptionError
	if errors.As(err, &oe) {
		return cli.Usagef("--%s %s", oe.Field, oe.Msg)
	}
	if err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run writes the manifests.
func (o *GenerateOptions) Run() error {
	objs, err := generate.Manifests(o.Options)
	if err != nil {
		return err
	}
	secrets := generate.Secrets(o.Options)
	if o.OutputDir != "" {
		paths, err := generate.WriteDir(o.OutputDir, objs)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintln(o.Out, p)
		}
		if len(secrets) > 0 {
			fmt.Fprintf(o.ErrOut, "Create these Secrets before applying:\n  %s\n", strings.Join(secrets, "\n  "))
		}
		if after := generate.AfterFormation(o.Options); after != "" {
			fmt.Fprintf(o.ErrOut, "Once the cluster has formed, so that no rebuild can start a second cluster:\n  %s\n", after)
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Axon Server cluster %q in namespace %s, written by kubectl axon generate.\n", o.Name, o.Namespace)
	if o.NamespaceOmitted {
		fmt.Fprintf(&b, "# The objects name no namespace (no -n was given): apply them in %s, the kubeconfig's,\n# which their DNS names assume; for another namespace, generate again with -n.\n", o.Namespace)
	}
	if len(secrets) > 0 {
		b.WriteString("# Create these Secrets before applying:\n")
		for _, s := range secrets {
			b.WriteString("#   " + s + "\n")
		}
	}
	if after := generate.AfterFormation(o.Options); after != "" {
		b.WriteString("# Once the cluster has formed, so that no rebuild can start a second cluster:\n#   " + after + "\n")
	}
	if _, err := fmt.Fprint(o.Out, b.String()); err != nil {
		return err
	}
	return generate.Render(o.Out, objs)
}
