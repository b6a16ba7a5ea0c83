package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

const statusExample = `  # Is the cluster in namespace axon OK, and what may I stop now?
  kubectl axon status -n axon

  # The same as data, for scripts
  kubectl axon status -n axon -o json

  # Gate a runbook step on a healthy cluster (exit 3 when not healthy)
  kubectl axon status -n axon --exit-code

  # Redraw whenever something changes
  kubectl axon status -n axon --watch

  # Every Axon Server cluster in every namespace
  kubectl axon status -A`

// StatusOptions shows the cluster's state.
type StatusOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	Output           string
	Watch            bool
	Interval         time.Duration
	ExitCode         bool
	AllNamespaces    bool
	MinActiveBackups int

	clients
}

// NewCmdStatus returns `kubectl axon status`.
func NewCmdStatus(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &StatusOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), Interval: 2 * time.Second, MinActiveBackups: 0}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show nodes, replication groups, and which nodes are safe to stop now",
		Long: `Show the cluster's nodes, replication groups, and which nodes are safe to stop now.

status keeps, in kubectl's cache directory (--cache-dir, default ~/.kube/cache, under
kubectl-axon/), what its next run can start from: the clusters' names, the node that
answered for the cluster, the workers' zones (while the same pods run on them), and each
running Axon Server process's version, identity (name, addresses, ports) and
min-active-backups setting (which do not change while it runs; whether a node is an admin
node is read again each run, from its Raft status), and the replication groups' view
without its leaders (taken again only while the process that gave it runs and its _admin
log has not moved: every change of contexts, groups, members, roles or pending changes is
an entry there). The next run asks less. No token and no other configuration is kept;
deleting the directory only costs the next run those questions.`,
		Example: statusExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "output format: json, yaml or wide")
	c.Flags().BoolVarP(&o.Watch, "watch", "w", o.Watch, "redraw whenever the cluster changes (Ctrl-C to stop)")
	c.Flags().DurationVar(&o.Interval, "interval", o.Interval, "with --watch: how often to ask Axon Server again")
	c.Flags().BoolVar(&o.ExitCode, "exit-code", o.ExitCode, "exit 3 when the cluster is not healthy")
	c.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "list the Axon Server clusters of every namespace")
	c.Flags().IntVar(&o.MinActiveBackups, "min-active-backups", o.MinActiveBackups, "the cluster's axoniq.axonserver.replication.min-active-backups; 0: each node's own setting (/actuator/env), else 1")
	return c
}

// Complete has nothing to take in: status has no arguments (cobra refuses them).
func (o *StatusOptions) Complete([]string) error { return nil }

// Validate checks the flags; nothing has been contacted yet.
func (o *StatusOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	switch o.Output {
	case status.FormatTable, status.FormatWide, status.FormatJSON, status.FormatYAML:
	default:
		return cli.Usagef("--output must be one of %s, not %q", strings.Join(status.Formats, ", "), o.Output)
	}
	if o.Watch && o.Interval < 100*time.Millisecond {
		return cli.Usagef("--interval must be at least 100ms")
	}
	if o.AllNamespaces && o.Flags.AxonOnly() {
		return cli.Usagef("--all-namespaces and --axon-url are exclusive")
	}
	if o.AllNamespaces && o.Watch {
		return cli.Usagef("--all-namespaces and --watch are exclusive")
	}
	if o.MinActiveBackups < 0 {
		return cli.Usagef("--min-active-backups must not be negative")
	}
	return nil
}

// Run shows the status once, or keeps redrawing with --watch.
func (o *StatusOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.AllNamespaces {
		return o.runAll(ctx)
	}
	if o.Watch {
		return o.watch(ctx)
	}
	r, err := o.collect(ctx)
	if err != nil {
		return err
	}
	if err := status.Write(o.Out, r, o.Output); err != nil {
		return err
	}
	if o.ExitCode && !r.Healthy {
		return cli.WithCode(cli.ExitRefused, errors.New(r.Summary()))
	}
	return nil
}

