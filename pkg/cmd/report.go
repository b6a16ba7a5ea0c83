package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/report"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
	"github.com/kubectl-axon/kubectl-axon/pkg/version"
)

const reportExample = `  # Everything support asks for first, in one zip
  kubectl axon report -n axon

  # Into a given file, with the last hour of logs, at most 5 MiB per container
  kubectl axon report -n axon -f axon-report.zip --logs-since 1h --logs-limit 5Mi

  # What it would collect, and whether you may read each item
  kubectl axon report -n axon --dry-run`

// ReportOptions writes a support bundle.
type ReportOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	File      string
	LogsSince time.Duration
	LogsLimit string
	NoRedact  bool
	DryRun    bool

	logsLimit int64
	clients
}

// diagnosticsLimit caps Axon Server's diagnostics zip (the REST client reads no more).
const diagnosticsLimit = 16 << 20

// NewCmdReport returns `kubectl axon report`.
func NewCmdReport(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &ReportOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), LogsLimit: "10Mi"}
	c := &cobra.Command{
		Use:   "report [-f FILE]",
		Short: "Collect what support asks for first into one zip: objects, logs, every node's REST answers, diagnostics",
		Long: `report writes one zip with what support asks for first when an Axon Server cluster
misbehaves: the cluster's StatefulSets, pods, PVCs, PVs, Services, PDBs, the namespace's
Events, the workers the pods run on, ConfigMaps (values of secret-looking keys masked) and
Secrets as names and keys only; the logs of every Axon Server pod, the previous
container's too where it restarted; every node's REST answers (/actuator/info, health,
env, /v1/public/me, /v1/public, /v1/cluster, replication groups, contexts,
/internal/raft/status, /v1/tasks, /v1/public/license) and Axon Server's own diagnostics
download, nested; and kubectl axon's status, doctor and config as JSON. README.txt is its
index, manifest.json says of each item whether it was collected, skipped or failed.

It never stops at a failed item: it records the failure (errors.txt) and goes on. Secret
values are never read into it, and the access token kubectl axon uses is removed
wherever it appears. It never overwrites FILE. See docs/report.md.

Exit codes: 0 complete; 1 no file could be written; 3 written, but some items failed.`,
		Example: reportExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVarP(&o.File, "file", "f", o.File, "the zip to write (default axon-report-CLUSTER-TIME.zip); an existing file is never overwritten")
	c.Flags().DurationVar(&o.LogsSince, "logs-since", o.LogsSince, "only log lines newer than this (e.g. 1h); 0: all the kubelet keeps")
	c.Flags().StringVar(&o.LogsLimit, "logs-limit", o.LogsLimit, "at most this much of each container's log, the newest (e.g. 5Mi); 0: no limit")
	c.Flags().BoolVar(&o.NoRedact, "no-redact", o.NoRedact, "do not mask the values of secret-looking keys in ConfigMaps, pod environments and /actuator/env (Secret values and the access token are never included)")
	c.Flags().BoolVar(&o.DryRun, "dry-run", o.DryRun, "list what would be collected and check each permission (SelfSubjectAccessReview); write nothing")
	return c
}

// Complete has nothing to take in.
func (o *ReportOptions) Complete([]string) error { return nil }

// Validate checks the flags; an existing FILE is refused here, before anything is asked.
func (o *ReportOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if o.LogsSince < 0 {
		return cli.Usagef("--logs-since must not be negative")
	}
	q, err := resource.ParseQuantity(o.LogsLimit)
	if err != nil || q.Sign() < 0 {
		return cli.Usagef("--logs-limit must be a size such as 10Mi or 500k, not %q", o.LogsLimit)
	}
	o.logsLimit = q.Value()
	if o.File != "" {
		if _, err := os.Lstat(o.File); err == nil {
			return cli.Usagef("%s exists: report never overwrites a file; choose another with -f", o.File)
		}
	}
	if o.DryRun && o.Flags.AxonOnly() {
		return cli.Usagef("--dry-run checks Kubernetes permissions: --axon-url cannot be used")
	}
	return nil
}

