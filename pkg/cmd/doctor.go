package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
	"github.com/kubectl-axon/kubectl-axon/pkg/transport"
)

const doctorExample = `  # Check the cluster in namespace axon against the deployment advice
  kubectl axon doctor -n axon

  # With the token kubectl axon uses (also checks that it comes from a Secret)
  kubectl axon doctor -n axon --token-secret axonserver-token/token

  # As data, for CI (exit 3 when any finding is an error)
  kubectl axon doctor -n axon -o json`

// DoctorOptions checks a cluster's layout.
type DoctorOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	Output           string
	MinActiveBackups int
	WarnDays         int

	clients
}

// NewCmdDoctor returns `kubectl axon doctor`.
func NewCmdDoctor(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &DoctorOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), MinActiveBackups: 0, WarnDays: 30}
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the cluster's Kubernetes objects and replication groups against the deployment advice",
		Long: `doctor checks an Axon Server cluster's StatefulSets, pods, volumes, StorageClasses,
disruption budget and Services, and what its nodes say (access control, replication
groups), against the advice kubectl axon is built on: singleton StatefulSets, probes on
/actuator/info with a generous startup budget, a long grace period, every data path on
a persistent volume, non-root pinned images, a disruption budget, voters spread over
workers and zones, access control on. Each finding has a severity, the object, what is
wrong, why it matters and a fix. Exit code 3 when any finding is an error.

It only reads: list calls, a constant number of them, and the --token-secret Secret by
name (never its data). See docs/doctor.md for every check.`,
		Example: doctorExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "output format: json or yaml")
	c.Flags().IntVar(&o.WarnDays, "warn-days", o.WarnDays, "a license that expires within this many days is a warning")
	c.Flags().IntVar(&o.MinActiveBackups, "min-active-backups", o.MinActiveBackups, "the cluster's axoniq.axonserver.replication.min-active-backups; 0: each node's own setting (/actuator/env), else 1")
	return c
}

// Complete has nothing to take in: doctor has no arguments (cobra refuses them).
func (o *DoctorOptions) Complete([]string) error { return nil }

// Validate checks the flags.
func (o *DoctorOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if err := checkDataOutput(o.Output); err != nil {
		return err
	}
	if o.Flags.AxonOnly() {
		return cli.Usagef("doctor checks Kubernetes objects: --axon-url cannot be used")
	}
	if o.MinActiveBackups < 0 {
		return cli.Usagef("--min-active-backups must not be negative")
	}
	if o.WarnDays < 0 {
		return cli.Usagef("--warn-days must not be negative")
	}
	return nil
}

// DoctorReport is doctor's output as data.
type DoctorReport struct {
	Kind      string                  `json:"kind"`
	Namespace string                  `json:"namespace"`
	Cluster   string                  `json:"cluster"`
	Summary   map[doctor.Severity]int `json:"summary"`
	Findings  []doctor.Finding        `json:"findings"`
}

// Run gathers, checks and reports.
func (o *DoctorOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	in, err := o.gather(ctx)
	if err != nil {
		return err
	}
	fs := doctor.Run(*in)
	r := DoctorReport{Kind: "AxonDoctorReport", Namespace: in.Namespace, Cluster: in.Cluster, Summary: doctor.Count(fs), Findings: fs}
	if o.Output != "" {
		err = writeData(o.Out, r, o.Output)
	} else {
		err = writeFindings(o.Out, r)
	}
	if err != nil {
		return err
	}
	if n := r.Summary[doctor.Error]; n > 0 {
		return cli.WithCode(cli.ExitRefused, fmt.Errorf("doctor: %s", plural(n, "error")))
	}
	return nil
}

// gather lists what the checks need: the snapshot (StatefulSets, pods, workers, and
// every node's answers), then one list call per other kind and the token Secret by
// name. Forbidden kinds are skipped and reported.
func (o *DoctorOptions) gather(ctx context.Context) (*doctor.Input, error) {
	snap, err := snapshot.Take(ctx, o.session, snapshot.Options{Query: o.session.Query(false), Inspect: o.session.InspectOptions(), MinActiveBackups: o.MinActiveBackups})
	var denied *connect.AccessError
	if snap == nil || errors.As(err, &denied) {
		return nil, err // no token where one is needed, or a refused one: one line, as every command
	}
	in := &doctor.Input{Namespace: snap.Namespace, Cluster: snap.Cluster, Members: snap.Members, Unavailable: map[string]string{}, WarnDays: o.WarnDays}
	if err != nil {
		in.AxonError = firstLine(err.Error())
	}
	o.axonFacts(snap, in)
	o.licenseAndConfig(ctx, snap, in)

	kube, ns := o.session.Kube, snap.Namespace
	lo := metav1.ListOptions{}
	for _, l := range []struct {
		kind string
		list func() error
	}{
		{"persistentvolumeclaims", func() error {
			l, err := kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, lo)
			if err == nil {
				in.PVCs = nonNil(l.Items)
			}
			return err
		}},
		{"services", func() error {
			l, err := kube.CoreV1().Services(ns).List(ctx, lo)
			if err == nil {
				in.Services = nonNil(l.Items)
			}
			return err
		}},
		{"configmaps", func() error {
			l, err := kube.CoreV1().ConfigMaps(ns).List(ctx, lo)
			if err == nil {
				in.ConfigMaps = nonNil(l.Items)
			}
			return err
		}},
		{"poddisruptionbudgets", func() error {
			l, err := kube.PolicyV1().PodDisruptionBudgets(ns).List(ctx, lo)
			if err == nil {
				in.PDBs = nonNil(l.Items)
			}
			return err
		}},
		{"persistentvolumes", func() error {
			l, err := kube.CoreV1().PersistentVolumes().List(ctx, lo)
			if err == nil {
				in.PVs = nonNil(l.Items)
			}
			return err
		}},
		{"storageclasses", func() error {
			l, err := kube.StorageV1().StorageClasses().List(ctx, lo)
			if err == nil {
				in.StorageClasses = nonNil(l.Items)
			}
			return err
		}},
	} {
		switch err := l.list(); {
		case apierrors.IsForbidden(err):
			in.Unavailable[l.kind] = "forbidden"
		case err != nil:
			return nil, snapshot.ExplainKube(fmt.Errorf("listing %s: %w", l.kind, err))
		}
	}
	if err := o.token(ctx, in); err != nil {
		return nil, err
	}
	return in, nil
}