// collect takes one look at the selected cluster.
func (o *StatusOptions) collect(ctx context.Context) (*status.Report, error) {
	snap, err := snapshot.Take(ctx, o.session, o.snapshotOptions(false))
	if err != nil {
		return nil, err
	}
	r := snap.Report()
	if r.License != nil { // Axon Server 4.5+ reports its license: its expiry date from one node
		info := snap.License // asked alongside the look
		if info == nil {
			info, _, _ = askLicense(ctx, o.session, snap)
		}
		if info != nil {
			r.License.AddInfo(info, time.Now())
		}
	}
	return r, nil
}

func (o *StatusOptions) snapshotOptions(all bool) snapshot.Options {
	in := o.session.InspectOptions()
	in.Health = inspect.HealthOfView // the license is the cluster's; every node's word where anything is not UP
	return snapshot.Options{Query: o.session.Query(all), Inspect: in, MinActiveBackups: o.MinActiveBackups,
		Remember: true, License: true}
}

// runAll lists every cluster in every namespace, one line each (or all reports as data).
func (o *StatusOptions) runAll(ctx context.Context) error {
	snaps, err := snapshot.TakeAll(ctx, o.session, o.snapshotOptions(true))
	if err != nil {
		return err
	}
	reports := make([]*status.Report, len(snaps))
	for i, sn := range snaps {
		reports[i] = sn.Report()
	}
	switch o.Output {
	case status.FormatJSON, status.FormatYAML:
		return writeData(o.Out, map[string]any{"kind": "AxonClusterStatusList", "items": reports}, o.Output)
	}
	t := table.New(o.Out, "NAMESPACE", "CLUSTER", "NODES", "READY", "GROUPS", "CAN COMMIT", "HEALTHY")
	allHealthy := true
	for _, r := range reports {
		ready, commit := 0, 0
		for _, n := range r.Nodes {
			if n.Ready {
				ready++
			}
		}
		for _, g := range r.Groups {
			if g.CanCommit {
				commit++
			}
		}
		t.Row(r.Namespace, r.Cluster, fmt.Sprint(len(r.Nodes)), fmt.Sprintf("%d/%d", ready, len(r.Nodes)),
			fmt.Sprint(len(r.Groups)), fmt.Sprintf("%d/%d", commit, len(r.Groups)), yesNo(r.Healthy))
		allHealthy = allHealthy && r.Healthy
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if o.ExitCode && !allHealthy {
		return cli.WithCode(cli.ExitRefused, errors.New("not every Axon Server cluster is healthy"))
	}
	return nil
}

// watch redraws when the report changes: at once on a change to the cluster's pods or
// StatefulSets (a Kubernetes watch), and every --interval for Axon Server's side, which
// has no watch.
func (o *StatusOptions) watch(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	kick := make(chan struct{}, 1)
	if !o.Flags.AxonOnly() {
		go o.watchKube(ctx, kick)
	}
	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	var last []byte
	for {
		r, err := o.collect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var buf bytes.Buffer
		if err != nil {
			fmt.Fprintf(&buf, "error: %v\n", err)
		} else if err := status.Write(&buf, r, o.Output); err != nil {
			return err
		}
		if key := withoutTimestamps(buf.Bytes()); !bytes.Equal(key, last) {
			last = key
			if o.Output == status.FormatTable || o.Output == status.FormatWide {
				fmt.Fprintf(o.Out, "\n--- %s\n", time.Now().Format(time.TimeOnly))
			}
			if _, err := o.Out.Write(buf.Bytes()); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-kick:
		}
	}
}

// watchKube signals kick on any change to the namespace's pods or StatefulSets.
func (o *StatusOptions) watchKube(ctx context.Context, kick chan<- struct{}) {
	sel := o.Flags.Selector
	if sel == "" {
		sel = discovery.DefaultSelector(o.Flags.Cluster)
	}
	for ctx.Err() == nil {
		w, err := o.session.Kube.CoreV1().Pods(o.session.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return // the ticker still refreshes
		}
		for range w.ResultChan() {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

// withoutTimestamps drops the observedAt line of JSON/YAML output so that an
// unchanged cluster is not redrawn.
func withoutTimestamps(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte("observedAt")) {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

func writeData(w io.Writer, v any, format string) error { return status.WriteData(w, v, format) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