// Run collects and writes the bundle, or with --dry-run lists it.
func (o *ReportOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.DryRun {
		return o.dryRun(ctx)
	}
	start := time.Now()
	snap, snapErr := snapshot.Take(ctx, o.session, snapshot.Options{Query: o.session.Query(false), Inspect: o.session.InspectOptions()})
	var cerr *cli.Error
	if snap == nil && errors.As(snapErr, &cerr) && cerr.Code == cli.ExitUsage {
		return snapErr // several clusters, none chosen: nothing was done
	}
	ns, cluster := o.session.Namespace, ""
	var members []discovery.Member
	if snap != nil {
		ns, cluster, members = snap.Namespace, snap.Cluster, snap.Members
	}
	tok, err := o.session.TokenFor(ctx, ns, cluster)
	if err != nil {
		return err
	}
	red := report.NewRedactor(tok.Reveal())
	red.Off = o.NoRedact

	file := o.File
	if file == "" {
		name := cluster
		if name == "" || o.Flags.AxonOnly() {
			name = "axon"
		}
		file = fmt.Sprintf("axon-report-%s-%s.zip", name, start.UTC().Format("20060102-150405"))
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return cli.Usagef("%s exists: report never overwrites a file; choose another with -f", file)
		}
		return fmt.Errorf("cannot write the report: %v", err)
	}
	b := report.NewBundle(f, red, report.Manifest{CreatedAt: start.UTC(), Plugin: "kubectl-axon " + version.Version, Namespace: ns, Cluster: cluster})
	src := &report.Source{Kube: o.session.Kube, Namespace: ns, Cluster: cluster, Members: members,
		Timeout: o.Flags.AxonTimeout, LogsSince: o.LogsSince, LogsLimit: o.logsLimit, DiagnosticsLimit: diagnosticsLimit,
		Client: func(ctx context.Context, m discovery.Member) (report.Getter, error) { return o.session.Client(ctx, m) }}
	if o.Flags.AxonOnly() {
		src.Kube = nil
		src.Nodes = map[string]report.Getter{}
		if snap != nil && snap.Obs != nil {
			for n := range snap.Obs.Nodes {
				if c, err := nodeClient(ctx, o.session, snap, n); err == nil {
					src.Nodes[n] = c
				}
			}
		}
	}
	if snap == nil {
		b.Record("kubernetes/", "the cluster", report.Failed, "finding the cluster: "+firstLine(snapErr.Error()))
	}
	fmt.Fprintf(o.ErrOut, "collecting the report of cluster %s in namespace %s into %s\n", dash(cluster), dash(ns), file)
	b.Kubernetes(ctx, src)
	b.Logs(ctx, src)
	b.Axon(ctx, src)
	o.views(ctx, b, snap, snapErr)
	closeErr := b.Close()
	if err := f.Close(); closeErr == nil {
		closeErr = err
	}
	if closeErr != nil {
		_ = os.Remove(file)
		return fmt.Errorf("cannot write the report %s: %v", file, closeErr)
	}
	n := b.Counts()
	fmt.Fprintf(o.Out, "%s: %d items collected, %d skipped, %d failed\n", file, n[report.Collected], n[report.Skipped], n[report.Failed])
	if n[report.Failed] > 0 {
		return cli.WithCode(cli.ExitRefused, fmt.Errorf("the report %s is incomplete: %d of %d items failed (see errors.txt in it)", file, n[report.Failed], len(b.Manifest.Items)))
	}
	return nil
}

// views adds kubectl axon's own status, doctor and config.
func (o *ReportOptions) views(ctx context.Context, b *report.Bundle, snap *snapshot.Snapshot, snapErr error) {
	if snap == nil {
		for _, v := range []string{"status", "doctor", "config"} {
			b.Record("kubectl-axon/"+v+".json", "kubectl axon "+v, report.Failed, firstLine(snapErr.Error()))
		}
		return
	}
	b.View("status", "kubectl axon status -o json", func() ([]byte, error) {
		r := snap.Report()
		if r.License != nil {
			if info, _, err := askLicense(ctx, o.session, snap); err == nil {
				r.License.AddInfo(info, time.Now())
			}
		}
		var buf bytes.Buffer
		err := writeData(&buf, r, "json")
		return buf.Bytes(), err
	})
	b.View("doctor", "kubectl axon doctor -o json", func() ([]byte, error) {
		if o.Flags.AxonOnly() {
			return nil, report.Skip("doctor checks Kubernetes objects: not with --axon-url")
		}
		var buf bytes.Buffer
		d := &DoctorOptions{IOStreams: genericiooptions.IOStreams{In: o.In, Out: &buf, ErrOut: io.Discard}, Flags: o.Flags, Output: "json", WarnDays: 30, clients: o.clients}
		if err := d.Run(ctx); err != nil && cli.ExitCode(err) != cli.ExitRefused {
			return nil, err
		}
		return buf.Bytes(), nil
	})
	b.View("config", "kubectl axon config -o json", func() ([]byte, error) {
		t, err := ConfigTable(snap, nil)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		err = writeData(&buf, ConfigReport{Kind: "AxonNodeConfig", Namespace: snap.Namespace, Cluster: snap.Cluster, Table: t}, "json")
		return buf.Bytes(), err
	})
}