// axonFacts takes access control and the replication groups from the snapshot.
func (o *DoctorOptions) axonFacts(snap *snapshot.Snapshot, in *doctor.Input) {
	obs := snap.Obs
	if obs == nil {
		return
	}
	names := make([]string, 0, len(obs.Nodes))
	for n := range obs.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	facts := &doctor.AxonFacts{}
	var firstErr string
	for _, n := range names {
		v := obs.Nodes[n]
		if v.Me != nil && facts.Authentication == nil {
			auth := v.Me.Authentication
			facts.Authentication = &auth
		}
		if v.Err != nil && firstErr == "" {
			firstErr = n + ": " + firstLine(v.Err.Error())
		}
	}
	if snap.Model != nil && len(snap.Model.MinActiveBackupsByNode) > 0 {
		facts.MinActiveBackups = snap.Model.MinActiveBackupsByNode
	}
	if obs.From != "" && snap.Model != nil {
		facts.Groups = snap.Model.Cluster.Groups
	} else if in.AxonError == "" {
		switch {
		case obs.ClusterErr != nil:
			in.AxonError = firstLine(obs.ClusterErr.Error())
		case firstErr != "":
			in.AxonError = firstErr
		default:
			in.AxonError = "no node answered"
		}
	}
	if facts.Authentication == nil && facts.Groups == nil && facts.MinActiveBackups == nil {
		return
	}
	in.Axon = facts
}

// licenseAndConfig adds the license (health, and /v1/public/license of one node) and
// the nodes' configuration (/actuator/env) to what the checks know.
func (o *DoctorOptions) licenseAndConfig(ctx context.Context, snap *snapshot.Snapshot, in *doctor.Input) {
	if snap.Obs == nil {
		return
	}
	var facts doctor.AxonFacts
	if in.Axon != nil {
		facts = *in.Axon
	}
	added := false
	if t, err := ConfigTable(snap, nil); err == nil && len(t.Unread) < len(t.Nodes) {
		facts.Config, added = &t, true
	}
	if ls := status.LicenseOf(snap.Obs); ls != nil {
		if info, _, err := askLicense(ctx, o.session, snap); err == nil {
			ls.AddInfo(info, time.Now())
		}
		facts.License = &doctor.License{State: ls.State, ExpiryDate: ls.ExpiryDate, DaysLeft: ls.DaysLeft, Nodes: ls.Nodes}
		added = true
	}
	if added {
		in.Axon = &facts
	}
}

// token describes where the access token comes from; for --token-secret it reads
// the Secret's key names, never printing or keeping its data.
func (o *DoctorOptions) token(ctx context.Context, in *doctor.Input) error {
	f := o.Flags
	switch {
	case f.TokenSecret != "":
		ref, _ := transport.ParseSecretRef(f.TokenSecret)
		in.Token = doctor.Token{Source: doctor.TokenSecret, SecretName: ref.Name, SecretKey: ref.Key}
		s, err := o.session.Kube.CoreV1().Secrets(in.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			in.Unavailable["secrets"] = "forbidden to get " + ref.Name
			in.Token.SecretFound, in.Token.KeyFound = true, true // unknown: do not report it missing
		case err != nil:
			return snapshot.ExplainKube(err)
		default:
			in.Token.SecretFound = true
			_, inData := s.Data[ref.Key]
			_, inString := s.StringData[ref.Key]
			in.Token.KeyFound = inData || inString
		}
	case f.TokenFile != "":
		in.Token = doctor.Token{Source: doctor.TokenFile}
	default:
		switch cred := o.session.CredentialsFor(ctx, in.Namespace, in.Cluster); {
		case cred.Auto:
			in.Token = doctor.Token{Source: doctor.TokenSecret, SecretName: cred.Secret, SecretKey: cred.Key, SecretFound: true, KeyFound: true}
		case cred.Sent:
			in.Token = doctor.Token{Source: doctor.TokenEnv}
		default:
			in.Token = doctor.Token{Source: doctor.TokenNone}
		}
	}
	return nil
}

// writeFindings prints each finding as a block: severity, check and object on one
// line, then the problem, why and fix; a summary last.
func writeFindings(w io.Writer, r DoctorReport) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-7s  %s  %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Object)
		fmt.Fprintf(&b, "  %s\n", f.Problem)
		fmt.Fprintf(&b, "  why: %s\n", f.Why)
		if f.Fix != "" {
			fmt.Fprintf(&b, "  fix: %s\n", f.Fix)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "cluster %s in namespace %s: %s, %s, %s\n", r.Cluster, r.Namespace,
		plural(r.Summary[doctor.Error], "error"), plural(r.Summary[doctor.Warning], "warning"), plural(r.Summary[doctor.Info], "note"))
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// nonNil keeps "listed, none found" apart from "not listed" (nil) for the checks.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
