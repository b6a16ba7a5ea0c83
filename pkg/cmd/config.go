package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

const configExample = `  # The properties that matter, per node, with the ones where the nodes disagree marked
  kubectl axon config -n axon

  # Two nodes only, as data
  kubectl axon config -n axon axonserver-1 axonserver-3 -o json`

// ConfigOptions shows the nodes' effective configuration.
type ConfigOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	Output string
	Nodes  []string

	clients
}

// NewCmdConfig returns `kubectl axon config`.
func NewCmdConfig(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &ConfigOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut)}
	c := &cobra.Command{
		Use:   "config [NODE...]",
		Short: "Show the effective values of the properties that matter for operations, per node",
		Long: `config reads each node's effective configuration from GET /actuator/env (Spring
Boot's environment endpoint, which AxonIQ's default configuration exposes) and shows the
properties that matter for operations: min-active-backups, access control, TLS, the
storage paths (events, snapshots, replication log, control DB and its backups),
autocluster and the election timeouts, with the source that set each value (the
environment, axonserver.properties, a default). A property the nodes disagree on is
marked: every node applies its own value.

Values Spring Boot masks stay masked; a node whose /actuator/env is not exposed or does
not answer is listed as unread. NODE is an Axon Server node name or StatefulSet name.`,
		Example: configExample,
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "output format: json or yaml")
	return c
}

// Complete takes the node names.
func (o *ConfigOptions) Complete(args []string) error {
	o.Nodes = args
	return nil
}

// Validate checks the flags.
func (o *ConfigOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if err := checkDataOutput(o.Output); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		if n == "" || seen[n] {
			return cli.Usagef("node %q named twice or empty", n)
		}
		seen[n] = true
	}
	return nil
}

// ConfigReport is `config -o json`.
type ConfigReport struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Cluster   string `json:"cluster"`
	nodeconfig.Table
}

// Run reads and shows the configuration.
func (o *ConfigOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	snap, err := snapshot.Take(ctx, o.session, snapshot.Options{Query: o.session.Query(false), Inspect: o.session.InspectOptions()})
	if err != nil {
		return err
	}
	t, err := ConfigTable(snap, o.Nodes)
	if err != nil {
		return err
	}
	r := ConfigReport{Kind: "AxonNodeConfig", Namespace: snap.Namespace, Cluster: snap.Cluster, Table: t}
	if o.Output != "" {
		return writeData(o.Out, r, o.Output)
	}
	return writeConfig(o.Out, r)
}

// ConfigTable is the configuration table of the snapshot's nodes (only those named,
// when names are given: unknown ones are a usage error).
func ConfigTable(snap *snapshot.Snapshot, only []string) (nodeconfig.Table, error) {
	envs := map[string]*axonserver.Env{}
	unread := map[string]string{}
	var all []string
	if snap.Obs != nil {
		for n, v := range snap.Obs.Nodes {
			all = append(all, n)
			switch {
			case v.Env != nil:
				envs[n] = v.Env
			case v.EnvErr != nil:
				unread[n] = firstLine(v.EnvErr.Error())
			case !v.Reachable && v.Err != nil:
				unread[n] = firstLine(v.Err.Error())
			case v.Reachable:
				unread[n] = "/actuator/env not exposed"
			}
		}
	}
	for _, m := range snap.Members {
		if snap.Obs == nil || snap.Obs.Nodes[m.NodeName] == nil {
			all = append(all, m.NodeName)
			if m.Pod == nil {
				unread[m.NodeName] = "no pod"
			}
		}
	}
	nodes := all
	if len(only) > 0 {
		nodes = nil
		for _, n := range only {
			name := n
			if m, ok := snap.Member(n); ok {
				name = m.NodeName
			}
			found := false
			for _, a := range all {
				found = found || a == name
			}
			if !found {
				sort.Strings(all)
				return nodeconfig.Table{}, cli.Usagef("no node %q in cluster %s (nodes: %s)", n, snap.Cluster, strings.Join(all, ", "))
			}
			nodes = append(nodes, name)
		}
	}
	return nodeconfig.Build(nodes, envs, unread), nil
}

func writeConfig(w io.Writer, r ConfigReport) error {
	where := "Cluster " + r.Cluster
	if r.Namespace != "" {
		where += " in namespace " + r.Namespace
	}
	fmt.Fprintf(w, "%s: the effective configuration (/actuator/env) of %d nodes\n\n", where, len(r.Nodes))
	t := table.New(w, "PROPERTY", "NODE", "VALUE", "SOURCE", "AGREE")
	for _, row := range r.Rows {
		agree := "yes"
		switch {
		case row.PerNode:
			agree = "-"
		case row.Disagree:
			agree = "NO"
		}
		for i, v := range row.Values {
			val, src := dash(v.Value), v.Source
			switch {
			case v.Default:
				src = "default"
			case !v.Set:
				src = "not set"
			}
			name := row.Property
			if i > 0 {
				name = ""
			}
			a := agree
			if i > 0 {
				a = ""
			}
			t.Row(name, v.Node, val, src, a)
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Disagree {
			notes = append(notes, fmt.Sprintf("the nodes disagree on %s: %s", row.Property, row.Describe()))
		}
	}
	for _, n := range sortedNames(r.Unread) {
		notes = append(notes, fmt.Sprintf("%s: configuration not read: %s", n, r.Unread[n]))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, x := range notes {
			fmt.Fprintln(w, "  - "+x)
		}
	}
	return nil
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