// access is a permission an item needs.
type access struct {
	what                              string
	group, resource, sub, verb, scope string // scope "" namespaced, "cluster" cluster-wide
	optional                          bool
}

// dryRun lists the items and checks each permission with a SelfSubjectAccessReview.
func (o *ReportOptions) dryRun(ctx context.Context) error {
	found, err := discovery.Discover(ctx, o.session.Kube, o.session.Query(false))
	if err != nil {
		return snapshot.ExplainKube(err)
	}
	clusters := found.Clusters()
	if len(clusters) > 1 {
		return cli.Usagef("namespace %s holds several Axon Server clusters: choose one with --axon-cluster", o.session.Namespace)
	}
	ns, cluster := clusters[0][0], clusters[0][1]
	members := found.Only(ns, cluster)
	checks := []access{
		{what: "StatefulSets and pods (the cluster)", group: "apps", resource: "statefulsets", verb: "list"},
		{what: "pods", resource: "pods", verb: "list"},
		{what: "PersistentVolumeClaims", resource: "persistentvolumeclaims", verb: "list"},
		{what: "PersistentVolumes", resource: "persistentvolumes", verb: "get", scope: "cluster"},
		{what: "Services", resource: "services", verb: "list"},
		{what: "PodDisruptionBudgets", group: "policy", resource: "poddisruptionbudgets", verb: "list"},
		{what: "Events", resource: "events", verb: "list"},
		{what: "workers (Nodes)", resource: "nodes", verb: "get", scope: "cluster"},
		{what: "ConfigMaps (masked)", resource: "configmaps", verb: "list"},
		{what: "Secrets: names and keys only (optional)", resource: "secrets", verb: "list", optional: true},
		{what: "pod logs", resource: "pods", sub: "log", verb: "get"},
	}
	switch o.Flags.Transport {
	case connect.TransportProxy:
		checks = append(checks, access{what: "Axon Server REST answers and diagnostics (--transport proxy)", resource: "pods", sub: "proxy", verb: "get"})
	case connect.TransportPortForward:
		checks = append(checks, access{what: "Axon Server REST answers and diagnostics (--transport port-forward)", resource: "pods", sub: "portforward", verb: "create"})
	}
	fmt.Fprintf(o.Out, "kubectl axon report of cluster %s in namespace %s would collect:\n\n", cluster, ns)
	t := table.New(o.Out, "ITEM", "NEEDS", "ALLOWED")
	denied := 0
	for _, c := range checks {
		allowed, why := o.review(ctx, ns, c)
		if !allowed && !c.optional {
			denied++
		}
		needs := c.verb + " " + c.resource
		if c.sub != "" {
			needs += "/" + c.sub
		}
		if c.group != "" {
			needs += "." + c.group
		}
		t.Row(c.what, needs, why)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nper node (%d): ", len(members))
	for i, e := range report.Endpoints {
		if i > 0 {
			fmt.Fprint(o.Out, ", ")
		}
		fmt.Fprint(o.Out, e.Path)
	}
	fmt.Fprintf(o.Out, ", %s (nested zip); logs of %d pods (the previous container's where it restarted); kubectl axon status, doctor and config\n", report.DiagnosticsPath, len(members))
	if denied > 0 {
		fmt.Fprintf(o.Out, "%d item(s) would fail for want of permission (docs/rbac.yaml)\n", denied)
	}
	return nil
}

// review asks the API server whether the user may do c (SelfSubjectAccessReview).
func (o *ReportOptions) review(ctx context.Context, ns string, c access) (bool, string) {
	return reviewAccess(ctx, o.session.Kube, ns, c)
}

// reviewAccess asks the API server whether the user may do c in namespace ns
// (SelfSubjectAccessReview): allowed, and the answer in a word ("yes", "NO", "no
// (skipped)" for an optional permission, or "unknown: why").
func reviewAccess(ctx context.Context, kube kubernetes.Interface, ns string, c access) (bool, string) {
	attr := &authv1.ResourceAttributes{Group: c.group, Resource: c.resource, Subresource: c.sub, Verb: c.verb}
	if c.scope != "cluster" {
		attr.Namespace = ns
	}
	r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
		&authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attr}}, metav1.CreateOptions{})
	switch {
	case err != nil:
		return false, "unknown: " + firstLine(err.Error())
	case r.Status.Allowed:
		return true, "yes"
	case c.optional:
		return false, "no (skipped)"
	}
	return false, "NO"
}
