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
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
)

const licenseExample = `  # The license of the cluster in namespace axon (exit 3 in its grace period or expired)
  kubectl axon license -n axon

  # As data
  kubectl axon license -n axon -o json`

// LicenseOptions shows the cluster's license.
type LicenseOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	Output   string
	WarnDays int

	clients
}

// NewCmdLicense returns `kubectl axon license`.
func NewCmdLicense(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &LicenseOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), WarnDays: 30}
	c := &cobra.Command{
		Use:   "license",
		Short: "Show the Axon Server license: state, expiry date, days left, edition",
		Long: `license shows the cluster's Axon Server license as the nodes report it: its state
from each node's license health (valid; grace: expired, Axon Server keeps working until
the license's grace date; expired), and from GET /v1/public/license (Axon Server 4.5 and
later) the expiry date, days left, edition, licensee and features. Axon Server does not
report the grace date, nor the node and context limits, over REST; the license itself is
never read.

Exit code 3 when the license is in its grace period or expired.`,
		Example: licenseExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "output format: json or yaml")
	c.Flags().IntVar(&o.WarnDays, "warn-days", o.WarnDays, "say so when the license expires within this many days")
	return c
}

// Complete has nothing to take in.
func (o *LicenseOptions) Complete([]string) error { return nil }

// Validate checks the flags.
func (o *LicenseOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if err := checkDataOutput(o.Output); err != nil {
		return err
	}
	if o.WarnDays < 0 {
		return cli.Usagef("--warn-days must not be negative")
	}
	return nil
}

// LicenseReport is `license -o json`.
type LicenseReport struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Cluster   string `json:"cluster"`
	status.LicenseStatus
	Features []string `json:"features"`
	// Source is the node GET /v1/public/license was asked of ("" when none answered).
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Run looks at the cluster and shows its license.
func (o *LicenseOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	snap, err := snapshot.Take(ctx, o.session, snapshot.Options{Query: o.session.Query(false), Inspect: o.session.InspectOptions()})
	if err != nil {
		return err
	}
	ls := status.LicenseOf(snap.Obs)
	if ls == nil {
		ls = &status.LicenseStatus{}
	}
	info, from, lerr := askLicense(ctx, o.session, snap)
	ls.AddInfo(info, time.Now())
	if ls.State == "" {
		ls.State = status.LicenseUnknown
	}
	r := LicenseReport{Kind: "AxonLicense", Namespace: snap.Namespace, Cluster: snap.Cluster, LicenseStatus: *ls, Features: []string{}, Source: from}
	if info != nil && info.Features != nil {
		r.Features = info.Features
	}
	if lerr != nil {
		r.Error = firstLine(lerr.Error())
	}
	if o.Output != "" {
		err = writeData(o.Out, r, o.Output)
	} else {
		err = writeLicense(o.Out, r, o.WarnDays)
	}
	if err != nil {
		return err
	}
	switch ls.State {
	case status.LicenseExpired, status.LicenseGrace:
		return cli.WithCode(cli.ExitRefused, errors.New(ls.Problem()))
	}
	return nil
}

func writeLicense(w io.Writer, r LicenseReport, warnDays int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Cluster %s", r.Cluster)
	if r.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %s", r.Namespace)
	}
	fmt.Fprintf(&b, ": license %s\n", r.LicenseStatus.Text())
	row := func(k, v string) { fmt.Fprintf(&b, "  %-10s %s\n", k+":", dash(v)) }
	row("edition", r.Edition)
	row("licensee", r.Licensee)
	row("expires", r.ExpiryDate)
	if r.DaysLeft != nil {
		row("days left", fmt.Sprint(*r.DaysLeft))
	}
	row("features", strings.Join(r.Features, ", "))
	nodes := make([]string, 0, len(r.Nodes))
	for n := range r.Nodes {
		nodes = append(nodes, n+" "+r.Nodes[n])
	}
	sort.Strings(nodes)
	row("nodes", strings.Join(nodes, ", "))
	if r.Error != "" {
		row("note", "no license details: "+r.Error)
	}
	if p := r.LicenseStatus.Problem(); p != "" {
		fmt.Fprintf(&b, "warning: %s\n", p)
	} else if r.State == status.LicenseValid && r.DaysLeft != nil && *r.DaysLeft < warnDays {
		fmt.Fprintf(&b, "warning: the license expires within %d days (%s)\n", warnDays, r.ExpiryDate)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// askLicense asks GET /v1/public/license of the node the cluster-wide views came from,
// else of the first node that answered; the license is the cluster's. It returns the
// node asked.
func askLicense(ctx context.Context, sess *connect.Session, snap *snapshot.Snapshot) (*axonserver.LicenseInfo, string, error) {
	var order []string
	if snap.Obs != nil {
		if snap.Obs.From != "" {
			order = append(order, snap.Obs.From)
		}
		names := make([]string, 0, len(snap.Obs.Nodes))
		for n, v := range snap.Obs.Nodes {
			if v.Reachable && n != snap.Obs.From {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		order = append(order, names...)
	}
	var lastErr error = errors.New("no node answered")
	for i, n := range order {
		if i == 2 {
			break // two tries: a cluster whose first two answering nodes cannot tell will not either
		}
		c, err := nodeClient(ctx, sess, snap, n)
		if err != nil {
			lastErr = err
			continue
		}
		info, err := sess.License(ctx, c)
		if err == nil {
			return info, n, nil
		}
		lastErr = err
		if axonserver.IsNotFound(err) {
			return nil, "", errors.New("GET /v1/public/license: not offered (Axon Server before 4.5)")
		}
	}
	return nil, "", lastErr
}

// nodeClient is a REST client for the node named node.
func nodeClient(ctx context.Context, sess *connect.Session, snap *snapshot.Snapshot, node string) (*axonserver.Client, error) {
	if sess.AxonOnly() {
		return sess.ClientURL(ctx, node, sess.AxonURL()) // the node named by --axon-url
	}
	m, ok := snap.Member(node)
	if !ok {
		return nil, fmt.Errorf("%s: no such node", node)
	}
	return sess.Client(ctx, m)
}
